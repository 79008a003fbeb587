"""``screener train``: densities + labels → a model bundle, leak-free.

Phase 1 trains the autoencoder, unsupervised, on the training split only (after choosing the
input transform by validation reconstruction error). Phase 2 encodes every density, fits the
tabular and target standardizations, the PCA and both regressors on the training split, with
early stopping on the validation split, then picks per-target blend weights on validation.
Nothing is fitted on validation or test rows except early stopping and the blend weight.

Everything that costs time is checkpointed in the work directory (``--resume`` continues): the
prepared dataset, each network after every epoch (safetensors + JSON, no pickle), the latents.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ..config import AttentionConfig, AutoencoderConfig, LgbmConfig, RegridConfig, TrainConfig
from ..errors import LabelError
from ..io.discovery import discover
from ..io.naming import record_name
from ..models.attention import AttentionRegressor
from ..models.autoencoder import InputTransform, PeriodicAutoencoder
from ..models.bundle import ModelBundle, TargetStats, save_bundle
from ..models.descriptors import DESCRIPTOR_VERSION
from ..models.features import input_feature_names, invariant_input_names, select_inputs, tabular_feature_names
from ..models.predictor import knn_distance
from ..models.latent_features import embedding_statistics
from ..models.precision import resolve_precision
from ..models.trees import LatentPCA, fit_booster, predict_booster, tree_feature_names, tree_features
from ..targets import TARGETS
from .checkpoint import load_checkpoint, save_checkpoint
from .dataset import DensityDataset, prepare_dataset
from .epochs import (
    _ae_epoch,
    _ae_validation,
    _attention_epoch,
    _attention_predict,
    _masked_loss_np,
    best_blend_weight,
    dataset_density_features,
    encode_dataset,
)
from .evaluation import evaluate_splits
from .labels import LabelSet, fill_from_physics, load_labels, write_report
from .splits import assign_splits

log = logging.getLogger(__name__)

#: candidate input transforms tried in phase 1 (ρ0 in e/Å³).
TRANSFORM_CANDIDATES = (
    InputTransform("asinh", 0.01),
    InputTransform("asinh", 0.05),
    InputTransform("asinh", 0.25),
    InputTransform("linear", 0.5),
)


@dataclass
class TrainOptions:
    """Everything ``screener train`` can set; defaults suit a CPU."""

    regrid: RegridConfig = field(default_factory=lambda: RegridConfig(grid=32))
    autoencoder: AutoencoderConfig = field(default_factory=lambda: AutoencoderConfig(grid=32))
    attention: AttentionConfig = field(default_factory=AttentionConfig)
    lgbm: LgbmConfig = field(default_factory=LgbmConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    ae_samples_per_epoch: int | None = None  # None: the whole training split every epoch
    workers: int | None = None
    precision: str = "auto"
    progress: bool = True


@dataclass
class TrainResult:
    bundle_path: Path
    model_id: str
    metrics: dict
    workdir: Path


class _Log:
    """CSV log of losses, one row per epoch and phase."""

    def __init__(self, path: Path, *, resume: bool) -> None:
        self.path = path
        if not resume or not path.exists():
            path.write_text("phase,epoch,train_loss,val_loss,learning_rate,seconds\n")

    def write(self, phase: str, epoch: int, train_loss: float, val_loss: float, lr: float, seconds: float) -> None:
        with open(self.path, "a", newline="") as handle:
            csv.writer(handle).writerow([phase, epoch, f"{train_loss:.6g}", f"{val_loss:.6g}", f"{lr:.3g}", f"{seconds:.1f}"])


# ------------------------------------------------------------------------------------------------
# Phase 1: autoencoder
# ------------------------------------------------------------------------------------------------


def choose_transform(
    grids: np.ndarray,
    train_idx: np.ndarray,
    val_idx: np.ndarray,
    *,
    config: AutoencoderConfig,
    options: TrainOptions,
    device: torch.device,
) -> tuple[InputTransform, dict]:
    """Short training runs per candidate; the one with the lowest validation MSE of ρ (e/Å³)² wins."""
    epochs = options.train.transform_trial_epochs
    if epochs <= 0 or len(val_idx) == 0:
        return InputTransform(), {}
    rng = np.random.default_rng(options.train.seed)
    subset = rng.permutation(train_idx)[: min(len(train_idx), 256)]
    val_subset = val_idx[: min(len(val_idx), 128)]
    scores = {}
    policy = resolve_precision("fp32", device)
    for candidate in TRANSFORM_CANDIDATES:
        torch.manual_seed(options.train.seed)
        model = PeriodicAutoencoder(config).to(device)
        optimizer = torch.optim.Adam(model.parameters(), lr=options.train.learning_rate)
        for _ in range(epochs):
            _ae_epoch(model, optimizer, grids, subset, candidate, batch_size=options.train.batch_size, device=device,
                      rng=rng, policy=policy, scaler=policy.grad_scaler())  # fmt: skip
        scores[f"{candidate.kind}(rho/{candidate.rho0:g})"] = _ae_validation(
            model, grids, val_subset, candidate, batch_size=options.train.batch_size, device=device, physical=True
        )
        log.info("transform %s: validation MSE of rho %.4g", candidate, list(scores.values())[-1])
    best = min(range(len(TRANSFORM_CANDIDATES)), key=lambda i: list(scores.values())[i])
    return TRANSFORM_CANDIDATES[best], scores


def _fit_network(
    *,
    name: str,
    model: torch.nn.Module,
    run_epoch,
    validate,
    options: TrainOptions,
    epochs: int,
    workdir: Path,
    resume: bool,
    train_log: _Log,
) -> dict:
    """Generic loop: Adam, reduce-on-plateau, early stopping, per-epoch checkpoint, resume, progress bar."""
    from tqdm.auto import tqdm

    config = options.train
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=max(config.patience // 3, 1))
    state = {"epoch": 0, "best_val": math.inf, "best_epoch": -1, "stale": 0, "done": False}
    checkpoint, best_path = workdir / f"{name}_last", workdir / f"{name}_best"
    if resume and (loaded := load_checkpoint(checkpoint)) is not None:
        states, state = loaded
        model.load_state_dict(states["model"])
        optimizer.load_state_dict(states["optimizer"])
        scheduler.load_state_dict(states["scheduler"])
        log.info("%s: resuming after epoch %d", name, state["epoch"])
    bar = tqdm(total=epochs, initial=min(state["epoch"], epochs), desc=f"training {name}", unit="epoch", disable=not options.progress)
    while not state["done"] and state["epoch"] < epochs:
        start = time.perf_counter()
        train_loss = run_epoch(optimizer, state["epoch"])
        val_loss = validate()
        scheduler.step(val_loss if math.isfinite(val_loss) else train_loss)
        state["epoch"] += 1
        monitored = val_loss if math.isfinite(val_loss) else train_loss
        if monitored < state["best_val"]:
            state.update(best_val=monitored, best_epoch=state["epoch"], stale=0)
            save_checkpoint(best_path, {"model": model.state_dict()}, {"epoch": state["epoch"]})
        else:
            state["stale"] += 1
            state["done"] = state["stale"] >= config.patience
        lr = optimizer.param_groups[0]["lr"]
        train_log.write(name, state["epoch"], train_loss, val_loss, lr, time.perf_counter() - start)
        save_checkpoint(checkpoint, {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()}, state)
        bar.update()
        bar.set_postfix(train=f"{train_loss:.4g}", val=f"{val_loss:.4g}", lr=f"{lr:.1e}")
    bar.close()
    best = load_checkpoint(best_path)
    if best is not None:
        model.load_state_dict(best[0]["model"])
    return {"epochs": state["epoch"], "best_epoch": state["best_epoch"], "best_val_loss": state["best_val"]}


# ------------------------------------------------------------------------------------------------
# The whole run
# ------------------------------------------------------------------------------------------------


def _align_labels(dataset: DensityDataset, labels: LabelSet) -> np.ndarray:
    """(N, T) physical labels aligned with the dataset rows (NaN where absent)."""
    index = labels.index()
    y = np.full((len(dataset), len(TARGETS)), np.nan)
    for row, name in enumerate(dataset.names):
        source = index.get(name)
        if source is not None:
            y[row] = [labels.values[t.name][source] for t in TARGETS]
    return y


def calibrate_spread(prediction: np.ndarray, spread: np.ndarray, truth: np.ndarray) -> float:
    """Factor s for the spread so that the share of errors within s·spread is near 68.27% and within
    2·s·spread near 95.45% (least squares over both; errors have heavier tails than a Gaussian, so
    one factor cannot meet both exactly). 1 when there are too few finite rows."""
    keep = np.isfinite(truth) & np.isfinite(prediction) & (spread > 0)
    if keep.sum() < 5:
        return 1.0
    ratio = np.sort(np.abs(prediction[keep] - truth[keep]) / spread[keep])
    candidates = np.unique(np.concatenate([ratio, ratio / 2.0]))
    coverage_1 = np.searchsorted(ratio, candidates, side="right") / ratio.size
    coverage_2 = np.searchsorted(ratio, 2.0 * candidates, side="right") / ratio.size
    loss = (coverage_1 - 0.6827) ** 2 + (coverage_2 - 0.9545) ** 2
    return float(candidates[int(np.argmin(loss))])


def _check_resumed_inputs(path: Path, fingerprint: str, *, resume: bool) -> None:
    """Record what the checkpoints are trained on; on ``--resume``, refuse prepared densities that differ
    from the interrupted run's (changed files, another grid, canonical frame or descriptor version):
    its checkpoints would continue on inputs they were never trained on."""
    if resume and path.is_file() and fingerprint:
        recorded = json.loads(path.read_text()).get("dataset_fingerprint")
        if recorded and recorded != fingerprint:
            raise LabelError(
                f"the prepared densities differ from those of the interrupted run ({path}): files changed, or another "
                "grid, canonical frame or descriptor version; its checkpoints were trained on the old ones; rerun without --resume"
            )
    path.write_text(json.dumps({"dataset_fingerprint": fingerprint}))


def _fingerprint(ids: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()[:16]


def train_model(
    *,
    chgcars: Sequence[str | Path],
    labels_path: str | Path,
    out: str | Path,
    options: TrainOptions = TrainOptions(),
    split_file: str | Path | None = None,
    mapping: dict[str, str] | None = None,
    workdir: str | Path | None = None,
    resume: bool = False,
    info: dict | None = None,
) -> TrainResult:
    """Train a bundle from density files and labels (see the module docstring)."""
    out = Path(out)
    workdir = Path(workdir) if workdir else out.with_name(out.name + ".work")
    workdir.mkdir(parents=True, exist_ok=True)
    config = options.train
    if options.autoencoder.grid != options.regrid.grid:
        options = replace(options, autoencoder=replace(options.autoencoder, grid=options.regrid.grid))
    torch.manual_seed(config.seed)
    policy = resolve_precision(options.precision, config.device)  # type: ignore[arg-type]
    device = policy.device
    train_log = _Log(workdir / "training_log.csv", resume=resume)

    labels = load_labels(labels_path, mapping=mapping)
    wanted = set(labels.ids)
    files = discover(chgcars)
    dataset = prepare_dataset(
        files,
        workdir / "dataset",
        regrid=options.regrid,
        workers=options.workers,
        keep=lambda item: (item.name or record_name(item.path, item.root)) in wanted,
        progress=options.progress,
    )
    if len(dataset) == 0:
        raise LabelError(f"no density matched a label id: {len(files)} files found, none named like the ids in {labels_path}")
    fill_from_physics(labels, dataset.physics_inputs())
    write_report(labels, workdir / "label_report.csv")
    y = _align_labels(dataset, labels)
    _check_resumed_inputs(workdir / "checkpoint_inputs.json", dataset.fingerprint, resume=resume)
    if not resume:  # a fresh run must not pick up checkpoints of an earlier one
        for stale in [*workdir.glob("autoencoder_*"), *workdir.glob("attention_*"), workdir / "transform.json"]:
            stale.unlink(missing_ok=True)
    saved_split = workdir / "splits.csv"
    resumed_split = resume and saved_split.is_file() and split_file is None
    if resumed_split:
        split_file = saved_split  # the split the checkpoints were trained on
    splits = assign_splits(
        dataset.names, split_file=split_file, groups=dataset.ids,
        val_fraction=config.val_fraction, test_fraction=config.test_fraction, seed=config.seed,
    )  # fmt: skip
    unassigned = len(dataset.names) - sum(len(rows) for rows in splits.values())
    if unassigned and resumed_split:
        raise LabelError(
            f"{unassigned} of {len(dataset.names)} labelled densities are not in the interrupted run's split "
            f"({saved_split}): the densities changed since, and its checkpoints never saw them; "
            "rerun without --resume to train on all of them"
        )
    if unassigned:
        log.warning("%d labelled densities are not in %s and are left out of training and evaluation", unassigned, split_file)
    train_idx, val_idx, test_idx = splits["train"], splits["val"], splits["test"]
    if len(train_idx) < 4:
        raise LabelError(f"only {len(train_idx)} training densities; need at least 4")
    log.info("split: %d train, %d val, %d test", len(train_idx), len(val_idx), len(test_idx))
    with open(saved_split, "w", newline="") as handle:  # reusable as --split for evaluate and --resume
        writer = csv.writer(handle)
        writer.writerow(["id", "split"])
        writer.writerows((dataset.names[i], split) for split, rows in splits.items() for i in rows)

    # ---- phase 1: autoencoder ---------------------------------------------------------------
    grids = dataset.grids
    transform_path = workdir / "transform.json"
    if resume and transform_path.is_file():
        saved = json.loads(transform_path.read_text())
        transform, trials = InputTransform.from_dict(saved["chosen"]), saved["trials"]
    else:
        transform, trials = choose_transform(grids, train_idx, val_idx, config=options.autoencoder, options=options, device=device)
        transform_path.write_text(json.dumps({"chosen": transform.to_dict(), "trials": trials}))
    torch.manual_seed(config.seed)
    autoencoder = PeriodicAutoencoder(options.autoencoder).to(device)
    rng = np.random.default_rng(config.seed)
    scaler = policy.grad_scaler()
    per_epoch = options.ae_samples_per_epoch

    def ae_epoch(optimizer, epoch):
        indices = train_idx if not per_epoch else rng.permutation(train_idx)[:per_epoch]
        return _ae_epoch(autoencoder, optimizer, grids, indices, transform, batch_size=config.batch_size, device=device,
                         rng=rng, policy=policy, scaler=scaler)  # fmt: skip

    def ae_validate():
        if len(val_idx) == 0:
            return math.nan
        return _ae_validation(autoencoder, grids, val_idx, transform, batch_size=config.batch_size, device=device)

    ae_summary = _fit_network(name="autoencoder", model=autoencoder, run_epoch=ae_epoch, validate=ae_validate,
                              options=options, epochs=config.epochs, workdir=workdir, resume=resume, train_log=train_log)  # fmt: skip

    # ---- phase 2: latents, standardizations, regressors --------------------------------------
    latents, recon = encode_dataset(autoencoder, grids, transform, batch_size=config.batch_size, device=device, policy=policy)
    recon_p95 = float(np.quantile(recon[train_idx], 0.95))
    invariant_inputs = config.inputs == "invariant"
    input_names = invariant_input_names() if invariant_inputs else tabular_feature_names()
    if invariant_inputs and dataset.tabular.shape[1] != len(input_feature_names()):
        raise LabelError(f"{workdir / 'dataset'} was prepared without density descriptors; rerun without --resume")
    tabular = select_inputs(dataset.tabular, input_names)
    tab_mean = np.nanmean(tabular[train_idx], axis=0)
    tab_std = np.nanstd(tabular[train_idx], axis=0)
    # a floor on the scale: a column that is constant in training (the partition residual of GPAW
    # densities, say) must not turn a 1e-7 difference into a large z
    tab_std = np.maximum(np.nan_to_num(tab_std), 1e-3 * (1.0 + np.abs(np.nan_to_num(tab_mean))))
    tab_mean = np.nan_to_num(tab_mean)
    tabular_z = np.nan_to_num((tabular - tab_mean) / tab_std).astype(np.float32)
    y_model = np.stack([t.to_model_space(y[:, j]) for j, t in enumerate(TARGETS)], axis=1)
    y_model[~np.isfinite(y_model)] = np.nan
    stats = []
    for j, target in enumerate(TARGETS):
        column = y_model[train_idx, j]
        column = column[np.isfinite(column)]
        mean = float(column.mean()) if column.size else 0.0
        std = float(column.std()) if column.size > 1 and column.std() > 1e-12 else 1.0
        stats.append(TargetStats(target.name, mean, std))
    y_z = (y_model - np.array([s.mean for s in stats])) / np.array([s.std for s in stats])

    torch.manual_seed(config.seed)
    attention = AttentionRegressor(
        latent_channels=options.autoencoder.latent_channels,
        latent_grid=options.autoencoder.latent_grid,
        n_tabular=tabular.shape[1],
        n_targets=len(TARGETS),
        config=options.attention,
    ).to(device)

    def att_epoch(optimizer, epoch):
        return _attention_epoch(attention, optimizer, latents, tabular_z, y_z, train_idx, batch_size=config.batch_size,
                                device=device, rng=rng)  # fmt: skip

    def att_validate():
        if len(val_idx) == 0:
            return math.nan
        return _masked_loss_np(_attention_predict(attention, latents, tabular_z, val_idx, batch_size=config.batch_size, device=device), y_z[val_idx])

    att_summary = _fit_network(name="attention", model=attention, run_epoch=att_epoch, validate=att_validate,
                               options=options, epochs=config.regressor_epochs, workdir=workdir, resume=resume, train_log=train_log)  # fmt: skip

    pca = LatentPCA.fit(latents[train_idx].reshape(len(train_idx), -1), options.lgbm.n_pca, seed=config.seed) if options.lgbm.n_pca > 0 else None
    invariant = options.lgbm.invariant_features
    grid_statistics = options.lgbm.density_features and not invariant_inputs  # model-grid statistics change with the cell
    lgbm_config = replace(options.lgbm, density_features=grid_statistics)
    density_stats = dataset_density_features(grids) if grid_statistics else None
    features = tree_features(latents, tabular, pca=pca, invariant=invariant, density_stats=density_stats)
    feature_names = tree_feature_names(
        n_pca=pca.n_components if pca else 0, latent_channels=options.autoencoder.latent_channels,
        invariant=invariant, tabular_names=input_names, density=grid_statistics,
    )  # fmt: skip
    boosters, ensembles = {}, {}
    untrained = []
    from tqdm.auto import tqdm

    for j, target in enumerate(tqdm(TARGETS, desc="training LightGBM", unit="target", disable=not options.progress)):
        n_labels = int(np.isfinite(y_model[train_idx, j]).sum())
        if n_labels < max(4, config.min_labels):
            log.warning("%s: %d training labels (< %d); not trained, predicted as NULL", target.name, n_labels, config.min_labels)
            untrained.append(target.name)
            continue
        members = [
            fit_booster(
                features[train_idx], y_model[train_idx, j],
                features[val_idx] if len(val_idx) else None, y_model[val_idx, j] if len(val_idx) else None,
                config=lgbm_config, seed=config.seed + k, feature_names=feature_names,
            )  # fmt: skip
            for k in range(max(1, config.ensemble))
        ]
        boosters[target.name], ensembles[target.name] = members[0], members[1:]

    # blend weights on validation
    att_val = _attention_predict(attention, latents, tabular_z, val_idx, batch_size=config.batch_size, device=device) if len(val_idx) else None
    blend, spread_scale = {}, {}
    for j, target in enumerate(TARGETS):
        if target.name not in boosters or att_val is None:
            blend[target.name] = 0.5 if target.name in boosters else 0.0
            continue
        member_val = np.stack([predict_booster(b, features[val_idx]) for b in [boosters[target.name], *ensembles[target.name]]])
        lgbm_val = member_val.mean(axis=0)
        att_model_space = att_val[:, j] * stats[j].std + stats[j].mean
        blend[target.name] = best_blend_weight(lgbm_val, att_model_space, y_model[val_idx, j])
        if ensembles[target.name]:  # calibrate the spread on validation: 68% of errors within 1σ, 95% within 2σ (least squares)
            weight = blend[target.name]
            blended = weight * lgbm_val + (1 - weight) * att_model_space
            raw = np.sqrt(member_val.var(axis=0) + ((lgbm_val - att_model_space) / 2) ** 2)
            spread_scale[target.name] = calibrate_spread(blended, raw, y_model[val_idx, j])
    ood_reference = None
    if invariant_inputs:  # how unlike the training densities: the density descriptors and the cell, not the composition
        ood_columns = [i for i, name in enumerate(input_names) if not name.startswith("magpie_")]
        mean, scale = tab_mean[ood_columns], tab_std[ood_columns]
        z_train = np.nan_to_num((tabular[train_idx][:, ood_columns] - mean) / scale)
        held = val_idx if len(val_idx) else train_idx
        distance = knn_distance(np.nan_to_num((tabular[held][:, ood_columns] - mean) / scale), z_train, k=config.ood_neighbours,
                                exclude_self=not len(val_idx))  # fmt: skip
        ood_reference = (mean, scale, z_train.astype(np.float32), config.ood_neighbours, float(np.quantile(distance, 0.99)))

    bundle = ModelBundle(
        regrid=options.regrid,
        transform=transform,
        autoencoder=autoencoder.cpu().eval(),
        attention=attention.cpu().eval(),
        targets=stats,
        tabular_names=tuple(input_names),
        tabular_mean=tab_mean,
        tabular_std=tab_std,
        pca=pca,
        invariant_features=invariant,
        tree_feature_names=feature_names,
        boosters=boosters,
        blend_weights=blend,
        recon_error_p95=recon_p95,
        lgbm=lgbm_config,
        embedding_stats=embedding_statistics(latents[train_idx]),  # similarity search: training split only
        ensembles=ensembles,
        spread_scale=spread_scale,
        untrained_targets=tuple(untrained),
        ood_reference=ood_reference,
        descriptor_version=DESCRIPTOR_VERSION if invariant_inputs else "",
    )
    metrics = evaluate_splits(bundle, dataset, y, splits, device=device)
    bundle.info = {
        **(info or {}),
        "training_data": {
            "fingerprint": _fingerprint([dataset.ids[i] for i in train_idx]),
            "n_files": len(files),
            "n_densities": len(dataset),
            "n_unreadable": len(dataset.errors),
            "split_sizes": {k: int(len(v)) for k, v in splits.items()},
            "split_file": str(split_file) if split_file else None,
            "labels_file": str(labels_path),
            "labels_per_target": {t.name: int(np.isfinite(y[:, j]).sum()) for j, t in enumerate(TARGETS)},
            "labels_left_out": len(labels.report),
            "labels_filled_from_physics": labels.filled,
        },
        "phase1": {**ae_summary, "transform_trials": trials, "recon_error_p95": recon_p95},
        "phase2": {"attention": att_summary, "boosters": {k: b.num_trees() for k, b in boosters.items()}},
        "train_config": asdict(options.train),
        "metrics": metrics,
    }
    model_id = save_bundle(bundle, out)
    (workdir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return TrainResult(bundle_path=out, model_id=model_id, metrics=metrics, workdir=workdir)
