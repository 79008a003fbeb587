"""Density files in and out: discovery, naming, CHGCAR/cube reading, CHGCAR writing.

Public entry points below, imported on first use (:mod:`screener._lazy`); the rest is private by convention.
"""

from __future__ import annotations

from .._lazy import lazy_exports

_EXPORTS = {
    "discover": "discovery",
    "InputFile": "discovery",
    "read_density": "reading",
    "DensityRecord": "reading",
    "format_fortran_e": "chgcar_writer",
    "write_chgcar": "chgcar_writer",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
