"""The VASP-like FFT grid shape of a cell."""

from __future__ import annotations

import numpy as np
import pytest


def test_grid_shape_rule() -> None:
    from pymatgen.core import Lattice

    from screener.errors import ConfigError
    from screener.grid.shape import vasp_grid_shape

    def smooth(n: int) -> bool:
        for p in (2, 3, 5, 7):
            while n % p == 0:
                n //= p
        return n == 1

    assert vasp_grid_shape(Lattice.cubic(5.64), spacing=0.07) == (84, 84, 84)  # 80.6 -> 84 = 2²·3·7
    lat = Lattice.from_parameters(3.1, 7.7, 21.3, 90, 100, 120)
    for spacing in (0.05, 0.07, 0.13, 0.5):
        shape = vasp_grid_shape(lat, spacing=spacing, min_grid=8)
        for n, a in zip(shape, lat.abc):
            assert n % 2 == 0 and smooth(n) and n >= a / spacing - 1e-9 and n >= 8
            assert not any(m % 2 == 0 and smooth(m) for m in range(max(8, int(np.ceil(a / spacing - 1e-9))), n))
    assert vasp_grid_shape(np.eye(3) * 2.0, spacing=1.0, min_grid=8) == (8, 8, 8)
    with pytest.raises(ConfigError):
        vasp_grid_shape(lat, spacing=0.0)
