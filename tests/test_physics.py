"""Derived columns against pymatgen's ElasticTensor, and MAGPIE/cell descriptors."""

from __future__ import annotations

import numpy as np
import pytest

from screener import physics
from screener.models.features import CELL_FEATURES, magpie_feature_names, snake_case, tabular_features


@pytest.fixture(scope="module")
def silicon():
    from pymatgen.analysis.elasticity import ElasticTensor
    from pymatgen.core import Lattice, Structure

    structure = Structure.from_spacegroup("Fd-3m", Lattice.cubic(5.431), ["Si"], [[0, 0, 0]])
    c11, c12, c44 = 165.7, 63.9, 79.6  # GPa, silicon
    tensor = ElasticTensor.from_voigt(
        [[c11, c12, c12, 0, 0, 0], [c12, c11, c12, 0, 0, 0], [c12, c12, c11, 0, 0, 0],
         [0, 0, 0, c44, 0, 0], [0, 0, 0, 0, c44, 0], [0, 0, 0, 0, 0, c44]]
    )  # fmt: skip
    return structure, tensor


def test_derived_moduli_match_pymatgen(silicon) -> None:
    structure, tensor = silicon
    k, g = tensor.k_vrh, tensor.g_vrh
    assert physics.youngs_modulus(k, g) == pytest.approx(tensor.y_mod / 1e9, rel=1e-9)
    assert physics.poisson_ratio(k, g) == pytest.approx(tensor.homogeneous_poisson, rel=1e-9)
    density, atoms_per_volume = physics.structure_debye_inputs(structure)
    theta = physics.debye_temperature(k, g, mass_density=density, atoms_per_volume=atoms_per_volume)
    assert theta == pytest.approx(tensor.debye_temperature(structure), rel=1e-6)
    assert 600 < theta < 700  # silicon's Debye temperature is about 645 K


def test_chen_hardness_and_pugh() -> None:
    # diamond-like K=443, G=535 GPa gives Hv ≈ 93 GPa in Chen's model
    assert physics.vickers_hardness(443.0, 535.0) == pytest.approx(2 * ((535 / 443) ** 2 * 535) ** 0.585 - 3)
    assert physics.vickers_hardness(443.0, 535.0) > 80
    assert physics.vickers_hardness(100.0, 10.0) == 0.0  # soft: clipped at 0
    assert physics.pugh_ratio(180.0, 80.0) == pytest.approx(2.25)
    assert np.isnan(physics.youngs_modulus(-1.0, 10.0))


def test_magpie_has_132_snake_case_features() -> None:
    names = magpie_feature_names()
    assert len(names) == 132 and len(set(names)) == 132
    assert names[0] == "magpie_minimum_number"
    assert snake_case("MagpieData avg_dev SpaceGroupNumber") == "magpie_avg_dev_space_group_number"
    assert all(name == name.lower() and " " not in name for name in names)


def test_tabular_features_values() -> None:
    from pymatgen.core import Lattice, Structure

    structure = Structure(Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    values = tabular_features(structure, n_electrons=16.0)
    assert values.shape == (132 + len(CELL_FEATURES),) and np.all(np.isfinite(values))
    cell = dict(zip(CELL_FEATURES, values[132:]))
    assert cell["volume_per_atom"] == pytest.approx(5.64**3 / 2)
    assert cell["lattice_alpha"] == pytest.approx(90.0)
    assert cell["electrons_per_volume"] == pytest.approx(16.0 / 5.64**3)
