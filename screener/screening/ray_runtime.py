"""Starting and joining Ray, shared by the two engines (screening and DFT); nothing else imports Ray.

A local instance is started with ``address="local"`` (a stale cluster file never hijacks it),
without the dashboard, from the package's own folder (workers never import a ``screener`` folder
from the caller's working directory), watched by a reaper process (nothing of it outlives a
SIGKILLed driver), and shut down afterwards; joining a ``ray start`` cluster sets token
authentication first when a token is at hand.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from ..errors import ConfigError
from .reaper import start_reaper, stop_reaper

log = logging.getLogger(__name__)


def auth_environment(address: str | None) -> bool:
    """Joining a ``ray start`` cluster needs token auth in Ray ≥ 2.52 (on by default in 2.60).

    Sets ``RAY_AUTH_MODE=token`` when a token is at hand and the mode is unset; Ray reads the
    variable when it is imported, so this must run before ``import ray``. True when it set it.
    """
    if not address or address == "local" or "RAY_AUTH_MODE" in os.environ:
        return False
    if os.environ.get("RAY_AUTH_TOKEN") or (Path.home() / ".ray" / "auth_token").is_file():
        os.environ["RAY_AUTH_MODE"] = "token"
        log.info("found a Ray auth token; connecting with RAY_AUTH_MODE=token")
        return True
    return False


def local_gpu_count() -> int:
    """NVIDIA GPUs this machine shows (``CUDA_VISIBLE_DEVICES`` when set), without importing torch or Ray."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return len([d for d in visible.split(",") if d.strip() and d.strip() != "-1"])
    proc = Path("/proc/driver/nvidia/gpus")
    if proc.is_dir():
        return sum(1 for _ in proc.iterdir())
    return sum(1 for p in Path("/dev").glob("nvidia[0-9]*"))


@contextmanager
def _package_cwd() -> Iterator[None]:
    """Run ``ray.init`` from the folder the installed package sits in.

    Ray puts the driver's working directory first on every worker's ``sys.path``; a folder named
    ``screener`` there (a checkout, say) would then shadow the installed package in the workers.
    From the package's own parent folder the workers import exactly what the driver imports.
    """
    previous = os.getcwd()
    os.chdir(Path(__file__).resolve().parents[2])
    try:
        yield
    finally:
        os.chdir(previous)


def check_local_gpus(*, address: str | None, gpus: int) -> None:
    """Refuse more GPUs than this machine has when a local instance is to be started for them
    (not when joining ``address``, nor when Ray already runs in this process: it says what it has).

    Raises:
        ConfigError: ``gpus`` beyond the machine's GPUs.
    """
    if address or gpus <= 0 or ("ray" in sys.modules and sys.modules["ray"].is_initialized()):
        return
    if gpus > (available := local_gpu_count()):
        raise ConfigError(
            f"--gpus {gpus} asks for {gpus} GPU replicas but this machine has {available} GPU(s); "
            "use --gpus 0 for CPU replicas, or join a cluster with GPUs (--address)"
        )


@contextmanager
def ray_session(*, address: str | None, cpus: int | None, gpus: int = 0) -> Iterator[None]:
    """Use the Ray instance already initialized in this process, join ``address``, or start a local one.

    Args:
        address: Ray address to join (None: start a local instance).
        cpus: CPUs of a local instance (None: all cores).
        gpus: GPUs the run needs; a local instance refuses more than the machine has before starting.
    """
    already_imported = "ray" in sys.modules
    if auth_environment(address) and already_imported:
        log.warning(
            "ray was imported before RAY_AUTH_MODE=token was set; Ray reads it at import, so joining %s "
            "may fail: export RAY_AUTH_MODE=token before starting Python", address
        )
    import ray

    if ray.is_initialized():
        yield
        return
    check_local_gpus(address=address, gpus=gpus)
    options = {"include_dashboard": False, "logging_level": logging.WARNING, "log_to_driver": True}
    try:
        with _package_cwd():
            if address:
                ray.init(address=address, **options)
            else:
                ray.init(address="local", num_cpus=cpus, **options)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        target = address or "a local instance"
        hint = " (a cluster started with `ray start` needs RAY_AUTH_MODE=token and its token)" if address else ""
        raise ConfigError(f"cannot start or join Ray at {target}: {exc}{hint}") from None
    reaper = start_reaper(_local_ray_pids()) if not address else None
    try:
        yield
    finally:
        try:
            ray.shutdown()
        finally:
            stop_reaper(reaper)


def _local_ray_pids() -> list[int]:
    """PIDs of the Ray processes this driver started (GCS, raylet, monitors), from Ray's node record."""
    import ray

    node = getattr(ray._private.worker, "_global_node", None)
    processes = getattr(node, "all_processes", {}) or {}
    return [info.process.pid for infos in processes.values() for info in infos if getattr(info, "process", None)]


@contextmanager
def stderr_to_file(path: Path) -> Iterator[TextIO]:
    """Send everything written to standard error (Python and C++, this process) to ``path``.

    Ray's warnings, its core worker's C++ log lines and the output of its workers arrive on file
    descriptor 2; while this is active they are appended to ``path`` instead of the terminal.
    Yields a stream to the terminal's standard error for what should still be seen (progress,
    steps); the handlers of the root logger are pointed at it too, so screener's own warnings
    stay on screen.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stderr.flush()
    saved = os.dup(2)
    terminal = os.fdopen(os.dup(saved), "w", buffering=1, encoding="utf-8", errors="replace")
    handlers = [h for h in logging.getLogger().handlers if isinstance(h, logging.StreamHandler) and h.stream is sys.stderr]
    with open(path, "ab") as sink:
        os.dup2(sink.fileno(), 2)
    for handler in handlers:
        handler.setStream(terminal)
    try:
        yield terminal
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        for handler in handlers:
            handler.setStream(sys.stderr)
        terminal.close()
