"""Batch screening: per-batch stages, the Ray engine (the only Ray-aware module here), Parquet outputs, schema."""

from __future__ import annotations

from .._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__, pipeline="run_screen RunSummary", stages="read_batch PredictBatch", outputs="ResultWriter",
    schema="PREDICTIONS_SCHEMA LATENTS_SCHEMA ERRORS_SCHEMA",
)
