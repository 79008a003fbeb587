"""The screening stages as plain functions on column batches (dicts of numpy arrays).

The Ray pipeline (:mod:`screener.screening.pipeline`) maps these over a streaming dataset; the benchmark's
sequential loop and the tests call them directly. No Ray here.

Between the stages each row carries: ``path``, ``id`` (SHA-256), ``name``, ``status`` (``ok``,
``error`` or ``skipped``), the error fields (``stage``, ``error_type``, ``message``), structure
scalars, ``grid`` (3 ints), ``lattice`` (9 floats, Å), ``tabular`` (descriptors) and ``rho`` (the
density in e/Å³ as raw float32 bytes in the file's x-fastest order; emptied after prediction).
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
import time
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence

import numpy as np

from ..config import Precision, ReadLimits

if TYPE_CHECKING:
    from ..models.predictor import Predictor

log = logging.getLogger(__name__)

#: scalar columns copied from a read record into the prediction rows.
STRUCTURE_COLUMNS = ("name", "formula", "n_sites", "volume", "density", "n_electrons")


def _error_row(path: str, *, file_id: str | None, stage: str, error_type: str, message: str) -> dict:
    return {"path": path, "id": file_id or "", "status": "error", "stage": stage, "error_type": error_type, "message": message}


def _skipped_row(path: str, file_id: str, reason: str) -> dict:
    return {"path": path, "id": file_id, "status": "skipped", "stage": reason, "error_type": "", "message": ""}


def read_one(
    path: str,
    root: str,
    *,
    limits: ReadLimits,
    skip_ids: frozenset[str] = frozenset(),
    skip_errors: frozenset[tuple[str, str]] = frozenset(),
) -> dict:
    """Read, check and featurize one file into a row (errors become rows, never exceptions).

    Args:
        skip_ids: ids already predicted (resume): such a file is hashed but not parsed; its row has
            status ``skipped`` and stage ``done``.
        skip_errors: (path, id) pairs already in the errors table: skipped with stage ``errored``
            (a file that changed since has another id and is read again).
    """
    from ..errors import InputError
    from ..io.reading import electron_count_warning, input_sha256, read_density

    file_id = None
    try:
        if skip_ids or skip_errors:  # resuming: decide from the hash before parsing anything
            file_id = input_sha256(path, max_bytes=limits.max_file_bytes)  # read in chunks, not held
            if (path, file_id) in skip_errors:  # first: a recorded duplicate stays one error row
                return _skipped_row(path, file_id, "errored")
            if file_id in skip_ids:
                return _skipped_row(path, file_id, "done")
        record = read_density(path, root=root, limits=limits, sha256=file_id)
    except InputError as exc:
        if file_id is None:  # the id of an unusable file still identifies it (none when it cannot be read)
            file_id = _id_or_none(path, limits)
        return _error_row(path, file_id=file_id, stage=exc.stage, error_type="InputError", message=exc.reason)
    except Exception as exc:  # noqa: BLE001 - never lose a file: an unexpected failure is still a row
        return _error_row(path, file_id=file_id, stage="read", error_type=type(exc).__name__, message=str(exc) or repr(exc))
    try:
        return density_row(record.structure, record.rho, name=record.name, path=path, file_id=record.sha256,
                           n_electrons=record.n_electrons, volume=record.volume, warning=electron_count_warning(record))  # fmt: skip
    except Exception as exc:  # noqa: BLE001 - featurization failures are rows too
        return _error_row(path, file_id=record.sha256, stage="featurize", error_type=type(exc).__name__, message=str(exc))


def _id_or_none(path: str, limits: ReadLimits) -> str | None:
    """The SHA-256 of an input that failed to read, or None when its bytes cannot be read at all
    (missing, not a regular file, larger than ``limits.max_file_bytes``)."""
    from ..errors import InputError
    from ..io.reading import input_sha256

    try:
        return input_sha256(path, max_bytes=limits.max_file_bytes)
    except (InputError, OSError):
        return None


def density_row(
    structure,
    rho: np.ndarray,
    *,
    name: str,
    path: str,
    file_id: str,
    n_electrons: float,
    volume: float | None = None,
    warning: str | None = None,
) -> dict:
    """A read row (status ``ok``) from a structure and its density, for :class:`PredictBatch`.

    Args:
        structure: the pymatgen ``Structure`` of the cell.
        rho: density on the cell's grid, (nx, ny, nz), e/Å³ (x along the first lattice vector).
        name, path, file_id: the row's ``name``, ``path`` and ``id`` columns.
        n_electrons: electrons in the cell (the integral of ``rho`` over it).
        volume: cell volume in Å³ (default: the structure's).
        warning: the row's ``warning`` (e.g. an electron count that is not a whole number).

    Raises:
        Exception: whatever featurization raises (the caller decides whether it becomes a row).
    """
    from ..grid.canonical import canonical_transform
    from ..models.features import input_features

    try:
        tabular = input_features(structure, rho, n_electrons=n_electrons)
    except Exception as exc:  # noqa: BLE001 - descriptors NaN, said in the warning column; the composition still predicts
        tabular = input_features(structure, None, n_electrons=n_electrons)
        note = f"density descriptors unavailable ({type(exc).__name__}: {exc})"
        warning = f"{warning}; {note}" if warning else note
    try:  # the networks see the density on the canonical valence partition
        from ..models.descriptors import model_density

        rho = model_density(rho, structure, n_electrons=n_electrons)
    except Exception as exc:  # noqa: BLE001 - the file's own partition then; said in the warning column
        note = f"valence partition not moved ({type(exc).__name__}: {exc})"
        warning = f"{warning}; {note}" if warning else note
    rho = np.asfortranarray(rho, dtype=np.float32)
    return {
        "path": path,
        "id": file_id,
        "status": "ok",
        "stage": "",
        "error_type": "",
        "message": "",
        "name": name,
        "formula": structure.composition.reduced_formula,
        "n_sites": len(structure),
        "volume": float(structure.volume if volume is None else volume),
        "density": float(structure.density),
        "n_electrons": float(n_electrons),
        "warning": warning or "",
        "grid": np.asarray(rho.shape, dtype=np.int32),
        "lattice": structure.lattice.matrix.reshape(-1).astype(np.float64),
        "canonical": canonical_transform(structure, rho),
        "tabular": tabular.astype(np.float64),
        "rho": rho.tobytes(order="F"),
    }


def triage(
    files: Sequence[tuple[str, str]],
    *,
    skip_ids: frozenset[str],
    skip_errors: frozenset[tuple[str, str]] = frozenset(),
    workers: int = 4,
) -> tuple[list[dict], list[int]]:
    """Sort ``(path, root)`` inputs into those an earlier run finished and those left to do.

    Hashes each regular file (SHA-256, in ``workers`` threads: hashlib releases the GIL) and
    compares it with what an output folder already holds, without parsing anything, so a rerun
    decides what is left before it loads a model or starts an engine.

    Returns:
        (skipped rows, as :func:`read_one` makes them for finished inputs; indices of the inputs
        left to read). A file that cannot be hashed here is left to the engine, which records why.
    """
    from concurrent.futures import ThreadPoolExecutor

    from ..io.reading import input_bytes

    def digest(path: str) -> str | None:
        try:
            if os.path.lexists(path):  # a file: hash it only if it is a regular one (never open a FIFO)
                if not stat.S_ISREG(os.stat(path).st_mode):
                    return None
                with open(path, "rb") as handle:
                    return hashlib.file_digest(handle, "sha256").hexdigest()
            return hashlib.sha256(input_bytes(path)).hexdigest()  # a density-table row (``<file>::row=N``)
        except Exception:  # noqa: BLE001 - left to the engine, which records the reason
            return None

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        ids = list(pool.map(digest, [str(path) for path, _ in files]))
    skipped, todo = [], []
    for index, ((path, _), file_id) in enumerate(zip(files, ids)):
        if file_id is not None and (str(path), file_id) in skip_errors:
            skipped.append(_skipped_row(str(path), file_id, "errored"))
        elif file_id is not None and file_id in skip_ids:
            skipped.append(_skipped_row(str(path), file_id, "done"))
        else:
            todo.append(index)
    return skipped, todo


def rows_to_batch(rows: list[dict], *, n_tabular: int) -> dict[str, np.ndarray]:
    """Rows (some ok, some not) → one column batch with the same columns for every row.

    Text is made valid UTF-8 (Arrow refuses anything else): ``path`` is escaped for display and
    ``path_bytes`` carries the exact name (:mod:`screener.io.paths`).
    """
    from ..io.paths import display_path, safe_text

    n = len(rows)
    batch: dict[str, np.ndarray] = {}
    for column in ("id", "status", "stage", "error_type", "message", "name", "formula", "warning"):
        batch[column] = np.array([safe_text(row.get(column, "") or "") for row in rows], dtype=object)
    batch["path"] = np.array([display_path(row["path"]) for row in rows], dtype=object)
    batch["path_bytes"] = np.array([os.fsencode(row["path"]) for row in rows], dtype=object)
    for column, dtype in (("n_sites", np.int64), ("volume", np.float64), ("density", np.float64), ("n_electrons", np.float64)):
        batch[column] = np.array([row.get(column, 0) for row in rows], dtype=dtype)
    batch["grid"] = np.stack([row.get("grid", np.zeros(3, np.int32)) for row in rows]) if n else np.zeros((0, 3), np.int32)
    batch["lattice"] = np.stack([row.get("lattice", np.zeros(9)) for row in rows]) if n else np.zeros((0, 9))
    batch["canonical"] = np.stack([row.get("canonical", np.zeros(12)) for row in rows]) if n else np.zeros((0, 12))
    batch["tabular"] = np.stack([row.get("tabular", np.zeros(n_tabular)) for row in rows]) if n else np.zeros((0, n_tabular))
    batch["rho"] = np.array([row.get("rho", b"") for row in rows], dtype=object)
    return batch


def read_batch(
    batch: dict[str, np.ndarray],
    *,
    limits: ReadLimits = ReadLimits(),
    skip_ids: frozenset[str] = frozenset(),
    skip_errors: frozenset[tuple[str, str]] = frozenset(),
) -> dict[str, np.ndarray]:
    """Stage 1 (CPU): ``{"path", "root"}`` (or the exact names as ``path_bytes``, ``root_bytes``)
    → rows ready for prediction (or error/skip rows)."""
    from ..models.features import input_feature_names

    paths = [os.fsdecode(bytes(p)) for p in batch["path_bytes"]] if "path_bytes" in batch else [str(p) for p in batch["path"]]
    roots = [os.fsdecode(bytes(r)) for r in batch["root_bytes"]] if "root_bytes" in batch else [str(r) for r in batch["root"]]
    rows = [read_one(p, r, limits=limits, skip_ids=skip_ids, skip_errors=skip_errors) for p, r in zip(paths, roots)]
    return rows_to_batch(rows, n_tabular=len(input_feature_names()))


class PredictBatch:
    """Stage 2 (GPU or CPU actor): load the bundle once, then predict batches of read rows.

    Args:
        model: bundle directory, or an already loaded :class:`~screener.models.predictor.Predictor`
            (then ``precision``, ``batch_size``, ``want_gpu`` and ``threads`` are its own).
        precision: precision policy (``auto``: bf16 on CUDA, fp32 on CPU).
        batch_size: densities per network call.
        want_gpu: this replica was given a GPU (Ray sets CUDA_VISIBLE_DEVICES; use ``cuda:0``).
        threads: torch CPU threads (CPU replicas).
        registry: folder where the replica records itself (pid, host, GPU ids, device) on start.
    """

    def __init__(
        self,
        model: str | Path | Predictor,
        *,
        precision: Precision = "auto",
        batch_size: int = 8,
        want_gpu: bool = False,
        threads: int | None = None,
        registry: str | Path | None = None,
    ) -> None:
        import torch

        from ..models.latent_features import embedding_size
        from ..models.predictor import Predictor

        if isinstance(model, Predictor):
            self.predictor = model
            device = str(model.device)
        else:
            if threads:
                torch.set_num_threads(threads)
            device = "cpu"
            if want_gpu:
                if torch.cuda.is_available():
                    device = "cuda:0"
                else:
                    log.warning("replica %d was given a GPU but CUDA is not available; running on the CPU in fp32", os.getpid())
            self.predictor = Predictor.from_path(model, device=device, precision=precision, batch_size=batch_size)
        self.model_id = self.predictor.model_id
        autoencoder = self.predictor.bundle.autoencoder.config
        self.latent_size = autoencoder.latent_channels * autoencoder.latent_grid**3
        self.embedding_size = embedding_size(
            autoencoder.latent_channels, standardized=self.predictor.bundle.embedding_stats is not None
        )
        self.scalar_columns = prediction_columns(self.predictor.bundle.target_names)
        self.worker = f"{os.getpid()}|{_gpu_ids()}|{device}"
        if registry is not None:
            import json
            import socket

            folder = Path(registry)
            folder.mkdir(parents=True, exist_ok=True)
            entry = {"pid": os.getpid(), "host": socket.gethostname(), "gpu_ids": _gpu_ids(), "device": device}
            (folder / f"{socket.gethostname()}-{os.getpid()}.json").write_text(json.dumps(entry))

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        start = time.perf_counter()
        n = len(batch["path"])
        ok = np.flatnonzero(batch["status"] == "ok")
        results, errors = self._predict(batch, ok)
        out = {k: v for k, v in batch.items() if k not in ("rho", "tabular", "lattice", "canonical")}
        out["worker"] = np.array([self.worker] * n, dtype=object)
        out["model_id"] = np.array([self.model_id] * n, dtype=object)
        # Fixed-size columns for every row (zeros/NaN where a row has no prediction), so that every
        # batch has the same schema whatever mix of good and bad files it holds.
        for column, size in (("latent", self.latent_size), ("embedding", self.embedding_size)):
            values = np.zeros((n, size), dtype=np.float32)
            for i, result in results.items():
                values[i] = result[column].reshape(-1)
            out[column] = values
        for column in self.scalar_columns:
            out[column] = np.array([results[i][column] if i in results else np.nan for i in range(n)], dtype=np.float64)
        for i, (error_type, message) in errors.items():
            out["status"][i], out["stage"][i], out["error_type"][i], out["message"][i] = "error", "predict", error_type, message
        out["seconds"] = np.full(n, (time.perf_counter() - start) / max(n, 1))
        return out

    def _predict(self, batch: dict[str, np.ndarray], rows: np.ndarray) -> tuple[dict[int, dict], dict[int, tuple[str, str]]]:
        """Predict the ok rows; a failing batch is retried row by row so one bad density stays one error.

        Returns:
            ({row: outputs}, {row: (error type, message)}).
        """
        if len(rows) == 0:
            return {}, {}
        try:
            return self._predict_rows(batch, rows), {}
        except Exception:  # noqa: BLE001 - isolate the row that fails
            pass
        results: dict[int, dict] = {}
        errors: dict[int, tuple[str, str]] = {}
        for row in rows:
            try:
                results.update(self._predict_rows(batch, np.array([row])))
            except Exception as exc:  # noqa: BLE001 - reported as an errors-table row
                errors[int(row)] = (type(exc).__name__, str(exc) or repr(exc))
        return results, errors

    def _predict_rows(self, batch: dict[str, np.ndarray], rows: np.ndarray) -> dict[int, dict]:
        densities = [
            np.frombuffer(batch["rho"][i], dtype=np.float32).reshape(tuple(batch["grid"][i]), order="F") for i in rows
        ]
        lattices = [batch["lattice"][i].reshape(3, 3) for i in rows]
        canonical = batch["canonical"][rows] if "canonical" in batch else None
        result = self.predictor.predict({"rho": densities, "tabular": batch["tabular"][rows], "lattice": lattices, "canonical": canonical})
        return {int(row): {key: value[k] for key, value in result.items()} for k, row in enumerate(rows)}


def prediction_columns(targets: Iterable[str]) -> list[str]:
    """The per-row float outputs of the predictor for these targets."""
    columns = ["recon_error", "ood_score"]
    for target in targets:
        columns += [target, f"{target}_lgbm", f"{target}_attcnn", f"{target}_std"]
    return columns + ["pugh_ratio", "poisson_ratio", "vickers_hardness"]


def _gpu_ids() -> str:
    """GPUs assigned to this process (Ray sets CUDA_VISIBLE_DEVICES for each GPU task or actor)."""
    return os.environ.get("CUDA_VISIBLE_DEVICES", "")
