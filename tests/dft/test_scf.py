"""A real GPAW SCF at minimal settings: electron count, CHGCAR round trip, refusals before any work."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from screener.dft.gpaw_scf import DftError, run_scf

from .conftest import requires_gpaw, silicon


def test_silicon_valence_density_holds_eight_electrons_and_reads_back_as_a_chgcar(tmp_path, fast_config):
    requires_gpaw()
    from screener.io.chgcar_writer import write_chgcar
    from screener.io.reading import read_density

    result = run_scf(silicon(), config=fast_config)
    assert len(result.structure) == 2  # run on the primitive cell
    assert result.valence == {"Si": 4.0}
    assert result.n_electrons == pytest.approx(8.0, abs=1e-6)
    # a valence density (no pseudo-core, so no large core peak); like a VASP CHGCAR it dips below 0
    # only at the few voxels nearest the nuclei, where compensation charges are negative
    assert result.density.max() < 1.0
    assert (result.density < 0).mean() < 0.05
    assert result.energy_ev < 0 and result.iterations > 1
    path = write_chgcar(tmp_path / "CHGCAR", result.structure, result.density)
    record = read_density(path)
    assert record.n_electrons == pytest.approx(8.0, abs=1e-5)
    np.testing.assert_allclose(record.rho, result.density, rtol=1e-6, atol=1e-9)


def test_structures_that_cannot_run_are_refused_before_the_scf(fast_config):
    requires_gpaw()
    technetium = Structure(Lattice.cubic(3.0), ["Tc"], [[0, 0, 0]])
    with pytest.raises(DftError, match="no PBE PAW setup") as info:
        run_scf(technetium, config=fast_config)
    assert info.value.kind == "no_setup"
    with pytest.raises(DftError, match="too large") as info:
        run_scf(silicon(), config=dataclasses.replace(fast_config, max_atoms=1))
    assert info.value.kind == "too_large"


def test_an_scf_that_cannot_converge_in_time_is_reported_as_such(fast_config):
    requires_gpaw()
    with pytest.raises(DftError, match="not converged after 2") as info:
        run_scf(silicon(), config=dataclasses.replace(fast_config, max_iterations=2))
    assert info.value.kind == "not_converged"
