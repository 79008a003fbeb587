"""The held-out exclusion list survives several ``screener dft`` runs into one folder."""

from __future__ import annotations

import csv

from screener.cli.dft_cmd import _record_exclusions


def test_a_second_run_adds_to_the_exclusion_list_instead_of_replacing_it(tmp_path) -> None:
    path = tmp_path / "excluded.csv"
    _record_exclusions(path, [("mp-149", "Si", "atomate_Si_static_CHGCAR.gz"), ("mp-13", "Fe", "pyiron_Fe_bcc_CHGCAR_spin")])
    _record_exclusions(path, [])  # a run over another label file that matches nothing
    _record_exclusions(path, [("mp-13", "Fe", "pyiron_Fe_bcc_CHGCAR_no_spin"), ("mp-2686", "Ca2N", "baderkit_Ca2N_CHGCAR.cube")])
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["id"] for r in rows] == ["mp-13", "mp-149", "mp-2686"]
    assert rows[0]["matches"] == "pyiron_Fe_bcc_CHGCAR_no_spin"  # the latest run's match wins
