"""Rank and search a run's results with SQL: DuckDB views over the Parquet output, named parameters.

A *query* is one ``.sql`` file holding a single ``SELECT`` statement over three views,

* ``predictions`` -- one row per predicted material (:data:`screener.screening.schema.PREDICTIONS_SCHEMA`),
* ``latents`` -- one row per material with its latent and short embedding (:data:`~screener.screening.schema.LATENTS_SCHEMA`),
* ``errors`` -- one row per file that could not be predicted (:data:`~screener.screening.schema.ERRORS_SCHEMA`),

which :func:`connect` creates over one or more results directories. Query files never name files:
paths are resolved here, in code. Values reach the SQL only as named parameters (``$name``) bound
through a prepared statement, never by formatting them into the text.

Header format
-------------
A query file starts with a block of ``--`` comment lines (the *header*; it ends at the first line
that is neither a comment nor blank)::

    -- Stiffest predicted-stable candidates, ranked by bulk modulus.     <- description: the first
    -- (a second line continues the description)                            paragraph, up to a blank
    --                                                                      comment line
    -- Free text: what the query finds and the physics of its thresholds.  <- notes (``--show``)
    --
    -- @param max_formation_energy float = 0.0  : keep formation_energy below this (eV/atom)
    -- @param ref str                           : id, name or formula (required: no default)
    -- @param max_ood_score float = null        : optional bound; null (the default) means none

A parameter line is ``@param NAME TYPE [= DEFAULT] [: DESCRIPTION]``:

* ``NAME`` is the ``$NAME`` used in the SQL (letters, digits, underscore; not starting with ``_``),
* ``TYPE`` is one of ``int``, ``float``, ``str``, ``bool``,
* ``DEFAULT`` is one token without spaces or colons, or a quoted string (``"..."`` or ``'...'``);
  ``null`` binds SQL NULL (the query decides what NULL means, usually "no bound").
  Without ``= DEFAULT`` the parameter is *required*,
* the description follows ``:`` and should give the unit.

No other ``@`` tag is allowed, so a typo such as ``@parm`` is an error rather than a silent comment.
Every ``$name`` the SQL uses must be declared.

Example::

    from screener.query import run_query
    table = run_query("stiffest_stable", ["out/"], {"max_formation_energy": "-0.1"}, limit=20)
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import pyarrow as pa

from .errors import ConfigError
from .screening.outputs import part_files
from .screening.schema import (
    ERRORS_DIR,
    ERRORS_SCHEMA,
    LATENTS_DIR,
    LATENTS_SCHEMA,
    MANIFEST_NAME,
    PREDICTIONS_DIR,
    PREDICTIONS_SCHEMA,
)

if TYPE_CHECKING:  # duckdb is imported where it is used, so importing this module stays cheap.
    import duckdb

__all__ = [
    "EXPORT_FORMATS",
    "QueryParam",
    "QuerySpec",
    "connect",
    "execute_query",
    "format_table",
    "list_queries",
    "load_query",
    "parse_query",
    "run_query",
    "write_result",
]

#: view name -> (sub-directory of a results directory, schema the view always has).
VIEWS: dict[str, tuple[str, pa.Schema]] = {
    "predictions": (PREDICTIONS_DIR, PREDICTIONS_SCHEMA),
    "latents": (LATENTS_DIR, LATENTS_SCHEMA),
    "errors": (ERRORS_DIR, ERRORS_SCHEMA),
}

#: Output formats of :func:`write_result`. ``json`` is JSON Lines: one object per row.
EXPORT_FORMATS: tuple[str, ...] = ("table", "csv", "json", "parquet")

#: Parameter types a header may declare.
PARAM_TYPES: tuple[str, ...] = ("int", "float", "str", "bool")

QUERY_SUFFIX = ".sql"

_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})
_PARAM_RE = re.compile(
    r"""^@param\s+(?P<name>[A-Za-z][A-Za-z0-9_]*)\s+(?P<type>[A-Za-z]+)
        (?:\s*=\s*(?P<default>"[^"]*"|'[^']*'|[^\s:"']+))?
        \s*(?::\s*(?P<desc>.*))?$""",
    re.VERBOSE,
)
# --------------------------------------------------------------------------------------------------
# Query files: header parsing and parameter conversion
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueryParam:
    """One ``$name`` parameter declared in a query header.

    Attributes:
        name: parameter name, as written after ``$`` in the SQL.
        type: one of :data:`PARAM_TYPES`.
        default: value bound when the caller gives none (``None`` binds SQL NULL); meaningless
            when ``required``.
        required: the header gives no default, so the caller must.
        description: one line for ``--list``, with the unit.
    """

    name: str
    type: str
    default: Any
    required: bool
    description: str

    def convert(self, value: Any, *, query: str) -> Any:
        """A caller's value (a string from the command line, or a Python value) as the declared type.

        Args:
            value: ``str`` (parsed) or an ``int``/``float``/``bool`` Python value.
            query: query name, for the error message.

        Returns:
            ``int``, ``float``, ``str`` or ``bool``.

        Raises:
            ConfigError: the value cannot be read as the declared type.
        """
        try:
            return _CONVERTERS[self.type](value)
        except _BadValue as exc:
            reason = f" ({exc})" if str(exc) else ""
            raise ConfigError(
                f"query {query!r}: parameter {self.name!r} expects {_TYPE_WORDS[self.type]}, got {value!r}{reason}"
            ) from None

    def default_text(self) -> str:
        """The default as written in a header (``null`` for None), or ``(required)``."""
        if self.required:
            return "(required)"
        if self.default is None:
            return "null"
        if isinstance(self.default, bool):
            return str(self.default).lower()
        return str(self.default)


@dataclass(frozen=True)
class QuerySpec:
    """A parsed query file.

    Attributes:
        name: file name without ``.sql``.
        origin: where it came from (a path, or ``shipped:<file>``), for messages.
        text: the whole file.
        sql: the single statement, without a trailing semicolon.
        description: the header's first paragraph.
        notes: the rest of the header's free text (physics, thresholds, references).
        params: declared parameters in header order.
        used: names of the ``$parameters`` the SQL uses.
    """

    name: str
    origin: str
    text: str
    sql: str
    description: str
    notes: str
    params: tuple[QueryParam, ...]
    used: frozenset[str]

    def bind(self, values: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Check and convert a caller's parameter values; fill in defaults.

        Args:
            values: parameter name -> value (strings from the command line, or Python values).

        Returns:
            name -> converted value, for every parameter the SQL uses.

        Raises:
            ConfigError: unknown parameter, missing required parameter, or a value of the wrong type.
        """
        values = dict(values or {})
        declared = {p.name: p for p in self.params}
        unknown = sorted(set(values) - set(declared))
        if unknown:
            raise ConfigError(
                f"query {self.name!r} has no parameter {', '.join(map(repr, unknown))}; "
                f"its parameters are: {_names_or_none(declared)}"
            )
        missing = [p.name for p in self.params if p.required and p.name not in values]
        if missing:
            wanted = "; ".join(f"--param {n}=VALUE ({declared[n].type}: {declared[n].description})" for n in missing)
            raise ConfigError(f"query {self.name!r} has no default for {', '.join(map(repr, missing))}; give {wanted}")
        bound: dict[str, Any] = {}
        for param in self.params:
            if param.name in values:
                bound[param.name] = param.convert(values[param.name], query=self.name)
            else:
                bound[param.name] = param.default
        return {name: value for name, value in bound.items() if name in self.used}


class _BadValue(ValueError):
    """A parameter value that does not fit its type (the text, if any, says why)."""


def _to_int(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip(), 10)
        except ValueError:
            raise _BadValue("") from None
    raise _BadValue(f"a {type(value).__name__} is not an integer")


def _to_float(value: Any) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise _BadValue("") from None
    else:
        raise _BadValue(f"a {type(value).__name__} is not a number")
    if math.isnan(number):
        raise _BadValue("NaN compares false with everything")
    return number


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise _BadValue("")


def _to_str(value: Any) -> str:
    if isinstance(value, str):
        return value
    raise _BadValue(f"a {type(value).__name__} is not a string")


_CONVERTERS = {"int": _to_int, "float": _to_float, "str": _to_str, "bool": _to_bool}
_TYPE_WORDS = {
    "int": "an integer",
    "float": "a number",
    "str": "a string",
    "bool": "a boolean (true/false, yes/no, 1/0)",
}


def _names_or_none(names: Iterable[str]) -> str:
    names = sorted(names)
    return ", ".join(names) if names else "(none)"


def _parse_default(raw: str | None, type_: str, *, where: str, name: str) -> tuple[Any, bool]:
    """A header default -> (value, required)."""
    if raw is None:
        return None, True
    if raw == "null":
        return None, False
    if raw[:1] in "\"'" and raw[-1:] == raw[:1] and len(raw) >= 2:
        raw = raw[1:-1]
    param = QueryParam(name, type_, None, False, "")
    try:
        return param.convert(raw, query=where), False
    except ConfigError as exc:
        raise ConfigError(f"{where}: bad default: {exc}") from None


def _header_lines(text: str) -> list[str]:
    """The leading ``--`` comment lines of a query file, without the ``--`` and one space."""
    lines = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("--"):
            body = stripped[2:]
            lines.append(body[1:] if body.startswith(" ") else body)
        elif stripped:
            break
        else:
            lines.append("")
    return lines


def _parse_header(text: str, *, origin: str) -> tuple[str, str, tuple[QueryParam, ...]]:
    """Description, notes and parameters of a query file's header (format in the module docs)."""
    description: list[str] = []
    notes: list[str] = []
    params: list[QueryParam] = []
    in_description = True
    for number, line in enumerate(_header_lines(text), start=1):
        stripped = line.strip()
        if stripped.startswith("@"):
            params.append(_parse_param_line(stripped, where=f"{origin}, line {number}"))
            in_description = False
        elif in_description and stripped:
            description.append(stripped)
        elif in_description and description:
            in_description = False
        elif not in_description:
            notes.append(line.rstrip())
    names = [p.name for p in params]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ConfigError(f"{origin}: parameter declared twice: {', '.join(twice)}")
    return " ".join(description), "\n".join(notes).strip("\n"), tuple(params)


def _parse_param_line(line: str, *, where: str) -> QueryParam:
    if not (line.startswith("@param ") or line.startswith("@param\t")):
        raise ConfigError(f"{where}: unknown header tag {line.split()[0]!r} (the only tag is @param)")
    match = _PARAM_RE.match(line)
    if match is None:
        raise ConfigError(f"{where}: cannot read {line!r}; expected '@param NAME TYPE [= DEFAULT] [: DESCRIPTION]'")
    name, type_ = match["name"], match["type"]
    if type_ not in PARAM_TYPES:
        known = ", ".join(PARAM_TYPES)
        raise ConfigError(f"{where}: parameter {name!r} has unknown type {type_!r}; use one of {known}")
    default, required = _parse_default(match["default"], type_, where=where, name=name)
    return QueryParam(name, type_, default, required, (match["desc"] or "").strip())


def _single_select(text: str, *, origin: str) -> tuple[str, frozenset[str]]:
    """The one SELECT statement of a query file (without ``;``) and the ``$names`` it uses."""
    import duckdb

    try:
        statements = duckdb.extract_statements(text)
    except duckdb.Error as exc:
        raise ConfigError(f"{origin}: SQL does not parse: {exc}") from None
    if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
        kinds = ", ".join(s.type.name for s in statements) or "nothing"
        raise ConfigError(f"{origin}: a query file must hold exactly one SELECT statement (found: {kinds})")
    statement = statements[0]
    sql = statement.query.strip()
    while sql.endswith(";"):
        sql = sql[:-1].rstrip()
    return sql, frozenset(statement.named_parameters)


def parse_query(text: str, *, name: str, origin: str | None = None) -> QuerySpec:
    """Parse a query file's text.

    Args:
        text: the file's content.
        name: the query's name (file name without ``.sql``).
        origin: where the text came from, for messages (defaults to ``name``).

    Returns:
        The parsed query.

    Raises:
        ConfigError: a malformed header, not exactly one SELECT, or a ``$name`` used but not declared.
    """
    origin = origin or name
    description, notes, params = _parse_header(text, origin=origin)
    sql, used = _single_select(text, origin=origin)
    undeclared = sorted(used - {p.name for p in params})
    if undeclared:
        raise ConfigError(
            f"{origin}: the SQL uses {', '.join('$' + n for n in undeclared)} but the header does not declare "
            "it; add '-- @param NAME TYPE [= DEFAULT] : DESCRIPTION'"
        )
    return QuerySpec(name, origin, text, sql, description, notes, params, used)


def _shipped_dir() -> Any:
    """The shipped ``queries`` folder as an importlib Traversable."""
    return resources.files("screener") / "queries"


def _shipped_files() -> dict[str, Any]:
    folder = _shipped_dir()
    if not folder.is_dir():
        return {}
    return {
        entry.name[: -len(QUERY_SUFFIX)]: entry
        for entry in folder.iterdir()
        if entry.name.endswith(QUERY_SUFFIX) and entry.is_file()
    }


def _looks_like_path(name_or_path: str | Path) -> bool:
    text = str(name_or_path)
    return isinstance(name_or_path, Path) or text.endswith(QUERY_SUFFIX) or "/" in text or "\\" in text


def load_query(name_or_path: str | Path) -> QuerySpec:
    """A shipped query by name, or a ``.sql`` file by path.

    An argument that ends in ``.sql`` or contains a path separator is a path; anything else is the
    name of a shipped query (its file name in ``queries/`` without ``.sql``).

    Raises:
        ConfigError: unknown name (the message lists the shipped ones), unreadable file, bad header.
    """
    if _looks_like_path(name_or_path):
        path = Path(name_or_path)
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise ConfigError(f"query file {str(path)!r} is not UTF-8 text") from None
        except OSError as exc:
            hint = f"; for the shipped query give its name, {path.stem}" if path.stem in _shipped_files() else ""
            raise ConfigError(f"cannot read query file {str(path)!r}: {exc.strerror or exc}{hint}") from None
        return parse_query(text, name=path.stem, origin=str(path))
    shipped = _shipped_files()
    entry = shipped.get(str(name_or_path))
    if entry is None:
        raise ConfigError(
            f"unknown query {str(name_or_path)!r}; shipped queries: {_names_or_none(shipped)} "
            "(or give the path of a .sql file)"
        )
    return parse_query(entry.read_text(encoding="utf-8"), name=str(name_or_path), origin=f"shipped:{entry.name}")


def list_queries() -> list[QuerySpec]:
    """Every shipped query, parsed, sorted by name."""
    return [
        parse_query(entry.read_text(encoding="utf-8"), name=name, origin=f"shipped:{entry.name}")
        for name, entry in sorted(_shipped_files().items())
    ]


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
}


def _duckdb_type(arrow_type: pa.DataType) -> str:
    """DuckDB type name of an Arrow type used in :mod:`screener.screening.schema`."""
    if arrow_type in _SCALAR_TYPES:
        return _SCALAR_TYPES[arrow_type]
    if pa.types.is_timestamp(arrow_type):
        return "TIMESTAMPTZ" if arrow_type.tz else "TIMESTAMP"
    if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type):
        return _duckdb_type(arrow_type.value_type) + "[]"
    raise TypeError(f"no DuckDB type for Arrow type {arrow_type} (extend screener.query._duckdb_type)")


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


# --------------------------------------------------------------------------------------------------
# Export
# --------------------------------------------------------------------------------------------------

#: In ``table`` format, ids (64 hex digits of SHA-256) show their first this many characters and
#: ``…``; ``similar_to`` accepts such a prefix. Other strings are cut at :data:`TABLE_MAX_WIDTH`.
TABLE_ID_WIDTH = 12
TABLE_MAX_WIDTH = 48
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def _cell(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        if math.isfinite(value) and value != 0.0 and abs(value) < 1e-2:
            return f"{value:.3e}"
        return f"{value:.3f}"
    if isinstance(value, list):
        shown = ", ".join(_cell(v) for v in value[:4])
        return f"[{shown}]" if len(value) <= 4 else f"[{shown}, …] ({len(value)})"
    text = str(value).replace("\n", " ")
    if _SHA256.match(text):
        return text[:TABLE_ID_WIDTH] + "…"
    return text if len(text) <= TABLE_MAX_WIDTH else text[: TABLE_MAX_WIDTH - 1] + "…"


def format_table(table: pa.Table) -> str:
    """Pretty text for a terminal: aligned columns, numbers right-aligned, a row count at the end.

    Floats show 3 decimals (scientific below 0.01); SHA-256 ids show their first 12 characters
    and other long strings are cut; NULL shows as ``NULL``. Use ``csv``/``json``/``parquet`` for full values.
    """
    names = table.column_names
    numeric = [pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t) for t in table.schema.types]
    rows = [[_cell(row[n]) for n in names] for row in table.to_pylist()]
    widths = [max([len(n)] + [len(r[i]) for r in rows]) for i, n in enumerate(names)]

    def line(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if num else c.ljust(w) for c, w, num in zip(cells, widths, numeric)).rstrip()

    out = [line(names), "  ".join("-" * w for w in widths)] + [line(r) for r in rows]
    out.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return "\n".join(out) + "\n"


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {k: _json_value(v) for k, v in value.items()}
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    return value


def _write_json_lines(table: pa.Table, stream: IO[str]) -> None:
    for row in table.to_pylist():
        stream.write(json.dumps({k: _json_value(v) for k, v in row.items()}, ensure_ascii=False) + "\n")


def _write_csv(table: pa.Table, stream: IO[str]) -> None:
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(table.column_names)
    for row in table.to_pylist():
        writer.writerow(
            "" if v is None else json.dumps(_json_value(v)) if isinstance(v, (list, dict)) else _json_value(v)
            for v in row.values()
        )


def write_result(table: pa.Table, fmt: str, *, out: str | Path | None = None, stream: IO[str] | None = None) -> None:
    """Write a query result.

    Formats:
        ``table``: :func:`format_table` text. ``csv``: header row, RFC 4180 quoting, NULL as an empty
        field, lists as JSON text. ``json``: JSON Lines (one object per row, NULL and non-finite
        numbers as ``null``, timestamps ISO 8601). ``parquet``: the Arrow table as is (needs ``out``).

    Args:
        table: the rows.
        fmt: one of :data:`EXPORT_FORMATS`.
        out: file to write (overwritten); without it text goes to ``stream``.
        stream: text stream for ``table``/``csv``/``json`` when ``out`` is not given.

    Raises:
        ConfigError: unknown format, or ``parquet`` without ``out``.
    """
    if fmt not in EXPORT_FORMATS:
        raise ConfigError(f"unknown format {fmt!r}; use one of {', '.join(EXPORT_FORMATS)}")
    if fmt == "parquet":
        if out is None:
            raise ConfigError("the parquet format writes a file: give --out FILE.parquet")
        import pyarrow.parquet as pq

        pq.write_table(table, str(out))
        return
    buffer = io.StringIO()
    if fmt == "table":
        buffer.write(format_table(table))
    elif fmt == "csv":
        _write_csv(table, buffer)
    else:
        _write_json_lines(table, buffer)
    if out is not None:
        Path(out).write_text(buffer.getvalue(), encoding="utf-8")
    elif stream is not None:
        stream.write(buffer.getvalue())
    else:
        raise ConfigError("give out= or stream= to write a result")
