"""Grids: periodic, charge-conserving resampling of a density and the FFT grid shape of a cell."""
