"""Apply a model bundle to batches of densities: regrid → encode → reconstruction error →
attention CNN (with MC-dropout spread) → LightGBM → blend → derived columns.

Loaded once (per process or Ray actor), then called on batches. Works on CUDA under the precision
policy and on the CPU in fp32; a CUDA out-of-memory error retries the batch at half the size.
"""

from __future__ import annotations

import logging
import math
import zlib
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from .. import physics
from ..config import Precision, RegridConfig
from ..grid.resample import regrid
from ..targets import TARGETS_BY_NAME
from .attention import enable_mc_dropout
from .autoencoder import reconstruction_error
from .bundle import ModelBundle, load_bundle
from .latent_features import density_features, embedding
from .precision import PrecisionPolicy, resolve_precision
from .trees import predict_booster, tree_features

log = logging.getLogger(__name__)


class Predictor:
    """A loaded bundle on a device.

    Args:
        bundle: a loaded :class:`ModelBundle`.
        device: ``auto`` (CUDA when present), ``cpu`` or ``cuda[:i]``.
        precision: ``auto`` (bf16 on CUDA, fp32 on CPU), ``fp32``, ``bf16`` or ``fp16``.
        batch_size: densities per network call (halved and retried on CUDA out-of-memory).
        mc_samples: MC-dropout passes for the spread (default: the bundle's attention config).
    """

    def __init__(
        self,
        bundle: ModelBundle,
        *,
        device: str | torch.device = "auto",
        precision: Precision = "auto",
        batch_size: int = 8,
        mc_samples: int | None = None,
    ) -> None:
        self.policy: PrecisionPolicy = resolve_precision(precision, device)
        self.device = self.policy.device
        self.bundle = bundle
        self.batch_size = max(1, int(batch_size))
        self.mc_samples = bundle.attention.config.mc_samples if mc_samples is None else mc_samples
        bundle.autoencoder.to(self.device).eval()
        bundle.attention.to(self.device).eval()
        self._tabular_mean = np.asarray(bundle.tabular_mean, dtype=np.float64)
        self._tabular_std = np.where(np.asarray(bundle.tabular_std) > 1e-12, bundle.tabular_std, 1.0)

    @classmethod
    def from_path(cls, path: str | Path, **options) -> Predictor:
        """Load and verify a bundle directory, then build a predictor (options as for the constructor)."""
        return cls(load_bundle(path), **options)

    @property
    def model_id(self) -> str:
        return self.bundle.model_id

    # -- stages ----------------------------------------------------------------------------

    def to_model_grid(self, densities: Sequence[np.ndarray], lattices: Sequence[np.ndarray] | None = None) -> torch.Tensor:
        """Regrid each density (e/Å³, any grid) onto the bundle's grid, on the device: (B, n, n, n)."""
        config: RegridConfig = self.bundle.regrid
        grids = []
        for index, rho in enumerate(densities):
            lattice = None if lattices is None else np.asarray(lattices[index])
            grids.append(regrid(rho, config=config, lattice=lattice, device=self.device))
        return torch.cat(grids, dim=0)

    @torch.inference_mode()
    def encode(self, grids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Model-grid densities (B, n, n, n) in e/Å³ → (latent (B, C, g, g, g) float32, recon error (B,))."""
        x = self.bundle.transform.forward(grids.to(self.device, torch.float32))
        with self.policy.autocast():
            reconstruction, latent = self.bundle.autoencoder(x)
        return latent.float(), reconstruction_error(reconstruction, x)

    @torch.inference_mode()
    def attention_predict(self, latent: torch.Tensor, tabular: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(mean, MC-dropout std) in standardized model space, (B, T) each."""
        standardized = np.nan_to_num((np.asarray(tabular, np.float64) - self._tabular_mean) / self._tabular_std)
        tab = torch.as_tensor(standardized, dtype=torch.float32, device=self.device)
        model = self.bundle.attention
        model.eval()
        with self.policy.autocast():
            image = model.image_features(latent)
            mean = model.head_forward(image, tab).float()
            spread = torch.zeros_like(mean)
            if self.mc_samples > 1:  # dropout lives in the head only: sample the head, not the CNN
                spread = self._mc_dropout_spread(model, image, tab, standardized)
        return mean.cpu().numpy().astype(np.float64), spread.cpu().numpy().astype(np.float64)

    def _mc_dropout_spread(self, model, image: torch.Tensor, tab: torch.Tensor, standardized: np.ndarray) -> torch.Tensor:
        """Std over ``mc_samples`` dropout passes of the head, (B, T), reproducible per sample.

        Each sample's dropout masks come from a generator seeded by its own descriptors, so the same
        file gets the same spread whatever batch it lands in, on every run (and the caller's RNG
        state is left untouched).
        """
        devices = [self.device] if self.device.type == "cuda" else []
        spreads = []
        enable_mc_dropout(model)
        try:
            with torch.random.fork_rng(devices=devices):
                for i in range(image.shape[0]):
                    torch.manual_seed(zlib.crc32(np.ascontiguousarray(standardized[i]).tobytes()))
                    repeated_image = image[i : i + 1].expand(self.mc_samples, *image.shape[1:])
                    repeated_tab = tab[i : i + 1].expand(self.mc_samples, *tab.shape[1:])
                    spreads.append(model.head_forward(repeated_image, repeated_tab).float().std(dim=0))
        finally:
            model.eval()
        return torch.stack(spreads)

    # -- the whole chain --------------------------------------------------------------------

    def predict(self, batch: dict) -> dict[str, np.ndarray]:
        """Predict a batch.

        Args:
            batch: ``rho`` (sequence of (nx, ny, nz) densities in e/Å³, any grid each), ``tabular``
                ((B, F) MAGPIE + cell descriptors, in the bundle's feature order) and, for a bundle
                in the Cartesian frame, ``lattice`` ((B, 3, 3) Å).

        Returns:
            Arrays of length B: ``latent`` (B, C, g, g, g), ``embedding``, ``recon_error``,
            ``ood_score``, per target ``<t>``, ``<t>_lgbm``, ``<t>_attcnn``, ``<t>_std`` in the
            target's unit, and ``pugh_ratio``, ``poisson_ratio``, ``vickers_hardness``.
        """
        densities = list(batch["rho"])
        tabular = np.asarray(batch["tabular"], dtype=np.float64).reshape(len(densities), -1)
        lattices = batch.get("lattice")
        if len(densities) == 0:
            return {}
        parts: list[dict[str, np.ndarray]] = []
        start, size = 0, self.batch_size
        while start < len(densities):
            stop = min(start + size, len(densities))
            try:
                parts.append(
                    self._predict_chunk(
                        densities[start:stop], tabular[start:stop], None if lattices is None else lattices[start:stop]
                    )
                )
                start = stop
            except torch.cuda.OutOfMemoryError:
                if size == 1:
                    raise
                torch.cuda.empty_cache()
                size = max(1, size // 2)
                log.warning("CUDA out of memory; retrying with batch size %d", size)
        return {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}

    def _predict_chunk(self, densities, tabular: np.ndarray, lattices) -> dict[str, np.ndarray]:
        return self.predict_model_grids(self.to_model_grid(densities, lattices), tabular)

    def predict_model_grids(self, grids: torch.Tensor | np.ndarray, tabular: np.ndarray) -> dict[str, np.ndarray]:
        """Like :meth:`predict` for densities already on the bundle's grid ((B, n, n, n), e/Å³)."""
        latent, recon = self.encode(torch.as_tensor(np.asarray(grids) if not torch.is_tensor(grids) else grids))
        att_z, att_spread_z = self.attention_predict(latent, tabular)
        latent_np = latent.cpu().numpy()
        recon_np = recon.cpu().numpy().astype(np.float64)
        out: dict[str, np.ndarray] = {
            "latent": latent_np,
            "embedding": embedding(latent_np, self.bundle.embedding_stats),
            "recon_error": recon_np,
            "ood_score": recon_np / max(self.bundle.recon_error_p95, 1e-30),
        }
        features = None
        if self.bundle.boosters:
            stats = density_features(grids.cpu().numpy() if torch.is_tensor(grids) else grids) if self.bundle.lgbm.density_features else None
            features = tree_features(latent_np, tabular, pca=self.bundle.pca, invariant=self.bundle.invariant_features, density_stats=stats)
        for index, stats in enumerate(self.bundle.targets):
            target = TARGETS_BY_NAME[stats.name]
            att = att_z[:, index] * stats.std + stats.mean
            mc_std = att_spread_z[:, index] * stats.std
            booster = self.bundle.boosters.get(stats.name)
            if booster is not None:
                lgbm = predict_booster(booster, features)
                weight = self.bundle.blend_weights.get(stats.name, 0.5)
                blend = weight * lgbm + (1 - weight) * att
                spread = np.sqrt(mc_std**2 + ((lgbm - att) / 2) ** 2)
            else:
                lgbm = np.full_like(att, np.nan)
                blend, spread = att, mc_std
            value = target.from_model_space(blend)
            out[stats.name] = value
            out[f"{stats.name}_lgbm"] = target.from_model_space(lgbm)
            out[f"{stats.name}_attcnn"] = target.from_model_space(att)
            # one-sigma spread in the target's unit (delta method for log10 targets)
            out[f"{stats.name}_std"] = value * math.log(10) * spread if target.log10 else spread
        bulk, shear = out.get("bulk_modulus"), out.get("shear_modulus")
        if bulk is not None and shear is not None:
            out["pugh_ratio"] = physics.pugh_ratio(bulk, shear)
            out["poisson_ratio"] = physics.poisson_ratio(bulk, shear)
            out["vickers_hardness"] = physics.vickers_hardness(bulk, shear)
        return out
