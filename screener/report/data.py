"""What the report shows, gathered from results directories: manifests, predictions, errors, rankings.

Everything is read through the query layer's DuckDB views (so several runs and older schemas
combine as they do for ``screener query``); nothing here draws.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..config import ReportConfig
from ..query.params import QuerySpec, list_queries
from ..query.views import connect, execute_query
from ..screening.schema import MANIFEST_NAME
from ..targets import TARGETS

__all__ = ["Ranking", "ReportData", "RunInfo", "load_report_data", "ranking_queries"]

#: shipped queries that are not rankings of candidates (a summary; a search that needs a reference).
NOT_RANKINGS = frozenset({"run_summary", "similar_to"})
#: the query whose top rows are marked "send to DFT next".
DFT_NEXT_QUERY = "uncertain"

#: per-row columns loaded for the charts (all rows; a few MB even at 100,000 rows).
_SCALARS = (
    ["ood_score", "pugh_ratio", "poisson_ratio", "vickers_hardness"]
    + [t.name for t in TARGETS]
    + [f"{t.name}_std" for t in TARGETS]
)


@dataclass
class RunInfo:
    """One run from a results directory's ``manifest.json`` (see ``screening/pipeline.py``)."""

    results: str
    run_id: str
    started: str
    seconds: float
    inputs: list[str]
    counts: dict[str, int]
    errors_by_stage: dict[str, int]
    throughput: float
    model: str
    model_id: str
    replicas: dict[str, Any]


@dataclass
class Ranking:
    """The top rows of one shipped ranking query, with what it finds and how to get it again."""

    spec: QuerySpec
    columns: list[str]
    rows: list[dict[str, Any]]
    total: int
    command: str


@dataclass
class ReportData:
    """Everything one report shows.

    Attributes:
        results: the results directories, as given.
        runs: every run recorded in their manifests.
        models: model id → the bundle's manifest (``{}`` when the bundle is no longer where the run found it).
        n_rows: prediction rows (a material screened in two runs counts twice).
        n_materials: distinct ids among them.
        columns: per-row arrays for the charts (floats; NaN where a value is missing), plus
            ``id``, ``name``, ``path``, ``formula`` as object arrays.
        errors: (stage, error type, count, one example message, one example path), most frequent first.
        rankings: one per shipped ranking query.
        dft_next: row indices (into ``columns``) of the top rows of the ``uncertain`` query.
    """

    results: list[str]
    runs: list[RunInfo]
    models: dict[str, dict]
    n_rows: int
    n_materials: int
    columns: dict[str, np.ndarray]
    errors: list[tuple[str, str, int, str, str]]
    rankings: list[Ranking] = field(default_factory=list)
    dft_next: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))


def ranking_queries() -> list[QuerySpec]:
    """The shipped queries the report tabulates: every one without required parameters, but the summary."""
    return [spec for spec in list_queries() if spec.name not in NOT_RANKINGS and not any(p.required for p in spec.params)]


def _manifest(directory: Path) -> dict:
    path = directory / MANIFEST_NAME
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _bundle_manifest(model_path: str) -> dict:
    """The manifest of the bundle a run used, read as plain JSON (no verification, nothing loaded)."""
    try:
        return json.loads((Path(model_path) / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _runs(directory: Path, manifest: dict) -> list[RunInfo]:
    runs = []
    for run in manifest.get("runs", []):
        runs.append(
            RunInfo(
                results=str(directory),
                run_id=str(run.get("run_id", "")),
                started=str(run.get("started", "")),
                seconds=float(run.get("seconds") or 0.0),
                inputs=[str(i) for i in run.get("inputs", [])],
                counts={k: int(v) for k, v in (run.get("counts") or {}).items()},
                errors_by_stage={k: int(v) for k, v in (run.get("errors_by_stage") or {}).items()},
                throughput=float(run.get("throughput_files_per_second") or 0.0),
                model=str(run.get("model", "")),
                model_id=str(run.get("model_id", "")),
                replicas=dict(run.get("replicas") or {}),
            )
        )
    return runs


def _command(spec: QuerySpec, results: list[str], top_n: int) -> str:
    dirs = " ".join(f"--results {shlex.quote(d)}" for d in results)
    return f"screener query {spec.name} {dirs} --limit {top_n}"


def load_report_data(results_dirs: list[str | Path], *, config: ReportConfig = ReportConfig()) -> ReportData:
    """Read manifests, predictions, errors and the ranking queries of ``results_dirs``.

    Raises:
        ConfigError: a directory that is missing or not a results directory (from :func:`connect`).
    """
    dirs = [Path(d) for d in results_dirs]
    shown = [str(d) for d in results_dirs]
    runs: list[RunInfo] = []
    for directory in dirs:
        runs += _runs(directory, _manifest(directory))
    models: dict[str, dict] = {}
    for run in runs:
        if run.model_id and not models.get(run.model_id):
            bundle = _bundle_manifest(run.model)
            # the folder may hold another model by now (retrained in place): then say nothing about it
            models[run.model_id] = bundle if bundle.get("model_id") == run.model_id else {}
    with connect(dirs) as con:
        present = {row[0] for row in con.sql("SELECT column_name FROM (DESCRIBE predictions)").fetchall()}
        scalars = [c for c in _SCALARS if c in present]
        select = ", ".join(
            ["id", "name", "path", "formula"] + [f'CAST("{c}" AS DOUBLE) AS "{c}"' for c in scalars]
        )
        table = con.sql(f"SELECT {select} FROM predictions ORDER BY id, run_id").to_arrow_table()
        columns: dict[str, np.ndarray] = {}
        for name in ("id", "name", "path", "formula"):
            columns[name] = np.array(table.column(name).to_pylist(), dtype=object)
        for name in _SCALARS:
            if name in scalars:
                columns[name] = table.column(name).to_numpy(zero_copy_only=False).astype(np.float64)
            else:
                columns[name] = np.full(table.num_rows, np.nan)
        errors = [
            tuple(row)
            for row in con.sql(
                "SELECT coalesce(stage, '?') AS s, coalesce(error_type, '?') AS t, count(*) AS n, min(message), min(path) "
                "FROM errors GROUP BY s, t ORDER BY s = 'duplicate', n DESC, s, t"
            ).fetchall()
        ]
        n_materials = con.execute("SELECT count(DISTINCT id) FROM predictions").fetchall()[0][0]
        rankings = []
        for spec in ranking_queries():
            result = execute_query(con, spec, limit=config.top_n)
            total = con.execute(f"SELECT count(*) FROM ({spec.sql}) AS _all", spec.bind()).fetchall()[0][0]
            rankings.append(
                Ranking(spec, result.column_names, result.to_pylist(), int(total), _command(spec, shown, config.top_n))
            )
        dft_ids = []
        if any(r.spec.name == DFT_NEXT_QUERY for r in rankings):
            dft_ids = execute_query(con, DFT_NEXT_QUERY, limit=config.dft_next).column("id").to_pylist()
    position: dict[str, int] = {}
    for index, value in enumerate(columns["id"]):
        position.setdefault(value, index)  # the first row of each id
    dft_next = np.array([position[i] for i in dict.fromkeys(dft_ids) if i in position], dtype=np.int64)
    return ReportData(
        results=shown,
        runs=runs,
        models=models,
        n_rows=table.num_rows,
        n_materials=int(n_materials),
        columns=columns,
        errors=errors,
        rankings=rankings,
        dft_next=dft_next,
    )
