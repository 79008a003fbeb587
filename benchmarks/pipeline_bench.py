"""End-to-end throughput of ``screener run`` against a plain sequential loop, and peak memory vs. input count.

Usage::

    python benchmarks/pipeline_bench.py [--files 200,1000] [--memory-files 50,400] [--model BUNDLE] [--work DIR]

1. Writes ``max(--files, memory files)`` procrystal CHGCARs of built-in prototypes (VASP-like 0.1 Å).
2. Throughput, side by side in one process: the plain loop (read → regrid → encode → predict, one file
   at a time, the same stage functions, the same bundle, all CPU threads) and ``run_screen`` (Ray
   Data, local instance with all CPUs), each on the same ``--files`` inputs; ``--repeats`` alternating
   rounds, medians quoted.
3. Peak memory: ``screener run`` in a fresh process on the first 50 and the first 400 files, sampling
   the summed RSS of the process and all its children (driver, raylet, workers) every 0.2 s.

Goals (issue 5): pipeline ≥ 1.5× the loop; peak memory at 400 files ≤ 1.2× that at 50.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path


def write_inputs(folder: Path, count: int, *, distinct: int | None = None) -> list[Path]:
    """``count`` CHGCARs: ``distinct`` procrystal prototypes (all when None), the rest byte variants of them.

    A variant is a copy with k extra blank lines at the end: another SHA-256 (so not a duplicate), the
    same density, the same work for the loop and the pipeline. It saves synthesizing 1,000 structures.
    """
    from screener.config import SynthConfig
    from screener.synth.driver import synthesize_prototypes

    distinct = min(count, distinct or count)
    existing = sorted(folder.glob("*/CHGCAR"))
    if len(existing) < distinct:
        summary = synthesize_prototypes(folder, count=distinct, seed=7, config=SynthConfig(spacing=0.1), workers=os.cpu_count() or 1)
        existing = sorted(summary.written)
    paths = existing[:distinct]
    variants = folder.parent / f"{folder.name}-variants"
    for i in range(count - distinct):
        source = paths[i % distinct]
        target = variants / f"{source.parent.name}-v{i // distinct + 1}" / "CHGCAR"
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read_bytes() + b"\n" * (i // distinct + 1))
        paths.append(target)
    return paths


def sequential_loop(paths: list[Path], model: Path, threads: int | None = None) -> float:
    """The baseline: one file at a time through the same stages in this process; seconds.

    ``threads``: torch threads (default: all cores, as in issue 5's figures; on a busy machine one
    thread is faster, so the benchmark can time both).
    """
    import torch

    from screener.screening.stages import PredictBatch, read_batch

    torch.set_num_threads(threads or os.cpu_count() or 1)
    start = time.perf_counter()  # end to end, like the pipeline's figure: model loading included
    predictor = PredictBatch(model, precision="fp32", batch_size=1)
    for path in paths:
        import numpy as np

        batch = read_batch({"path": np.array([str(path)], dtype=object), "root": np.array([str(path.parent.parent)], dtype=object)})
        predictor(batch)
    return time.perf_counter() - start


def pipeline_run(paths: list[Path], model: Path, out: Path, engine: str = "auto") -> float:
    from screener.config import RunConfig
    from screener.screening.pipeline import run_screen

    listing = out.with_suffix(".txt")
    listing.write_text("\n".join(str(p) for p in paths) + "\n")
    start = time.perf_counter()
    run_screen([listing], out, model=model, config=RunConfig(engine=engine), progress=False)
    return time.perf_counter() - start


def peak_memory_of_run(paths: list[Path], model: Path, out: Path) -> dict:
    """Run ``screener run`` in a child process; sample the summed RSS of its process tree."""
    import psutil

    listing = out.with_suffix(".txt")
    listing.write_text("\n".join(str(p) for p in paths) + "\n")
    command = [sys.executable, "-m", "screener.cli.main", "run", "--input", str(listing), "--output", str(out),
               "--model", str(model), "--quiet"]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    parent = psutil.Process(process.pid)
    peak = 0
    samples = []

    def sample() -> None:
        nonlocal peak
        while process.poll() is None:
            try:
                tree = [parent, *parent.children(recursive=True)]
                rss = sum(p.memory_info().rss for p in tree if p.is_running())
            except psutil.Error:
                continue
            peak = max(peak, rss)
            samples.append(rss)
            time.sleep(0.2)

    thread = threading.Thread(target=sample)
    thread.start()
    output = process.communicate()[0]
    thread.join()
    if process.returncode != 0:
        raise RuntimeError(output[-3000:])
    return {"files": len(paths), "peak_rss_mb": peak / 2**20, "samples": len(samples)}


def main() -> None:
    from screener.config import RunConfig

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", default="10,50,200,1000", help="comma-separated input counts for the throughput comparison")
    parser.add_argument("--loop-threads", default=str(os.cpu_count() or 1),
                        help="comma-separated torch thread counts of the loop baselines (e.g. 2,1); the first is 'loop'")
    parser.add_argument("--engines", default="local,ray", help="screener run engines timed beside the loop (auto picks one of them)")
    parser.add_argument("--distinct", type=int, default=None, help="synthesize only this many structures; the rest are byte variants")
    parser.add_argument("--memory-files", default="50,400")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--model", type=Path, default=None, help="bundle (default: the shipped demo bundle)")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "screener-pipeline-bench")
    parser.add_argument("--skip-memory", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    from screener.screening.pipeline import default_model_path

    model = args.model or default_model_path()
    counts = [int(n) for n in args.files.split(",")]
    memory_counts = [int(n) for n in args.memory_files.split(",")]
    paths = write_inputs(args.work / "inputs", max([*counts, *memory_counts]), distinct=args.distinct)
    engines = args.engines.split(",")
    print(f"{len(paths)} inputs in {args.work / 'inputs'}; model {model}; {os.cpu_count()} CPUs", flush=True)
    result: dict = {"throughput": []}
    for count in counts:
        loops = [int(t) for t in args.loop_threads.split(",")]
        times: dict[str, list[float]] = {"loop": [], **{f"loop{t}": [] for t in loops[1:]}, **{engine: [] for engine in engines}}
        for round_ in range(args.repeats):
            times["loop"].append(sequential_loop(paths[:count], model, loops[0]))
            for t in loops[1:]:
                times[f"loop{t}"].append(sequential_loop(paths[:count], model, t))
            for engine in engines:
                out = args.work / f"out-{count}-{engine}-{round_}"
                shutil.rmtree(out, ignore_errors=True)
                times[engine].append(pipeline_run(paths[:count], model, out, engine))
            print(f"{count} files, round {round_}: " + ", ".join(f"{k} {v[-1]:.1f} s" for k, v in times.items())
                  + f"; load average {os.getloadavg()[0]:.1f}", flush=True)  # fmt: skip
        loop = statistics.median(times["loop"])
        best_loop = min(statistics.median(v) for k, v in times.items() if k.startswith("loop"))
        entry = {"files": count, "seconds": times, "speedup": {e: loop / statistics.median(times[e]) for e in engines},
                 "speedup_over_best_loop": {e: best_loop / statistics.median(times[e]) for e in engines}}  # fmt: skip
        # the figures the rest of this script (marginal rate) reads: the engine auto picks at this count
        from screener.screening.pipeline import choose_engine

        auto = choose_engine(RunConfig(), count)
        entry.update(loop_seconds=times["loop"], pipeline_seconds=times.get(auto, times[engines[-1]]), auto_engine=auto,
                     loop_files_per_second=count / loop, pipeline_files_per_second=count / statistics.median(times.get(auto, times[engines[-1]])))  # fmt: skip
        result["throughput"].append(entry)
        print(f"{count} files: speed-up over the loop " + ", ".join(f"{e} {x:.2f}×" for e, x in entry["speedup"].items())
              + "; over the fastest loop " + ", ".join(f"{e} {x:.2f}×" for e, x in entry["speedup_over_best_loop"].items())
              + f" (auto picks {auto})", flush=True)  # fmt: skip
    if len(counts) >= 2:  # the fixed costs (Ray start, actor start, model loads) cancel in the difference
        first, last = result["throughput"][0], result["throughput"][-1]
        extra = last["files"] - first["files"]
        loop_rate = extra / (statistics.median(last["loop_seconds"]) - statistics.median(first["loop_seconds"]))
        result["marginal"] = {"loop_files_per_second": loop_rate}
        for engine in engines:
            rate = extra / (statistics.median(last["seconds"][engine]) - statistics.median(first["seconds"][engine]))
            result["marginal"][engine] = {"files_per_second": rate, "speedup": rate / loop_rate}
            print(f"marginal ({first['files']}→{last['files']} files): loop {loop_rate:.2f} files/s, {engine} {rate:.2f} files/s, "
                  f"speed-up {rate / loop_rate:.2f}×", flush=True)  # fmt: skip
    if not args.skip_memory:
        memory = []
        for count in memory_counts:
            out = args.work / f"mem-{count}"
            shutil.rmtree(out, ignore_errors=True)
            memory.append(peak_memory_of_run(paths[:count], model, out))
            print(f"{count} files: peak RSS of the run's process tree {memory[-1]['peak_rss_mb']:.0f} MB")
        result["memory"] = memory
        result["memory_ratio"] = memory[-1]["peak_rss_mb"] / memory[0]["peak_rss_mb"]
        print(f"peak memory ratio {memory_counts[-1]} vs {memory_counts[0]} files: {result['memory_ratio']:.2f}")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
