"""The reference of ``similar_to``: which rows a ``ref`` value matches, and the nearest names when none does.

``similar_to.sql`` takes as references the latents whose id equals ``ref`` or starts with it (8+
characters), or whose prediction has that name or reduced formula. A query that matches nothing
would return no rows, which reads like "nothing is similar"; :func:`resolve_reference` lets the
caller say instead that the reference is unknown and offer the closest names.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import ConfigError

if TYPE_CHECKING:
    import duckdb

__all__ = ["Reference", "resolve_reference"]

#: how many suggestions an unknown reference gets.
SUGGESTIONS = 5


@dataclass(frozen=True)
class Reference:
    """One row that ``ref`` matched: its id, name, formula and model."""

    id: str
    name: str | None
    formula: str | None
    model_id: str | None

    def describe(self) -> str:
        return f"{self.formula or '?'} ({self.name or 'no name'}, id {self.id[:12]}…)"


_MATCH_SQL = """
SELECT DISTINCT l.id, p.name, p.formula, l.model_id
FROM latents AS l
LEFT JOIN (SELECT id, min(name) AS name, min(formula) AS formula FROM predictions GROUP BY id) AS p USING (id)
WHERE l.embedding IS NOT NULL
  AND (l.id = $ref OR (length($ref) >= 8 AND starts_with(l.id, $ref)) OR p.formula = $ref OR p.name = $ref)
ORDER BY l.id
"""


def resolve_reference(con: duckdb.DuckDBPyConnection, ref: str) -> list[Reference]:
    """The rows ``similar_to`` will use as references for ``ref`` (the same rule as its SQL).

    Raises:
        ConfigError: nothing matches; the message names up to five of the closest names and formulas
            (by string similarity, case-insensitive).
    """
    rows = con.execute(_MATCH_SQL, {"ref": ref}).fetchall()
    if rows:
        return [Reference(*row) for row in rows]
    names = con.execute(
        "SELECT DISTINCT v FROM (SELECT name AS v FROM predictions UNION ALL SELECT formula FROM predictions) WHERE v IS NOT NULL"
    ).fetchall()
    values = [v for (v,) in names]
    lowered = {v.lower(): v for v in values}
    close = [lowered[m] for m in difflib.get_close_matches(ref.lower(), list(lowered), n=SUGGESTIONS, cutoff=0.3)]
    if not close:  # nothing alike: show a few of what there is
        close = sorted(values)[:SUGGESTIONS]
    hint = ", ".join(close) if close else "(the results hold no predictions)"
    raise ConfigError(
        f"no material matches ref={ref}; closest names: {hint} "
        "(ref is an id or an id prefix of 8+ characters, a name, or a reduced formula)"
    )
