"""Batch screening: per-batch stages, the Ray engine (the only Ray-aware module here), Parquet outputs, schema.

Public entry points below, imported on first use (:mod:`screener._lazy`); the rest is private by convention.
"""

from __future__ import annotations

from .._lazy import lazy_exports

_EXPORTS = {
    "run_screen": "pipeline",
    "RunSummary": "pipeline",
    "read_batch": "stages",
    "PredictBatch": "stages",
    "ResultWriter": "outputs",
    "PREDICTIONS_SCHEMA": "schema",
    "LATENTS_SCHEMA": "schema",
    "ERRORS_SCHEMA": "schema",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
