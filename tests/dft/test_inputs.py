"""Structures and labels from structure files and from every labels layout `screener dft` reads."""

from __future__ import annotations

import gzip
import json

import pandas as pd
import pytest
from pymatgen.core import Lattice, Structure

from screener.dft.inputs import iter_inputs
from screener.errors import ConfigError


def _nacl() -> Structure:
    return Structure(Lattice.cubic(5.6), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])


def test_json_records_like_the_mp_binary_set(tmp_path):
    path = tmp_path / "set.json.gz"
    records = [{"mp_id": "mp-1", "formula": "NaCl", "structure": _nacl().as_dict(), "bulk_modulus_vrh": 24.0, "shear_modulus_vrh": 14.0}]
    path.write_bytes(gzip.compress(json.dumps(records).encode()))
    (item,) = iter_inputs([path])
    assert item.id == "mp-1" and item.structure.composition.reduced_formula == "NaCl"
    assert item.labels == {"bulk_modulus": 24.0, "shear_modulus": 14.0}


def test_pandas_split_json_like_de_jong_and_merged_labels_for_repeated_ids(tmp_path):
    split = tmp_path / "dejong.json"
    split.write_text(json.dumps({"index": [0], "columns": ["material_id", "structure", "K_VRH", "G_VRH"],
                                 "data": [["mp-1", _nacl().as_dict(), 23.0, 13.0]]}))  # fmt: skip
    wbm = tmp_path / "wbm.json"
    wbm.write_text(json.dumps([{"material_id": "mp-1", "structure": _nacl().as_dict(), "formation_energy_per_atom": -1.9,
                                "corrected_formation_energy_per_atom": -2.1}]))  # fmt: skip
    (item,) = iter_inputs([split, wbm])
    # the first file's K and G, the second file's (corrected) formation energy
    assert item.labels == {"bulk_modulus": 23.0, "shear_modulus": 13.0, "formation_energy": -2.1}


def test_csv_with_cif_structures_and_a_bad_row_that_becomes_an_error(tmp_path):
    path = tmp_path / "labels.csv"
    pd.DataFrame({"id": ["a", "b"], "structure": [_nacl().to(fmt="cif"), "not a structure"], "K_VRH": [24.0, 1.0]}).to_csv(path, index=False)
    good, bad = iter_inputs([path])
    assert good.structure is not None and good.error is None and good.labels["bulk_modulus"] == 24.0
    assert bad.structure is None and "cannot parse the structure" in bad.error


def test_folder_of_structure_files(tmp_path):
    (tmp_path / "s").mkdir()
    _nacl().to(filename=str(tmp_path / "s" / "nacl.cif"))
    _nacl().to(filename=str(tmp_path / "s" / "POSCAR"), fmt="poscar")
    items = list(iter_inputs([tmp_path / "s"]))
    assert sorted(i.id for i in items) == ["nacl", "s_POSCAR"]


def test_clear_errors_for_unusable_inputs(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        list(iter_inputs([tmp_path / "missing"]))
    no_structure = tmp_path / "labels.json"
    no_structure.write_text(json.dumps([{"mp_id": "x", "K_VRH": 1.0}]))
    with pytest.raises(ConfigError, match="no 'structure' column"):
        list(iter_inputs([no_structure]))
