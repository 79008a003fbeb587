"""The model bundle: the one artefact that travels from training to screening.

A directory::

    manifest.json            format/package versions, grid, input transform, latent shape, targets
                             and their transforms, feature names, PCA summary, blend weights,
                             training-data fingerprint, metrics, creation time, SHA-256 of every file
    autoencoder.safetensors  weights (safetensors: tensors only, no code)
    attention.safetensors
    lgbm_<target>.txt        LightGBM's own text format
    *.npy                    arrays (loaded with allow_pickle=False)

Nothing in it is a pickle, so loading a bundle received from a stranger cannot run code. Loading
checks the format version, the package version, every file's hash and the grid, and refuses with
the file and the reason when anything does not match.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import __version__
from ..config import AttentionConfig, AutoencoderConfig, LgbmConfig, RegridConfig
from ..errors import BundleError, InputError
from ..io.buffers import sha256_file
from ..targets import TARGETS_BY_NAME
from .attention import AttentionRegressor
from .autoencoder import InputTransform, PeriodicAutoencoder
from .trees import LatentPCA

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
_ARRAYS = ("pca_mean", "pca_scale", "pca_components", "pca_explained", "tabular_mean", "tabular_std")


@dataclass
class TargetStats:
    """A target's standardization in model space (log10 or identity): z = (y − mean) / std."""

    name: str
    mean: float
    std: float


@dataclass
class ModelBundle:
    """Everything a :class:`~screener.models.predictor.Predictor` needs, in memory."""

    regrid: RegridConfig
    transform: InputTransform
    autoencoder: PeriodicAutoencoder
    attention: AttentionRegressor
    targets: list[TargetStats]
    tabular_names: tuple[str, ...]
    tabular_mean: np.ndarray
    tabular_std: np.ndarray
    pca: LatentPCA | None
    invariant_features: bool
    tree_feature_names: tuple[str, ...]
    boosters: dict[str, Any]
    blend_weights: dict[str, float]
    recon_error_p95: float
    lgbm: LgbmConfig = field(default_factory=LgbmConfig)
    info: dict = field(default_factory=dict)  # training data, metrics, anything descriptive
    #: training-set mean and std of the invariant latent summaries (the similarity embedding is their
    #: z-score); None in bundles made before they existed (the embedding is then the raw channel mean+max).
    embedding_stats: tuple[np.ndarray, np.ndarray] | None = None
    #: extra LightGBM members per target (seeds 1..n; the ensemble mean is the prediction and its
    #: spread the model part of the uncertainty); empty in bundles made before ensembles.
    ensembles: dict[str, list[Any]] = field(default_factory=dict)
    #: per target, the factor that calibrates the raw spread on the validation split (1σ ≈ 68%).
    spread_scale: dict[str, float] = field(default_factory=dict)
    #: targets the bundle has too few labels for: predicted as NULL (NaN), never invented.
    untrained_targets: tuple[str, ...] = ()
    #: out-of-distribution reference: (mean, std, standardized training inputs (N, F), k, threshold)
    #: of the inputs that are not MAGPIE composition features (density descriptors, cell); the OOD score is the mean distance to the k nearest training rows
    #: over the threshold (the validation split's 99th percentile). None: reconstruction error only.
    ood_reference: tuple[np.ndarray, np.ndarray, np.ndarray, int, float] | None = None
    #: :data:`screener.models.descriptors.DESCRIPTOR_VERSION` of the descriptors the bundle was trained on ("" if none).
    descriptor_version: str = ""
    model_id: str = ""
    path: Path | None = None

    @property
    def grid(self) -> int:
        return self.regrid.grid

    @property
    def target_names(self) -> list[str]:
        return [t.name for t in self.targets]


def manifest_digest(manifest: dict) -> str:
    """SHA-256 of the manifest's canonical JSON; the model id is its first 16 digits.

    The manifest lists every other file's hash, so this one digest covers the whole bundle: an
    edited transform, scale, blend weight or grid changes it as surely as an edited weight file.
    ``model_id`` itself and ``created_at`` are left out, so saving the same model again keeps its id.
    """
    content = {key: value for key, value in manifest.items() if key not in ("model_id", "created_at")}
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), default=_json_default)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _version_tuple(version: str) -> tuple[int, ...]:
    parts = []
    for piece in version.split(".")[:2]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


def save_bundle(bundle: ModelBundle, path: str | Path) -> str:
    """Write ``bundle`` to the directory ``path`` (atomically: built beside it, then renamed).

    Returns:
        The model id (first 16 hex digits of the SHA-256 over all file hashes).
    """
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        save_file({k: v.detach().cpu().contiguous() for k, v in bundle.autoencoder.state_dict().items()}, str(staging / "autoencoder.safetensors"))
        save_file({k: v.detach().cpu().contiguous() for k, v in bundle.attention.state_dict().items()}, str(staging / "attention.safetensors"))
        pca = bundle.pca
        arrays = {
            "pca_mean": pca.mean if pca else np.zeros(0, np.float32),
            "pca_scale": pca.scale if pca else np.zeros(0, np.float32),
            "pca_components": pca.components if pca else np.zeros((0, 0), np.float32),
            "pca_explained": pca.explained_variance_ratio if pca else np.zeros(0, np.float32),
            "tabular_mean": bundle.tabular_mean,
            "tabular_std": bundle.tabular_std,
        }
        if bundle.embedding_stats is not None:
            arrays["embedding_mean"], arrays["embedding_std"] = bundle.embedding_stats
        if bundle.ood_reference is not None:
            arrays["ood_mean"], arrays["ood_std"], arrays["ood_reference"] = (np.asarray(a, np.float32) for a in bundle.ood_reference[:3])
        for name, array in arrays.items():
            np.save(staging / f"{name}.npy", np.asarray(array), allow_pickle=False)
        for target, booster in bundle.boosters.items():
            _save_booster(booster, staging / f"lgbm_{target}.txt")
            for k, member in enumerate(bundle.ensembles.get(target, []), start=1):
                _save_booster(member, staging / f"lgbm_{target}_{k}.txt")
        files = {p.name: sha256_file(p) for p in sorted(staging.iterdir())}
        ae_config = bundle.autoencoder.config
        manifest = {
            "format_version": FORMAT_VERSION,
            "screener_version": __version__,
            "torch_version": torch.__version__,
            "created_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "grid": bundle.regrid.grid,
            "regrid": asdict(bundle.regrid),
            "input_transform": bundle.transform.to_dict(),
            "latent_shape": [ae_config.latent_channels, *([ae_config.latent_grid] * 3)],
            "autoencoder": asdict(ae_config),
            "attention": asdict(bundle.attention.config),
            "lgbm": asdict(bundle.lgbm),
            "targets": [
                {**asdict(t), "unit": TARGETS_BY_NAME[t.name].unit, "transform": "log10" if TARGETS_BY_NAME[t.name].log10 else "identity"}
                for t in bundle.targets
            ],
            "tabular_features": list(bundle.tabular_names),
            "tree_features": list(bundle.tree_feature_names),
            "invariant_features": bundle.invariant_features,
            "pca": {
                "n_components": pca.n_components if pca else 0,
                "explained_variance": float(pca.explained_variance_ratio.sum()) if pca else 0.0,
            },
            "boosters": sorted(bundle.boosters),
            "blend_weights": bundle.blend_weights,
            "recon_error_p95": bundle.recon_error_p95,
            **(
                {"embedding": {"kind": "invariant_standardized", "size": int(np.asarray(bundle.embedding_stats[0]).size)}}
                if bundle.embedding_stats is not None
                else {}  # absent rather than null: a bundle without statistics keeps its model id
            ),
            **_optional_manifest(bundle),
            "info": bundle.info,
            "files": files,
        }
        # round-trip through JSON first, so the digest is over exactly what a reader will parse
        manifest = json.loads(json.dumps(manifest, default=_json_default))
        model_id = manifest_digest(manifest)[:16]
        manifest = {"model_id": model_id, **manifest}
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n")
        for item in staging.iterdir():
            item.chmod(0o644)  # mkdtemp/safetensors create private files; a bundle is meant to be shared
        staging.chmod(0o755)
        if path.exists():
            shutil.rmtree(path)
        os.replace(staging, path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    bundle.model_id, bundle.path = model_id, path
    return model_id


def _save_booster(booster, path: Path) -> None:
    best = booster.best_iteration if booster.best_iteration and booster.best_iteration > 0 else None
    booster.save_model(str(path), num_iteration=best)


def _optional_manifest(bundle: ModelBundle) -> dict:
    """Manifest entries of newer features, absent (not null) when unused so older bundles keep their ids."""
    out: dict[str, Any] = {}
    if bundle.ensembles:
        out["ensembles"] = {target: len(members) for target, members in sorted(bundle.ensembles.items())}
    if bundle.spread_scale:
        out["spread_scale"] = dict(sorted(bundle.spread_scale.items()))
    if bundle.untrained_targets:
        out["untrained_targets"] = sorted(bundle.untrained_targets)
    if bundle.ood_reference is not None:
        out["ood"] = {"kind": "input_knn", "k": int(bundle.ood_reference[3]), "threshold": float(bundle.ood_reference[4])}
    if bundle.descriptor_version:
        out["descriptor_version"] = bundle.descriptor_version
    if bundle.regrid.frame == "canonical":
        from ..grid.canonical import FRAME_VERSION

        out["canonical_frame_version"] = FRAME_VERSION
    return out


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def _config(kind, values: dict):
    """A config dataclass from manifest values: unknown keys (other versions) ignored, lists → tuples."""
    known = {f.name for f in fields(kind)}
    return kind(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items() if k in known})


def read_manifest(path: str | Path) -> dict:
    """The manifest of a bundle directory (no verification)."""
    manifest_path = Path(path) / MANIFEST
    if not manifest_path.is_file():
        raise BundleError(f"{path}: not a model bundle (no {MANIFEST})")
    try:
        return json.loads(manifest_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BundleError(f"{manifest_path}: unreadable manifest ({exc})") from None


def _check_npy_header(path: Path) -> None:
    """Refuse an ``.npy`` that needs pickle (object arrays) before anything loads it, naming the file."""
    try:
        with open(path, "rb") as handle:
            version = np.lib.format.read_magic(handle)
            reader = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}[version]
            _, _, dtype = reader(handle)
    except Exception as exc:  # noqa: BLE001 - any malformed header is the file's fault
        raise BundleError(f"{path}: not a valid .npy array ({type(exc).__name__}: {exc})") from None
    if dtype.hasobject:
        raise BundleError(f"{path}: object array that needs pickle to load; refused")


def verify_bundle(path: str | Path, *, expect_grid: int | None = None) -> dict:
    """Check versions, file hashes and grid; return the manifest or raise :class:`BundleError`."""
    path = Path(path)
    manifest = read_manifest(path)
    if manifest.get("format_version") != FORMAT_VERSION:
        raise BundleError(
            f"{path / MANIFEST}: bundle format version {manifest.get('format_version')!r} is not supported "
            f"(this screener reads version {FORMAT_VERSION})"
        )
    made_by = str(manifest.get("screener_version", "0"))
    if _version_tuple(made_by) > _version_tuple(__version__):
        raise BundleError(f"{path / MANIFEST}: made by screener {made_by}, newer than this screener {__version__}; upgrade")
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        raise BundleError(f"{path / MANIFEST}: no file hashes")
    present = {p.name for p in path.iterdir() if p.is_file() and p.name != MANIFEST}
    for extra in sorted(present - set(files)):
        if extra.endswith((".pkl", ".pickle", ".joblib", ".pt", ".pth")):
            raise BundleError(f"{path / extra}: unexpected file in bundle (pickle-based formats are refused)")
    for name, expected in files.items():
        file_path = path / name
        if Path(name).name != name:
            raise BundleError(f"{path / MANIFEST}: file entry {name!r} is not a plain file name")
        if not file_path.is_file():
            raise BundleError(f"{file_path}: missing from bundle")
        try:
            digest = sha256_file(file_path)
        except InputError as exc:  # a FIFO or device named like a bundle file
            raise BundleError(f"{file_path}: {exc.reason}") from None
        if digest != expected:
            raise BundleError(f"{file_path}: SHA-256 does not match the manifest (file altered or corrupt)")
        if name.endswith(".npy"):
            _check_npy_header(file_path)
    if manifest.get("model_id") != manifest_digest(manifest)[:16]:
        raise BundleError(f"{path / MANIFEST}: content does not match its model_id (manifest altered)")
    grid = manifest.get("grid")
    autoencoder = manifest.get("autoencoder", {})
    if grid != autoencoder.get("grid") or grid != manifest.get("regrid", {}).get("grid"):
        raise BundleError(f"{path / MANIFEST}: inconsistent grid ({grid} vs autoencoder {autoencoder.get('grid')})")
    if expect_grid is not None and grid != expect_grid:
        raise BundleError(f"{path}: bundle grid is {grid}³, but {expect_grid}³ was requested")
    descriptor_version = manifest.get("descriptor_version")
    if descriptor_version:
        from .descriptors import DESCRIPTOR_VERSION

        if descriptor_version != DESCRIPTOR_VERSION:
            raise BundleError(
                f"{path / MANIFEST}: trained on density descriptors {descriptor_version!r}, but this screener computes "
                f"{DESCRIPTOR_VERSION!r}; use the screener version that made the bundle"
            )
    if manifest.get("regrid", {}).get("frame") == "canonical":
        from ..grid.canonical import FRAME_VERSION

        frame_version = manifest.get("canonical_frame_version", 1)  # bundles made before the version was recorded
        if frame_version != FRAME_VERSION:
            raise BundleError(
                f"{path / MANIFEST}: trained on canonical frame version {frame_version}, but this screener computes "
                f"version {FRAME_VERSION} (the same file would reach the networks as another grid); retrain it, "
                "or use the screener version that made the bundle"
            )
    unknown = [t["name"] for t in manifest.get("targets", []) if t["name"] not in TARGETS_BY_NAME]
    if unknown:
        raise BundleError(f"{path / MANIFEST}: unknown targets {unknown}")
    return manifest


def load_bundle(path: str | Path, *, expect_grid: int | None = None, device: str | torch.device = "cpu") -> ModelBundle:
    """Verify and load a bundle directory.

    Raises:
        BundleError: the bundle is missing, altered, from an unsupported version, or for another grid.
    """
    import lightgbm as lgb
    from safetensors.torch import load_file

    path = Path(path)
    manifest = verify_bundle(path, expect_grid=expect_grid)
    try:
        ae_config = _config(AutoencoderConfig, manifest["autoencoder"])
        att_config = _config(AttentionConfig, manifest["attention"])
        regrid = _config(RegridConfig, manifest["regrid"])
        transform = InputTransform.from_dict(manifest["input_transform"])
        targets = [TargetStats(t["name"], float(t["mean"]), float(t["std"])) for t in manifest["targets"]]
        arrays = {name: np.load(path / f"{name}.npy", allow_pickle=False) for name in _ARRAYS}
        embedding_stats = None
        if manifest.get("embedding"):  # optional: bundles made before it have none (raw embedding)
            embedding_stats = tuple(
                np.load(path / f"{name}.npy", allow_pickle=False).astype(np.float32) for name in ("embedding_mean", "embedding_std")
            )
        autoencoder = PeriodicAutoencoder(ae_config)
        autoencoder.load_state_dict(load_file(str(path / "autoencoder.safetensors")))
        attention = AttentionRegressor(
            latent_channels=ae_config.latent_channels,
            latent_grid=ae_config.latent_grid,
            n_tabular=len(manifest["tabular_features"]),
            n_targets=len(targets),
            config=att_config,
        )
        attention.load_state_dict(load_file(str(path / "attention.safetensors")))
        boosters = {name: lgb.Booster(model_file=str(path / f"lgbm_{name}.txt")) for name in manifest["boosters"]}
        ensembles = {
            name: [lgb.Booster(model_file=str(path / f"lgbm_{name}_{k}.txt")) for k in range(1, int(count) + 1)]
            for name, count in manifest.get("ensembles", {}).items()
        }
        ood_reference = None
        if manifest.get("ood"):
            ood = manifest["ood"]
            ood_arrays = tuple(np.load(path / f"{name}.npy", allow_pickle=False).astype(np.float64) for name in ("ood_mean", "ood_std", "ood_reference"))
            ood_reference = (*ood_arrays, int(ood["k"]), float(ood["threshold"]))
    except BundleError:
        raise
    except Exception as exc:  # a hash-valid but inconsistent bundle (hand-edited manifest, wrong shapes)
        raise BundleError(f"{path}: cannot load bundle ({type(exc).__name__}: {exc})") from None
    pca = None
    if manifest["pca"]["n_components"] > 0:
        pca = LatentPCA(arrays["pca_mean"], arrays["pca_scale"], arrays["pca_components"], arrays["pca_explained"])
    bundle = ModelBundle(
        regrid=regrid,
        transform=transform,
        autoencoder=autoencoder.to(device).eval(),
        attention=attention.to(device).eval(),
        targets=targets,
        tabular_names=tuple(manifest["tabular_features"]),
        tabular_mean=arrays["tabular_mean"],
        tabular_std=arrays["tabular_std"],
        pca=pca,
        invariant_features=bool(manifest["invariant_features"]),
        tree_feature_names=tuple(manifest["tree_features"]),
        boosters=boosters,
        blend_weights={k: float(v) for k, v in manifest["blend_weights"].items()},
        recon_error_p95=float(manifest["recon_error_p95"]),
        lgbm=_config(LgbmConfig, manifest.get("lgbm", {})),
        info=manifest.get("info", {}),
        embedding_stats=embedding_stats,
        ensembles=ensembles,
        spread_scale={k: float(v) for k, v in manifest.get("spread_scale", {}).items()},
        untrained_targets=tuple(manifest.get("untrained_targets", ())),
        ood_reference=ood_reference,
        descriptor_version=str(manifest.get("descriptor_version", "")),
        model_id=manifest["model_id"],
        path=path,
    )
    return bundle
