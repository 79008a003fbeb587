"""The in-process engine against the Ray engine, the engine choice, and the quiet terminal output."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from screener.config import RunConfig
from screener.errors import ConfigError
from screener.screening.pipeline import choose_engine, run_screen

from .conftest import make_density_folder

PREDICTED = ["id", "name", "path", "formula", "n_electrons", "bulk_modulus", "shear_modulus", "recon_error", "debye_temperature"]


def _mixed_inputs(root: Path) -> list[Path]:
    """5 good files, a byte-identical copy, 2 broken files and a LOCPOT (skipped by the scan)."""
    good = make_density_folder(root, 5)
    copy = root / "copy-of-000" / "CHGCAR"
    copy.parent.mkdir()
    shutil.copy(good[0], copy)
    for name, content in (("empty", b""), ("garbage", b"\x00\x01" * 200)):
        path = root / f"broken-{name}" / "CHGCAR"
        path.parent.mkdir()
        path.write_bytes(content)
    (root / "calc-000" / "LOCPOT").write_text("not a density\n")
    return good


def _rows(out: Path, folder: str, columns: list[str]) -> list[dict]:
    table = pq.read_table(sorted((out / folder).glob("*.parquet")), columns=columns)
    return sorted(table.to_pylist(), key=lambda row: row["path"])


def _counts(summary) -> tuple:
    return (summary.discovered, summary.predicted, summary.failed, summary.duplicates, summary.skipped,
            dict(summary.errors_by_stage), len(summary.not_densities))  # fmt: skip


@pytest.mark.usefixtures("ray_instance")
def test_local_engine_matches_the_ray_engine(tmp_path, random_bundle_dir) -> None:
    root = tmp_path / "runs"
    _mixed_inputs(root)
    summaries = {}
    for engine in ("local", "ray"):
        config = RunConfig(engine=engine, cpus=2, batch_size=2)
        summaries[engine] = run_screen([root], tmp_path / engine, model=random_bundle_dir, config=config, progress=False)
        assert summaries[engine].engine == engine
    local, ray = summaries["local"], summaries["ray"]
    assert _counts(local) == _counts(ray) == (8, 5, 2, 1, 0, {"read": 2, "duplicate": 1}, 1)
    # Which of two byte-identical paths is predicted and which is the duplicate depends on arrival
    # order (Ray does not keep it): compare failures exactly, duplicates and predictions by id.
    columns = ["path", "id", "stage", "error_type", "message"]
    errors = {engine: _rows(tmp_path / engine, "errors", columns) for engine in ("local", "ray")}
    failures = {engine: [r for r in rows if r["stage"] != "duplicate"] for engine, rows in errors.items()}
    assert failures["local"] == failures["ray"] and len(failures["local"]) == 2
    predictions = {engine: {r["id"]: r for r in _rows(tmp_path / engine, "predictions", PREDICTED)} for engine in ("local", "ray")}
    assert predictions["local"].keys() == predictions["ray"].keys() and len(predictions["local"]) == 5
    for engine, rows in errors.items():  # the duplicate and the path predicted for its bytes: the same pair in both
        (duplicate,) = [r for r in rows if r["stage"] == "duplicate"]
        pair = {duplicate["path"], predictions[engine][duplicate["id"]]["path"]}
        assert pair == {str(tmp_path / "runs" / "calc-000" / "CHGCAR"), str(tmp_path / "runs" / "copy-of-000" / "CHGCAR")}
    for file_id, a in predictions["local"].items():
        b = predictions["ray"][file_id]
        assert (a["formula"], a["n_electrons"]) == (b["formula"], b["n_electrons"])
        for column in PREDICTED[5:]:
            assert a[column] == pytest.approx(b[column], rel=1e-5), column
    assert sorted(p for p, _, _ in local.error_samples) == sorted(p for p, _, _ in ray.error_samples)
    assert all(message for _, _, message in local.error_samples)


def test_rerun_with_nothing_left_loads_no_model(tmp_path, random_bundle_dir) -> None:
    root = tmp_path / "runs"
    make_density_folder(root, 4)
    out = tmp_path / "out"
    first = run_screen([root], out, model=random_bundle_dir, config=RunConfig(), progress=False)
    assert (first.engine, first.predicted, len(first.replicas)) == ("local", 4, 1)
    again = run_screen([root], out, model=random_bundle_dir, config=RunConfig(engine="ray"), progress=False)
    # everything was finished: decided by hash before any engine started, so no replica and no Ray
    assert (again.predicted, again.skipped, again.replicas) == (0, 4, [])
    assert not (out / "ray.log").exists()


def test_local_engine_resumes_after_a_crash(tmp_path, random_bundle_dir, monkeypatch) -> None:
    from screener.screening import outputs

    root = tmp_path / "runs"
    files = make_density_folder(root, 5)
    out = tmp_path / "out"
    original, writes = outputs.write_table_atomically, []

    def crash_on_third_write(table, path):
        original(table, path)
        writes.append(path)
        if len(writes) == 3:
            raise KeyboardInterrupt("simulated crash")

    monkeypatch.setattr(outputs, "write_table_atomically", crash_on_third_write)
    with pytest.raises(KeyboardInterrupt):
        run_screen([root], out, model=random_bundle_dir, config=RunConfig(engine="local", batch_size=1, rows_per_part=2), progress=False)
    monkeypatch.setattr(outputs, "write_table_atomically", original)
    summary = run_screen([root], out, model=random_bundle_dir, config=RunConfig(engine="local"), progress=False)
    assert (summary.predicted, summary.skipped) == (3, 2)
    ids = pq.read_table(sorted((out / "latents").glob("*.parquet"))).column("id").to_pylist()
    assert len(ids) == len(set(ids)) == len(files)


def test_engine_choice() -> None:
    assert choose_engine(RunConfig(local_max_files=10), 10) == "local"
    assert choose_engine(RunConfig(local_max_files=10), 11) == "ray"
    assert choose_engine(RunConfig(engine="ray"), 1) == "ray"
    assert choose_engine(RunConfig(engine="local"), 10**6) == "local"
    assert choose_engine(RunConfig(gpus=1), 1) == "ray"
    assert choose_engine(RunConfig(address="auto"), 1) == "ray"
    with pytest.raises(ConfigError, match="--address"):
        choose_engine(RunConfig(engine="local", gpus=2), 1)


@pytest.mark.parametrize("engine", ["local", "ray"])
def test_default_run_prints_no_ray_log_lines(tmp_path, random_bundle_dir, engine) -> None:
    """The terminal gets the steps, the progress and the summary; Ray's own lines go to OUTPUT/ray.log."""
    root = tmp_path / "runs"
    _mixed_inputs(root)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "screener.cli.main", "run", "--input", str(root), "--output", str(out),
               "--model", str(random_bundle_dir), "--engine", engine, "--cpus", "2"]  # fmt: skip
    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    terminal = done.stdout + done.stderr
    for noise in ("core_worker", "WARNING", "INFO", "Progress bars", "auth", "raylet", "ray::", "Ray Data"):
        assert noise not in terminal, f"{noise!r} on the terminal:\n{terminal[-3000:]}"
    assert "found 8 density files and 1 other inputs, skipped: not densities" in done.stderr
    assert "not densities, skipped (1: LOCPOT" in done.stdout and "LOCPOT" in done.stdout
    assert "broken-empty/CHGCAR (read): " in done.stdout and "broken-garbage/CHGCAR (read): " in done.stdout
    assert (out / "ray.log").exists() == (engine == "ray")
