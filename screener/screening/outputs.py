"""Writing a run's Parquet part files atomically, and reading back what a previous run finished.

Each flush writes ``latents/part-<run>-<seq>.parquet`` then ``predictions/part-<run>-<seq>.parquet``
(and ``errors/...`` for failed inputs), each under a temporary name first and renamed into place,
so readers never see a truncated file. A predictions part marks its rows done; a latents part
without its predictions sibling (a crash between the two renames) is removed on resume, so
every input ends up exactly once in predictions or errors.
"""

from __future__ import annotations

import datetime as _dt
import fcntl
import json
import logging
import math
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..errors import ConfigError
from .schema import (
    ERRORS_DIR,
    ERRORS_SCHEMA,
    LATENTS_DIR,
    LATENTS_SCHEMA,
    MANIFEST_NAME,
    PREDICTIONS_DIR,
    PREDICTIONS_SCHEMA,
)

log = logging.getLogger(__name__)

#: the predictions columns a stage batch supplies (the writer adds ``run_id`` and ``created_at``).
PREDICTION_COLUMNS = [f.name for f in PREDICTIONS_SCHEMA if f.name not in ("run_id", "created_at")]


def prediction_row(batch: dict[str, np.ndarray], i: int) -> dict:
    """Row ``i`` of a predicted stage batch as a predictions-table row (NaN → None, numpy → Python)."""
    row = {column: _scalar(batch, column, i) for column in PREDICTION_COLUMNS if column in batch}
    row["grid"] = [int(v) for v in batch["grid"][i]]
    return row


def _scalar(batch: dict[str, np.ndarray], column: str, i: int):
    value = batch[column][i]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def write_table_atomically(table: pa.Table, path: Path) -> None:
    """Write Parquet (zstd) to ``.<name>.tmp`` beside ``path``, fsync, then rename into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, tmp, compression="zstd")
    with open(tmp, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, path)


@dataclass
class ResumeState:
    """What an output directory already holds.

    Attributes:
        predicted: id → path of every predicted input.
        errors: path → id of every input in the errors table.
        model_id: the model the earlier runs used.
    """

    predicted: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str | None] = field(default_factory=dict)  # path → id (None: unreadable)
    model_id: str | None = None

    @property
    def error_pairs(self) -> frozenset[tuple[str, str]]:
        """(path, id) of every recorded error whose file could be hashed."""
        return frozenset((path, file_id) for path, file_id in self.errors.items() if file_id)


def part_files(folder: Path) -> list[Path]:
    """The finished Parquet part files in ``folder``, sorted (none when it does not exist)."""
    return sorted(p for p in folder.glob("*.parquet") if not p.name.startswith(".") and p.is_file())


def remove_orphans(out_dir: Path) -> int:
    """Delete temporary files and latents parts whose predictions part is missing; return the count."""
    removed = 0
    for folder in (out_dir / PREDICTIONS_DIR, out_dir / LATENTS_DIR, out_dir / ERRORS_DIR):
        for tmp in folder.glob(".*.tmp") if folder.exists() else []:
            tmp.unlink()
            removed += 1
    latents = out_dir / LATENTS_DIR
    if latents.exists():
        for part in part_files(latents):
            if not (out_dir / PREDICTIONS_DIR / part.name).exists():
                part.unlink()
                removed += 1
    return removed


def load_resume_state(out_dir: Path) -> ResumeState:
    """Ids and paths an earlier run into ``out_dir`` finished (after removing orphans)."""
    state = ResumeState()
    removed = remove_orphans(out_dir)
    if removed:
        log.info("removed %d incomplete part files left by an interrupted run", removed)
    try:
        for part in part_files(out_dir / PREDICTIONS_DIR):
            table = pq.read_table(part, columns=["id", "path"])
            state.predicted.update(zip(table.column("id").to_pylist(), table.column("path").to_pylist()))
        for part in part_files(out_dir / ERRORS_DIR):
            table = pq.read_table(part, columns=["path", "id"])
            state.errors.update(zip(table.column("path").to_pylist(), table.column("id").to_pylist()))
    except (OSError, pa.ArrowException) as exc:
        raise ConfigError(f"{out_dir}: cannot resume, a part file is unreadable ({exc}); move it away or use a new --output") from None
    manifest = out_dir / MANIFEST_NAME
    if manifest.is_file():
        state.model_id = json.loads(manifest.read_text()).get("model_id")
    return state


def drop_error_rows(out_dir: Path, paths: set[str], *, keep_run: str) -> int:
    """Remove earlier runs' error rows for ``paths`` (inputs this run predicted or failed again).

    Each affected part is rewritten atomically; returns the number of rows removed.
    """
    removed = 0
    wanted = pa.array(sorted(paths), type=pa.string())
    for part in part_files(out_dir / ERRORS_DIR):
        table = pq.read_table(part)
        stale = pc.and_(pc.is_in(table.column("path"), wanted), pc.not_equal(table.column("run_id"), keep_run))
        count = pc.sum(stale).as_py() or 0
        if not count:
            continue
        kept = table.filter(pc.invert(stale))
        if kept.num_rows:
            write_table_atomically(kept, part)
        else:
            part.unlink()
        removed += count
    return removed


@contextmanager
def exclusive_output(out_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``out_dir`` for one run (two runs into one folder would collide)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    handle = open(out_dir / ".lock", "w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise ConfigError(f"another screener run is writing to {out_dir}") from None
    try:
        yield
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


class ResultWriter:
    """Buffers prediction, latent and error rows and writes them as part files.

    Args:
        out_dir: the run's output directory.
        run_id: this run's id (part names and the ``run_id`` column).
        rows_per_part: rows buffered before a part is written.
    """

    def __init__(self, out_dir: Path, run_id: str, *, rows_per_part: int = 256) -> None:
        self.out_dir = out_dir
        self.run_id = run_id
        self.rows_per_part = rows_per_part
        self._predictions: list[dict] = []
        self._latents: list[dict] = []
        self._errors: list[dict] = []
        self._sequence = 0
        self.counts = {"predicted": 0, "errors": 0}
        self.created_at = _dt.datetime.now(_dt.timezone.utc)

    def add_prediction(self, row: dict, latent: np.ndarray, embedding: np.ndarray) -> None:
        self._predictions.append({**row, "run_id": self.run_id, "created_at": self.created_at})
        self._latents.append((row["id"], np.asarray(latent, np.float32).ravel(), np.asarray(embedding, np.float32).ravel(), row.get("model_id")))
        if len(self._predictions) >= self.rows_per_part:
            self.flush()

    def add_error(self, *, path: str, file_id: str | None, stage: str, error_type: str, message: str) -> None:
        self._errors.append(
            {"path": path, "id": file_id or None, "stage": stage, "error_type": error_type, "message": message, "run_id": self.run_id}
        )
        if len(self._errors) >= self.rows_per_part:
            self.flush()

    def flush(self) -> None:
        """Write whatever is buffered (latents first, then predictions: the predictions part marks done)."""
        if not self._predictions and not self._errors:
            return
        name = f"part-{self.run_id}-{self._sequence:05d}.parquet"
        self._sequence += 1
        if self._predictions:
            latents = _latents_table(self._latents)
            predictions = pa.Table.from_pylist(self._predictions, schema=PREDICTIONS_SCHEMA)
            write_table_atomically(latents, self.out_dir / LATENTS_DIR / name)
            write_table_atomically(predictions, self.out_dir / PREDICTIONS_DIR / name)
            self.counts["predicted"] += len(self._predictions)
            self._predictions, self._latents = [], []
        if self._errors:
            write_table_atomically(pa.Table.from_pylist(self._errors, schema=ERRORS_SCHEMA), self.out_dir / ERRORS_DIR / name)
            self.counts["errors"] += len(self._errors)
            self._errors = []


def _list_array(vectors: list[np.ndarray]) -> pa.ListArray:
    """float32 vectors → a list<float32> column without a per-element Python loop."""
    lengths = np.fromiter((len(v) for v in vectors), dtype=np.int32, count=len(vectors))
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
    values = np.concatenate(vectors) if vectors else np.zeros(0, np.float32)
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(values.astype(np.float32, copy=False)))


def _latents_table(rows: list[tuple]) -> pa.Table:
    ids, latents, embeddings, models = zip(*rows)
    return pa.Table.from_arrays(
        [pa.array(ids, pa.string()), _list_array(list(latents)), _list_array(list(embeddings)), pa.array(models, pa.string())],
        schema=LATENTS_SCHEMA,
    )


def count_rows(out_dir: Path) -> dict[str, int]:
    """Rows in each table of an output directory (all runs)."""
    counts = {}
    for folder in (PREDICTIONS_DIR, LATENTS_DIR, ERRORS_DIR):
        parts = part_files(out_dir / folder)
        counts[folder] = sum(pq.ParquetFile(p).metadata.num_rows for p in parts)
    return counts


def update_manifest(out_dir: Path, run: dict) -> dict:
    """Append this run to ``manifest.json`` (atomically) and refresh the totals; return the manifest."""
    path = out_dir / MANIFEST_NAME
    manifest = json.loads(path.read_text()) if path.is_file() else {"runs": []}
    manifest["runs"].append(run)
    manifest["schema_version"] = 1
    manifest["totals"] = count_rows(out_dir)
    manifest["model_id"] = run.get("model_id")
    manifest["updated_at"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(manifest, indent=2, default=str) + "\n")
    os.replace(tmp, path)
    return manifest
