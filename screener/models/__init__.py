"""Models: the periodic autoencoder, the attention CNN, LightGBM on latents, features, bundles, the predictor.

Public entry points below, imported on first use (:mod:`screener._lazy`); the rest is private by convention.
"""

from __future__ import annotations

from .._lazy import lazy_exports

_EXPORTS = {
    "PeriodicAutoencoder": "autoencoder",
    "AttentionRegressor": "attention",
    "ModelBundle": "bundle",
    "load_bundle": "bundle",
    "save_bundle": "bundle",
    "verify_bundle": "bundle",
    "Predictor": "predictor",
    "tabular_features": "features",
    "write_random_bundle": "random_bundle",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
