"""Fixtures of the DFT tests: tiny structures and settings that make a GPAW SCF take a second or two."""

from __future__ import annotations

import dataclasses

import pytest

from screener.config import DftConfig

#: Si at minimal settings: 2 atoms, 200 eV, Γ-only grid of 1-2 k-points; about 1 s of SCF.
FAST = dataclasses.replace(DftConfig(), ecut_ev=200.0, hard_ecut_ev=200.0, kpoint_density=1.0, max_iterations=40, timeout_s=300.0)


def requires_gpaw():
    """Skip (with the reason) when the dft extra is not installed."""
    return pytest.importorskip("gpaw", reason="GPAW is not installed: the dft extra (pip install 'screener[dft]') is needed")


def silicon():
    from pymatgen.core import Lattice, Structure

    return Structure(Lattice.cubic(5.43), ["Si"] * 8, [
        [0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5],
        [0.25, 0.25, 0.25], [0.75, 0.75, 0.25], [0.75, 0.25, 0.75], [0.25, 0.75, 0.75],
    ])  # fmt: skip


@pytest.fixture()
def fast_config() -> DftConfig:
    return FAST
