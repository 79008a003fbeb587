"""SQL over a run's results: DuckDB views and their sandbox, query files and parameters, export.

The package itself is callable: ``screener.query("stiffest_stable", "results/", min_bulk=100)``
runs :func:`~screener.query.views.query` (the Python API's ``screener.query``).

The ``.sql`` files ship from the top-level ``queries/`` folder (``screener/queries`` links to it).
"""

from __future__ import annotations

import sys
import types
from typing import Any

from .._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__, views="connect execute_query run_query query_results", params="QuerySpec load_query list_queries parse_query",
    export="EXPORT_FORMATS format_table write_result", reference="Reference resolve_reference",
)


class _CallableModule(types.ModuleType):
    """This package, callable: ``screener.query(name_or_sql, results, **params)``."""

    def __call__(self, name_or_sql: Any, results: Any, *, limit: int | None = None, **params: Any) -> Any:
        from .views import query_results

        return query_results(name_or_sql, results, limit=limit, **params)


sys.modules[__name__].__class__ = _CallableModule
