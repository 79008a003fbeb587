"""Density descriptors that do not care how a file was written (origin, cell, valence partition)."""

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from screener.models.descriptors import density_descriptors, descriptor_names, move_partition
from screener.synth.partition import canonical_valence, infer_partition
from screener.synth.procrystal import procrystal_density


def rocksalt() -> Structure:
    return Structure(Lattice.cubic(5.64), ["Na"] * 4 + ["Cl"] * 4,
                     [[0, 0, 0], [0, .5, .5], [.5, 0, .5], [.5, .5, 0], [.5, .5, .5], [.5, 0, 0], [0, .5, 0], [0, 0, .5]]).get_primitive_structure()  # fmt: skip


def vasp_like_nacl(shape=(20, 20, 20)) -> tuple[Structure, np.ndarray]:
    """NaCl as a VASP run with the plain Na POTCAR would hold it: 8 electrons, no Na 2p."""
    structure = rocksalt()
    return structure, procrystal_density(structure, shape, valence={"Na": 1, "Cl": 7})


def test_partition_inference_names_what_each_file_holds() -> None:
    assert infer_partition({"Na": 1, "Cl": 1}, 8.0) == ({"Cl": 7.0, "Na": 1.0}, 0.0)  # VASP Na
    assert infer_partition({"Na": 1, "Cl": 1}, 14.0)[0] == {"Cl": 7.0, "Na": 7.0}  # Na_pv, GPAW's canonical
    partition, residual = infer_partition({"Si": 2}, 28.0)  # a core-including (AECCAR-like) count
    assert abs(residual) > 10
    assert canonical_valence("Mg") == 10 and canonical_valence("Ga") == 3


def test_descriptors_do_not_change_with_supercells_or_origin() -> None:
    structure, rho = vasp_like_nacl()
    base = density_descriptors(rho, structure, n_electrons=8.0).values
    bigger = structure.copy()
    bigger.make_supercell((2, 1, 1))
    tiled = density_descriptors(np.tile(rho, (2, 1, 1)), bigger, n_electrons=16.0).values
    np.testing.assert_allclose(tiled, base, rtol=2e-3, atol=1e-6)
    moved = structure.copy()
    moved.translate_sites(list(range(len(moved))), (3 / 20, 7 / 20, 11 / 20), frac_coords=True)  # whole voxels
    shifted = density_descriptors(np.roll(rho, (3, 7, 11), axis=(0, 1, 2)), moved, n_electrons=8.0).values
    np.testing.assert_allclose(shifted, base, rtol=1e-6, atol=1e-9)


def test_a_grid_over_the_point_budget_describes_like_the_same_density_on_a_coarser_grid() -> None:
    """A fine VASP grid is resampled, not strided: 41³ over a 20,000-point budget must describe like
    the same band-limited density written on 27³ (striding 41 by 2 gives an uneven 21-point grid and
    keeps frequencies a 21³ procrystal lacks: the deformation density moved by tens of percent)."""
    from screener.config import DescriptorConfig

    structure = rocksalt()
    config = DescriptorConfig(max_points=20_000)
    fine = procrystal_density(structure, (41, 41, 41), valence={"Na": 1, "Cl": 7})
    coarse = procrystal_density(structure, (27, 27, 27), valence={"Na": 1, "Cl": 7})
    described_fine = density_descriptors(fine, structure, n_electrons=8.0, config=config).values
    described_coarse = density_descriptors(coarse, structure, n_electrons=8.0, config=config).values
    np.testing.assert_allclose(described_fine, described_coarse, rtol=1e-6, atol=1e-9)


def test_a_semicore_partition_maps_onto_the_same_descriptors() -> None:
    """The same crystal written with Na_pv (2p in the valence) describes like the plain-Na file."""
    structure, rho = vasp_like_nacl()
    base = density_descriptors(rho, structure, n_electrons=8.0)
    with_semicore = move_partition(rho, structure, {"Na": 1.0, "Cl": 7.0}, {"Na": 7.0, "Cl": 7.0})
    electrons = float(with_semicore.mean() * structure.volume)
    assert electrons == pytest.approx(14.0, abs=0.2)  # six 2p electrons added (grid-sampled)
    moved = density_descriptors(with_semicore, structure, n_electrons=round(electrons))
    assert base.partition == {"Na": 1.0, "Cl": 7.0} and moved.partition == {"Na": 7.0, "Cl": 7.0}
    names = descriptor_names()
    for name in ("rho_i_q50", "rho_i_q90", "interstitial_fraction", "canonical_electrons_per_volume"):
        i = names.index(name)
        assert moved.values[i] == pytest.approx(base.values[i], rel=0.02), name


def test_a_core_density_is_told_apart_by_its_electron_count() -> None:
    structure, rho = vasp_like_nacl()
    values = density_descriptors(rho * 3.0, structure, n_electrons=24.0).values
    assert values[descriptor_names().index("partition_residual_per_atom")] > 1.0


def test_inspect_shows_the_inferred_valence_partition(tmp_path) -> None:
    import json

    from click.testing import CliRunner

    from screener.cli.main import cli
    from screener.io.chgcar_writer import write_chgcar

    structure, rho = vasp_like_nacl()
    path = tmp_path / "CHGCAR"
    write_chgcar(path, structure, rho)
    result = CliRunner().invoke(cli, ["inspect", "--json", str(path)])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output.strip().splitlines()[-1])
    assert info["valence_partition"] == {"Na": 1.0, "Cl": 7.0} and info["canonical_partition"]["Na"] == 7.0
    assert abs(info["unexplained_electrons"]) < 1e-3
    text = CliRunner().invoke(cli, ["inspect", str(path)]).output
    assert "Na:1(canonical 7)" in text
