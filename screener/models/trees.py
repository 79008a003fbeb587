"""LightGBM on the latent: standardized flattened latent → PCA, plus invariant latent summaries,
MAGPIE and cell descriptors, one booster per target (the paper's setup, leak-free: every scaler and
the PCA are fitted on the training split only)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from ..config import LgbmConfig
from .latent_features import density_feature_names, invariant_feature_names, invariant_features

log = logging.getLogger(__name__)


@dataclass
class LatentPCA:
    """Per-dimension standardization of the flattened latent followed by a PCA projection.

    Attributes:
        mean, scale: (D,) standardization of the flattened latent.
        components: (k, D) principal axes (rows), k may be 0.
        explained_variance_ratio: (k,) fraction of the standardized variance each axis explains.
    """

    mean: np.ndarray
    scale: np.ndarray
    components: np.ndarray
    explained_variance_ratio: np.ndarray

    @classmethod
    def fit(cls, flat_latents: np.ndarray, n_components: int, *, seed: int = 0) -> LatentPCA:
        """Fit on training latents (N, D) only."""
        flat = np.array(flat_latents, dtype=np.float32)  # one float32 copy, standardized in place below
        mean = flat.mean(axis=0, dtype=np.float64).astype(np.float32)
        scale = flat.std(axis=0, dtype=np.float64).astype(np.float32)
        scale = np.where(scale > 1e-8, scale, np.float32(1.0))
        k = int(min(n_components, flat.shape[0] - 1, flat.shape[1]))
        if k <= 0:
            empty = np.zeros((0, flat.shape[1]), dtype=np.float32)
            return cls(mean.astype(np.float32), scale.astype(np.float32), empty, np.zeros(0, np.float32))
        from sklearn.decomposition import PCA

        pca = PCA(n_components=k, svd_solver="randomized", random_state=seed)
        flat -= mean  # in place: no second copy of the design matrix
        flat /= scale
        pca.fit(flat)
        # The standardized data are centred, so the projection needs no further mean.
        return cls(
            mean.astype(np.float32),
            scale.astype(np.float32),
            pca.components_.astype(np.float32),
            pca.explained_variance_ratio_.astype(np.float32),
        )

    @property
    def n_components(self) -> int:
        return int(self.components.shape[0])

    def transform(self, flat_latents: np.ndarray) -> np.ndarray:
        """(N, D) → (N, k)."""
        standardized = (np.asarray(flat_latents, dtype=np.float32) - self.mean) / self.scale
        return standardized @ self.components.T


def tree_feature_names(
    *,
    n_pca: int,
    latent_channels: int,
    invariant: bool,
    tabular_names: tuple[str, ...],
    density: bool = False,
) -> tuple[str, ...]:
    """Column names of :func:`tree_features`."""
    names = tuple(f"latent_pc{i}" for i in range(n_pca))
    if invariant:
        names += invariant_feature_names(latent_channels)
    if density:
        names += density_feature_names()
    return names + tuple(tabular_names)


def tree_features(
    latents: np.ndarray,
    tabular: np.ndarray,
    *,
    pca: LatentPCA | None,
    invariant: bool,
    density_stats: np.ndarray | None = None,
) -> np.ndarray:
    """The LightGBM design matrix.

    Args:
        latents: (B, C, g, g, g).
        tabular: (B, F) MAGPIE + cell descriptors.
        pca: projection of the flattened latent (None: no PCA columns).
        invariant: add the translation-invariant latent summaries.
        density_stats: (B, K) :func:`~screener.models.latent_features.density_features`, or None.
    """
    latents = np.asarray(latents, dtype=np.float32)
    parts = []
    if pca is not None and pca.n_components:
        parts.append(pca.transform(latents.reshape(latents.shape[0], -1)))
    if invariant:
        parts.append(invariant_features(latents))
    if density_stats is not None:
        parts.append(np.asarray(density_stats, dtype=np.float64))
    parts.append(np.asarray(tabular, dtype=np.float64))
    return np.concatenate([np.asarray(p, dtype=np.float64) for p in parts], axis=1)


def lgbm_params(config: LgbmConfig, *, seed: int, threads: int = 0) -> dict:
    """LightGBM parameters for regression in model space (log10 or eV/atom)."""
    return {
        "objective": "regression",
        "learning_rate": config.learning_rate,
        "num_leaves": config.num_leaves,
        "min_child_samples": config.min_child_samples,
        "feature_fraction": config.feature_fraction,
        "bagging_fraction": config.bagging_fraction,
        "bagging_freq": 1,
        "lambda_l2": config.lambda_l2,
        "seed": seed,
        "deterministic": True,
        "num_threads": threads,
        "verbosity": -1,
    }


def fit_booster(
    train_x: np.ndarray,
    train_y: np.ndarray,
    val_x: np.ndarray | None,
    val_y: np.ndarray | None,
    *,
    config: LgbmConfig,
    seed: int,
    feature_names: tuple[str, ...] | None = None,
):
    """Train one booster with early stopping on the validation split (rows with NaN labels are dropped)."""
    import lightgbm as lgb

    keep = np.isfinite(train_y)
    train = lgb.Dataset(train_x[keep], train_y[keep], feature_name=list(feature_names) if feature_names else "auto", free_raw_data=True)
    valid_sets, callbacks = [], []
    if val_x is not None and val_y is not None and np.isfinite(val_y).sum() >= 2:
        val_keep = np.isfinite(val_y)
        valid_sets = [lgb.Dataset(val_x[val_keep], val_y[val_keep], reference=train)]
        callbacks = [lgb.early_stopping(config.early_stopping_rounds, verbose=False)]
    booster = lgb.train(
        lgbm_params(config, seed=seed),
        train,
        num_boost_round=config.n_estimators,
        valid_sets=valid_sets,
        callbacks=callbacks,
    )
    if valid_sets:
        booster.free_dataset()
    log.info("booster: %d trees (best iteration %s)", booster.num_trees(), booster.best_iteration)
    return booster


def predict_booster(booster, features: np.ndarray) -> np.ndarray:
    """Predictions in model space at the early-stopping iteration."""
    best = booster.best_iteration if booster.best_iteration and booster.best_iteration > 0 else None
    return np.asarray(booster.predict(features, num_iteration=best), dtype=np.float64)
