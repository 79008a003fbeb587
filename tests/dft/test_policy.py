"""SCF settings per structure (no GPAW needed)."""

from __future__ import annotations

import dataclasses

from pymatgen.core import Lattice, Structure

from screener.config import DftConfig
from screener.dft.policy import plan_scf, reduce_cell

from .conftest import silicon


def test_conventional_cell_is_reduced_to_the_primitive_cell():
    reduced = reduce_cell(silicon(), config=DftConfig())
    assert len(reduced) == 2
    assert abs(reduced.lattice.volume - silicon().lattice.volume / 4) < 1e-6


def test_oxides_get_the_hard_cutoff_and_silicon_the_default():
    mgo = Structure(Lattice.cubic(4.2), ["Mg", "O"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    config = DftConfig()
    assert plan_scf(mgo, config=config).ecut_ev == config.hard_ecut_ev
    assert plan_scf(reduce_cell(silicon(), config=config), config=config).ecut_ev == config.ecut_ev


def test_magnetic_elements_start_spin_polarized_with_their_moments():
    feo = Structure(Lattice.cubic(4.3), ["Fe", "O"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    plan = plan_scf(feo, config=DftConfig())
    assert plan.spin_polarized
    assert plan.initial_moments[0] > 0 and plan.initial_moments[1] == 0
    assert not plan_scf(feo, config=dataclasses.replace(DftConfig(), spin="off")).spin_polarized
    assert not plan_scf(silicon(), config=DftConfig()).spin_polarized


def test_cheapest_first_puts_spin_polarized_and_hard_cutoff_cells_after_plain_ones():
    from screener.dft.engine import order_inputs
    from screener.dft.inputs import StructureInput

    def cell(*species):
        return Structure(Lattice.cubic(4.0), list(species), [[0, 0, 0], [0.5, 0.5, 0.5]][: len(species)])

    items = [StructureInput("feo", "t", cell("Fe", "O")), StructureInput("nacl", "t", cell("Na", "Cl")),
             StructureInput("mgo", "t", cell("Mg", "O")), StructureInput("bad", "t", None, error="x")]  # fmt: skip
    order = [it.id for it in order_inputs(items, order="cheapest", config=DftConfig())]
    assert order == ["bad", "nacl", "mgo", "feo"]
    assert [it.id for it in order_inputs(items, order="input", config=DftConfig())] == ["feo", "nacl", "mgo", "bad"]


def test_cells_are_made_right_handed_for_gpaw():
    import numpy as np

    from screener.dft.policy import right_handed

    from pymatgen.analysis.structure_matcher import StructureMatcher

    for matrix in (-np.eye(3) * 3.0, np.diag([-3.0, -3.0, 3.0])):  # left-handed; right-handed, negative diagonal
        cell = Structure(Lattice(matrix), ["Li", "Ga"], [[0, 0, 0], [0.5, 0.5, 0.5]])
        fixed = right_handed(cell)
        assert np.linalg.det(fixed.lattice.matrix) > 0 and np.all(np.diag(fixed.lattice.matrix) > 0)
        assert StructureMatcher().fit(fixed, cell)  # the same crystal
        assert np.all(np.diag(reduce_cell(cell, config=DftConfig()).lattice.matrix) > 0)
