"""Query files: the header (description, notes, ``@param`` lines), parameter conversion, shipped queries.

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
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from ..errors import ConfigError

__all__ = ["PARAM_TYPES", "QUERY_SUFFIX", "QueryParam", "QuerySpec", "list_queries", "load_query", "parse_query"]

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
                f"query {self.name!r} has no parameter {', '.join(map(repr, unknown))}"
                f"{did_you_mean(unknown[0], declared)}; its parameters are: {_names_or_none(declared)}"
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


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """``" (did you mean 'x'?)"`` for the closest of ``known`` (difflib), or ``""`` when none is close."""
    import difflib

    close = difflib.get_close_matches(name, sorted(known), n=2, cutoff=0.6)
    return f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""


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
            f"unknown query {str(name_or_path)!r}{did_you_mean(str(name_or_path), shipped)}; "
            f"shipped queries: {_names_or_none(shipped)} (or give the path of a .sql file)"
        )
    return parse_query(entry.read_text(encoding="utf-8"), name=str(name_or_path), origin=f"shipped:{entry.name}")


def list_queries() -> list[QuerySpec]:
    """Every shipped query, parsed, sorted by name."""
    return [
        parse_query(entry.read_text(encoding="utf-8"), name=name, origin=f"shipped:{entry.name}")
        for name, entry in sorted(_shipped_files().items())
    ]
