"""``screener run``: discover, choose an engine, stream densities into Parquet; the Ray engine.

:func:`run_screen` discovers the inputs, sets aside those an earlier run into the same output
finished (by file hash), and runs the rest in this process (:mod:`screener.screening.local`, for
small inputs) or on Ray (large inputs, ``--address``, ``--gpus``). The Ray engine lives here (with
:mod:`screener.screening.ray_runtime`, the only Ray-aware code of the package besides the DFT
engine). Its dataset holds file paths, not contents. Stage 1
(:class:`ReadActor`, CPU actors) reads, checks and featurizes each file; stage 2
(:class:`~screener.screening.stages.PredictBatch`, one replica per GPU, or CPU replicas with ``--gpus 0``) loads the bundle
once and regrids, encodes and predicts on its device. The driver consumes the stream, removes
duplicates (same bytes under two paths), writes part files atomically and keeps exact accounting:
every discovered input ends up once in predictions or in errors.
"""

from __future__ import annotations

import datetime as _dt
import errno
import logging
import math
import os
import shutil
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from .. import __version__
from ..config import RunConfig
from ..errors import ConfigError, Interrupted, ScreenerError
from ..io.discovery import discover
from ..io.paths import display_path, from_columns
from .interrupts import SignalStop, StopOnSignals
from .outputs import (
    ResultWriter,
    ResumeState,
    check_output_folder,
    drop_error_rows,
    exclusive_output,
    load_resume_state,
    prediction_row,
    remove_stale_registries,
    update_manifest,
)
from .ray_runtime import check_local_gpus, ray_session, stderr_to_file
from .stages import PredictBatch, read_batch, rows_to_batch, triage

log = logging.getLogger(__name__)

#: file in the output folder that receives Ray's own warnings and log lines.
RAY_LOG = "ray.log"
#: errors whose file and reason the run summary keeps (the rest are in the errors table).
ERROR_SAMPLES = 5


@dataclass
class RunSummary:
    """What one ``screener run`` did. ``discovered == predicted + failed + duplicates + skipped``."""

    run_id: str
    output: Path
    discovered: int = 0
    predicted: int = 0
    failed: int = 0
    duplicates: int = 0
    skipped: int = 0  # already in the output from an earlier run (predicted, or failed with the same bytes)
    seconds: float = 0.0
    errors_by_stage: dict[str, int] = field(default_factory=dict)
    workers: dict[str, int] = field(default_factory=dict)  # "pid|gpu ids|device" → rows predicted
    replicas: list[dict] = field(default_factory=list)  # one entry per predict replica started
    model_id: str = ""
    engine: str = ""  # "local" (in this process) or "ray"
    not_densities: list[str] = field(default_factory=list)  # inputs skipped as not densities (LOCPOT, ELFCAR, table rows without one)
    error_samples: list[tuple[str, str, str]] = field(default_factory=list)  # (path, stage, message) of the first few errors

    @property
    def files_per_second(self) -> float:
        processed = self.predicted + self.failed + self.duplicates
        return processed / self.seconds if self.seconds > 0 else 0.0


class ReadActor:
    """Ray actor wrapper of :func:`screener.screening.stages.read_batch` holding what to skip (sent once per actor)."""

    def __init__(self, limits, skip_ids: Sequence[str], skip_errors: Sequence[tuple[str, str]]) -> None:
        # Reading needs no torch (regridding happens in the model replicas): not importing it saves
        # each read actor ~1.7 s of start-up; Ray's OMP_NUM_THREADS=1 keeps numpy to its one CPU.
        self.limits = limits
        self.skip_ids = frozenset(skip_ids)
        self.skip_errors = frozenset(tuple(pair) for pair in skip_errors)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return read_batch(batch, limits=self.limits, skip_ids=self.skip_ids, skip_errors=self.skip_errors)


def check_resources(gpus: int) -> dict:
    """Fail at once when the cluster cannot hold the requested replicas (instead of hanging)."""
    import ray

    resources = ray.cluster_resources()
    available = int(resources.get("GPU", 0))
    if gpus > available:
        raise ConfigError(
            f"--gpus {gpus} asks for {gpus} GPU replicas but the Ray cluster has {available} GPU(s); "
            "use --gpus 0 for CPU replicas, or join a cluster with GPUs (--address)"
        )
    cpus = int(resources.get("CPU", 0))
    if cpus < max(gpus, 1) + 1:
        raise ConfigError(
            f"the Ray cluster has {cpus} CPU(s); screening needs one per model replica ({max(gpus, 1)}) "
            "plus at least one for reading"
        )
    return resources


def _replica_counts(config: RunConfig, resources: dict) -> tuple[int, int]:
    """(read actors, predict replicas) for the CPUs available (capped by ``--cpus``) and the GPUs asked for."""
    cpus = int(resources.get("CPU", 1))
    if config.cpus:
        cpus = min(cpus, config.cpus)
    predict = config.gpus if config.gpus > 0 else max(1, cpus // 2)
    return max(1, cpus - predict), predict


def default_model_path() -> Path:
    """The demo bundle shipped inside the package."""
    from importlib.resources import files

    return Path(str(files("screener") / "data" / "demo_bundle"))


def choose_engine(config: RunConfig, pending: int) -> str:
    """``local`` or ``ray`` for a run with ``pending`` files left to read (see ``RunConfig.engine``).

    Raises:
        ConfigError: ``engine="local"`` with ``address`` or ``gpus > 0`` (those always mean Ray).
    """
    needs_ray = config.address is not None or config.gpus > 0
    if config.engine == "local" and needs_ray:
        raise ConfigError("--engine local runs in this process: it cannot join a cluster (--address) or use --gpus; use --engine ray")
    if config.engine != "auto":
        return config.engine
    if needs_ray:
        return "ray"
    return "local" if pending <= config.local_max_files else "ray"


def run_screen(
    inputs: Sequence[str | Path],
    output: str | Path,
    *,
    model: str | Path | None = None,
    config: RunConfig = RunConfig(),
    progress: bool = True,
) -> RunSummary:
    """Screen ``inputs`` (folders, files, or path lists) into ``output`` (see the module docstring).

    Chooses the engine (:func:`choose_engine`): in this process (:mod:`screener.screening.local`)
    for small inputs, Ray for large ones or a cluster. With ``progress``, each step and a progress
    bar are written to standard error; Ray's own log lines go to ``output/ray.log``.
    """
    from ..models.bundle import verify_bundle

    start = time.perf_counter()
    say = _Steps(progress)
    model_path = (Path(model) if model else default_model_path()).absolute()  # Ray workers run elsewhere
    manifest = verify_bundle(model_path)  # fail fast, before starting anything
    output = Path(output)
    run_id = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
    summary = RunSummary(run_id=run_id, output=output, model_id=manifest["model_id"])
    skipped_volumetric: list[str] = []
    files = discover(inputs, skipped=skipped_volumetric)
    if not files:
        raise ConfigError(f"no density files found under {', '.join(display_path(str(i)) for i in inputs)}")
    if config.limit is not None:
        files = files[: config.limit]
    summary.discovered = len(files)
    summary.not_densities = skipped_volumetric
    check_output_folder(output)  # one clear line before anything starts
    choose_engine(config, len(files))  # contradictory options (--engine local with --gpus) first
    check_local_gpus(address=config.address, gpus=config.gpus)
    say(f"found {len(files)} density files" + (f" and {len(skipped_volumetric)} other inputs, skipped: not densities" if skipped_volumetric else ""))

    with exclusive_output(output), StopOnSignals() as signals:
        remove_stale_registries(output)
        state = _resume_state(output, config, model_id=manifest["model_id"])
        writer = ResultWriter(output, run_id, rows_per_part=config.rows_per_part)
        router = _Router(writer, summary, state)
        todo = files
        if state.predicted or state.errors:
            done, left = triage([(f.path, f.root) for f in files], skip_ids=frozenset(state.predicted),
                                skip_errors=frozenset() if config.retry_errors else state.error_pairs)  # fmt: skip
            router.consume(rows_to_batch(done, n_tabular=0))
            todo = [files[i] for i in left]
            say(f"{len(files) - len(todo)} already in {display_path(str(output))} (resume), {len(todo)} left")
        summary.engine = engine = choose_engine(config, len(todo))
        registry = output.absolute() / f".replicas-{run_id}"
        readers = replicas = 0
        status = "complete"
        try:
            if not todo:
                pass  # nothing left to read: no model is loaded, no engine started
            elif engine == "local":
                readers = replicas = 1
                say(f"screening {len(todo)} files in this process (engine local; Ray is used above {config.local_max_files} files)")
                _run_in_process(todo, model_path, config, state=state, router=router, progress=progress, registry=registry)
            else:
                with stderr_to_file(output / RAY_LOG) as terminal:
                    say.stream = terminal
                    say(f"starting Ray ({'joining ' + config.address if config.address else 'local instance'}); its log: {output / RAY_LOG}")
                    try:
                        with ray_session(address=config.address, cpus=config.cpus, gpus=config.gpus):
                            signals.rearm()  # ray.init installs its own SIGTERM handler
                            resources = check_resources(config.gpus)
                            readers, replicas = _replica_counts(config, resources)
                            say(f"loading the model in {replicas} replica(s), {readers} read actor(s); then screening {len(todo)} files")
                            _stream(todo, model_path, config, readers=readers, replicas=replicas, state=state,
                                    router=router, progress=progress, registry=registry, bar_file=terminal)  # fmt: skip
                    finally:
                        say.stream = None
            writer.flush()
            summary.replicas = read_replica_registry(registry)
        except SignalStop as stop:  # stop feeding, keep what finished, say how to continue
            status = "interrupted"
            _save_after_interrupt(writer, output)
            interrupted = Interrupted(stop.signum, writer.counts["predicted"] + writer.counts["errors"])
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise ConfigError(
                    f"disk full writing to {output}: {writer.counts['predicted'] + writer.counts['errors']} inputs of this run "
                    "were saved; free some space and rerun with --resume to continue"
                ) from None
            raise
        finally:
            shutil.rmtree(registry, ignore_errors=True)
        if status == "complete":
            superseded = router.superseded
            if superseded:
                removed = drop_error_rows(output, superseded, keep_run=run_id)
                log.info("removed %d error rows of earlier runs for inputs this run handled again", removed)
        summary.seconds = time.perf_counter() - start
        summary.predicted = writer.counts["predicted"]
        record = _run_record(summary, inputs, model_path, config, readers, replicas, len(skipped_volumetric))
        update_manifest(output, {**record, "status": status})
    if status == "interrupted":
        raise interrupted
    return summary


class _Steps:
    """One line per step on standard error (or ``stream``), when progress is on."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.stream = None

    def __call__(self, message: str) -> None:
        if self.enabled:
            print(message, file=self.stream or sys.stderr, flush=True)


def _run_in_process(files, model_path: Path, config: RunConfig, *, state: ResumeState, router, progress: bool, registry: Path) -> None:
    """The local engine with a progress bar (a SIGINT/SIGTERM raises ``SignalStop`` here, as in the Ray engine)."""
    from tqdm.auto import tqdm

    from .local import run_local

    bar = tqdm(total=len(files), desc="screening", unit="file", disable=not progress, smoothing=0.1)
    try:
        run_local(files, model_path, config, state=state, consume=router.consume, advance=bar.update,
                  on_model_loaded=lambda: bar.set_postfix_str("model loaded", refresh=True), registry=registry)  # fmt: skip
    finally:
        bar.close()


def _save_after_interrupt(writer: ResultWriter, output: Path) -> None:
    """Write the finished rows still buffered (a full disk here is reported, not raised over the interrupt)."""
    try:
        writer.flush()
    except OSError as exc:
        log.error("could not save the last finished rows to %s: %s", output, exc.strerror or exc)


def _resume_state(output: Path, config: RunConfig, *, model_id: str) -> ResumeState:
    """What earlier runs left in ``output`` (empty for a fresh folder); refuses mixing models."""
    has_results = any((output / d).exists() for d in ("predictions", "errors"))
    if has_results and not config.resume:
        raise ConfigError(f"{output} already holds results; rerun with --resume to continue it, or choose another --output")
    state = load_resume_state(output) if has_results else ResumeState()
    if state.model_id and state.model_id != model_id:
        raise ConfigError(
            f"{output} holds predictions of model {state.model_id}, not {model_id}; "
            "resume with the same --model or write to another --output"
        )
    return state


def _run_record(summary: RunSummary, inputs, model_path: Path, config: RunConfig, readers: int, replicas: int, non_density: int) -> dict:
    return {
        "run_id": summary.run_id,
        "started": _dt.datetime.fromtimestamp(time.time() - summary.seconds, _dt.timezone.utc).isoformat(timespec="seconds"),
        "seconds": round(summary.seconds, 3),
        "inputs": [str(i) for i in inputs],
        "engine": summary.engine,
        "model": str(model_path),
        "model_id": summary.model_id,
        "counts": {
            "discovered": summary.discovered,
            "predicted": summary.predicted,
            "failed": summary.failed,
            "duplicates": summary.duplicates,
            "skipped_already_done": summary.skipped,
            "non_density_files_skipped": non_density,
        },
        "errors_by_stage": summary.errors_by_stage,
        "throughput_files_per_second": round(summary.files_per_second, 3),
        "replicas": {"read": readers, "predict": replicas, "gpus": config.gpus, "started": summary.replicas, "rows_per_worker": summary.workers},
        "config": {k: v for k, v in config.__dict__.items() if k != "read_limits"},
        "versions": _versions(),
    }


def _stream(files, model_path, config: RunConfig, *, readers, replicas, state: ResumeState, router, progress, registry, bar_file=None) -> None:
    import ray
    from ray.data import ActorPoolStrategy, DataContext
    from ray.data._internal.execution.interfaces import ExecutionResources
    from tqdm.auto import tqdm

    logging.getLogger("ray.data").setLevel(logging.WARNING)
    context = DataContext.get_current()
    context.enable_progress_bars = False
    context.enable_auto_log_stats = False
    context.execution_options.preserve_order = False
    # Start every replica (bundle loaded) before streaming: otherwise a short run can finish on the
    # first replica that is ready while the others are still loading, and they never take part.
    context.wait_for_min_actors_s = config.replica_start_timeout_s
    # Bound what is in flight: Ray Data applies back-pressure when this object-store budget is used.
    context.execution_options.resource_limits = ExecutionResources.for_limits(object_store_memory=config.in_flight_bytes)
    # Exact names travel as bytes (any name a file system allows); ``path`` is a readable UTF-8 form.
    items = [{"path": display_path(f.path), "path_bytes": os.fsencode(f.path), "root_bytes": os.fsencode(f.root)} for f in files]
    # Enough blocks that every replica gets work even for small inputs, at most one per file.
    blocks = min(len(items), max(math.ceil(len(items) / config.read_batch_size), 2 * replicas))
    dataset = ray.data.from_items(items, override_num_blocks=max(1, blocks))
    skip_errors = [] if config.retry_errors else list(state.error_pairs)  # --retry-errors reads them all again
    dataset = dataset.map_batches(
        ReadActor,
        fn_constructor_kwargs={"limits": config.read_limits, "skip_ids": list(state.predicted), "skip_errors": skip_errors},
        batch_size=config.read_batch_size,
        batch_format="numpy",
        compute=ActorPoolStrategy(min_size=1, max_size=readers),
        num_cpus=1,
    )
    dataset = dataset.map_batches(
        PredictBatch,
        fn_constructor_args=(str(model_path),),
        fn_constructor_kwargs={
            "precision": config.precision,
            "batch_size": config.batch_size,
            "want_gpu": config.gpus > 0,
            "threads": 1 if config.gpus == 0 else None,
            "registry": str(registry),
        },
        batch_size=config.batch_size,
        batch_format="numpy",
        compute=ActorPoolStrategy(size=replicas),
        num_gpus=1 if config.gpus > 0 else 0,
        num_cpus=1,
    )
    bar = tqdm(total=len(items), desc="screening", unit="file", disable=not progress, smoothing=0.1, file=bar_file)
    try:
        for batch in dataset.iter_batches(batch_size=None, batch_format="numpy", prefetch_batches=1):
            router.consume(batch)
            bar.update(len(batch["path"]))
    except Exception as exc:  # noqa: BLE001 - a replica that refused its bundle: one line naming the file
        refusal = _screener_error_in(exc)
        if refusal is not None:
            raise refusal from None
        if not isinstance(exc, ray.exceptions.GetTimeoutError):
            raise
        raise ConfigError(
            f"the {replicas} model replica(s) did not all start within {config.replica_start_timeout_s} s "
            "(RunConfig.replica_start_timeout_s); the cluster may lack the CPUs, GPUs or memory they need"
        ) from None
    finally:
        bar.close()


def _screener_error_in(exc: BaseException) -> ScreenerError | None:
    """The project error (a replica's ``BundleError``, say) inside Ray's wrapping exceptions, if any."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ScreenerError):
            return type(current)(*current.args) if not isinstance(current, Interrupted) else None
        todo += [getattr(current, "cause", None), current.__cause__, current.__context__]
    return None


def read_replica_registry(folder: Path) -> list[dict]:
    """The entries predict replicas wrote when they started (pid, node, GPU ids, device); folder removed."""
    import json
    import shutil

    entries = [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))] if folder.is_dir() else []
    shutil.rmtree(folder, ignore_errors=True)
    return entries


class _Router:
    """Sends each row of the stream to predictions, errors, or nowhere, keeping exact accounting.

    * same bytes as an input already predicted (this run or earlier) → a ``duplicate`` error row;
    * a row Ray re-delivers after a retry (same path, already handled) → ignored;
    * an input that an earlier run recorded as failed and this run handled again → its old error
      rows are dropped at the end (``superseded``), so it stays in exactly one table.
    """

    def __init__(self, writer: ResultWriter, summary: RunSummary, state: ResumeState) -> None:
        self.writer = writer
        self.summary = summary
        self.state = state
        self.seen: dict[str, str] = dict(state.predicted)  # id → the path predicted for it
        self.handled: set[str] = set()  # paths written by this run

    @property
    def superseded(self) -> set[str]:
        """Paths with error rows from earlier runs that this run wrote a new row for."""
        return self.handled & self.state.errors.keys()

    def consume(self, batch: dict[str, np.ndarray]) -> None:
        for i in range(len(batch["path"])):
            self._route(batch, i)

    def _route(self, batch: dict[str, np.ndarray], i: int) -> None:
        status, file_id = str(batch["status"][i]), str(batch["id"][i] or "")
        path = from_columns(str(batch["path"][i]), batch["path_bytes"][i] if "path_bytes" in batch else None)
        if path in self.handled:
            return  # re-delivered by a retried task
        worker = str(batch["worker"][i]) if "worker" in batch else ""
        if worker:
            self.summary.workers[worker] = self.summary.workers.get(worker, 0) + 1
        if status == "skipped":
            first = self.state.predicted.get(file_id)
            if batch["stage"][i] == "done" and first is not None and first != path:
                self._error(path, file_id, "duplicate", "Duplicate", f"same bytes as {first} (predicted by an earlier run)")
            else:
                self.summary.skipped += 1
            return
        if status == "error":
            self._error(path, file_id, str(batch["stage"][i]), str(batch["error_type"][i]), str(batch["message"][i]))
            return
        if file_id in self.seen:
            self._error(path, file_id, "duplicate", "Duplicate", f"same bytes as {self.seen[file_id]}; predicted once")
            return
        self.seen[file_id] = path
        self.handled.add(path)
        self.writer.add_prediction(prediction_row(batch, i), batch["latent"][i], batch["embedding"][i])

    def _error(self, path: str, file_id: str, stage: str, error_type: str, message: str) -> None:
        self.handled.add(path)
        self.writer.add_error(path=path, file_id=file_id or None, stage=stage, error_type=error_type, message=message)
        if stage == "duplicate":
            self.summary.duplicates += 1
        else:
            self.summary.failed += 1
            if len(self.summary.error_samples) < ERROR_SAMPLES:
                self.summary.error_samples.append((path, stage, f"{error_type}: {message}" if error_type != "InputError" else message))
        self.summary.errors_by_stage[stage] = self.summary.errors_by_stage.get(stage, 0) + 1


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"screener": __version__}
    for package in ("ray", "torch", "lightgbm", "pymatgen", "matminer", "pyarrow", "duckdb", "numpy"):
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            out[package] = "not installed"
    return out
