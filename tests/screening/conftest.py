"""Fixtures of the screening tests: a random bundle and folders of small CHGCARs."""

from __future__ import annotations

from pathlib import Path

import pytest

from ..conftest import write_tiny_chgcar


@pytest.fixture(scope="session")
def random_bundle_dir(tmp_path_factory) -> Path:
    """A random-initialised bundle at grid 16 (valid in every respect but skill)."""
    from screener.models.random_bundle import write_random_bundle

    return write_random_bundle(tmp_path_factory.mktemp("bundles") / "random16", grid=16, seed=0)


def make_density_folder(root: Path, count: int, *, start_seed: int = 0) -> list[Path]:
    """``count`` small valid CHGCARs in VASP-style folders root/calc-XX/CHGCAR."""
    paths = []
    for i in range(count):
        path = root / f"calc-{start_seed + i:03d}" / "CHGCAR"
        path.parent.mkdir(parents=True, exist_ok=True)
        grid = (8 + 2 * (i % 3), 10, 12)
        write_tiny_chgcar(path, grid=grid, electrons=8.0 + i % 5, seed=start_seed + i)
        paths.append(path)
    return paths
