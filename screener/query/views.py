"""Rank and search a run's results with SQL: DuckDB views over the Parquet output, named parameters.

A *query* is one ``.sql`` file holding a single ``SELECT`` statement over three views,

* ``predictions`` -- one row per predicted material (:data:`screener.screening.schema.PREDICTIONS_SCHEMA`),
* ``latents`` -- one row per material with its latent and short embedding (:data:`~screener.screening.schema.LATENTS_SCHEMA`),
* ``errors`` -- one row per file that could not be predicted (:data:`~screener.screening.schema.ERRORS_SCHEMA`),

which :func:`connect` creates over one or more results directories. Query files never name files:
paths are resolved here, in code. Values reach the SQL only as named parameters (``$name``) bound
through a prepared statement, never by formatting them into the text.

Example::

    from screener.query import run_query
    table = run_query("stiffest_stable", ["out/"], {"max_formation_energy": "-0.1"}, limit=20)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from ..errors import ConfigError
from ..screening.outputs import part_files
from ..screening.schema import ERRORS_DIR, ERRORS_SCHEMA, LATENTS_DIR, LATENTS_SCHEMA, MANIFEST_NAME, PREDICTIONS_DIR, PREDICTIONS_SCHEMA
from .params import QuerySpec, load_query

if TYPE_CHECKING:  # duckdb is imported where it is used, so importing this module stays cheap.
    import duckdb

__all__ = ["VIEWS", "connect", "execute_query", "run_query"]

VIEWS: dict[str, tuple[str, pa.Schema]] = {
    "predictions": (PREDICTIONS_DIR, PREDICTIONS_SCHEMA),
    "latents": (LATENTS_DIR, LATENTS_SCHEMA),
    "errors": (ERRORS_DIR, ERRORS_SCHEMA),
}


# --------------------------------------------------------------------------------------------------
# Views over results directories
# --------------------------------------------------------------------------------------------------


def _results_dir(path: str | Path) -> Path:
    """A results directory, resolved, after checking it looks like one."""
    directory = Path(path).expanduser()
    if not directory.is_dir():
        raise ConfigError(f"results directory {str(path)!r} does not exist or is not a directory")
    markers = (PREDICTIONS_DIR, LATENTS_DIR, ERRORS_DIR, MANIFEST_NAME)
    if not any((directory / marker).exists() for marker in markers):
        raise ConfigError(
            f"{str(path)!r} does not look like a screener results directory "
            f"(none of {', '.join(markers)} in it)"
        )
    return directory.resolve()


def _sources(directories: Sequence[Path], subdir: str) -> list[str]:
    """Parquet sources for one view: the part files of each directory, listed one by one (a ``[``
    or ``*`` in a folder name is then never read as a glob pattern)."""
    return [str(part) for directory in directories for part in part_files(directory / subdir)]


_SCALAR_TYPES = {
    pa.string(): "VARCHAR",
    pa.large_string(): "VARCHAR",
    pa.bool_(): "BOOLEAN",
    pa.int8(): "TINYINT",
    pa.int16(): "SMALLINT",
    pa.int32(): "INTEGER",
    pa.int64(): "BIGINT",
    pa.float32(): "FLOAT",
    pa.float64(): "DOUBLE",
    pa.binary(): "BLOB",  # path_bytes: the raw bytes of a path that is not valid UTF-8
    pa.large_binary(): "BLOB",
}


def _duckdb_type(arrow_type: pa.DataType) -> str:
    """DuckDB type name of an Arrow type used in :mod:`screener.screening.schema`."""
    if arrow_type in _SCALAR_TYPES:
        return _SCALAR_TYPES[arrow_type]
    if pa.types.is_timestamp(arrow_type):
        return "TIMESTAMPTZ" if arrow_type.tz else "TIMESTAMP"
    if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type):
        return _duckdb_type(arrow_type.value_type) + "[]"
    raise TypeError(f"no DuckDB type for Arrow type {arrow_type} (extend screener.query.views._duckdb_type)")


def _create_view(con: duckdb.DuckDBPyConnection, view: str, sources: list[str], schema: pa.Schema) -> None:
    """View ``view`` = the typed empty table of ``schema`` UNION ALL BY NAME the Parquet files.

    The empty table fixes the view's columns and types, so a view over no files, or over files
    written before a column existed, still has every column of the schema (missing ones are NULL).
    Columns that only newer files have come after the schema's columns.
    """
    typed = f"_screener_{view}_schema"
    # DDL rather than con.from_arrow/register, which import pandas (~0.3 s) in DuckDB 2.0.
    columns = ", ".join(f'"{f.name}" {_duckdb_type(f.type)}' for f in schema)
    con.execute(f"CREATE TABLE {typed} ({columns})")
    if not sources:
        con.execute(f"CREATE TEMP VIEW {view} AS SELECT * FROM {typed}")
        return
    files = f"_screener_{view}_files"
    con.read_parquet(sources, union_by_name=True).create_view(files, replace=True)
    con.execute(f"CREATE TEMP VIEW {view} AS SELECT * FROM {typed} UNION ALL BY NAME SELECT * FROM {files}")


def connect(results_dirs: str | Path | Sequence[str | Path], *, sandbox: bool = True) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with views ``predictions``, ``latents`` and ``errors``.

    Args:
        results_dirs: one or more output directories of ``screener run`` (each holding
            ``predictions/``, ``latents/``, ``errors/`` part files and ``manifest.json``).
            Rows of all of them are combined (``union_by_name``, so older schemas mix in).
        sandbox: after the views exist, limit file access to the results directories
            (DuckDB ``allowed_directories`` with ``enable_external_access = false``), so a query
            can read nothing else and load no extension.

    Returns:
        The connection; close it when done (it is also a context manager).

    Raises:
        ConfigError: no directory given, or one that is missing or is not a results directory.
    """
    import duckdb

    if isinstance(results_dirs, (str, Path)):
        results_dirs = [results_dirs]
    if not results_dirs:
        raise ConfigError("give at least one results directory (--results DIR)")
    directories = list(dict.fromkeys(_results_dir(d) for d in results_dirs))
    con = duckdb.connect(":memory:")
    try:
        for view, (subdir, schema) in VIEWS.items():
            _create_view(con, view, _sources(directories, subdir), schema)
        if sandbox:
            allowed = [str(d) + "/" for d in directories]
            con.execute("SET allowed_directories = $dirs", {"dirs": allowed})
            con.execute("SET enable_external_access = false")
    except duckdb.Error as exc:
        con.close()
        raise ConfigError(f"cannot read the results in {', '.join(map(str, directories))}: {exc}") from None
    return con


# --------------------------------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------------------------------


def execute_query(
    con: duckdb.DuckDBPyConnection,
    query: str | Path | QuerySpec,
    params: Mapping[str, Any] | None = None,
    *,
    limit: int | None = None,
) -> pa.Table:
    """Run a query on a connection from :func:`connect`.

    Args:
        con: connection with the ``predictions``, ``latents`` and ``errors`` views.
        query: a :class:`QuerySpec`, a shipped query's name, or a ``.sql`` path.
        params: parameter name -> value (command-line strings are converted to the declared types).
        limit: at most this many rows (the query's own order is kept); ``None`` or 0 for all.

    Returns:
        The result rows.

    Raises:
        ConfigError: bad parameters, or the SQL fails (the message is DuckDB's, with the query name).
    """
    import duckdb

    spec = query if isinstance(query, QuerySpec) else load_query(query)
    values = spec.bind(params)
    sql = spec.sql
    if limit is not None and limit < 0:
        raise ConfigError(f"limit must be 0 (all rows) or positive, got {limit}")
    if limit:
        # A parameter name the header cannot declare (it starts with "_"), so it cannot clash.
        sql = f"SELECT * FROM (\n{sql}\n) AS _screener_ranked LIMIT $_screener_limit"
        values["_screener_limit"] = int(limit)
    try:
        return con.sql(sql, params=values).to_arrow_table()
    except duckdb.Error as exc:
        raise ConfigError(f"query {spec.name!r} failed: {exc}") from None


def run_query(
    name_or_path: str | Path | QuerySpec,
    results_dirs: str | Path | Sequence[str | Path],
    params: Mapping[str, Any] | None = None,
    limit: int | None = None,
) -> pa.Table:
    """Run a shipped query (by name) or a ``.sql`` file over one or more results directories.

    Args:
        name_or_path: e.g. ``"stiffest_stable"`` or ``"my_queries/oxides.sql"``, or a loaded query.
        results_dirs: output directories of ``screener run`` / ``screener demo``.
        params: parameter values, strings as typed on the command line (``{"k": "5"}``) or Python
            values (``{"k": 5}``); defaults fill the rest.
        limit: at most this many rows; ``None`` or 0 for all.

    Returns:
        The result rows, in the query's order.

    Raises:
        ConfigError: unknown query, unknown/missing/mistyped parameter, bad results directory,
            or a failing SQL statement.
    """
    spec = name_or_path if isinstance(name_or_path, QuerySpec) else load_query(name_or_path)
    spec.bind(params)  # check parameters before reading any file
    con = connect(results_dirs)
    try:
        return execute_query(con, spec, params, limit=limit)
    finally:
        con.close()


def query_results(
    name_or_sql: str | Path,
    results: str | Path | Sequence[str | Path],
    *,
    limit: int | None = None,
    **params: Any,
) -> pa.Table:
    """Run a shipped query (by name) or a ``.sql`` file over results folders (the API's ``screener.query``).

    Args:
        name_or_sql: a shipped query (``screener query --list``), e.g. ``"stiffest_stable"``, or a
            ``.sql`` file path.
        results: one or more output folders of ``screener.screen`` / ``screener run``.
        limit: at most this many rows (None or 0: all), in the query's order.
        **params: the query's parameters as Python values (``k=5``, ``ref="NaCl"``); defaults fill the rest.

    Returns:
        The result rows (``.to_pandas()`` for a DataFrame).

    Raises:
        ConfigError: unknown query or parameter (with the nearest names), a value of the wrong type,
            a results folder that does not exist, or failing SQL.
    """
    return run_query(name_or_sql, results, params, limit)
