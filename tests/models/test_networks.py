"""The networks: shapes, periodicity (translation equivariance), precision policy, masked loss."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from screener.config import AttentionConfig, AutoencoderConfig
from screener.models.attention import AttentionRegressor, masked_mse
from screener.models.autoencoder import InputTransform, PeriodicAutoencoder, encoder_flops_per_sample
from screener.models.latent_features import embedding, invariant_features
from screener.models.precision import resolve_precision

TINY = AttentionConfig(widths=(8, 16), tabular_hidden=(16, 8), head_hidden=16, dropout=0.0, mc_samples=1)


@pytest.mark.parametrize("grid", [16, 32])
def test_autoencoder_shapes(grid: int) -> None:
    torch.manual_seed(0)
    model = PeriodicAutoencoder(AutoencoderConfig(grid=grid)).eval()
    x = torch.rand(2, grid, grid, grid)
    reconstruction, latent = model(x)
    assert latent.shape == (2, 16, grid // 8, grid // 8, grid // 8)
    assert reconstruction.shape == x.shape
    assert (latent >= 0).all(), "the latent is non-negative (ReLU)"


def test_paper_latent_size_at_128() -> None:
    config = AutoencoderConfig(grid=128)
    assert config.latent_channels * config.latent_grid**3 == 65_536
    assert encoder_flops_per_sample(config) > 0


def test_grid_must_be_divisible_by_8() -> None:
    with pytest.raises(ValueError, match="divisible by 8"):
        PeriodicAutoencoder(AutoencoderConfig(grid=20))


def test_rolling_input_by_latent_cells_rolls_latent_and_keeps_pooled_predictions() -> None:
    """Circular padding: translating the density by whole latent cells translates the latent."""
    torch.manual_seed(1)
    grid = 32
    autoencoder = PeriodicAutoencoder(AutoencoderConfig(grid=grid)).eval()
    regressor = AttentionRegressor(latent_channels=16, latent_grid=grid // 8, n_tabular=5, n_targets=5, config=TINY).eval()
    x = torch.rand(1, grid, grid, grid)
    shift = (8, 16, 24)  # whole latent cells: 1, 2, 3
    with torch.no_grad():
        latent = autoencoder.encode(x)
        rolled = autoencoder.encode(torch.roll(x, shifts=shift, dims=(1, 2, 3)))
        torch.testing.assert_close(rolled, torch.roll(latent, shifts=(1, 2, 3), dims=(2, 3, 4)))
        tabular = torch.rand(1, 5)
        torch.testing.assert_close(regressor(rolled, tabular), regressor(latent, tabular), atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(invariant_features(rolled.numpy()), invariant_features(latent.numpy()), atol=1e-6)
    np.testing.assert_allclose(embedding(rolled.numpy()), embedding(latent.numpy()), atol=1e-6)


def test_zero_padding_would_break_periodicity() -> None:
    """Guard for the test above: with zero padding the same roll does not commute."""
    torch.manual_seed(1)
    conv = torch.nn.Conv3d(1, 2, 3, padding=1)  # zero padding
    x = torch.rand(1, 1, 16, 16, 16)
    assert not torch.allclose(conv(torch.roll(x, 8, dims=2)), torch.roll(conv(x), 8, dims=2))


def test_input_transform_round_trip_handles_negative_density() -> None:
    rho = torch.tensor([-0.01, 0.0, 0.05, 3.0, 200.0])
    for kind in ("asinh", "linear"):
        transform = InputTransform(kind=kind, rho0=0.05)
        torch.testing.assert_close(transform.inverse(transform.forward(rho)), rho, rtol=1e-5, atol=1e-6)


def test_bf16_latents_agree_with_fp32() -> None:
    """bf16 autocast keeps ~3 significant digits: latents agree within 5% of their scale."""
    torch.manual_seed(2)
    model = PeriodicAutoencoder(AutoencoderConfig(grid=16)).eval()
    x = torch.rand(2, 16, 16, 16) * 3
    fp32 = resolve_precision("fp32", "cpu")
    bf16 = resolve_precision("bf16", "cpu")
    assert fp32.autocast_dtype is None and bf16.autocast_dtype == torch.bfloat16
    with torch.no_grad():
        with fp32.autocast():
            reference = model.encode(x)
        with bf16.autocast():
            low = model.encode(x).float()
    scale = reference.abs().max()
    assert (low - reference).abs().max() <= 0.05 * scale
    assert torch.corrcoef(torch.stack([low.flatten(), reference.flatten()]))[0, 1] > 0.999


def test_precision_policy_defaults() -> None:
    cpu = resolve_precision("auto", "cpu")
    assert cpu.autocast_dtype is None and cpu.name == "fp32" and not cpu.use_grad_scaler
    # asking for CUDA on a machine without it falls back to the CPU
    if not torch.cuda.is_available():
        assert resolve_precision("auto", "cuda").device.type == "cpu"
    with pytest.raises(ValueError):
        resolve_precision("fp8", "cpu")  # type: ignore[arg-type]


@pytest.mark.gpu
def test_cuda_auto_precision_is_bf16_or_fp16() -> None:
    policy = resolve_precision("auto", "cuda")
    assert policy.device.type == "cuda" and policy.autocast_dtype in (torch.bfloat16, torch.float16)


def test_masked_loss_ignores_missing_labels() -> None:
    prediction = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    target = torch.tensor([[1.0, float("nan")], [2.0, 4.0]])
    mask = torch.isfinite(target)
    assert masked_mse(prediction, target, mask).item() == pytest.approx(1.0 / 3.0)
