"""The Parquet schema of a run's output: the contract between the pipeline and ``queries/``.

Layout of an output directory::

    OUT/predictions/part-<run>-<seq>.parquet
    OUT/latents/part-<run>-<seq>.parquet
    OUT/errors/part-<run>-<seq>.parquet
    OUT/manifest.json

Older runs may lack newer columns; readers use ``union_by_name``. Any path name is kept: ``path`` is
valid UTF-8 (undecodable bytes escaped as ``\\xNN``), ``path_bytes`` holds the exact bytes when the
name is not valid UTF-8 (:mod:`screener.io.paths`).
"""

from __future__ import annotations

import pyarrow as pa

from ..targets import TARGET_NAMES

PREDICTIONS_DIR = "predictions"
LATENTS_DIR = "latents"
ERRORS_DIR = "errors"
MANIFEST_NAME = "manifest.json"
SCHEMA_VERSION = 1


def _prediction_fields() -> list[pa.Field]:
    fields = [
        pa.field("id", pa.string(), nullable=False),  # SHA-256 of the file's bytes
        pa.field("name", pa.string()),  # calculation folder or file stem (labels key on it)
        pa.field("path", pa.string()),  # UTF-8; bytes that are not valid UTF-8 appear as \xNN escapes
        pa.field("path_bytes", pa.binary()),  # the raw path when it is not valid UTF-8 (null otherwise)
        pa.field("formula", pa.string()),  # reduced formula
        pa.field("n_sites", pa.int32()),
        pa.field("volume", pa.float64()),  # Å³
        pa.field("density", pa.float64()),  # g/cm³
        pa.field("n_electrons", pa.float64()),  # ∫ρ dV of the file's total density
        pa.field("grid", pa.list_(pa.int32())),  # source grid [nx, ny, nz]
        pa.field("recon_error", pa.float64()),  # autoencoder MSE in the model's input space
        pa.field("ood_score", pa.float64()),  # recon_error / 95th percentile of training recon errors
        pa.field("warning", pa.string()),  # e.g. a valence electron count that is not a whole number (null: none)
    ]
    for target in TARGET_NAMES:
        fields += [
            pa.field(target, pa.float64()),  # blend of LightGBM and attention CNN
            pa.field(f"{target}_lgbm", pa.float64()),
            pa.field(f"{target}_attcnn", pa.float64()),
            pa.field(f"{target}_std", pa.float64()),  # one-sigma spread, same unit as the target
        ]
    fields += [
        pa.field("pugh_ratio", pa.float64()),  # K/G
        pa.field("poisson_ratio", pa.float64()),
        pa.field("vickers_hardness", pa.float64()),  # GPa, Chen's model, clipped at 0
        pa.field("model_id", pa.string()),
        pa.field("run_id", pa.string()),
        pa.field("created_at", pa.timestamp("us", tz="UTC")),
    ]
    return fields


PREDICTIONS_SCHEMA = pa.schema(_prediction_fields())

LATENTS_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("latent", pa.list_(pa.float32())),  # the full latent, C-order (channel, x, y, z)
        pa.field("embedding", pa.list_(pa.float32())),  # short translation-invariant vector for similarity
        pa.field("model_id", pa.string()),
    ]
)

ERRORS_SCHEMA = pa.schema(
    [
        pa.field("path", pa.string(), nullable=False),  # as in predictions: escaped UTF-8
        pa.field("path_bytes", pa.binary()),  # the raw path when it is not valid UTF-8 (null otherwise)
        pa.field("id", pa.string()),  # null when the file could not be hashed
        pa.field("stage", pa.string()),  # discover | read | validate | regrid | predict | duplicate
        pa.field("error_type", pa.string()),
        pa.field("message", pa.string()),
        pa.field("run_id", pa.string()),
    ]
)
