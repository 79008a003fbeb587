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
from ..io.paths import display_path, from_columns, raw_path_bytes, safe_text
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
    """Row ``i`` of a predicted stage batch as a predictions-table row (NaN → None, numpy → Python).

    ``path`` is the exact name (from ``path_bytes`` where the batch has it), as
    :meth:`ResultWriter.add_prediction` expects; ``path_bytes`` is left to the writer.
    """
    row = {column: _scalar(batch, column, i) for column in PREDICTION_COLUMNS if column in batch and column != "path_bytes"}
    row["path"] = from_columns(str(batch["path"][i]), batch["path_bytes"][i] if "path_bytes" in batch else None)
    row["warning"] = row.get("warning") or None
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
    try:
        pq.write_table(table, tmp, compression="zstd")
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:  # a full disk, say: leave nothing half-written behind
        tmp.unlink(missing_ok=True)
        raise


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
            table = pq.read_table(part)
            state.predicted.update(zip(table.column("id").to_pylist(), _exact_paths(table)))
        for part in part_files(out_dir / ERRORS_DIR):
            table = pq.read_table(part)
            state.errors.update(zip(_exact_paths(table), table.column("id").to_pylist()))
    except (OSError, pa.ArrowException) as exc:
        raise ConfigError(f"{out_dir}: cannot resume, a part file is unreadable ({exc}); move it away or use a new --output") from None
    manifest = out_dir / MANIFEST_NAME
    if manifest.is_file():
        state.model_id = json.loads(manifest.read_text()).get("model_id")
    return state


def _exact_paths(table: pa.Table) -> list[str]:
    """The exact path names of a part's rows (``path_bytes`` where set; parts of older runs lack it)."""
    paths = table.column("path").to_pylist()
    if "path_bytes" not in table.column_names:
        return paths
    return [from_columns(path, raw) for path, raw in zip(paths, table.column("path_bytes").to_pylist())]


def drop_error_rows(out_dir: Path, paths: set[str], *, keep_run: str) -> int:
    """Remove earlier runs' error rows for ``paths`` (inputs this run predicted or failed again).

    Each affected part is rewritten atomically; returns the number of rows removed.
    """
    removed = 0
    for part in part_files(out_dir / ERRORS_DIR):
        table = pq.read_table(part)
        matches = pa.array([path in paths for path in _exact_paths(table)], type=pa.bool_())
        stale = pc.and_(matches, pc.not_equal(table.column("run_id"), keep_run))
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


def check_output_folder(out_dir: Path) -> None:
    """Make sure ``out_dir`` exists (or can be created) and takes new files, before any work starts.

    Raises:
        ConfigError: one line naming the path and the reason (not a folder, read-only, immutable, ...).
    """
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise ConfigError(f"output {out_dir} exists and is not a folder") from None
    except NotADirectoryError:
        raise ConfigError(f"cannot create output {out_dir}: a part of its path is a file, not a folder") from None
    except OSError as exc:
        raise ConfigError(f"cannot create output {out_dir}: {exc.strerror or exc}") from None
    probe = out_dir / f".write-test-{os.getpid()}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise ConfigError(f"cannot write to output {out_dir}: {exc.strerror or exc}") from None


def remove_stale_registries(out_dir: Path) -> int:
    """Remove ``.replicas-*`` folders left by runs that were killed (call while holding the lock)."""
    import shutil

    stale = [p for p in out_dir.glob(".replicas-*") if p.is_dir()]
    for folder in stale:
        shutil.rmtree(folder, ignore_errors=True)
    return len(stale)


@contextmanager
def exclusive_output(out_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``out_dir`` for one run (two runs into one folder would collide).

    The lock file ``.lock`` is removed when the run ends, however it ends (a SIGKILLed run leaves
    it, unlocked: the next run takes it over).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    lock = out_dir / ".lock"
    while True:
        handle = open(lock, "a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            raise ConfigError(f"another screener run is writing to {out_dir}") from None
        try:  # the holder before us may have removed the file between our open and our lock
            if os.fstat(handle.fileno()).st_ino == os.stat(lock).st_ino:
                break
        except FileNotFoundError:
            pass
        handle.close()
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)  # removed before unlocking: no one can lock the old file after us
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
        """Buffer one prediction row (``row["path"]`` is the exact name; stored as ``path`` + ``path_bytes``)."""
        path = row["path"]
        row = {**row, "path": display_path(path), "path_bytes": raw_path_bytes(path)}
        self._predictions.append({**row, "run_id": self.run_id, "created_at": self.created_at})
        self._latents.append((row["id"], np.asarray(latent, np.float32).ravel(), np.asarray(embedding, np.float32).ravel(), row.get("model_id")))
        if len(self._predictions) >= self.rows_per_part:
            self.flush()

    def add_error(self, *, path: str, file_id: str | None, stage: str, error_type: str, message: str) -> None:
        self._errors.append(
            {"path": display_path(path), "path_bytes": raw_path_bytes(path), "id": file_id or None, "stage": stage,
             "error_type": error_type, "message": safe_text(message), "run_id": self.run_id}  # fmt: skip
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
