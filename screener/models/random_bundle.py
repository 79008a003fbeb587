"""A random-initialised bundle: valid in every respect but its skill, for tests and benchmarks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..config import AttentionConfig, AutoencoderConfig, LgbmConfig, RegridConfig
from ..targets import TARGETS
from .attention import AttentionRegressor
from .autoencoder import InputTransform, PeriodicAutoencoder
from .bundle import ModelBundle, TargetStats, save_bundle
from .features import tabular_feature_names
from .latent_features import density_feature_names
from .trees import LatentPCA, fit_booster, tree_feature_names, tree_features

#: a small attention CNN for tests (the paper's widths are 64/128/256).
TINY_ATTENTION = AttentionConfig(widths=(8, 16), tabular_hidden=(16, 8), head_hidden=16, mc_samples=4)


def random_bundle(
    *,
    grid: int = 16,
    seed: int = 0,
    n_pca: int = 4,
    attention: AttentionConfig = TINY_ATTENTION,
    regrid: RegridConfig | None = None,
) -> ModelBundle:
    """Build an in-memory bundle with random weights, random PCA axes and small random boosters."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    ae_config = AutoencoderConfig(grid=grid)
    autoencoder = PeriodicAutoencoder(ae_config).eval()
    names = tabular_feature_names()
    attention_model = AttentionRegressor(
        latent_channels=ae_config.latent_channels,
        latent_grid=ae_config.latent_grid,
        n_tabular=len(names),
        n_targets=len(TARGETS),
        config=attention,
    ).eval()
    latent_size = ae_config.latent_channels * ae_config.latent_grid**3
    axes, _ = np.linalg.qr(rng.normal(size=(latent_size, n_pca)))
    pca = LatentPCA(
        mean=np.zeros(latent_size, np.float32),
        scale=np.ones(latent_size, np.float32),
        components=axes.T.astype(np.float32),
        explained_variance_ratio=np.full(n_pca, 1.0 / max(n_pca, 1), np.float32),
    )
    # Boosters fitted to random data over the real feature layout, so shapes and names are exact.
    n_rows = 64
    latents = rng.random((n_rows, ae_config.latent_channels, *([ae_config.latent_grid] * 3))).astype(np.float32)
    tabular = rng.normal(size=(n_rows, len(names)))
    density_stats = rng.random((n_rows, len(density_feature_names())))
    features = tree_features(latents, tabular, pca=pca, invariant=True, density_stats=density_stats)
    feature_names = tree_feature_names(
        n_pca=n_pca, latent_channels=ae_config.latent_channels, invariant=True, tabular_names=names, density=True
    )
    tiny = LgbmConfig(n_estimators=5, num_leaves=4, min_child_samples=5)
    boosters = {
        target.name: fit_booster(features, rng.normal(size=n_rows) + 1.5, None, None, config=tiny, seed=seed, feature_names=feature_names)
        for target in TARGETS
    }
    targets = [TargetStats(t.name, 1.5 if t.log10 else -1.0, 0.4 if t.log10 else 1.0) for t in TARGETS]
    return ModelBundle(
        regrid=regrid or RegridConfig(grid=grid),
        transform=InputTransform(),
        autoencoder=autoencoder,
        attention=attention_model,
        targets=targets,
        tabular_names=names,
        tabular_mean=np.zeros(len(names)),
        tabular_std=np.ones(len(names)),
        pca=pca,
        invariant_features=True,
        tree_feature_names=feature_names,
        boosters=boosters,
        blend_weights={t.name: 0.5 for t in TARGETS},
        recon_error_p95=1.0,
        lgbm=tiny,
        info={"trained_on": "nothing: random initialisation (tests only)"},
    )


def write_random_bundle(path: str | Path, **options) -> Path:
    """Build :func:`random_bundle` and save it to ``path``; returns the path."""
    save_bundle(random_bundle(**options), path)
    return Path(path)
