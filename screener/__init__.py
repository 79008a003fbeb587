"""screener: batch prediction of materials properties from DFT charge densities.

Implements Kumar, Linda, Maurya and Bhowmick, J. Chem. Inf. Model. 2026: a periodic 3D
convolutional autoencoder compresses a charge-density grid to a small latent; LightGBM and an
attention 3D CNN, fused with MAGPIE composition descriptors, predict bulk, shear and Young's
moduli (GPa), formation energy (eV/atom) and Debye temperature (K).

The Python API (:mod:`screener.api`), loaded on first use so that ``import screener`` stays light:

* :func:`screener.load_model` -- a model with ``predict_file``, ``predict_files``, ``predict_density``
  and ``predict_chgcar``;
* :func:`screener.screen` -- what ``screener run`` does: folders of densities into Parquet;
* :func:`screener.query` -- a shipped ranking query or a ``.sql`` file over results, as a table
  (``screener.query`` is also the query subpackage; calling it runs a query).

One subpackage per stage (``ARCHITECTURE.md``); each names its entry points, for example
:func:`screener.io.read_density`, :func:`screener.grid.regrid`, :class:`screener.models.Predictor`
and :func:`screener.screening.run_screen`.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_API = ("Model", "load_model", "screen")

__all__ = ["__version__", *_API, "query"]


def __getattr__(name: str) -> Any:
    if name in _API:
        value = getattr(importlib.import_module(f"{__name__}.api"), name)
        globals()[name] = value
        return value
    if name == "query":  # the subpackage, callable (screener/query/__init__.py)
        return importlib.import_module(f"{__name__}.query")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
