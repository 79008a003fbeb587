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


def test_a_failed_gpaw_symmetry_analysis_is_retried_on_the_symmetrized_cell(fast_config, monkeypatch):
    """GPAW's ``SymmetryAnalysisBug`` (its symmetry operations at the tolerance did not form a group;
    WBM's CaMn4In) is retried once on spglib's standardized cell with the atoms on their ideal sites,
    which is the cell the row then holds; a second failure is an error row of kind ``gpaw``."""
    requires_gpaw()
    import spglib

    from screener.dft import gpaw_scf

    shaken = Structure(Lattice.cubic(5.43), ["Si"] * 8, silicon().frac_coords)
    shaken.translate_sites([3], [4e-4, 0, 0], frac_coords=True)  # 2 mÅ off its site
    symmetry = lambda s: spglib.get_symmetry_dataset((s.lattice.matrix, s.frac_coords, [14] * len(s)), symprec=1e-5).number  # noqa: E731
    assert symmetry(shaken) != 227

    real_converge, calls = gpaw_scf._converge, []

    def fails_first(cell, plan, **options):
        calls.append(cell)
        if len(calls) == 1:
            raise gpaw_scf._SymmetryAnalysisFailed("Sorry!  Try using spglib.standardize_cell(...)")
        return real_converge(cell, plan, **options)

    monkeypatch.setattr(gpaw_scf, "_converge", fails_first)
    result = run_scf(shaken, config=fast_config)
    assert len(calls) == 2 and result.structure is calls[1]
    assert len(result.structure) == 2 and symmetry(result.structure) == 227  # primitive, on ideal sites
    assert result.n_electrons == pytest.approx(8.0, abs=1e-6)

    def always_fails(cell, plan, **options):
        raise gpaw_scf._SymmetryAnalysisFailed("Sorry!")

    monkeypatch.setattr(gpaw_scf, "_converge", always_fails)
    with pytest.raises(DftError, match="also on spglib's symmetrized cell") as info:
        run_scf(shaken, config=fast_config)
    assert info.value.kind == "gpaw"
