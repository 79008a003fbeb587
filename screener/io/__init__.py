"""Density files in and out: discovery, naming, CHGCAR/cube reading, CHGCAR writing, the density table (Parquet)."""

from __future__ import annotations

from .._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__, discovery="discover InputFile", reading="read_density DensityRecord",
    chgcar_writer="format_fortran_e write_chgcar", density_table="read_density_rows DensityRow",
)
