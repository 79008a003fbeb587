"""The attention 3D CNN regressor (the paper's "Att CNN"), periodic, multi-task.

Residual 3D convolution stages on the latent (swish, batch norm, circular padding), each followed
by CBAM-style dual attention (Woo et al., ECCV 2018): a channel gate from average- and max-pooled
features through a shared MLP, then a spatial gate from the channel-wise mean and max through a
small periodic convolution. Global average pooling makes the image branch invariant to
translations of the latent. A tabular branch (MAGPIE + cell descriptors) is fused before a dense
head with one output per target (standardized model space). Dropout doubles as MC dropout for a
per-target spread.
"""

from __future__ import annotations

import torch
from torch import nn

from ..config import AttentionConfig
from .autoencoder import periodic_conv


class ChannelGate(nn.Module):
    def __init__(self, channels: int, reduction: int) -> None:
        super().__init__()
        hidden = max(channels // reduction, 4)
        self.mlp = nn.Sequential(nn.Linear(channels, hidden), nn.SiLU(), nn.Linear(hidden, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        avg = self.mlp(x.mean(dim=(2, 3, 4)))
        peak = self.mlp(x.amax(dim=(2, 3, 4)))
        return x * torch.sigmoid(avg + peak)[:, :, None, None, None]


class SpatialGate(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv3d(2, 1, kernel_size=3, padding=1, padding_mode="circular")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.conv(pooled))


class ResidualAttentionBlock(nn.Module):
    """conv-BN-swish-conv-BN + skip, swish, then channel and spatial attention."""

    def __init__(self, in_channels: int, out_channels: int, reduction: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            periodic_conv(in_channels, out_channels), nn.BatchNorm3d(out_channels), nn.SiLU(),
            periodic_conv(out_channels, out_channels), nn.BatchNorm3d(out_channels),
        )  # fmt: skip
        self.skip = (
            nn.Identity() if in_channels == out_channels else nn.Conv3d(in_channels, out_channels, kernel_size=1)
        )
        self.activation = nn.SiLU()
        self.channel_gate = ChannelGate(out_channels, reduction)
        self.spatial_gate = SpatialGate()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.activation(self.body(x) + self.skip(x))
        return self.spatial_gate(self.channel_gate(out))


class AttentionRegressor(nn.Module):
    """Latent (B, C, g, g, g) + tabular (B, F) → (B, n_targets) in standardized model space."""

    def __init__(
        self,
        *,
        latent_channels: int,
        latent_grid: int,
        n_tabular: int,
        n_targets: int,
        config: AttentionConfig = AttentionConfig(),
    ) -> None:
        super().__init__()
        self.config = config
        stages: list[nn.Module] = []
        channels, size = latent_channels, latent_grid
        for width in config.widths:
            stages.append(ResidualAttentionBlock(channels, width, config.reduction))
            channels = width
            if size >= 8:  # keep at least 4³ for the last stages
                stages.append(nn.MaxPool3d(2))
                size //= 2
        self.image = nn.Sequential(*stages)
        hidden1, hidden2 = config.tabular_hidden
        self.tabular = nn.Sequential(
            nn.Linear(n_tabular, hidden1), nn.SiLU(), nn.Dropout(config.dropout),
            nn.Linear(hidden1, hidden2), nn.SiLU(),
        )  # fmt: skip
        self.head = nn.Sequential(
            nn.Linear(channels + hidden2, config.head_hidden), nn.SiLU(), nn.Dropout(config.dropout),
            nn.Linear(config.head_hidden, n_targets),
        )  # fmt: skip

    def image_features(self, latent: torch.Tensor) -> torch.Tensor:
        """The convolutional branch, globally average-pooled (translation invariant): (B, widths[-1])."""
        return self.image(latent).mean(dim=(2, 3, 4))

    def head_forward(self, image: torch.Tensor, tabular: torch.Tensor) -> torch.Tensor:
        """Tabular branch, fusion and head (where the dropout layers are): (B, n_targets)."""
        return self.head(torch.cat([image, self.tabular(tabular)], dim=1))

    def forward(self, latent: torch.Tensor, tabular: torch.Tensor) -> torch.Tensor:
        return self.head_forward(self.image_features(latent), tabular)


def masked_mse(prediction: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error over the labelled entries only (mask 1 = label present).

    A sample missing some labels still trains the targets it has.
    """
    mask = mask.to(prediction.dtype)
    squared = (prediction - torch.nan_to_num(target)) ** 2 * mask
    return squared.sum() / mask.sum().clamp_min(1.0)


def enable_mc_dropout(model: nn.Module) -> None:
    """Eval mode everywhere except dropout layers (batch norm keeps its running statistics)."""
    model.eval()
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.train()
