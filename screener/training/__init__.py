"""Training and evaluation: the prepared dataset, labels, splits, two-phase training, checkpoints, metrics."""

from __future__ import annotations

from .._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__, trainer="train_model TrainOptions TrainResult", evaluation="evaluate_bundle",
    labels="load_labels read_table", dataset="prepare_dataset", splits="assign_splits",
    metrics="regression_report",
)
