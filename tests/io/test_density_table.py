"""The density table's parts: atomic numbered writes, last row wins, shape checks."""

from __future__ import annotations

import numpy as np
import pytest

from screener.io import density_table


def _row(material_id: str, error: str | None = None, n: int = 8) -> dict:
    row = density_table.empty_row()
    row.update(id=material_id, error=error)
    if error is None:
        row.update(grid_shape=[2, 2, 2], density=np.full(n, 4.0, dtype=np.float32), structure="{}")
    return row


def test_parts_are_numbered_and_the_last_row_of_an_id_wins(tmp_path):
    first = density_table.write_part(tmp_path, [_row("a"), _row("b", error="timeout")])
    second = density_table.write_part(tmp_path, [_row("b")])
    assert [p.name for p in density_table.part_files(tmp_path)] == [first.name, second.name] == ["part-00000.parquet", "part-00001.parquet"]
    assert density_table.recorded(tmp_path) == {"a": None, "b": None}
    ids = [row["id"] for _, _, row in density_table.iter_rows(tmp_path)]
    assert ids == ["a", "b"]
    assert density_table.is_density_table(tmp_path) and density_table.is_density_table(first)
    assert not list(tmp_path.glob(".part-*"))  # no temporary file left behind


def test_a_density_whose_size_disagrees_with_its_grid_is_refused():
    with pytest.raises(ValueError, match="7 values but grid_shape"):
        density_table.row_density(_row("a", n=7), volume=1.0)
