"""Density-table rows as inputs: discovered, read and identified like the CHGCAR of the same density."""

from __future__ import annotations

import numpy as np
import pytest

from screener.config import ReadLimits
from screener.io import density_table
from screener.io.discovery import discover
from screener.io.reading import read_density
from screener.screening.stages import read_one

from ..conftest import tiny_structure, write_tiny_chgcar


def _row_from_chgcar(path, material_id: str, *, error: str | None = None) -> dict:
    record = read_density(path)
    row = density_table.empty_row()
    row.update(id=material_id, source="test", formula="NaCl", n_atoms=2, bulk_modulus=24.0, error=error)
    if error is None:
        values = (np.asarray(record.rho, dtype=np.float64) * record.volume).astype(np.float32)
        row.update(structure=record.structure.to_json(), grid_shape=list(record.grid), density=values.ravel(order="C"))
    else:
        row.update(structure=tiny_structure().to_json(), error_kind="timeout")
    return row


@pytest.fixture()
def table(tmp_path):
    chgcar = tmp_path / "CHGCAR"
    write_tiny_chgcar(chgcar, grid=(8, 10, 12), electrons=8.0)
    folder = tmp_path / "densities"
    density_table.write_part(folder, [_row_from_chgcar(chgcar, "mp-1"), _row_from_chgcar(chgcar, "mp-2", error="timeout")])
    return chgcar, folder


def test_a_row_reads_as_the_same_density_as_its_chgcar(table):
    chgcar, folder = table
    from_file = read_density(chgcar)
    (row_input, _, _), _ = density_table.list_rows(folder)
    from_row = read_density(row_input)
    assert from_row.name == "mp-1" and from_row.format == "table"
    assert from_row.grid == from_file.grid == (8, 10, 12)
    np.testing.assert_allclose(from_row.rho, from_file.rho, rtol=1e-6)
    assert from_row.n_electrons == pytest.approx(8.0, rel=1e-6)
    assert from_row.structure == from_file.structure


def test_discovery_expands_tables_and_sets_aside_rows_without_a_density(table, tmp_path):
    _, folder = table
    skipped: list[str] = []
    files = discover([tmp_path], skipped=skipped)
    rows = [f for f in files if "::row=" in f.path]
    assert [f.name for f in rows] == ["mp-1"]
    assert len(skipped) == 1 and skipped[0].endswith("::row=1")
    assert [f.name for f in discover([folder / "part-00000.parquet"])] == ["mp-1"]


def test_screening_stage_reads_a_row_with_a_stable_id_and_resumes_on_it(table):
    _, folder = table
    (row_input, _, _), _ = density_table.list_rows(folder)
    first = read_one(row_input, str(folder), limits=ReadLimits())
    assert first["status"] == "ok" and first["name"] == "mp-1"
    again = read_one(row_input, str(folder), limits=ReadLimits(), skip_ids=frozenset({first["id"]}))
    assert again["status"] == "skipped" and again["id"] == first["id"]


def test_a_failed_row_given_directly_is_an_input_error_naming_the_reason(table):
    _, folder = table
    _, (failed_input, error, _) = density_table.list_rows(folder)
    row = read_one(failed_input, str(folder), limits=ReadLimits())
    assert row["status"] == "error" and "its DFT failed: timeout" in row["message"]


def test_table_labels_and_summary(table):
    _, folder = table
    assert density_table.labels_table(folder) == {"mp-1": {"bulk_modulus": 24.0}, "mp-2": {"bulk_modulus": 24.0}}
    summary = density_table.summarize(folder)
    assert (summary["rows"], summary["computed"], summary["failed"]) == (2, 1, {"timeout": 1})


def test_train_takes_its_labels_from_the_table_when_none_are_given(table, tmp_path):
    from screener.cli.train_cmd import labels_from_tables
    from screener.training.labels import load_labels

    _, folder = table
    labels = load_labels(labels_from_tables((str(folder),), tmp_path / "work"))
    assert labels.ids == ["mp-1", "mp-2"]
    assert labels.counts()["bulk_modulus"] == 2


def test_a_fifo_among_the_parts_of_a_table_is_never_opened(table):
    import os
    import signal

    _, folder = table
    os.mkfifo(folder / "part-00001.parquet")
    signal.alarm(20)  # a regression would block in open(); fail instead of hanging the suite
    try:
        files = discover([folder])
    finally:
        signal.alarm(0)
    assert [f.name for f in files] == ["mp-1"]
