"""Models: the periodic autoencoder, the attention CNN, LightGBM on latents, features, bundles, the predictor."""

from __future__ import annotations

from .._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__, autoencoder="PeriodicAutoencoder", attention="AttentionRegressor",
    bundle="ModelBundle load_bundle save_bundle verify_bundle", predictor="Predictor",
    features="tabular_features", random_bundle="write_random_bundle",
)
