"""The FFT grid shape of a cell, chosen the way VASP chooses its fine grid."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from pymatgen.core import Lattice


def _fft_friendly_even(n: int) -> int:
    """Smallest even m ≥ n whose prime factors are all in {2, 3, 5, 7}."""
    m = max(2, n + (n % 2))
    while True:
        k = m
        for p in (2, 3, 5, 7):
            while k % p == 0:
                k //= p
        if k == 1:
            return m
        m += 2


def vasp_grid_shape(lattice: Lattice | Any, *, spacing: float, min_grid: int = 8) -> tuple[int, int, int]:
    """Points per axis of a VASP-like fine FFT grid for a cell.

    Each axis gets at least ``|a_i| / spacing`` points (and at least ``min_grid``), rounded up to the next
    even number whose only prime factors are 2, 3, 5 and 7, as VASP does for its FFT grids.

    Args:
        lattice: a pymatgen ``Lattice`` (or anything with ``.abc``) or a 3×3 array of lattice vectors in Å (rows).
        spacing: target distance between grid points along each axis, in Å.
        min_grid: smallest points per axis.

    Returns:
        (n1, n2, n3).

    Raises:
        ConfigError: ``spacing`` is not positive or the lattice is degenerate.
    """
    if not (spacing > 0 and math.isfinite(spacing)):
        raise ConfigError(f"grid spacing must be a positive number of Å, got {spacing!r}")
    abc = getattr(lattice, "abc", None)
    if abc is None:
        abc = np.linalg.norm(np.asarray(lattice, dtype=float), axis=1)
    lengths = [float(a) for a in abc]
    if len(lengths) != 3 or not all(a > 0 and math.isfinite(a) for a in lengths):
        raise ConfigError(f"lattice vector lengths must be positive, got {lengths}")
    return tuple(_fft_friendly_even(max(int(math.ceil(a / spacing - 1e-9)), int(min_grid))) for a in lengths)  # type: ignore[return-value]
