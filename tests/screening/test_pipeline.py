"""The Ray pipeline: accounting, schema, dedupe, placement on logical GPUs, two nodes, resume, crashes.

Each ``run_screen`` starts actor processes (a few seconds on 2 cores), so each test makes as few
runs as it can and checks everything that run shows.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from screener.config import RunConfig
from screener.errors import ConfigError
from screener.screening.pipeline import run_screen
from screener.screening.schema import ERRORS_SCHEMA, LATENTS_SCHEMA, PREDICTIONS_SCHEMA

from .conftest import make_density_folder

pytestmark = pytest.mark.usefixtures("ray_instance")

# These tests are about the Ray engine: they ask for it (``auto`` would run small inputs in process;
# tests/screening/test_local.py compares the two engines).
CPU = RunConfig(engine="ray", cpus=2)


def _table(out: Path, folder: str):
    parts = sorted((out / folder).glob("*.parquet"))
    return pq.read_table(parts) if parts else None


def _paths(out: Path, folder: str) -> list[str]:
    table = _table(out, folder)
    return table.column("path").to_pylist() if table is not None else []


def test_mixed_inputs_accounting_schema_and_dedupe(tmp_path, random_bundle_dir) -> None:
    """6 good files, a byte-identical copy, 3 broken files, a LOCPOT: every input exactly once."""
    root = tmp_path / "runs"
    good = make_density_folder(root, 6)
    duplicate = root / "copy-of-000" / "CHGCAR"
    duplicate.parent.mkdir()
    shutil.copy(good[0], duplicate)
    broken = {}
    for name, content in (("empty", b""), ("garbage", os.urandom(300)), ("truncated", good[1].read_bytes()[:900])):
        path = root / f"broken-{name}" / "CHGCAR"
        path.parent.mkdir()
        path.write_bytes(content)
        broken[name] = path
    (root / "calc-000" / "LOCPOT").write_text("skipped by a directory scan\n")
    out = tmp_path / "out"

    summary = run_screen([root], out, model=random_bundle_dir, config=RunConfig(engine="ray", cpus=2, batch_size=2, strict=True), progress=False)

    # of two byte-identical files, whichever reaches the writer first is predicted (parallel workers:
    # either may), the other is a duplicate error row naming it
    predicted = sorted(_paths(out, "predictions"))
    kept, copy = (str(good[0]), str(duplicate)) if str(good[0]) in predicted else (str(duplicate), str(good[0]))
    assert predicted == sorted([kept, *(str(p) for p in good[1:])])
    assert sorted(_paths(out, "errors")) == sorted([*(str(p) for p in broken.values()), copy])
    assert summary.discovered == 10 == summary.predicted + summary.failed + summary.duplicates
    errors = {row["path"]: row for row in _table(out, "errors").to_pylist()}
    assert errors[copy]["stage"] == "duplicate" and kept in errors[copy]["message"]
    assert "empty file" in errors[str(broken["empty"])]["message"] and errors[str(broken["empty"])]["id"]
    assert "truncated" in errors[str(broken["truncated"])]["message"]
    # the schema is the contract with queries/
    predictions, latents = _table(out, "predictions"), _table(out, "latents")
    assert predictions.schema.equals(PREDICTIONS_SCHEMA, check_metadata=False)
    assert latents.schema.equals(LATENTS_SCHEMA, check_metadata=False)
    assert _table(out, "errors").schema.equals(ERRORS_SCHEMA, check_metadata=False)
    rows = predictions.to_pylist()
    assert {row["name"] for row in rows} == {Path(kept).parent.name, *(f"calc-{i:03d}" for i in range(1, 6))}
    for row in rows:
        assert len(row["id"]) == 64 and row["formula"] == "NaCl" and len(row["grid"]) == 3
        assert row["bulk_modulus"] > 0 and row["bulk_modulus_std"] >= 0 and row["vickers_hardness"] >= 0
        assert row["n_electrons"] == pytest.approx(8.0 + int(row["name"][-3:]) % 5)
    assert set(latents.column("id").to_pylist()) == {row["id"] for row in rows}
    assert all(len(v) == 16 * 2**3 for v in latents.column("latent").to_pylist())
    assert not list(out.rglob(".*")), "no lock, temporary files or replica registries are left behind"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["totals"] == {"predictions": 6, "latents": 6, "errors": 4}
    run = manifest["runs"][0]
    assert run["counts"]["non_density_files_skipped"] == 1 and run["versions"]["ray"]
    assert run["throughput_files_per_second"] > 0 and run["model_id"] == summary.model_id


def test_four_logical_gpus_get_four_replicas_with_distinct_ids(tmp_path, random_bundle_dir) -> None:
    root = tmp_path / "in"
    make_density_folder(root, 8)
    summary = run_screen([root], tmp_path / "out", model=random_bundle_dir, config=RunConfig(engine="ray", gpus=4, batch_size=1), progress=False)
    assert summary.predicted == 8
    assert len(summary.replicas) == 4
    assert sorted(r["gpu_ids"] for r in summary.replicas) == ["0", "1", "2", "3"]
    assert {r["device"] for r in summary.replicas} == {"cpu"}  # no CUDA here: each fell back to the CPU


def test_more_gpus_than_the_cluster_has_fails_at_once(tmp_path, random_bundle_dir) -> None:
    root = tmp_path / "in"
    make_density_folder(root, 1)
    start = time.perf_counter()
    with pytest.raises(ConfigError, match="--gpus 9 .* 4 GPU"):
        run_screen([root], tmp_path / "out", model=random_bundle_dir, config=RunConfig(engine="ray", gpus=9), progress=False)
    assert time.perf_counter() - start < 10


def test_resume_skips_done_ids_and_records_new_duplicates(tmp_path, random_bundle_dir) -> None:
    root = tmp_path / "in"
    files = make_density_folder(root, 4)
    out = tmp_path / "out"
    run_screen([root], out, model=random_bundle_dir, config=RunConfig(engine="ray", cpus=2, limit=2), progress=False)
    assert len(_paths(out, "predictions")) == 2
    copy = root / "zz-copy" / "CHGCAR"  # same bytes as a file the first run predicted
    copy.parent.mkdir()
    shutil.copy(files[0], copy)
    link = root / "zz-link" / "CHGCAR"  # a symlink is a second path to the same bytes
    link.parent.mkdir()
    link.symlink_to(files[1])
    broken = root / "zz-broken" / "CHGCAR"
    broken.parent.mkdir()
    broken.write_text("nonsense\n")
    summary = run_screen([root], out, model=random_bundle_dir, config=CPU, progress=False)
    assert sorted(_paths(out, "predictions")) == sorted(str(p) for p in files)
    assert sorted(_paths(out, "errors")) == sorted([str(copy), str(link), str(broken)])
    assert (summary.predicted, summary.duplicates, summary.failed, summary.skipped) == (2, 2, 1, 2)
    assert summary.discovered == summary.predicted + summary.failed + summary.duplicates + summary.skipped
    assert len(json.loads((out / "manifest.json").read_text())["runs"]) == 2
    # the broken file is fixed: --retry-errors reads it again and its old error row goes away
    broken.write_bytes(files[2].read_bytes() + b"\n")  # valid now, and not byte-identical to files[2]
    summary = run_screen([root], out, model=random_bundle_dir, config=RunConfig(engine="ray", cpus=2, retry_errors=True), progress=False)
    # every recorded error is looked at again: the duplicates are found again, the fixed file predicted
    assert (summary.predicted, summary.duplicates, summary.skipped) == (1, 2, 4)
    assert str(broken) in _paths(out, "predictions")
    assert sorted(_paths(out, "errors")) == sorted([str(copy), str(link)]), "each input in exactly one table, once"
    # a plain resume afterwards changes nothing: recorded duplicates are not recorded again
    summary = run_screen([root], out, model=random_bundle_dir, config=CPU, progress=False)
    assert (summary.predicted, summary.duplicates, summary.failed, summary.skipped) == (0, 0, 0, 7)
    assert sorted(_paths(out, "errors")) == sorted([str(copy), str(link)])
    # a different model cannot resume into these results
    from screener.models.random_bundle import write_random_bundle

    other = write_random_bundle(tmp_path / "other", grid=16, seed=99)
    with pytest.raises(ConfigError, match="holds predictions of model"):
        run_screen([root], out, model=other, config=CPU, progress=False)


def test_crash_between_part_files_resumes_to_exactly_once(tmp_path, random_bundle_dir, monkeypatch) -> None:
    """Crash after a latents part but before its predictions part: resume removes the orphan."""
    from screener.screening import outputs

    root = tmp_path / "in"
    files = make_density_folder(root, 5)
    out = tmp_path / "out"
    original = outputs.write_table_atomically
    writes = []

    def crash_on_third_write(table, path):
        original(table, path)
        writes.append(path)
        if len(writes) == 3:  # latents 0, predictions 0, latents 1 -> crash
            raise KeyboardInterrupt("simulated crash")

    monkeypatch.setattr(outputs, "write_table_atomically", crash_on_third_write)
    with pytest.raises(KeyboardInterrupt):
        run_screen([root], out, model=random_bundle_dir, config=RunConfig(engine="ray", cpus=2, rows_per_part=2), progress=False)
    monkeypatch.setattr(outputs, "write_table_atomically", original)
    assert len(list((out / "latents").glob("*.parquet"))) == 2
    assert len(list((out / "predictions").glob("*.parquet"))) == 1
    run_screen([root], out, model=random_bundle_dir, config=CPU, progress=False)
    assert sorted(_paths(out, "predictions")) == sorted(str(p) for p in files) and not _paths(out, "errors")
    latent_ids = _table(out, "latents").column("id").to_pylist()
    assert len(latent_ids) == len(set(latent_ids)) == 5


def test_sigkilled_cli_run_resumes_to_exactly_once(tmp_path, random_bundle_dir) -> None:
    """`screener run` killed with SIGKILL mid-run; the rerun completes with every input once."""
    root = tmp_path / "in"
    files = make_density_folder(root, 24)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "screener.cli.main", "run", "--input", str(root), "--output", str(out),
               "--model", str(random_bundle_dir), "--engine", "ray", "--cpus", "2", "--batch-size", "1", "--rows-per-part", "2", "--quiet"]  # fmt: skip
    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and len(list(out.glob("predictions/*.parquet"))) < 2:
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    first = len(_paths(out, "predictions"))
    assert 0 < first < len(files), "killed mid-run"
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    predicted = _paths(out, "predictions")
    assert sorted(predicted) == sorted(str(p) for p in files) and len(predicted) == len(set(predicted))
    latent_ids = _table(out, "latents").column("id").to_pylist()
    assert len(latent_ids) == len(set(latent_ids)) == len(files)


def test_killed_worker_is_retried_and_the_run_completes(tmp_path, random_bundle_dir) -> None:
    """A predict replica killed from outside mid-run is restarted by Ray; no input is lost."""
    import psutil

    root = tmp_path / "in"
    files = make_density_folder(root, 16)
    out = tmp_path / "out"
    killed = []

    def kill_a_replica() -> None:
        deadline = time.time() + 60
        while time.time() < deadline and not killed:
            for process in psutil.process_iter(["cmdline"]):
                if any("PredictBatch" in part for part in (process.info["cmdline"] or [])) and (out / "predictions").exists():
                    process.kill()
                    killed.append(process.pid)
                    return
            time.sleep(0.1)

    thread = threading.Thread(target=kill_a_replica)
    thread.start()
    summary = run_screen([root], out, model=random_bundle_dir, config=RunConfig(engine="ray", cpus=2, batch_size=1, rows_per_part=2), progress=False)
    thread.join()
    assert killed, "a replica was killed mid-run"
    assert summary.predicted == len(files)
    assert sorted(_paths(out, "predictions")) == sorted(str(p) for p in files)


def test_two_node_cluster(tmp_path, random_bundle_dir) -> None:
    """ray.cluster_utils.Cluster: a CPU head and a worker node with 2 logical GPUs, all on loopback."""
    import ray
    from ray.cluster_utils import Cluster

    root = tmp_path / "in"
    make_density_folder(root, 6)
    ray.shutdown()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 2, "include_dashboard": False})
    try:
        cluster.add_node(num_cpus=3, num_gpus=2)
        ray.init(address=cluster.address, log_to_driver=False, logging_level="ERROR")
        assert len([n for n in ray.nodes() if n["Alive"]]) == 2
        summary = run_screen([root], tmp_path / "out", model=random_bundle_dir, config=RunConfig(engine="ray", gpus=2, batch_size=1), progress=False)
        assert summary.predicted == 6
        assert sorted(r["gpu_ids"] for r in summary.replicas) == ["0", "1"]
        assert {n["NodeManagerAddress"] for n in ray.nodes() if n["Alive"]} == {"127.0.0.1"}
    finally:
        ray.shutdown()
        cluster.shutdown()
