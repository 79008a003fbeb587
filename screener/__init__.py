"""screener: batch prediction of materials properties from DFT charge densities.

Implements Kumar, Linda, Maurya and Bhowmick, J. Chem. Inf. Model. 2026: a periodic 3D
convolutional autoencoder compresses a charge-density grid to a small latent; LightGBM and an
attention 3D CNN, fused with MAGPIE composition descriptors, predict bulk, shear and Young's
moduli (GPa), formation energy (eV/atom) and Debye temperature (K).

One subpackage per stage (``ARCHITECTURE.md``); each names its entry points, for example:

* :func:`screener.io.read_density` -- one CHGCAR-family or cube file to a :class:`~screener.io.DensityRecord`.
* :func:`screener.grid.regrid` -- periodic, charge-conserving resampling.
* :class:`screener.models.Predictor` -- a loaded model bundle applied to batches.
* :func:`screener.screening.run_screen` -- the Ray engine behind ``screener run``.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
