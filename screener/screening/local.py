"""The in-process engine: the same stages as the Ray engine, in this process, without starting Ray.

For small inputs a Ray run is mostly fixed cost (starting the instance and the actors, shutting
down); this engine pays none of it. A reader thread runs :func:`~screener.screening.stages.read_one`
file by file (I/O, hashing and parsing release the GIL for much of their time) while this thread
predicts batches of ``RunConfig.batch_size`` densities with :class:`~screener.screening.stages.PredictBatch`
on the other cores (torch is given ``cpus - 1`` threads for the run, like the Ray engine's one
reader and one single-threaded replica on 2 cores; on a busy 2-core machine two torch threads ran
3× slower than one, as each waits for the other at every operation).
Rows go to the same router and writer as the Ray engine's (:mod:`screener.screening.pipeline`), so the
outputs, the accounting and resuming are the same. No Ray here.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ..config import RunConfig
from ..io.discovery import InputFile
from .outputs import ResumeState
from .stages import PredictBatch, read_one, rows_to_batch

_DONE = object()


def run_local(
    files: Sequence[InputFile],
    model_path: Path,
    config: RunConfig,
    *,
    state: ResumeState,
    consume: Callable[[dict[str, np.ndarray]], None],
    advance: Callable[[int], None] = lambda n: None,
    on_model_loaded: Callable[[], None] = lambda: None,
    registry: Path | None = None,
) -> None:
    """Read and predict ``files`` in this process, handing every row batch to ``consume``.

    Args:
        files: the inputs to read (every one yields exactly one row).
        model_path: bundle directory; loaded once, only if some file needs a prediction.
        config: batch size, precision, read limits and ``retry_errors`` are used.
        state: what earlier runs finished (those files are hashed, not parsed).
        consume: receives column batches (error and skip rows at once, predictions per batch).
        advance: called with 1 after each file is read (progress).
        on_model_loaded: called once the bundle is loaded.
        registry: folder where the model replica records itself (as Ray's replicas do).
    """
    from ..models.features import input_feature_names

    n_tabular = len(input_feature_names())
    skip_ids = frozenset(state.predicted)
    skip_errors = frozenset() if config.retry_errors else state.error_pairs
    rows: queue.Queue = queue.Queue(maxsize=4 * config.batch_size)
    stop = threading.Event()

    def reader() -> None:
        try:
            for item in files:
                if stop.is_set():
                    return
                rows.put(read_one(item.path, item.root, limits=config.read_limits, skip_ids=skip_ids, skip_errors=skip_errors))
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread, which raises it
            rows.put(exc)
        finally:
            rows.put(_DONE)

    thread = threading.Thread(target=reader, name="screener-reader", daemon=True)
    thread.start()
    predictor: PredictBatch | None = None
    pending: list[dict] = []
    threads_before: int | None = None

    def flush() -> None:
        nonlocal predictor, pending, threads_before
        if not pending:
            return
        if predictor is None:
            import torch

            threads_before = torch.get_num_threads()
            torch.set_num_threads(max(1, (config.cpus or os.cpu_count() or 2) - 1))
            predictor = PredictBatch(model_path, precision=config.precision, batch_size=config.batch_size, registry=registry)
            on_model_loaded()
        batch, pending = rows_to_batch(pending, n_tabular=n_tabular), []
        consume(predictor(batch))

    try:
        while True:
            row = rows.get()
            if row is _DONE:
                break
            if isinstance(row, BaseException):
                raise row
            advance(1)
            if row["status"] != "ok":
                consume(rows_to_batch([row], n_tabular=n_tabular))
                continue
            pending.append(row)
            if len(pending) >= config.batch_size:
                flush()
        flush()
    finally:
        stop.set()
        while thread.is_alive():  # unblock a reader waiting on a full queue, then let it finish
            try:
                rows.get(timeout=0.1)
            except queue.Empty:
                pass
        thread.join()
        if threads_before is not None:  # leave the caller's torch as it was
            import torch

            torch.set_num_threads(threads_before)
