"""One self-consistent PBE calculation with GPAW and the VASP-like valence density it yields.

The density written is GPAW's *valence pseudo density plus compensation charges, without the
pseudo-core density*: what a VASP CHGCAR holds. On Si it matches the VASP CHGCAR of the same cell at
Pearson 0.9954 (0.99999 more than 0.8 Å from the nuclei); GPAW's default ``get_pseudo_density()``,
which keeps the pseudo-core, reaches only 0.956 (``benchmarks/DFT.md``).

The export reads GPAW internals (``density.nt_sR``, ``density.nct_R``, ``density.D_asii``, the
setups' ``Delta_iiL`` and ``create_compensation_charges``), so the ``dft`` extra pins GPAW's version
and ``tests/dft`` checks the electron count on every install.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..config import DftConfig
from ..errors import ScreenerError
from .policy import ScfPlan, plan_scf, reduce_cell, right_handed

if TYPE_CHECKING:
    from pymatgen.core import Structure

BOHR_A = 0.52917721067  # Å per bohr (CODATA 2014, as ASE)


class DftError(ScreenerError):
    """A structure that cannot be computed; ``kind`` is one of the error kinds of the run table."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class ScfTimeout(DftError):
    def __init__(self, seconds: float) -> None:
        super().__init__("timeout", f"timeout: the SCF ran longer than {seconds:g} s")


@dataclass
class ScfResult:
    """A finished SCF.

    Attributes:
        structure: the cell the density is on (reduced, as computed).
        density: valence density ρ on GPAW's grid along the lattice vectors, e/Å³, C order (i, j, k).
        energy_ev: total energy (GPAW's reference: relative to the free atoms' setups), eV.
        iterations: SCF iterations.
        seconds: wall time of the SCF and export, s.
        plan: cutoff and spin used.
        kpoints_ibz: irreducible k-points.
        magnetic_moment: total magnetic moment, μB (0 when not spin-polarized).
        valence: valence electrons per element of the PAW setups used.
        gpaw_version: GPAW's version.
        calculator: the GPAW calculator, when asked for (``keep_calculator``), else None.
    """

    structure: Structure
    density: np.ndarray
    energy_ev: float
    iterations: int
    seconds: float
    plan: ScfPlan
    kpoints_ibz: int
    magnetic_moment: float
    valence: dict[str, float] = field(default_factory=dict)
    gpaw_version: str = ""
    calculator: Any = field(default=None, repr=False)

    @property
    def n_electrons(self) -> float:
        """Electrons in the cell: mean(ρ)·V, e."""
        return float(self.density.mean(dtype=np.float64) * self.structure.lattice.volume)


@lru_cache(maxsize=1)
def available_elements() -> frozenset[str]:
    """Elements with a PBE PAW setup in the installed ``gpaw-data`` (or ``GPAW_SETUP_PATH``)."""
    folders: list[Path] = []
    try:
        from gpaw import setup_paths

        folders += [Path(p) for p in setup_paths]
    except ImportError:
        pass
    try:
        import gpaw_data

        folders.append(Path(gpaw_data.__file__).parent / "setups")
    except ImportError:
        pass
    names: set[str] = set()
    for folder in folders:
        if folder.is_dir():
            names.update(p.name.split(".")[0] for p in folder.glob("*.PBE*"))
    return frozenset(names)


@contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    """Raise :class:`ScfTimeout` inside the block after ``seconds`` (main thread only; else no limit)."""
    if seconds <= 0 or threading.current_thread() is not threading.main_thread():
        yield
        return

    def _expired(signum: int, frame: Any) -> None:
        raise ScfTimeout(seconds)

    previous = signal.signal(signal.SIGALRM, _expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def check_structure(structure: Structure, *, config: DftConfig) -> None:
    """Refuse, before any GPAW work, what cannot run: elements without setups, too many atoms, partial occupancy.

    Raises:
        DftError: with kind ``no_setup``, ``too_large`` or ``bad_structure``.
    """
    if not structure.is_ordered:
        raise DftError("bad_structure", "disordered structure (partial occupancies): DFT needs an ordered cell")
    if len(structure) > config.max_atoms:
        raise DftError("too_large", f"too large: {len(structure)} atoms in the reduced cell (limit {config.max_atoms}, DftConfig.max_atoms)")
    elements = {site.specie.symbol for site in structure}
    missing = sorted(elements - available_elements())
    if missing:
        raise DftError("no_setup", f"no PBE PAW setup in gpaw-data for {', '.join(missing)}")


def valence_density(calc: Any) -> np.ndarray:
    """VASP-like valence density of a converged GPAW (new-style) calculator, e/Å³ on GPAW's grid.

    ñ_valence = Σ_spins ñ_σ − ñ_core, plus compensation charges with the valence multipole moments
    Q_L = Σ_ij D_ij Δ_Lij of each atom (no core or nuclear part), so it integrates to the valence
    electron count.
    """
    from gpaw.core.atom_arrays import AtomArraysLayout

    dft = calc.dft
    density = dft.density
    setups = dft.setups
    nt_sR = density.nt_sR.to_pbc_grid()
    ndensities = nt_sR.dims[0] % 3
    nct_R = density.nct_R.to_pbc_grid()
    valence_R = nt_sR[0].copy()
    valence_R.data[:] = nt_sR.data[:ndensities].sum(axis=0) - ndensities * nct_R.data
    layout = AtomArraysLayout([s.Delta_iiL.shape[2] for s in setups], atomdist=density.D_asii.layout.atomdist)
    moments = layout.empty()
    for a, D_sii in density.D_asii.items():
        moments[a] = np.einsum("sij,ijL->L", D_sii[:ndensities].real, setups[a].Delta_iiL)
    ghat = setups.create_compensation_charges(valence_R.desc, dft.relpos_ac, density.D_asii.layout.atomdist)
    ghat.add_to(valence_R, moments)
    return np.ascontiguousarray(valence_R.data, dtype=np.float64) / BOHR_A**3


def run_scf(structure: Structure, *, config: DftConfig, keep_calculator: bool = False) -> ScfResult:
    """Run one PBE SCF with GPAW on ``structure`` (reduced first) and export its valence density.

    Runs single-threaded (sets ``OMP_NUM_THREADS=1`` when unset). Prints nothing.
    ``keep_calculator`` returns GPAW's calculator in the result (for other exports of the same SCF).

    Raises:
        DftError: refused before the SCF (``no_setup``, ``too_large``, ``bad_structure``), not
            converged within ``config.max_iterations`` (``not_converged``), over
            ``config.timeout_s`` (``timeout``), or GPAW's own failure (``gpaw``).
    """
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    start = time.perf_counter()
    cell = reduce_cell(structure, config=config)
    check_structure(cell, config=config)
    plan = plan_scf(cell, config=config)
    try:
        import gpaw
    except ImportError as exc:
        raise ScreenerError(f"GPAW is not installed ({exc}); install the dft extra: pip install 'screener[dft]' (README, 'Real densities')") from None

    try:
        calc, energy = _converge(cell, plan, config=config, seconds=config.timeout_s)
    except _SymmetryAnalysisFailed:
        # GPAW's symmetry operations at this tolerance did not form a group (atoms a little off their
        # ideal sites); as GPAW advises, run on spglib's standardized cell, positions symmetrized
        cell = symmetrized_cell(cell, config=config)
        plan = plan_scf(cell, config=config)
        try:
            calc, energy = _converge(cell, plan, config=config, seconds=max(1.0, config.timeout_s - (time.perf_counter() - start)))
        except _SymmetryAnalysisFailed as exc:
            raise DftError("gpaw", f"GPAW failed: SymmetryAnalysisBug: {exc} (also on spglib's symmetrized cell)") from None
    rho = valence_density(calc)
    magmom = float(calc.get_magnetic_moment()) if plan.spin_polarized else 0.0
    valence: dict[str, float] = {}
    for setup, site in zip(calc.dft.setups, cell):
        valence.setdefault(site.specie.symbol, float(setup.Nv))
    return ScfResult(
        structure=cell,
        density=rho,
        energy_ev=energy,
        iterations=int(calc.get_number_of_iterations()),
        seconds=time.perf_counter() - start,
        plan=plan,
        kpoints_ibz=len(calc.get_ibz_k_points()),
        magnetic_moment=magmom,
        valence=valence,
        gpaw_version=gpaw.__version__,
        calculator=calc if keep_calculator else None,
    )


class _SymmetryAnalysisFailed(Exception):
    """GPAW's ``SymmetryAnalysisBug``: the symmetry operations it found do not form a group."""


def symmetrized_cell(structure: Structure, *, config: DftConfig) -> Structure:
    """spglib's standardized primitive cell of ``structure``, right-handed, with every atom moved onto
    its ideal site (by at most the symmetry tolerance: ``config.symmetry_tolerance`` × the longest
    cell vector, in Å).

    Raises:
        DftError: ``gpaw`` when spglib cannot standardize the cell either.
    """
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    tolerance_a = config.symmetry_tolerance * max(structure.lattice.abc)
    try:
        return right_handed(SpacegroupAnalyzer(structure, symprec=max(tolerance_a, 1e-5)).get_primitive_standard_structure())
    except Exception as exc:  # noqa: BLE001 - spglib raises several types on odd cells
        raise DftError("gpaw", f"GPAW failed: SymmetryAnalysisBug, and spglib could not standardize the cell ({type(exc).__name__}: {exc})") from None


def _converge(cell: Structure, plan: ScfPlan, *, config: DftConfig, seconds: float) -> tuple[Any, float]:
    """GPAW's calculator for ``cell`` run to self-consistency within ``seconds``; (calculator, energy in eV).

    Raises:
        DftError: ``not_converged``, ``timeout`` or ``gpaw``.
        _SymmetryAnalysisFailed: GPAW's symmetry analysis failed (the caller may retry on a symmetrized cell).
    """
    from gpaw import GPAW, PW, FermiDirac
    from pymatgen.io.ase import AseAtomsAdaptor

    atoms = AseAtomsAdaptor.get_atoms(cell)
    if plan.spin_polarized:
        atoms.set_initial_magnetic_moments(list(plan.initial_moments))
    calc = GPAW(
        mode=PW(plan.ecut_ev),
        xc="PBE",
        kpts={"density": config.kpoint_density, "gamma": True},
        occupations=FermiDirac(config.smearing_ev),
        convergence={"density": config.scf_density_tol, "energy": config.scf_energy_tol_ev, "eigenstates": config.scf_eigenstates_tol},
        symmetry={"tolerance": config.symmetry_tolerance},
        spinpol=plan.spin_polarized,
        maxiter=config.max_iterations,
        txt=None,
    )
    atoms.calc = calc
    try:
        with _time_limit(seconds), warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # GPAW's grid notes ("Using symmetrized grid")
            energy = float(atoms.get_potential_energy())
    except DftError:
        raise
    except Exception as exc:  # GPAW raises many types; each becomes an error row with its message
        name = type(exc).__name__
        if name == "KohnShamConvergenceError":
            raise DftError("not_converged", f"not converged after {config.max_iterations} SCF iterations") from None
        if name == "SymmetryAnalysisBug":
            raise _SymmetryAnalysisFailed(str(exc)) from None
        raise DftError("gpaw", f"GPAW failed: {name}: {exc}".strip()) from None
    return calc, energy
