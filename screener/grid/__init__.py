"""Grids: periodic, charge-conserving resampling (``regrid``) and the FFT grid shape of a cell."""

from __future__ import annotations

from .._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, resample="regrid", shape="vasp_grid_shape")
