"""The screening report: one self-contained, offline HTML page over one or more results directories.

Reads what ``screener run`` wrote through the query layer (``data``), builds plotly.js figure
specifications with numpy (``figures``) and writes the page with plotly.js inline (``page``).
"""

from __future__ import annotations

from .._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__, data="ReportData load_report_data", page="render_report write_report",
)
