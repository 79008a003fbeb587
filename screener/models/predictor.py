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
from .features import select_inputs
from .latent_features import density_features, embedding
from .precision import PrecisionPolicy, resolve_precision
from .trees import predict_booster, tree_features

log = logging.getLogger(__name__)


def knn_distance(queries: np.ndarray, reference: np.ndarray, *, k: int, exclude_self: bool = False) -> np.ndarray:
    """Mean Euclidean distance of each query row to its ``k`` nearest reference rows (per feature: divided by √F)."""
    queries = np.asarray(queries, dtype=np.float64)
    reference = np.asarray(reference, dtype=np.float64)
    squared = (queries**2).sum(axis=1)[:, None] + (reference**2).sum(axis=1)[None, :] - 2.0 * queries @ reference.T
    distance = np.sqrt(np.maximum(squared, 0.0))
    start = 1 if exclude_self else 0
    k = max(1, min(int(k), reference.shape[0] - start))
    nearest = np.sort(distance, axis=1)[:, start : start + k]
    return nearest.mean(axis=1) / math.sqrt(max(queries.shape[1], 1))


def _single_element(features: np.ndarray, bundle_names: Sequence[str]) -> np.ndarray | None:
    """Rows whose composition has one element (MAGPIE's range of atomic numbers is 0), or None if unknown."""
    from .features import input_feature_names

    names = input_feature_names() if features.shape[1] == len(input_feature_names()) else tuple(bundle_names)
    if "magpie_range_number" not in names:
        return None
    return features[:, names.index("magpie_range_number")] == 0


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
        self._ood_columns = [i for i, name in enumerate(bundle.tabular_names) if not name.startswith("magpie_")]
        if bundle.ensembles:  # the spread comes from the tree ensemble, deterministically, not from dropout
            self.mc_samples = 0 if mc_samples is None else mc_samples

    @classmethod
    def from_path(cls, path: str | Path, **options) -> Predictor:
        """Load and verify a bundle directory, then build a predictor (options as for the constructor)."""
        return cls(load_bundle(path), **options)

    @property
    def model_id(self) -> str:
        return self.bundle.model_id

    # -- stages ----------------------------------------------------------------------------

    def to_model_grid(
        self, densities: Sequence[np.ndarray], lattices: Sequence[np.ndarray] | None = None, canonical: Sequence[np.ndarray] | None = None
    ) -> torch.Tensor:
        """Regrid each density (e/Å³, any grid) onto the bundle's grid, on the device: (B, n, n, n).

        ``canonical`` holds each file's canonical-cell transform (for bundles in the canonical frame)."""
        config: RegridConfig = self.bundle.regrid
        grids = []
        for index, rho in enumerate(densities):
            lattice = None if lattices is None else np.asarray(lattices[index])
            transform = None if canonical is None else np.asarray(canonical[index])
            grids.append(regrid(rho, config=config, lattice=lattice, device=self.device, canonical=transform))
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
        # clipped: an input far outside training (a core density, say) is flagged by the OOD score, and
        # must not drive the network to arbitrary values
        standardized = np.clip(np.nan_to_num((np.asarray(tabular, np.float64) - self._tabular_mean) / self._tabular_std), -10.0, 10.0)
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

    def ood_score(self, tabular: np.ndarray, recon_error: np.ndarray) -> np.ndarray:
        """How unlike the training data each input is; above 1 means unfamiliar.

        With the bundle's reference of training inputs (the density descriptors, volume per atom and
        mass density; not the composition): the mean distance to the k nearest training rows
        (standardized) over the validation split's 99th percentile of it. Without
        (older bundles): the autoencoder's reconstruction error over its training 95th percentile.
        """
        reference = self.bundle.ood_reference
        if reference is None:
            return recon_error / max(self.bundle.recon_error_p95, 1e-30)
        mean, std, rows, k, threshold = reference
        columns = self._ood_columns
        z = np.nan_to_num((np.asarray(tabular, dtype=np.float64)[:, columns] - mean) / std, nan=0.0, posinf=1e6, neginf=-1e6)
        return knn_distance(z, rows, k=k) / max(threshold, 1e-30)

    # -- the whole chain --------------------------------------------------------------------

    def predict(self, batch: dict) -> dict[str, np.ndarray]:
        """Predict a batch.

        Args:
            batch: ``rho`` (sequence of (nx, ny, nz) densities in e/Å³, any grid each), ``tabular``
                ((B, F) MAGPIE + cell descriptors, in the bundle's feature order) and, for a bundle
                in the Cartesian or canonical frame, ``lattice`` ((B, 3, 3) Å); in the canonical frame
                also ``canonical`` ((B, 12), :func:`screener.grid.canonical.canonical_transform`).

        Returns:
            Arrays of length B: ``latent`` (B, C, g, g, g), ``embedding``, ``recon_error``,
            ``ood_score``, per target ``<t>``, ``<t>_lgbm``, ``<t>_attcnn``, ``<t>_std`` in the
            target's unit, and ``pugh_ratio``, ``poisson_ratio``, ``vickers_hardness``.
        """
        densities = list(batch["rho"])
        given = np.asarray(batch["tabular"], dtype=np.float64).reshape(len(densities), -1)
        tabular = select_inputs(given, self.bundle.tabular_names)
        single_element = _single_element(given, self.bundle.tabular_names)
        lattices = batch.get("lattice")
        canonical = batch.get("canonical")
        if len(densities) == 0:
            return {}
        parts: list[dict[str, np.ndarray]] = []
        start, size = 0, self.batch_size
        while start < len(densities):
            stop = min(start + size, len(densities))
            try:
                part = self._predict_chunk(densities[start:stop], tabular[start:stop], None if lattices is None else lattices[start:stop],
                                           None if canonical is None else canonical[start:stop])  # fmt: skip
                if "formation_energy" in part and single_element is not None:
                    # an element's formation energy is 0 by definition (the raw outputs keep their columns)
                    part["formation_energy"] = np.where(single_element[start:stop], 0.0, part["formation_energy"])
                    part["formation_energy_std"] = np.where(single_element[start:stop], 0.0, part["formation_energy_std"])
                parts.append(part)
                start = stop
            except torch.cuda.OutOfMemoryError:
                if size == 1:
                    raise
                torch.cuda.empty_cache()
                size = max(1, size // 2)
                log.warning("CUDA out of memory; retrying with batch size %d", size)
        return {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}

    def _predict_chunk(self, densities, tabular: np.ndarray, lattices, canonical=None) -> dict[str, np.ndarray]:
        return self.predict_model_grids(self.to_model_grid(densities, lattices, canonical), tabular)

    def predict_model_grids(self, grids: torch.Tensor | np.ndarray, tabular: np.ndarray) -> dict[str, np.ndarray]:
        """Like :meth:`predict` for densities already on the bundle's grid ((B, n, n, n), e/Å³)."""
        tabular = select_inputs(tabular, self.bundle.tabular_names)
        latent, recon = self.encode(torch.as_tensor(np.asarray(grids) if not torch.is_tensor(grids) else grids))
        att_z, att_spread_z = self.attention_predict(latent, tabular)
        latent_np = latent.cpu().numpy()
        recon_np = recon.cpu().numpy().astype(np.float64)
        out: dict[str, np.ndarray] = {
            "latent": latent_np,
            "embedding": embedding(latent_np, self.bundle.embedding_stats),
            "recon_error": recon_np,
            "ood_score": self.ood_score(tabular, recon_np),
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
            if stats.name in self.bundle.untrained_targets:  # no labels to learn from: NULL, never invented
                lgbm = att = blend = spread = np.full_like(att, np.nan)
            elif booster is not None:
                members = np.stack([predict_booster(b, features) for b in [booster, *self.bundle.ensembles.get(stats.name, [])]])
                lgbm = members.mean(axis=0)
                weight = self.bundle.blend_weights.get(stats.name, 0.5)
                blend = weight * lgbm + (1 - weight) * att
                spread = np.sqrt(mc_std**2 + members.var(axis=0) + ((lgbm - att) / 2) ** 2)
            else:
                lgbm = np.full_like(att, np.nan)
                blend, spread = att, mc_std
            spread = spread * self.bundle.spread_scale.get(stats.name, 1.0)
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
