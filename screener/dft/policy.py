"""SCF settings chosen per structure: cell reduction, plane-wave cutoff, spin and initial moments.

Pure functions of the structure and :class:`~screener.config.DftConfig`; nothing here imports GPAW,
so the choices can be tested and shown (``screener dft --dry-run``) on machines without the extra.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..config import DftConfig

if TYPE_CHECKING:
    from pymatgen.core import Structure


@dataclass(frozen=True)
class ScfPlan:
    """What one SCF will run with.

    Attributes:
        ecut_ev: plane-wave cutoff, eV.
        spin_polarized: collinear spin polarization on.
        initial_moments: initial magnetic moment per site, μB (zeros when not spin-polarized).
        n_atoms: atoms in the (reduced) cell.
    """

    ecut_ev: float
    spin_polarized: bool
    initial_moments: tuple[float, ...]
    n_atoms: int


def reduce_cell(structure: Structure, *, config: DftConfig) -> Structure:
    """The primitive, Niggli-reduced cell of ``structure`` (fewer atoms, more symmetry found by GPAW).

    GPAW finds symmetries in the cell it is given; a raw VASP cell of Si gave 2 symmetries and 128
    k-points instead of 16. Falls back to the input cell when reduction fails.
    """
    if not config.reduce_cell:
        return right_handed(structure)
    try:
        primitive = structure.get_primitive_structure(tolerance=config.primitive_tolerance_a)
        return right_handed(primitive.get_reduced_structure("niggli"))
    except Exception:  # spglib/pymatgen raise several types on odd cells; the SCF still runs
        return right_handed(structure)


def right_handed(structure: Structure) -> Structure:
    """The same crystal in a right-handed basis in standard orientation (a along x, b in the xy plane).

    A Niggli cell can come out left-handed or with negative diagonal entries (BeCu, YAu, ZrAl in
    the B2 structure): GPAW then fails with ``ValueError: negative dimensions`` while drawing the
    cell for its log. A left-handed basis is first negated (the same crystal, not its mirror image),
    then rotated into standard orientation; fractional coordinates and the density's grid axes
    stay as they are.
    """
    import numpy as np
    from pymatgen.core import Lattice, Structure

    matrix = structure.lattice.matrix
    frac = structure.frac_coords
    if np.linalg.det(matrix) < 0:
        matrix, frac = -matrix, -frac
    lattice = Lattice(matrix)
    standard = Lattice.from_parameters(*lattice.abc, *lattice.angles)
    return Structure(standard, structure.species, frac % 1.0, site_properties=structure.site_properties)


def plan_scf(structure: Structure, *, config: DftConfig) -> ScfPlan:
    """Cutoff, spin and moments for one (already reduced) structure.

    Args:
        structure: the cell the SCF runs on.
        config: DFT settings.
    """
    symbols = [site.specie.symbol for site in structure]
    hard = set(config.hard_elements)
    ecut = config.hard_ecut_ev if any(s in hard for s in symbols) else config.ecut_ev
    moments_by_element = dict(config.initial_moments)
    if config.spin == "on":
        spin = True
    elif config.spin == "off":
        spin = False
    else:
        spin = any(s in moments_by_element for s in symbols)
    moments = tuple(float(moments_by_element.get(s, 0.0)) if spin else 0.0 for s in symbols)
    if spin and not any(moments):
        moments = tuple(0.5 for _ in symbols)  # spin forced on without magnetic elements: a small kick
    return ScfPlan(ecut_ev=float(ecut), spin_polarized=spin, initial_moments=moments, n_atoms=len(symbols))


#: relative SCF cost of spin polarization and of the hard cutoff (medians on this project's set, benchmarks/DFT.md)
SPIN_COST = 3.0
HARD_CUTOFF_COST = 1.5


def estimated_cost(structure: Structure, *, config: DftConfig) -> float:
    """A relative SCF cost for ordering work: atoms × (3 when spin-polarized) × (1.5 at the hard cutoff).

    Uses the cell as given (reducing thousands of cells only to sort them costs minutes).
    """
    plan = plan_scf(structure, config=config)
    cost = float(len(structure))
    if plan.spin_polarized:
        cost *= SPIN_COST
    if plan.ecut_ev > config.ecut_ev:
        cost *= HARD_CUTOFF_COST
    return cost
