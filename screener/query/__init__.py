"""SQL over a run's results: DuckDB views and their sandbox, query files and parameters, export.

The ``.sql`` files ship from the top-level ``queries/`` folder (``screener/queries`` links to it).

Public entry points below, imported on first use (:mod:`screener._lazy`); the rest is private by convention.
"""

from __future__ import annotations

from .._lazy import lazy_exports

_EXPORTS = {
    "connect": "views",
    "execute_query": "views",
    "run_query": "views",
    "QuerySpec": "params",
    "load_query": "params",
    "list_queries": "params",
    "parse_query": "params",
    "EXPORT_FORMATS": "export",
    "format_table": "export",
    "write_result": "export",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
