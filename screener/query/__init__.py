"""SQL over a run's results: DuckDB views and their sandbox, query files and parameters, export.

The ``.sql`` files ship from the top-level ``queries/`` folder (``screener/queries`` links to it).
"""

from __future__ import annotations

from .._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__, views="connect execute_query run_query", params="QuerySpec load_query list_queries parse_query",
    export="EXPORT_FORMATS format_table write_result", reference="Reference resolve_reference",
)
