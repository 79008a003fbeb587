"""Shared fixtures: paths to the real data, tiny valid CHGCARs, one Ray instance for the session."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

# Keep every Ray process of the tests on loopback (see "Run on a Ray cluster" in README.md).
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
CHGCAR_DIR = SHARED_DATA / "chgcar"


def require_shared(path: Path = SHARED_DATA) -> Path:
    """Skip (with the reason) when the real-data folder beside the repository is absent."""
    if not path.exists():
        pytest.skip(f"real data not available: {path} is absent (clone ../shared beside the repo)")
    return path


@pytest.fixture(scope="session")
def chgcar_dir() -> Path:
    return require_shared(CHGCAR_DIR)


def tiny_structure():
    from pymatgen.core import Lattice, Structure

    return Structure(Lattice.cubic(4.2), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])


def write_tiny_chgcar(path: Path, *, grid=(8, 10, 12), electrons: float = 8.0, spin: bool = False, seed: int = 0) -> np.ndarray:
    """Write a valid small CHGCAR with pymatgen's own writer; return the raw values (ρ·V)."""
    from pymatgen.io.vasp import Chgcar, Poscar

    rng = np.random.default_rng(seed)
    total = rng.random(grid) + 0.1
    total *= electrons / total.mean()
    data = {"total": total}
    if spin:
        data["diff"] = rng.normal(size=grid) * 0.1
    Chgcar(Poscar(tiny_structure()), data).write_file(str(path))
    return total


def pytest_collection_modifyitems(config, items) -> None:
    """Skip tests marked ``gpu`` when no CUDA device is present (fairchem's idiom)."""
    gpu_items = [item for item in items if "gpu" in item.keywords]
    if not gpu_items:
        return
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device (none here)")
    for item in gpu_items:
        item.add_marker(skip)


# --- shared heavy fixtures --------------------------------------------------------------------

#: the one local Ray instance the tests share: logical GPUs let GPU actors schedule without a GPU.
RAY_TEST_RESOURCES = {"num_cpus": 8, "num_gpus": 4}


def start_test_ray() -> None:
    """Start the shared loopback Ray instance if none is running in this process."""
    import ray

    if not ray.is_initialized():
        ray.init(
            address="local",
            include_dashboard=False,
            logging_level="ERROR",
            log_to_driver=False,
            object_store_memory=200 * 1024**2,
            **RAY_TEST_RESOURCES,
        )


@pytest.fixture()
def ray_instance():
    """The shared Ray instance (started once, kept across tests; restarted if a test shut it down)."""
    start_test_ray()
    yield


def pytest_sessionfinish(session, exitstatus) -> None:
    try:
        import ray

        if ray.is_initialized():
            ray.shutdown()
    except ImportError:
        pass
