"""Training and evaluation: the prepared dataset, labels, splits, two-phase training, checkpoints, metrics.

Public entry points below, imported on first use (:mod:`screener._lazy`); the rest is private by convention.
"""

from __future__ import annotations

from .._lazy import lazy_exports

_EXPORTS = {
    "train_model": "trainer",
    "TrainOptions": "trainer",
    "TrainResult": "trainer",
    "evaluate_bundle": "evaluation",
    "load_labels": "labels",
    "read_table": "labels",
    "prepare_dataset": "dataset",
    "assign_splits": "splits",
    "regression_report": "metrics",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
