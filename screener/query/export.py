"""Query results out: a fixed-width text table, CSV, JSON Lines or Parquet."""

from __future__ import annotations

import csv
import io
import json
import math
import re
from pathlib import Path
from typing import IO, Any

import pyarrow as pa

from ..errors import ConfigError

__all__ = ["EXPORT_FORMATS", "format_table", "write_result"]

#: Output formats of :func:`write_result`. ``json`` is JSON Lines: one object per row.
EXPORT_FORMATS: tuple[str, ...] = ("table", "csv", "json", "parquet")


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
