"""A watchdog that removes a local Ray instance's processes once the driver that started it is gone.

Ray ties its head processes (GCS, raylet) to the driver, but the agents the raylet starts
(``ray::DashboardAgent``, ``ray::RuntimeEnvAgent``) and some workers outlive a SIGKILLed driver,
reparented to PID 1. :func:`start_reaper` starts this module as a small separate process (its own
session, so a signal to the driver's process group does not reach it) that records the Ray
processes the driver started and their descendants twice a second. When the driver's pipe closes
(Ray was shut down, or the driver exited or was killed), the reaper waits a moment, then sends SIGTERM and, after ``GRACE_S``, SIGKILL to each
recorded process that is still alive (checked by PID and start time, so a reused PID is never hit).
Linux only (it reads ``/proc``); elsewhere :func:`start_reaper` does nothing.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

#: seconds between snapshots of the driver's descendants.
POLL_S = 0.5
#: seconds after the driver is gone before the survivors get SIGTERM, then SIGKILL after as long again.
GRACE_S = 3.0


def _start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (None: no such process)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    fields = stat[stat.rfind(b")") + 2 :].split()
    return int(fields[19])  # field 22 of stat, counted after "pid (comm)"


def _parents() -> dict[int, int]:
    parents = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                stat = Path(entry.path, "stat").read_bytes()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat[stat.rfind(b")") + 2 :].split()[1])
    return parents


def descendants(pid: int) -> set[int]:
    """Every process below ``pid`` in the process tree."""
    children: dict[int, list[int]] = {}
    for child, parent in _parents().items():
        children.setdefault(parent, []).append(child)
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _reap(known: dict[int, int]) -> int:
    """SIGTERM, then SIGKILL, every recorded process still alive; return how many were signalled."""
    alive = lambda: [pid for pid, start in known.items() if _start_time(pid) == start]  # noqa: E731
    targets = alive()
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in alive():
            try:
                os.kill(pid, sig)
            except OSError:
                pass
        deadline = time.monotonic() + GRACE_S
        while time.monotonic() < deadline and alive():
            time.sleep(0.1)
    return len(targets)


def watch(roots: list[int]) -> None:
    """Record ``roots`` and their descendants until the driver's pipe (our stdin) closes, then reap
    the survivors."""
    known: dict[int, int] = {}
    me = os.getpid()
    while True:
        tree = set(roots).union(*(descendants(root) for root in roots))
        for pid in tree - {me}:
            start = _start_time(pid)
            if start is not None:
                known.setdefault(pid, start)
        ready, _, _ = select.select([sys.stdin.buffer], [], [], POLL_S)
        if ready and not os.read(sys.stdin.fileno(), 4096):
            break  # EOF: the driver exited or was killed
    time.sleep(GRACE_S)  # a driver that exits normally has shut Ray down by now
    _reap(known)


def start_reaper(roots: list[int]) -> subprocess.Popen | None:
    """Start a reaper for the processes ``roots`` (the Ray head processes this driver started) and
    everything below them. Close its stdin (:func:`stop_reaper`) when Ray has been shut down."""
    if not roots or not Path("/proc/self/stat").exists():
        return None
    package_parent = Path(__file__).resolve().parents[2]  # never the caller's working directory
    return subprocess.Popen(
        [sys.executable, "-P", "-m", "screener.screening.reaper", *map(str, roots)],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=package_parent,
        start_new_session=True,
    )


def stop_reaper(reaper: subprocess.Popen | None) -> None:
    """Tell the reaper that Ray was shut down: it removes any straggler after ``GRACE_S`` and exits."""
    if reaper is not None and reaper.stdin is not None:
        reaper.stdin.close()


if __name__ == "__main__":  # pragma: no cover - run by start_reaper
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    watch([int(arg) for arg in sys.argv[1:]])
