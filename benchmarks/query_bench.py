"""Time the shipped queries over a large synthetic results set.

Writes ``--rows`` synthetic prediction rows (default 1,000,000) in ``--parts`` part files, one
latents row per prediction with a ``--dim``-float embedding (default 32; the full ``latent``
column is left NULL: no shipped query reads it, and Parquet reads only the columns a query needs),
and 1% as many error rows, into a temporary directory laid out like ``screener run`` output.
Then, for each shipped query, it times

* ``execute``: :func:`screener.query.execute_query` on a connection opened once (views exist),
* ``run_query``: :func:`screener.query.run_query`, which also opens the views (what one
  ``screener query`` call does after Python has started),
* ``cli``: a whole ``screener query NAME --results DIR --format csv`` process (Python start-up
  and imports included), output discarded,

as the median of ``--repeats`` runs after one warm-up, with the command-line default limit (20).

Usage::

    /work/venv/bin/python benchmarks/query_bench.py [--rows 1000000] [--repeats 5] [--keep DIR]

No torch, no ray: only numpy, pyarrow and duckdb.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from screener.query.params import list_queries
from screener.query.views import connect, execute_query, run_query
from screener.screening.schema import ERRORS_SCHEMA, LATENTS_SCHEMA, PREDICTIONS_SCHEMA
from screener.targets import TARGET_NAMES

RUN_ID = "bench-run"
MODEL_ID = "bench-model"
#: Distinct materials share a reduced formula in groups of this size (polymorphs), so a
#: ``similar_to`` reference given by formula matches this many rows.
POLYMORPHS = 5
NULL_EMBEDDING_FRACTION = 0.001
ERROR_FRACTION = 0.01


def _hex_ids(rng: np.random.Generator, n: int) -> list[str]:
    """``n`` random 64-hex-digit ids (the pipeline's SHA-256 of file bytes)."""
    raw = rng.bytes(32 * n)
    return [raw[i : i + 32].hex() for i in range(0, 32 * n, 32)]


def _properties(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Plausible moduli (GPa), formation energy (eV/atom), Debye temperature (K) and derived columns."""
    bulk = np.clip(rng.lognormal(np.log(120.0), 0.45, n), 5.0, 1000.0)
    shear = bulk * rng.uniform(0.3, 1.3, n)
    youngs = 9 * bulk * shear / (3 * bulk + shear)
    k = shear / bulk
    return {
        "bulk_modulus": bulk,
        "shear_modulus": shear,
        "youngs_modulus": youngs,
        "formation_energy": rng.normal(-0.6, 0.9, n),
        "debye_temperature": np.clip(rng.lognormal(np.log(450.0), 0.5, n), 50.0, 3000.0),
        "pugh_ratio": bulk / shear,
        "poisson_ratio": (3 * bulk - 2 * shear) / (2 * (3 * bulk + shear)),
        "vickers_hardness": np.maximum(0.0, 2 * (k * k * shear) ** 0.585 - 3),
    }


def _predictions(rng: np.random.Generator, ids: list[str], start: int) -> pa.Table:
    n = len(ids)
    props = _properties(rng, n)
    rel_std = rng.lognormal(np.log(0.06), 0.6, n)
    ood = rng.lognormal(np.log(0.5), 0.6, n)
    index = np.arange(start, start + n)
    columns: dict[str, object] = {
        "id": ids,
        "name": [f"calc-{i:07d}" for i in index],
        "path": [f"/data/calc-{i:07d}/CHGCAR" for i in index],
        "formula": [f"Zr{i // POLYMORPHS % 7 + 1}X{i // POLYMORPHS}O3" for i in index],
        "n_sites": rng.integers(1, 64, n, dtype=np.int32),
        "volume": rng.uniform(10.0, 900.0, n),
        "density": rng.uniform(1.0, 15.0, n),
        "n_electrons": rng.uniform(8.0, 600.0, n),
        "grid": pa.array([[96, 96, 96]] * n, pa.list_(pa.int32())),
        "recon_error": ood * 0.004,
        "ood_score": ood,
        "pugh_ratio": props["pugh_ratio"],
        "poisson_ratio": props["poisson_ratio"],
        "vickers_hardness": props["vickers_hardness"],
        "model_id": [MODEL_ID] * n,
        "run_id": [RUN_ID] * n,
        "created_at": pa.array([datetime(2026, 1, 1, tzinfo=timezone.utc)] * n, pa.timestamp("us", tz="UTC")),
    }
    for target in TARGET_NAMES:
        value = props[target]
        columns[target] = value
        columns[f"{target}_lgbm"] = value * rng.normal(1.0, 0.03, n)
        columns[f"{target}_attcnn"] = value * rng.normal(1.0, 0.03, n)
        std = rng.lognormal(np.log(0.04), 0.6, n) if target == "formation_energy" else rel_std * np.abs(value)
        columns[f"{target}_std"] = std
    return pa.table({f.name: columns[f.name] for f in PREDICTIONS_SCHEMA}, schema=PREDICTIONS_SCHEMA)


def _latents(rng: np.random.Generator, ids: list[str], dim: int) -> pa.Table:
    n = len(ids)
    values = pa.array(rng.standard_normal(n * dim, dtype=np.float32) + 0.5)
    offsets = pa.array(np.arange(0, (n + 1) * dim, dim, dtype=np.int32))
    mask = pa.array(rng.random(n) < NULL_EMBEDDING_FRACTION)
    embedding = pa.ListArray.from_arrays(offsets, values, mask=mask)
    return pa.table(
        {
            "id": ids,
            "latent": pa.nulls(n, pa.list_(pa.float32())),
            "embedding": embedding,
            "model_id": [MODEL_ID] * n,
        },
        schema=LATENTS_SCHEMA,
    )


def _errors(rng: np.random.Generator, n: int) -> pa.Table:
    stages = np.array(["read", "validate", "regrid", "predict", "duplicate"])
    picked = stages[rng.integers(0, len(stages), n)]
    return pa.table(
        {
            "path": [f"/data/bad-{i:07d}/CHGCAR" for i in range(n)],
            "id": _hex_ids(rng, n),
            "stage": picked.tolist(),
            "error_type": ["InputError"] * n,
            "message": [f"synthetic failure at {s}" for s in picked],
            "run_id": [RUN_ID] * n,
        },
        schema=ERRORS_SCHEMA,
    )


def write_synthetic(root: Path, *, rows: int, parts: int, dim: int, seed: int = 0) -> str:
    """Write a results directory under ``root``; return the id of its first material."""
    rng = np.random.default_rng(seed)
    for sub in ("predictions", "latents", "errors"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    bounds = np.linspace(0, rows, parts + 1, dtype=int)
    first_id = ""
    for seq, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:])):
        ids = _hex_ids(rng, int(hi - lo))
        first_id = first_id or ids[0]
        pq.write_table(_predictions(rng, ids, int(lo)), root / "predictions" / f"part-{RUN_ID}-{seq:05d}.parquet")
        pq.write_table(_latents(rng, ids, dim), root / "latents" / f"part-{RUN_ID}-{seq:05d}.parquet")
    pq.write_table(_errors(rng, int(rows * ERROR_FRACTION)), root / "errors" / f"part-{RUN_ID}-00000.parquet")
    (root / "manifest.json").write_text('{"schema_version": 1, "run_id": "%s"}\n' % RUN_ID)
    return first_id


def median_seconds(fn: Callable[[], object], *, repeats: int) -> tuple[float, float, object]:
    """Median wall time and median CPU time of this process (all threads) over ``repeats`` calls
    after one warm-up call, and the warm-up's result. CPU time shows the work even when other
    programs share the cores; a subprocess's CPU is not counted."""
    result = fn()
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(wall), statistics.median(cpu), result


def _cli(name: str, root: Path, params: dict[str, str], limit: int) -> None:
    """One ``screener query`` process, as a user runs it."""
    args = ["query", name, "--results", str(root), "--format", "csv", "--limit", str(limit)]
    args += [f"--param={k}={v}" for k, v in params.items()]
    command = [sys.executable, "-c", "from screener.cli.main import main; main()", *args]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="prediction rows (default 1,000,000)")
    parser.add_argument("--parts", type=int, default=8, help="part files per folder (default 8)")
    parser.add_argument("--dim", type=int, default=32, help="embedding length in float32 (default 32)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per query after a warm-up (default 5)")
    parser.add_argument("--limit", type=int, default=20, help="row limit, as the CLI default (default 20)")
    parser.add_argument("--keep", type=Path, default=None, help="write the data here and keep it")
    args = parser.parse_args(argv)

    print("load average at start (1, 5, 15 min): " + ", ".join(f"{x:.2f}" for x in os.getloadavg()))
    with tempfile.TemporaryDirectory(prefix="query-bench-") as tmp:
        root = args.keep or Path(tmp) / "results"
        start = time.perf_counter()
        first_id = write_synthetic(root, rows=args.rows, parts=args.parts, dim=args.dim)
        size = sum(p.stat().st_size for p in root.rglob("*.parquet")) / 2**20
        print(f"wrote {args.rows:,} predictions + {args.rows:,} latents ({args.dim}-float embeddings) "
              f"+ {int(args.rows * ERROR_FRACTION):,} errors in {args.parts} parts each, "
              f"{size:,.0f} MiB, in {time.perf_counter() - start:.1f} s")

        cases: list[tuple[str, dict[str, str]]] = [
            (spec.name, {}) for spec in list_queries() if not any(p.required for p in spec.params)
        ]
        cases += [("similar_to", {"ref": first_id}), ("similar_to", {"ref": "Zr1X0O3"})]

        connect_s, _, con = median_seconds(lambda: connect(root), repeats=args.repeats)
        print(f"\nconnect (create views): median {connect_s * 1e3:.1f} ms")
        print(f"\n{'query':<22} {'rows':>4} {'execute [ms]':>12} {'(cpu)':>6} {'run_query [ms]':>14} {'cli [ms]':>8}")
        worst = 0.0
        for name, params in cases:
            label = name + (f" ({'id' if params['ref'] == first_id else 'formula'})" if params else "")
            exec_s, exec_cpu, table = median_seconds(
                lambda: execute_query(con, name, params, limit=args.limit), repeats=args.repeats
            )
            run_s, _, _ = median_seconds(lambda: run_query(name, root, params, limit=args.limit), repeats=args.repeats)
            cli_s, _, _ = median_seconds(lambda: _cli(name, root, params, args.limit), repeats=args.repeats)
            worst = max(worst, run_s)
            print(
                f"{label:<22} {table.num_rows:>4} {exec_s * 1e3:>12.0f} {exec_cpu * 1e3:>6.0f}"
                f" {run_s * 1e3:>14.0f} {cli_s * 1e3:>8.0f}"
            )
        con.close()
        print(f"\nslowest run_query: {worst * 1e3:.0f} ms ({'under' if worst < 1 else 'OVER'} the 1 s goal)")
        print("load average at end (1, 5, 15 min): " + ", ".join(f"{x:.2f}" for x in os.getloadavg()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
