"""Translation-invariant summaries of a latent, and the short embedding used for similarity search.

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


def embedding(latents: np.ndarray) -> np.ndarray:
    """(B, C, g, g, g) → (B, 2C) float32: per-channel mean and max, for cosine similarity search."""
    latents = np.asarray(latents, dtype=np.float32)
    flat = latents.reshape(latents.shape[0], latents.shape[1], -1)
    return np.concatenate([flat.mean(axis=2), flat.max(axis=2)], axis=1).astype(np.float32)
