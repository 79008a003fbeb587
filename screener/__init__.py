"""screener: batch prediction of materials properties from DFT charge densities.

Implements Kumar, Linda, Maurya and Bhowmick, J. Chem. Inf. Model. 2026: a periodic 3D
convolutional autoencoder compresses a charge-density grid to a small latent; LightGBM and an
attention 3D CNN, fused with MAGPIE composition descriptors, predict bulk, shear and Young's
moduli (GPa), formation energy (eV/atom) and Debye temperature (K).

The public surface is small; everything else lives in private-by-convention modules:

* :func:`screener.io.reading.read_density` -- one CHGCAR-family or cube file to a :class:`DensityRecord`.
* :func:`screener.grid.resample.regrid` -- periodic, charge-conserving resampling.
* :class:`screener.models.predictor.Predictor` -- a loaded model bundle applied to batches.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
