"""Faults around a run: hostile names and special files, early output errors, signals, SIGKILL,
and a working directory that holds a folder named ``screener``.

The CLI tests start real ``screener run`` processes (each starts its own Ray: 10-30 s on 2 cores),
so each checks as much as one run shows.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from screener.config import RunConfig
from screener.errors import ConfigError
from screener.screening.pipeline import run_screen

from .conftest import make_density_folder

SCREENER = str(Path(sys.executable).with_name("screener"))
ENV = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
BAD_NAME = os.fsdecode(b"caf\xe9-\xff")  # Latin-1 bytes: not valid UTF-8


def _table(out: Path, folder: str):
    parts = sorted((out / folder).glob("*.parquet"))
    return pq.read_table(parts) if parts else None


def _hostile_inputs(root: Path) -> dict[str, Path]:
    """Two good files, one under a non-UTF-8 folder name, a FIFO and a symlink to /dev/zero."""
    good = make_density_folder(root, 2)
    odd = Path(os.fsdecode(os.fsencode(root) + b"/" + os.fsencode(BAD_NAME))) / "CHGCAR"
    odd.parent.mkdir()
    shutil.copy(good[0], odd)
    with open(odd, "a") as handle:
        handle.write("\n")  # other bytes than good[0]: predicted, not a duplicate
    fifo = root / "fifo" / "CHGCAR"
    fifo.parent.mkdir()
    os.mkfifo(fifo)
    zero = root / "zero" / "CHGCAR"
    zero.parent.mkdir()
    zero.symlink_to("/dev/zero")
    return {"good0": good[0], "good1": good[1], "odd": odd, "fifo": fifo, "zero": zero}


def _run_cli(*args: str, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([SCREENER, "run", *args], env=ENV, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def test_cli_run_from_a_folder_holding_screener_with_hostile_names(tmp_path, random_bundle_dir) -> None:
    """From a folder holding ``screener/`` (which must never be imported), a run over a non-UTF-8
    name, a FIFO and a symlink to /dev/zero: every input once, rows queryable, resume exact."""
    work = tmp_path / "checkout"
    (work / "screener").mkdir(parents=True)
    (work / "screener" / "__init__.py").write_text("raise ImportError('the wrong screener was imported')\n")
    inputs = _hostile_inputs(tmp_path / "in")
    out = tmp_path / "out"
    args = ("--input", str(tmp_path / "in"), "--output", str(out), "--model", str(random_bundle_dir), "--cpus", "2", "--quiet")
    done = _run_cli(*args, cwd=work)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr + done.stdout

    predictions, errors = _table(out, "predictions"), _table(out, "errors")
    raw = {row["path"]: row["path_bytes"] for row in predictions.to_pylist()}
    odd_display = os.fsencode(inputs["odd"]).decode("utf-8", "backslashreplace")
    assert sorted(raw) == sorted([str(inputs["good0"]), str(inputs["good1"]), odd_display])
    assert raw[odd_display] == os.fsencode(inputs["odd"]) and raw[str(inputs["good0"])] is None
    reasons = {row["path"]: row["message"] for row in errors.to_pylist()}
    assert reasons == {str(inputs["fifo"]): "not a regular file: FIFO (named pipe)", str(inputs["zero"]): "not a regular file: character device"}
    assert not list(out.glob(".*")), "no .lock or .replicas-* left"
    # queryable through screener's views: the raw bytes give back the exact name
    from screener.query.views import connect

    found = connect(out).execute("SELECT path_bytes FROM predictions WHERE path_bytes IS NOT NULL").fetchall()
    assert [os.fsdecode(bytes(b)) for (b,) in found] == [str(inputs["odd"])]

    # resume: nothing read again; a copy of the odd file is a duplicate of it
    copy = tmp_path / "in" / "zz-copy" / "CHGCAR"
    copy.parent.mkdir()
    shutil.copy(inputs["odd"], copy)
    done = _run_cli(*args, cwd=work)
    assert done.returncode == 0, done.stderr[-3000:]
    # (special files have no id, so they are looked at again, and their rows replaced, not doubled)
    assert "0 predicted, 2 failed, 1 duplicates, 3 already done" in done.stdout
    errors = _table(out, "errors").to_pylist()
    assert sorted(row["path"] for row in errors) == sorted([str(inputs["fifo"]), str(inputs["zero"]), str(copy)])
    duplicate = [row for row in errors if row["stage"] == "duplicate"]
    assert len(duplicate) == 1 and odd_display in duplicate[0]["message"]


def test_early_errors_before_ray_starts(tmp_path, random_bundle_dir) -> None:
    """Empty input, an output that cannot be created, and too many GPUs: one line, at once, no .lock."""
    empty = tmp_path / "empty"
    empty.mkdir()
    (tmp_path / "file").write_text("x")
    some = tmp_path / "in"
    make_density_folder(some, 1)
    cases = [
        ((str(empty), str(tmp_path / "o1"), "0"), "no density files found under"),
        ((str(some), str(tmp_path / "file" / "sub"), "0"), "a part of its path is a file"),
        ((str(some), "/proc/screener-out", "0"), "cannot create output /proc/screener-out"),
        ((str(some), str(tmp_path / "o2"), "64"), "--gpus 64 asks for 64 GPU replicas but this machine has"),
    ]
    for (source, output, gpus), message in cases:
        start = time.perf_counter()
        done = _run_cli("--input", source, "--output", output, "--model", str(random_bundle_dir), "--gpus", gpus, timeout=60)
        elapsed = time.perf_counter() - start
        assert done.returncode == 1 and message in done.stderr, (message, done.stderr[-2000:])
        assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
        assert elapsed < 20, f"{message}: {elapsed:.1f} s (Ray must not start)"
    assert not (tmp_path / "o2" / ".lock").exists()


@pytest.mark.usefixtures("ray_instance")
def test_full_disk_names_the_folder_and_how_to_resume(tmp_path, random_bundle_dir, monkeypatch) -> None:
    from screener.screening import outputs

    root = tmp_path / "in"
    make_density_folder(root, 4)
    out = tmp_path / "out"
    original, writes = outputs.write_table_atomically, []

    def full_after_two(table, path):
        if len(writes) >= 2:
            raise OSError(28, "No space left on device")
        original(table, path)
        writes.append(path)

    monkeypatch.setattr(outputs, "write_table_atomically", full_after_two)
    with pytest.raises(ConfigError, match=rf"disk full writing to {out}: 2 inputs of this run were saved; .* --resume"):
        run_screen([root], out, model=random_bundle_dir, config=RunConfig(cpus=2, rows_per_part=2), progress=False)
    assert not list(out.glob(".*")), "no .lock or .replicas-* left"
    monkeypatch.setattr(outputs, "write_table_atomically", original)
    summary = run_screen([root], out, model=random_bundle_dir, config=RunConfig(cpus=2), progress=False)
    assert (summary.predicted, summary.skipped) == (2, 2)


def _start_cli(root: Path, out: Path, bundle: Path, *extra: str, engine: str = "ray") -> subprocess.Popen:
    """``screener run`` in the background, on the Ray engine unless ``engine`` says otherwise."""
    command = [SCREENER, "run", "--input", str(root), "--output", str(out), "--model", str(bundle), "--cpus", "2",
               "--batch-size", "1", "--engine", engine, *extra]  # fmt: skip
    return subprocess.Popen(command, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


class _Progress:
    """Reads a run's stderr on a thread; ``done`` is the last file count its progress bar showed."""

    def __init__(self, process: subprocess.Popen) -> None:
        import re
        import threading

        self.text, self.done = b"", 0
        self._pattern = re.compile(rb"(\d+)/(\d+) \[")

        def pump() -> None:
            while chunk := os.read(process.stderr.fileno(), 4096):
                self.text += chunk
                counts = self._pattern.findall(self.text[-400:])
                if counts:
                    self.done = int(counts[-1][0])

        self.thread = threading.Thread(target=pump, daemon=True)
        self.thread.start()

    def wait_for(self, count: int, timeout: float = 240) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline and self.done < count:
            time.sleep(0.1)
        assert self.done >= count, f"only {self.done} files done: {self.text[-1500:]!r}"


def _wait_for_replicas(out: Path, timeout: float = 180) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline and not list(out.glob(".replicas-*/*.json")):
        time.sleep(0.2)
    assert list(out.glob(".replicas-*/*.json")), "the run never started its replicas"


@pytest.mark.parametrize("sig,code,engine", [(signal.SIGINT, 130, "ray"), (signal.SIGTERM, 143, "ray"), (signal.SIGINT, 130, "local")])
def test_signal_saves_finished_rows_and_resume_completes(tmp_path, random_bundle_dir, sig, code, engine) -> None:
    """SIGINT/SIGTERM mid-run: buffered finished rows are written, the run is marked interrupted,
    the process exits 130/143 within 10 s with one line, and a rerun completes exactly once."""
    root = tmp_path / "in"
    files = make_density_folder(root, 30)
    out = tmp_path / "out"
    process = _start_cli(root, out, random_bundle_dir, "--rows-per-part", "1000", engine=engine)  # everything stays buffered
    progress = _Progress(process)
    progress.wait_for(3)
    sent = time.perf_counter()
    process.send_signal(sig)
    process.wait(timeout=60)
    elapsed = time.perf_counter() - sent
    progress.thread.join(timeout=10)
    stderr = progress.text.decode(errors="replace")
    assert process.returncode == code, stderr[-3000:]
    assert elapsed < 10, f"exited {elapsed:.1f} s after the signal"
    saved = len(_table(out, "predictions") or []) + len(_table(out, "errors") or [])
    assert f"interrupted: {saved} saved, rerun with --resume to continue" in stderr
    assert 3 <= saved < len(files), "the buffered finished rows were kept, and the run was cut short"
    assert "Traceback" not in stderr and "Aborted" not in stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["runs"][-1]["status"] == "interrupted"
    assert not list(out.glob(".*")), "no .lock or .replicas-* left"
    done = _run_cli("--input", str(root), "--output", str(out), "--model", str(random_bundle_dir), "--cpus", "2", "--quiet")
    assert done.returncode == 0, done.stderr[-3000:]
    predicted = _table(out, "predictions").column("path").to_pylist()
    assert sorted(predicted) == sorted(str(p) for p in files) and len(predicted) == len(set(predicted))


def test_sigkilled_driver_leaves_no_ray_process(tmp_path, random_bundle_dir) -> None:
    """SIGKILL of the driver alone (not its group): every process of the Ray it started is gone within 60 s."""
    import psutil

    root = tmp_path / "in"
    make_density_folder(root, 30)
    out = tmp_path / "out"
    process = _start_cli(root, out, random_bundle_dir, "--quiet")
    _wait_for_replicas(out)
    tree = psutil.Process(process.pid).children(recursive=True)
    assert any("raylet" in " ".join(p.cmdline()) for p in tree if p.is_running())
    process.send_signal(signal.SIGKILL)
    process.wait()
    deadline = time.time() + 60
    while time.time() < deadline and any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in tree):
        time.sleep(0.5)
    left = [(p.pid, p.name()) for p in tree if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert not left, f"left behind: {left}"
    # the next run takes the folder over: the stale lock and replica registry go away
    done = _run_cli("--input", str(root), "--output", str(out), "--model", str(random_bundle_dir), "--cpus", "2", "--quiet")
    assert done.returncode == 0, done.stderr[-3000:]
    assert not list(out.glob(".*"))
