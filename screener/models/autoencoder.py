"""The periodic 3D convolutional autoencoder (Kumar et al. 2026, made periodic).

Encoder: conv 3³ → 16, pool 2 → conv → 32, pool 2 → conv → 32, pool 2 → conv → 16 (ReLU: the
latent is non-negative). Decoder mirrored with nearest up-sampling, linear output. Every
convolution pads circularly, so the network commutes with translations by whole latent cells
(8 input voxels): rolling the density rolls the latent.

A grid of n points per axis gives a latent of ``channels[-1] × (n/8)³`` (16 × 16³ = 65,536 values at
n = 128, the paper's size).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..config import AutoencoderConfig


@dataclass(frozen=True)
class InputTransform:
    """Maps ρ (e/Å³) to the network's input x and back.

    ``asinh``: x = asinh(ρ/ρ0), log-like for ρ ≫ ρ0 (compresses core peaks), linear near 0, defined
    for the small negative values real PAW densities hold. ``linear``: x = ρ/ρ0.
    """

    kind: str = "asinh"
    rho0: float = 0.05

    def forward(self, rho: torch.Tensor) -> torch.Tensor:
        scaled = rho / self.rho0
        return torch.asinh(scaled) if self.kind == "asinh" else scaled

    def inverse(self, x: torch.Tensor) -> torch.Tensor:
        return (torch.sinh(x) if self.kind == "asinh" else x) * self.rho0

    def to_dict(self) -> dict:
        return {"kind": self.kind, "rho0": self.rho0}

    @classmethod
    def from_dict(cls, data: dict) -> InputTransform:
        if data.get("kind") not in ("asinh", "linear"):
            raise ValueError(f"unknown input transform {data.get('kind')!r}")
        return cls(kind=data["kind"], rho0=float(data["rho0"]))


def periodic_conv(in_channels: int, out_channels: int) -> nn.Conv3d:
    """3³ convolution with circular padding (keeps the grid size)."""
    return nn.Conv3d(in_channels, out_channels, kernel_size=3, padding=1, padding_mode="circular")


class PeriodicAutoencoder(nn.Module):
    """Encoder/decoder pair; :meth:`forward` returns (reconstruction, latent)."""

    def __init__(self, config: AutoencoderConfig = AutoencoderConfig()) -> None:
        super().__init__()
        if config.grid % 8:
            raise ValueError(f"grid must be divisible by 8 (three 2× poolings), got {config.grid}")
        c1, c2, c3, latent = config.channels
        self.config = config
        self.encoder = nn.Sequential(
            periodic_conv(1, c1), nn.ReLU(), nn.MaxPool3d(2),
            periodic_conv(c1, c2), nn.ReLU(), nn.MaxPool3d(2),
            periodic_conv(c2, c3), nn.ReLU(), nn.MaxPool3d(2),
            periodic_conv(c3, latent), nn.ReLU(),
        )  # fmt: skip
        self.decoder = nn.Sequential(
            periodic_conv(latent, c3), nn.ReLU(), nn.Upsample(scale_factor=2, mode="nearest"),
            periodic_conv(c3, c2), nn.ReLU(), nn.Upsample(scale_factor=2, mode="nearest"),
            periodic_conv(c2, c1), nn.ReLU(), nn.Upsample(scale_factor=2, mode="nearest"),
            periodic_conv(c1, 1),
        )  # fmt: skip

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, n, n, n) or (B, 1, n, n, n) transformed density → (B, C, n/8, n/8, n/8) latent."""
        if x.ndim == 4:
            x = x.unsqueeze(1)
        return self.encoder(x)

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        """Latent → (B, n, n, n) reconstruction in the transformed space."""
        return self.decoder(latent).squeeze(1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        latent = self.encode(x)
        return self.decode(latent), latent


def reconstruction_error(reconstruction: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Per-sample mean squared error in the transformed space, (B,)."""
    diff = (reconstruction.float() - x.float()).flatten(1)
    return diff.pow(2).mean(dim=1)


def encoder_flops_per_sample(config: AutoencoderConfig) -> int:
    """Multiply-adds × 2 of one encoder pass (convolutions only), for the throughput benchmark."""
    n = config.grid
    channels = (1, *config.channels)
    flops = 0
    for stage in range(4):
        size = n // (2**stage)
        flops += 2 * size**3 * 27 * channels[stage] * channels[stage + 1]
    return flops
