"""Grids: periodic, charge-conserving resampling (``regrid``) and the FFT grid shape of a cell.

Public entry points below, imported on first use (:mod:`screener._lazy`); the rest is private by convention.
"""

from __future__ import annotations

from .._lazy import lazy_exports

_EXPORTS = {
    "regrid": "resample",
    "vasp_grid_shape": "shape",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
