"""One pass over the data: autoencoder and attention-CNN epochs, encoding, the blend weight.

The pieces :mod:`.trainer` loops over; each works on arrays and a model, never on files.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..models.attention import masked_mse
from ..models.autoencoder import reconstruction_error
from ..models.latent_features import density_features
from ..targets import TARGETS


def _batches(indices: np.ndarray, batch_size: int, rng: np.random.Generator | None) -> list[np.ndarray]:
    order = rng.permutation(indices) if rng is not None else np.asarray(indices)
    return [np.sort(order[i : i + batch_size]) for i in range(0, len(order), batch_size)]


def _random_roll(x: torch.Tensor, rng: np.random.Generator, *, step: int = 1) -> torch.Tensor:
    """Translate a batch periodically by a random multiple of ``step`` voxels per axis (same crystal)."""
    size = x.shape[-1] // step
    shifts = tuple(int(v) * step for v in rng.integers(0, size, 3))
    return torch.roll(x, shifts=shifts, dims=(-3, -2, -1))


def _ae_epoch(model, optimizer, grids, indices, transform, *, batch_size, device, rng, policy, scaler) -> float:
    model.train()
    total, count = 0.0, 0
    for batch in _batches(indices, batch_size, rng):
        rho = torch.as_tensor(np.asarray(grids[batch]), device=device)
        x = transform.forward(_random_roll(rho, rng))
        with policy.autocast():
            reconstruction, _ = model(x)
            loss = torch.mean((reconstruction.float() - x) ** 2)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        total += loss.item() * len(batch)
        count += len(batch)
    return total / max(count, 1)


@torch.inference_mode()
def _ae_validation(model, grids, indices, transform, *, batch_size, device, physical: bool = False) -> float:
    """Mean reconstruction MSE on ``indices`` (in the transformed space, or in ρ units if ``physical``)."""
    model.eval()
    total, count = 0.0, 0
    for batch in _batches(indices, batch_size, None):
        rho = torch.as_tensor(np.asarray(grids[batch]), device=device)
        x = transform.forward(rho)
        reconstruction, _ = model(x)
        if physical:
            error = torch.mean((transform.inverse(reconstruction) - rho) ** 2, dim=(1, 2, 3))
        else:
            error = reconstruction_error(reconstruction, x)
        total += float(error.sum())
        count += len(batch)
    return total / max(count, 1)



@torch.inference_mode()
def encode_dataset(model, grids, transform, *, batch_size: int, device, policy) -> tuple[np.ndarray, np.ndarray]:
    """Latents (N, C, g, g, g) and reconstruction errors (N,) of every density."""
    model.eval()
    latents, errors = [], []
    for batch in _batches(np.arange(len(grids)), batch_size * 2, None):
        x = transform.forward(torch.as_tensor(np.asarray(grids[batch]), device=device))
        with policy.autocast():
            reconstruction, latent = model(x)
        latents.append(latent.float().cpu().numpy())
        errors.append(reconstruction_error(reconstruction, x).cpu().numpy())
    return np.concatenate(latents), np.concatenate(errors).astype(np.float64)


def _attention_epoch(model, optimizer, latents, tabular, targets, indices, *, batch_size, device, rng) -> float:
    model.train()
    total, weight = 0.0, 0.0
    for batch in _batches(indices, batch_size, rng):
        if len(batch) < 2:
            continue  # batch norm needs two samples
        latent = _random_roll(torch.as_tensor(latents[batch], device=device), rng)
        y = torch.as_tensor(targets[batch], device=device, dtype=torch.float32)
        mask = torch.isfinite(y)
        prediction = model(latent, torch.as_tensor(tabular[batch], device=device, dtype=torch.float32))
        loss = masked_mse(prediction, y, mask)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        n = float(mask.sum())
        total += loss.item() * n
        weight += n
    return total / max(weight, 1.0)


@torch.inference_mode()
def _attention_predict(model, latents, tabular, indices, *, batch_size, device) -> np.ndarray:
    model.eval()
    out = []
    for batch in _batches(indices, batch_size * 4, None):
        out.append(
            model(torch.as_tensor(latents[batch], device=device), torch.as_tensor(tabular[batch], device=device, dtype=torch.float32))
            .float()
            .cpu()
            .numpy()
        )
    return np.concatenate(out) if out else np.zeros((0, len(TARGETS)))


def dataset_density_features(grids: np.ndarray, *, chunk: int = 256) -> np.ndarray:
    """:func:`density_features` of a (memory-mapped) grid array, a chunk at a time."""
    return np.concatenate([density_features(np.asarray(grids[i : i + chunk])) for i in range(0, len(grids), chunk)])


def _masked_loss_np(prediction: np.ndarray, target: np.ndarray) -> float:
    mask = np.isfinite(target)
    return float(np.mean((prediction[mask] - target[mask]) ** 2)) if mask.any() else math.nan


def best_blend_weight(lgbm: np.ndarray, attention: np.ndarray, truth: np.ndarray) -> float:
    """Weight w of LightGBM in w·lgbm + (1−w)·attention minimizing validation MSE (grid of 0.05)."""
    keep = np.isfinite(truth) & np.isfinite(lgbm) & np.isfinite(attention)
    if keep.sum() < 3:
        return 0.5
    weights = np.linspace(0, 1, 21)
    errors = [np.mean((w * lgbm[keep] + (1 - w) * attention[keep] - truth[keep]) ** 2) for w in weights]
    return float(weights[int(np.argmin(errors))])
