"""`screener dft` accounting: every structure computed or recorded with its error, exactly once, resumable."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from screener.config import DftRunConfig
from screener.dft import StructureInput, run_dft
from screener.dft.engine import TABLE_FOLDER
from screener.io import density_table

from .conftest import requires_gpaw, silicon


def _inputs() -> list[StructureInput]:
    return [
        StructureInput("si", "test", silicon(), {"bulk_modulus": 88.0, "shear_modulus": 64.0}),
        StructureInput("tc", "test", Structure(Lattice.cubic(3.0), ["Tc"], [[0, 0, 0]])),  # no setup
        StructureInput("broken", "test", None, error="cannot parse the structure: test"),
    ]


def _final_rows(out):
    return {row["id"]: row for _, _, row in density_table.iter_rows(out / TABLE_FOLDER)}


@pytest.mark.parametrize("engine", ["local", "ray"])
def test_every_structure_is_accounted_for_and_a_rerun_resumes(tmp_path, fast_config, engine, request):
    requires_gpaw()
    if engine == "ray":
        request.getfixturevalue("ray_instance")
    run = DftRunConfig(engine=engine, rows_per_part=2)
    summary = run_dft(_inputs(), tmp_path, config=fast_config, run=run)
    assert (summary.inputs, summary.computed, summary.skipped) == (3, 1, 0)
    assert dict(summary.failed) == {"no_setup": 1, "bad_structure": 1}
    rows = _final_rows(tmp_path)
    assert set(rows) == {"si", "tc", "broken"}
    si = rows["si"]
    assert si["error"] is None and si["bulk_modulus"] == 88.0 and si["formula"] == "Si"
    volume = Structure.from_dict(json.loads(si["structure"])).lattice.volume
    assert np.mean(si["density"]) == pytest.approx(8.0, abs=1e-4)  # ρ·V averages to the electron count
    assert density_table.row_density(si, volume=volume).shape == tuple(si["grid_shape"])
    assert "Tc" in rows["tc"]["error"] and rows["broken"]["error_kind"] == "bad_structure"
    assert (tmp_path / "chgcar" / "si.CHGCAR.gz").is_file()

    again = run_dft(_inputs(), tmp_path, config=fast_config, run=run)
    assert (again.computed, again.n_failed, again.skipped) == (0, 0, 3)

    retried = run_dft(_inputs(), tmp_path, config=fast_config, run=dataclasses.replace(run, retry_errors=True))
    assert (retried.computed, retried.n_failed, retried.skipped) == (0, 2, 1)
    assert set(_final_rows(tmp_path)) == {"si", "tc", "broken"}  # the retried rows supersede, never duplicate


def test_density_table_reads_back_like_the_chgcar_it_wrote(tmp_path, fast_config):
    requires_gpaw()
    from screener.io.reading import read_density

    run_dft(_inputs()[:1], tmp_path, config=fast_config, run=DftRunConfig(engine="local"))
    (row,) = density_table.read_density_rows(tmp_path / TABLE_FOLDER)
    record = read_density(tmp_path / "chgcar" / "si.CHGCAR.gz")
    np.testing.assert_allclose(row.rho, record.rho, rtol=1e-5, atol=1e-7)
    assert row.labels == {"bulk_modulus": 88.0, "shear_modulus": 64.0}
