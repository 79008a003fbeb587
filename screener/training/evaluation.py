"""``screener evaluate``: a bundle against labelled densities → metrics JSON, parity plots, predictions.

Uses the same preparation (read → regrid → descriptors), the same label rules (validation and
physics fill-ins) and the same predictor settings (fp32, deterministic attention pass) as the
metrics ``screener train`` stores, so evaluating a bundle on its own test split reproduces them.
"""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import LabelError
from ..io.discovery import discover
from ..io.naming import record_name
from ..models.bundle import ModelBundle, load_bundle
from ..targets import TARGETS
from .dataset import DensityDataset, prepare_dataset
from .labels import fill_from_physics, load_labels, write_report
from .metrics import regression_report
from .parity import parity_figures
from .splits import read_split_file

log = logging.getLogger(__name__)


def evaluate_bundle(
    *,
    model: str | Path,
    chgcars: Sequence[str | Path],
    labels_path: str | Path,
    out: str | Path,
    split_file: str | Path | None = None,
    subset: str | None = None,
    mapping: dict[str, str] | None = None,
    workers: int | None = None,
    workdir: str | Path | None = None,
    n_bootstrap: int = 1000,
    device: str = "auto",
    progress: bool = True,
) -> dict:
    """Evaluate ``model`` on the labelled densities; write ``metrics.json``, ``predictions.csv`` and
    parity plots (``parity_<target>.png/.svg`` and ``parity_all.png/.svg``, :mod:`.parity`) into
    ``out``; return the metrics.

    Args:
        split_file, subset: with both, only densities of that split (e.g. ``test``) are evaluated.
    """
    from ..models.predictor import Predictor

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    bundle = load_bundle(model)
    labels = load_labels(labels_path, mapping=mapping)
    wanted = set(labels.ids)
    if split_file is not None and subset is not None:
        splits = read_split_file(split_file)
        wanted = {name for name in wanted if splits.get(name) == subset}
    files = discover(chgcars)
    dataset = prepare_dataset(
        files,
        Path(workdir) if workdir else out / "dataset",
        regrid=bundle.regrid,
        workers=workers,
        keep=lambda item: record_name(item.path, item.root) in wanted,
        progress=progress,
    )
    if len(dataset) == 0:
        raise LabelError(f"no density matched a label id (of {len(files)} files found)")
    given = {name: np.isfinite(values).copy() for name, values in labels.values.items()}
    fill_from_physics(labels, dataset.physics_inputs())
    write_report(labels, out / "label_report.csv")
    index = labels.index()
    y = np.array([[labels.values[t.name][index[name]] for t in TARGETS] for name in dataset.names])
    derived = np.array([[not given[t.name][index[name]] for t in TARGETS] for name in dataset.names], dtype=bool) & np.isfinite(y)
    predictor = Predictor(bundle, device=device, precision="fp32", mc_samples=0)
    predictions = predict_rows(predictor, dataset, np.arange(len(dataset)))
    metrics = {
        "model_id": bundle.model_id,
        "model": str(model),
        "subset": subset,
        "n_densities": len(dataset),
        "unreadable": dataset.errors,
        "metrics": metrics_table(predictions, y, n_bootstrap=n_bootstrap),
    }
    _write_predictions(out / "predictions.csv", dataset.names, y, predictions)
    metrics["labels_derived"] = {t.name: int(derived[:, j].sum()) for j, t in enumerate(TARGETS)}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    parity_figures(out, y, predictions, metrics["metrics"], derived=derived, subset=subset)
    return metrics


def _write_predictions(path: Path, names: list[str], y: np.ndarray, predictions: dict[str, np.ndarray]) -> None:
    columns = ["name"]
    for target in TARGETS:
        columns += [f"{target.name}_true", f"{target.name}_blend", f"{target.name}_lgbm", f"{target.name}_attcnn"]
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for row, name in enumerate(names):
            values: list = [name]
            for j, target in enumerate(TARGETS):
                values += [y[row, j], predictions[target.name][row], predictions[f"{target.name}_lgbm"][row], predictions[f"{target.name}_attcnn"][row]]
            writer.writerow([f"{v:.6g}" if isinstance(v, float) else v for v in values])


def evaluate_splits(bundle: ModelBundle, dataset: DensityDataset, y: np.ndarray, splits: dict[str, np.ndarray], *, device, n_bootstrap: int = 1000) -> dict:
    """Metrics of LightGBM, attention CNN and blend on the validation and test splits (physical units)."""
    from ..models.predictor import Predictor

    predictor = Predictor(bundle, device=device, precision="fp32", mc_samples=0)
    out: dict = {}
    for split in ("val", "test"):
        indices = splits[split]
        if len(indices) == 0:
            continue
        predictions = predict_rows(predictor, dataset, indices)
        out[split] = metrics_table(predictions, y[indices], n_bootstrap=n_bootstrap)
    return out


def predict_rows(predictor, dataset: DensityDataset, indices: np.ndarray, *, chunk: int = 64) -> dict[str, np.ndarray]:
    """Predictor outputs for dataset rows (already on the model grid)."""
    parts = []
    for start in range(0, len(indices), chunk):
        rows = indices[start : start + chunk]
        parts.append(predictor.predict_model_grids(np.asarray(dataset.grids[rows]), dataset.tabular[rows]))
    return {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}


def metrics_table(predictions: dict[str, np.ndarray], y: np.ndarray, *, n_bootstrap: int = 1000) -> dict:
    """{target: {model: regression_report}} for model in lgbm, attcnn, blend."""
    table: dict = {}
    for j, target in enumerate(TARGETS):
        truth = y[:, j]
        if np.isfinite(truth).sum() < 2:
            continue
        table[target.name] = {
            model: regression_report(truth, predictions[target.name + suffix], log_target=target.log10, n_bootstrap=n_bootstrap)
            for model, suffix in (("lgbm", "_lgbm"), ("attcnn", "_attcnn"), ("blend", ""))
        }
    return table
