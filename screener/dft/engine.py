"""Run many SCFs: one Ray task per structure and CPU (or in this process), resumable, every structure accounted for.

The DFT engine is, with the screening engine, one of the two places that know Ray. Each structure is
one task of one CPU (GPAW single-threaded); the driver keeps at most one task per CPU in flight,
records each finished structure as a density-table row (its density, or its error), writes rows as
numbered Parquet parts (atomically, every ``rows_per_part`` rows or ``flush_seconds``), and on a
rerun skips the ids already recorded. A task running longer than ``timeout_s`` stops itself; one
that does not stop within ``hard_timeout_grace_s`` more is killed, and a crashed worker (out of
memory, a segfault in GPAW's C code) becomes an error row too.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..config import DftConfig, DftRunConfig
from ..io import density_table
from .inputs import StructureInput
from .policy import estimated_cost
from .rows import compute_row, error_row

log = logging.getLogger(__name__)

TABLE_FOLDER = "densities"
CHGCAR_FOLDER = "chgcar"


@dataclass
class DftSummary:
    """What a ``screener dft`` run did.

    Attributes:
        inputs: structures given (after exclusions).
        skipped: already recorded in the output (resume).
        computed: densities computed in this run.
        failed: structures that failed in this run, by error kind.
        seconds: wall time of the run, s.
        output: the output folder.
        parts: part files written by this run.
        first_errors: (id, message) of the first few failures.
    """

    inputs: int = 0
    skipped: int = 0
    computed: int = 0
    failed: Counter = field(default_factory=Counter)
    seconds: float = 0.0
    output: Path | None = None
    parts: list[Path] = field(default_factory=list)
    first_errors: list[tuple[str, str]] = field(default_factory=list)

    @property
    def n_failed(self) -> int:
        return sum(self.failed.values())


class _Recorder:
    """Buffers rows, writes parts, keeps the summary and the optional CHGCARs."""

    def __init__(self, output: Path, run: DftRunConfig, summary: DftSummary) -> None:
        self.table = output / TABLE_FOLDER
        self.chgcar = output / CHGCAR_FOLDER if run.write_chgcar else None
        self.run = run
        self.summary = summary
        self.rows: list[dict[str, Any]] = []
        self.last_flush = time.monotonic()

    def add(self, row: dict[str, Any]) -> None:
        if row["error"] is None:
            self.summary.computed += 1
            if self.chgcar is not None:
                self._write_chgcar(row)
        else:
            self.summary.failed[row["error_kind"]] += 1
            if len(self.summary.first_errors) < 10:
                self.summary.first_errors.append((row["id"], row["error"]))
            log.info("%s: %s", row["id"], row["error"])
        self.rows.append(row)
        due = time.monotonic() - self.last_flush >= self.run.flush_seconds
        if len(self.rows) >= self.run.rows_per_part or due:
            self.flush()

    def _write_chgcar(self, row: dict[str, Any]) -> None:
        import json

        from pymatgen.core import Structure

        from ..io.chgcar_writer import write_chgcar

        structure = Structure.from_dict(json.loads(row["structure"]))
        rho = density_table.row_density(row, volume=structure.lattice.volume)
        name = "".join(c if c.isalnum() or c in "-_." else "_" for c in row["id"])
        write_chgcar(self.chgcar / f"{name}.CHGCAR.gz", structure, rho, comment=f"{row['formula']} {row['id']} GPAW PBE valence (screener dft)")

    def flush(self) -> None:
        if self.rows:
            self.summary.parts.append(density_table.write_part(self.table, self.rows))
            self.rows = []
        self.last_flush = time.monotonic()


Order = Literal["cheapest", "smallest", "input"]


def order_inputs(items: list[StructureInput], *, order: Order, config: DftConfig) -> list[StructureInput]:
    """Inputs in the order they are computed (unparseable ones first: they cost nothing).

    ``cheapest``: by :func:`~screener.dft.policy.estimated_cost` (most densities per hour);
    ``smallest``: by atoms in the given cell; ``input``: as given. Ties keep the id order.
    """
    if order == "input":
        return list(items)
    if order == "smallest":
        return sorted(items, key=lambda it: (len(it.structure) if it.structure is not None else -1, it.id))
    return sorted(items, key=lambda it: (estimated_cost(it.structure, config=config) if it.structure is not None else -1.0, it.id))


def run_dft(
    inputs: Iterable[StructureInput],
    output: str | Path,
    *,
    config: DftConfig | None = None,
    run: DftRunConfig | None = None,
    order: Order = "cheapest",
    progress: Any | None = None,
) -> DftSummary:
    """Compute the densities of ``inputs`` into ``output/densities/part-*.parquet`` (and ``output/chgcar/``).

    Args:
        inputs: structures (with labels) to compute; ids must be unique.
        output: output folder (created); an existing one is resumed.
        config: SCF settings (default :class:`DftConfig`).
        run: engine, CPUs, resume and part settings (default :class:`DftRunConfig`).
        order: ``cheapest`` first (by estimated SCF cost), ``smallest`` (fewest atoms) first, or ``input`` order.
        progress: a tqdm-like bar: its ``total`` is set to the structures to compute, ``update(1)`` per finished one.

    Returns:
        The run summary. Every input is recorded exactly once (already there, computed or failed).
    """
    config = config or DftConfig()
    run = run or DftRunConfig()
    start = time.perf_counter()
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    summary = DftSummary(output=output)
    items = list(inputs)
    summary.inputs = len(items)
    recorded = density_table.recorded(output / TABLE_FOLDER) if run.resume else {}
    todo = [it for it in items if it.id not in recorded or (run.retry_errors and recorded[it.id] is not None)]
    summary.skipped = len(items) - len(todo)
    todo = order_inputs(todo, order=order, config=config)
    if run.limit is not None:
        todo = todo[: run.limit]
    if progress is not None:
        progress.total = len(todo)
        progress.refresh()
    recorder = _Recorder(output, run, summary)
    try:
        rows = _run_local(todo, config) if run.engine == "local" else _run_ray(todo, config, run)
        for row in rows:
            recorder.add(row)
            if progress is not None:
                progress.update(1)
    finally:
        recorder.flush()
        summary.seconds = time.perf_counter() - start
    return summary


def _run_local(items: list[StructureInput], config: DftConfig) -> Iterator[dict[str, Any]]:
    for item in items:
        yield compute_row(item, config=config)


def _run_ray(items: list[StructureInput], config: DftConfig, run: DftRunConfig) -> Iterator[dict[str, Any]]:
    from ..screening.ray_runtime import ray_session

    with ray_session(address=run.address, cpus=run.cpus):
        import ray
        from ray.exceptions import GetTimeoutError, RayError

        task = ray.remote(num_cpus=1, max_retries=0)(compute_row)
        slots = max(1, int(ray.cluster_resources().get("CPU", 1)))
        hard_limit = config.timeout_s + run.hard_timeout_grace_s
        queue = iter(items)
        pending: dict[Any, tuple[StructureInput, float]] = {}
        exhausted = False
        while pending or not exhausted:
            while not exhausted and len(pending) < slots:
                item = next(queue, None)
                if item is None:
                    exhausted = True
                    break
                if item.structure is None:  # nothing to compute: record at once
                    yield compute_row(item, config=config)
                    continue
                pending[task.remote(item, config=config)] = (item, time.monotonic())
            if not pending:
                continue
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=2.0)
            for ref in ready:
                item, started = pending.pop(ref)
                try:
                    yield ray.get(ref)
                except (RayError, GetTimeoutError) as exc:
                    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                    yield error_row(item, kind="worker", message=f"worker failed: {type(exc).__name__}: {message}", seconds=time.monotonic() - started, config=config)
            now = time.monotonic()
            for ref, (item, started) in list(pending.items()):
                if now - started > hard_limit:
                    ray.cancel(ref, force=True)
                    del pending[ref]
                    yield error_row(item, kind="timeout", message=f"timeout: still running {now - started:.0f} s after start (limit {config.timeout_s:g} s); the worker was killed", seconds=now - started, config=config)


def computed_count(output: str | Path) -> dict[str, int]:
    """Counts of a table folder's final rows: computed densities and failures."""
    status = density_table.recorded(Path(output) / TABLE_FOLDER)
    done = sum(1 for e in status.values() if e is None)
    return {"computed": done, "failed": len(status) - done}


