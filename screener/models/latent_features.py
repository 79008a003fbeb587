"""Translation-invariant summaries of a latent (and of the density), and the embedding for similarity search.

A flattened latent changes when the same crystal is written with another origin; a tree model
cannot know that two such vectors are the same material. Per-channel statistics that do not
depend on the origin (mean, max, quantiles, spatial autocorrelation at one-cell lags) can.
"""

from __future__ import annotations

import numpy as np

QUANTILES = (0.1, 0.5, 0.9)
_STATS = ("mean", "std", "max", *(f"q{int(q * 100)}" for q in QUANTILES), "autocorr1")


def invariant_feature_names(channels: int) -> tuple[str, ...]:
    """Names of :func:`invariant_features` for a latent with ``channels`` channels."""
    return tuple(f"latent_c{c}_{stat}" for c in range(channels) for stat in _STATS)


def invariant_features(latents: np.ndarray) -> np.ndarray:
    """(B, C, g, g, g) latents → (B, C·7) origin-independent summaries.

    Per channel: mean, standard deviation, max, 10/50/90% quantiles, and the periodic
    autocorrelation at a lag of one latent cell averaged over the three axes.
    """
    latents = np.asarray(latents, dtype=np.float64)
    batch, channels = latents.shape[:2]
    flat = latents.reshape(batch, channels, -1)
    mean = flat.mean(axis=2)
    std = flat.std(axis=2)
    peak = flat.max(axis=2)
    quantiles = np.quantile(flat, QUANTILES, axis=2)  # (Q, B, C)
    centred = latents - mean[:, :, None, None, None]
    lagged = sum((centred * np.roll(centred, 1, axis=axis)).mean(axis=(2, 3, 4)) for axis in (2, 3, 4)) / 3.0
    autocorr = np.divide(lagged, std**2, out=np.zeros_like(lagged), where=std > 1e-12)
    stats = np.stack([mean, std, peak, *quantiles, autocorr], axis=2)  # (B, C, 7)
    return stats.reshape(batch, -1)


#: ``latents.embedding`` of a bundle without embedding statistics (format before issue 13).
EMBEDDING_RAW = "channel_mean_max"
#: ``latents.embedding`` of a bundle with them: :func:`invariant_features` standardized.
EMBEDDING_STANDARDIZED = "invariant_standardized"


def embedding_statistics(latents: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation (float32, (7C,) each) of :func:`invariant_features` over (training) latents."""
    features = invariant_features(latents)
    return features.mean(axis=0).astype(np.float32), features.std(axis=0).astype(np.float32)


def embedding(latents: np.ndarray, stats: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """The short, origin-independent vector that ``similar_to`` compares by cosine similarity.

    With ``stats`` (the bundle's training-set mean and standard deviation of the invariant summaries):
    (B, 7C) float32 z-scores of :func:`invariant_features`, so every summary counts on the scale of its
    spread over the training densities and cosine similarity spans −1..1 (``benchmarks/QUERY.md``: on
    real structures this retrieves materials of the same structure prototype far more often than the
    raw summaries or composition alone). Without: (B, 2C) per-channel mean and max of the
    non-negative latent (bundles made before the statistics existed), whose cosines all lie near 1.
    """
    if stats is not None:
        mean, std = (np.asarray(a, dtype=np.float64) for a in stats)
        z = (invariant_features(latents) - mean) / np.where(std > 1e-12, std, 1.0)
        return z.astype(np.float32)
    latents = np.asarray(latents, dtype=np.float32)
    flat = latents.reshape(latents.shape[0], latents.shape[1], -1)
    return np.concatenate([flat.mean(axis=2), flat.max(axis=2)], axis=1).astype(np.float32)


def embedding_size(channels: int, *, standardized: bool) -> int:
    """Length of :func:`embedding` for a latent with ``channels`` channels."""
    return len(_STATS) * channels if standardized else 2 * channels


#: quantiles of ρ over the cell volume used by :func:`density_features`.
DENSITY_QUANTILES = (0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99)
#: thresholds (e/Å³) for the volume fractions of :func:`density_features`.
DENSITY_THRESHOLDS = (0.01, 0.03, 0.1, 0.3, 1.0)


def density_feature_names() -> tuple[str, ...]:
    """Names of :func:`density_features`."""
    return (
        ("rho_mean", "rho_std")
        + tuple(f"rho_q{int(round(q * 100)):02d}" for q in DENSITY_QUANTILES)
        + tuple(f"volume_fraction_rho_above_{t:g}" for t in DENSITY_THRESHOLDS)
    )


def density_features(grids: np.ndarray) -> np.ndarray:
    """(B, n, n, n) densities in e/Å³ → (B, K) statistics of ρ over the cell volume.

    The distribution of ρ over a uniformly sampled cell does not depend on the origin, nor on
    whether the file holds a primitive or a conventional cell: mean, standard deviation,
    quantiles (e/Å³) and the volume fractions above a few thresholds (interstitial vs. bonding
    vs. core-like regions).
    """
    flat = np.asarray(grids, dtype=np.float64).reshape(len(grids), -1)
    quantiles = np.quantile(flat, DENSITY_QUANTILES, axis=1).T
    fractions = np.stack([(flat > t).mean(axis=1) for t in DENSITY_THRESHOLDS], axis=1)
    return np.concatenate([flat.mean(axis=1, keepdims=True), flat.std(axis=1, keepdims=True), quantiles, fractions], axis=1)
