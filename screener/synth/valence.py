"""Valence electron counts and valence shells matching the Materials Project's default POTCARs.

The Materials Project (MP) runs VASP with one PAW potential (POTCAR) per element; the number of
valence electrons it treats explicitly (``ZVAL``) decides what a CHGCAR integrates to. pymatgen ships
both pieces of information, which are read lazily (on first use, then cached):

* ``pymatgen/io/vasp/MPRelaxSet.yaml`` (key ``POTCAR``): element → POTCAR symbol (e.g. ``Na`` → ``Na_pv``).
* ``pymatgen/io/vasp/potcar-summary-stats.json.bz2``: POTCAR symbol → ``ZVAL`` per functional
  (``PBE_54``, falling back to ``PBE``).

Fallbacks, in order, for an element without an MP choice:

1. ``pymatgen/io/vasp/PBE54Base.yaml``: VASP's recommended PBE_54 set as shipped by pymatgen
   (adds Po, At, Rn, Fr, Ra, Am, Cm, Cf).
2. The electrons outside the preceding noble-gas core, not counting completely filled d¹⁰ and f¹⁴
   subshells below the outermost s shell (e.g. Bk → 5f⁹ 7s² = 11).

Valence *shells* (``n``, ``l``, electrons) for a given ``ZVAL`` are the ``ZVAL`` least-bound electrons of
the neutral atom's ground-state configuration (pymatgen ``Element.full_electronic_structure``), ordered by
their LDA orbital energies (pymatgen ``Element.atomic_orbitals``, NIST; uranium's for Z > 92, where
pymatgen has none). This reproduces the POTCAR valence sets: Fe (8) → 4s² 3d⁶, Fe_pv (14) adds 3p⁶,
Ga (3) → 4s² 4p¹, Ga_d (13) adds 3d¹⁰, Y_sv (11) → 4s² 4p⁶ 4d¹ 5s². Lanthanide ``_3``/``_2`` POTCARs
keep the 4f electrons frozen in the core: their valence is 6s² 5d¹ (``_3``) or 6s² (``_2``) plus 5p⁶
(and 5s² when ``ZVAL`` asks for it).

Shell sizes and radial densities come from a small self-consistent LDA atom solver
(:func:`orbital_mean_radius`, :func:`radial_density`), run once per element and process on first use.
"""

from __future__ import annotations

import bz2
import itertools
import json
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

__all__ = [
    "Shell",
    "core_shells",
    "orbital_mean_radius",
    "radial_density",
    "default_potcar_symbol",
    "default_valence",
    "match_valence",
    "potcar_zval",
    "slater_exponent",
    "valence_options",
    "valence_shells",
]

#: POTCAR set whose ZVALs are used (the one MPRelaxSet names); ``PBE`` is the fallback table.
FUNCTIONALS: tuple[str, ...] = ("PBE_54", "PBE")

_L_OF = {"s": 0, "p": 1, "d": 2, "f": 3, "g": 4}
_L_NAME = "spdfg"
_NOBLE_Z = (2, 10, 18, 36, 54, 86, 118)
#: POTCAR name parts that mark special-purpose potentials, not offered as valence options.
_EXCLUDED_VARIANTS = frozenset({"GW", "AE", "ZORA", "nr", "rel", "old", "pv.old", "h_old"})


@dataclass(frozen=True)
class Shell:
    """One occupied atomic subshell.

    Attributes:
        n: principal quantum number.
        l: angular momentum (0 = s, 1 = p, 2 = d, 3 = f).
        electrons: occupation (electrons in this subshell; may be fractional after rescaling).
    """

    n: int
    l: int  # noqa: E741 - the physicist's name
    electrons: float

    @property
    def label(self) -> str:
        """Spectroscopic label, e.g. ``"3d"``."""
        return f"{self.n}{_L_NAME[self.l]}"


# --------------------------------------------------------------------------------------------- data
def _pymatgen_vasp_dir() -> Path:
    import pymatgen.io.vasp as vasp_pkg

    return Path(vasp_pkg.__file__).parent


@lru_cache(maxsize=None)
def _potcar_choices(set_name: str) -> dict[str, str]:
    """Element → POTCAR symbol from one of pymatgen's input-set YAML files."""
    from monty.serialization import loadfn  # a pymatgen dependency (reads YAML with ruamel.yaml)

    data = loadfn(str(_pymatgen_vasp_dir() / f"{set_name}.yaml"))
    return {str(k): str(v) for k, v in dict(data.get("POTCAR", {})).items()}


@lru_cache(maxsize=None)
def _zval_table() -> dict[str, float]:
    """POTCAR symbol → ZVAL, PBE_54 entries taking precedence over PBE ones."""
    path = _pymatgen_vasp_dir() / "potcar-summary-stats.json.bz2"
    with bz2.open(path, "rt") as fh:
        stats = json.load(fh)
    table: dict[str, float] = {}
    for functional in reversed(FUNCTIONALS):  # later (preferred) functionals overwrite
        for entries in stats.get(functional, {}).values():
            for entry in entries:
                table[entry["symbol"]] = float(entry["ZVAL"])
    return table


def potcar_zval(symbol: str) -> float:
    """ZVAL (valence electrons) of a POTCAR symbol such as ``"Na_pv"``.

    Raises:
        KeyError: the symbol is not in pymatgen's PBE_54/PBE tables.
    """
    return _zval_table()[symbol]


def _symbol_of(element: str) -> str:
    from pymatgen.core import Element

    return Element(str(element)).symbol


def default_potcar_symbol(element: str) -> str | None:
    """The POTCAR symbol the Materials Project uses for ``element`` (VASP's recommendation as fallback).

    Args:
        element: element symbol (``"Fe"``) or anything pymatgen's ``Element`` accepts.

    Returns:
        The symbol (e.g. ``"Fe_pv"``), or None when neither MPRelaxSet nor PBE54Base has one.
    """
    sym = _symbol_of(element)
    for set_name in ("MPRelaxSet", "PBE54Base"):
        choice = _potcar_choices(set_name).get(sym)
        if choice is not None and choice in _zval_table():
            return choice
    return None


def _core_rule_valence(element: str) -> int:
    """Electrons beyond the noble-gas core minus filled d¹⁰/f¹⁴ subshells below the outermost s shell."""
    from pymatgen.core import Element

    el = Element(element)
    core_z = max((z for z in _NOBLE_Z if z < el.Z), default=0)
    outer = [(n, _L_OF[l], e) for n, l, e in _configuration(el.symbol)]
    # electrons beyond the core are the last (Z - core_z) electrons in Aufbau order
    need = el.Z - core_z
    picked: list[tuple[int, int, float]] = []
    for n, l, e in reversed(outer):
        if need <= 0:
            break
        take = min(e, need)
        picked.append((n, l, take))
        need -= take
    n_max = max(n for n, l, _ in picked if l == 0) if any(l == 0 for _, l, _ in picked) else 0
    total = 0.0
    for n, l, e in picked:
        filled = (l == 2 and e == 10) or (l == 3 and e == 14)
        if filled and n < n_max:
            continue
        total += e
    return int(round(total))


def default_valence(element: str) -> float:
    """Valence electrons of ``element`` in a Materials Project calculation (its default POTCAR's ZVAL).

    Falls back to VASP's recommended PBE_54 POTCAR, then to the noble-gas-core rule described in the
    module docstring.

    Args:
        element: element symbol.

    Returns:
        Electrons per atom.
    """
    symbol = default_potcar_symbol(element)
    if symbol is not None:
        return potcar_zval(symbol)
    return float(_core_rule_valence(_symbol_of(element)))


@lru_cache(maxsize=None)
def _element_potcars(element: str) -> tuple[tuple[str, float], ...]:
    """(symbol, ZVAL) of an element's standard POTCARs: integer ZVAL (no fractional H), no GW/AE/relativistic test variants."""
    out = []
    for symbol, zval in _zval_table().items():
        parts = symbol.split("_")
        if parts[0] != element or _EXCLUDED_VARIANTS.intersection(parts[1:]):
            continue
        if abs(zval - round(zval)) > 1e-6:
            continue
        out.append((symbol, zval))
    return tuple(sorted(out))


def valence_options(element: str) -> tuple[float, ...]:
    """Distinct valence counts the element's standard PAW potentials offer (sorted), MP default included.

    Special-purpose variants (GW, AE, relativistic tests) are left out, and so are counts that would put
    the 1s shell of an element heavier than Be into the valence.

    Args:
        element: element symbol.

    Returns:
        Ascending ZVALs, e.g. ``(1.0, 7.0, 9.0)`` for Na.
    """
    from pymatgen.core import Element

    sym = _symbol_of(element)
    zvals = {z for _, z in _element_potcars(sym)}
    if Element(sym).Z >= 5:
        # B–Ne and heavier: no production potential puts 1s in the valence (O_sv & co. are special-purpose)
        zvals = {z for z in zvals if z <= Element(sym).Z - 2}
    zvals.add(default_valence(sym))
    return tuple(sorted(zvals))


# ------------------------------------------------------------------------------ atomic radii
#: 1 bohr in Å.
BOHR = 0.529177210903

#: Radial grid of the atomic solver: points, innermost radius × Z (bohr), outermost radius (bohr).
_LDA_POINTS = 1000
_LDA_RMIN_Z = 1e-4
_LDA_RMAX = 50.0


def _lda_atom(element: str) -> tuple[Any, dict[tuple[int, int], tuple[float, Any]]]:
    """Self-consistent spherical LDA atom (non-relativistic, non-spin-polarized).

    Kohn–Sham equations on a logarithmic grid x = ln r: with P(r) = √r · y(x) the radial equation
    −½ y'' + [(l+½)²/2 + r² V] y = ε r² y becomes a symmetric tridiagonal eigenproblem after the
    substitution z = r y, solved with LAPACK's MRRR (``stemr``), which keeps the small eigenvalues
    accurate although the matrix norm is huge near the nucleus. Exchange: Slater/Dirac; correlation:
    Perdew–Zunger 1981. Occupations: pymatgen's ground-state configuration. The eigenvalues agree with
    NIST's LDA reference values (pymatgen ``Element.atomic_orbitals``) to about 0.05 hartree.

    Returns:
        (r, states): the radial grid in bohr and (n, l) → (orbital energy in hartree, radial function
        P(r) = r·R(r) normalized to ∫P² dr = 1) for every occupied subshell, plus the lowest unoccupied
        subshell of each l ≤ 2 (e.g. 5d of lanthanides with 4f in the core).
    """
    import numpy as np
    from scipy.integrate import cumulative_trapezoid
    from scipy.linalg import eigh_tridiagonal

    from pymatgen.core import Element

    z_nuc = Element(element).Z
    conf = [(n, _L_OF[l], e) for n, l, e in _configuration(element)]
    x = np.linspace(np.log(_LDA_RMIN_Z / z_nuc), np.log(_LDA_RMAX), _LDA_POINTS)
    h = float(x[1] - x[0])
    r = np.exp(x)
    n_by_l: dict[int, list[int]] = {}
    for n, l, _ in conf:
        n_by_l.setdefault(l, []).append(n)
    wanted = {l: sorted(ns) + ([max(ns) + 1] if l <= 2 else []) for l, ns in n_by_l.items()}
    for l in range(3):  # the lowest shell of an l the ground state leaves empty (e.g. 3d for K, 5d for Nd)
        wanted.setdefault(l, [l + 1])
    occupation = {(n, l): e for n, l, e in conf}
    potential = -z_nuc / r * np.exp(-r * z_nuc ** (1 / 3) / 1.5) - 1.0 / np.sqrt(r**2 + 1.0)
    off_base = -1.0 / (2 * h**2) / (r[:-1] * r[1:])
    states: dict[tuple[int, int], tuple[float, np.ndarray]] = {}
    for _ in range(300):
        u = np.zeros_like(r)  # 4π r² ρ
        states = {}
        for l, ns in wanted.items():
            diag = (1.0 / h**2 + (l + 0.5) ** 2 / 2 + r**2 * potential) / r**2
            k = len(ns)
            w, vec = eigh_tridiagonal(diag, off_base, select="i", select_range=(0, k - 1), lapack_driver="stemr")
            for j, n in enumerate(sorted(ns)):
                p_r = vec[:, j] / r * np.sqrt(r)
                p_r /= np.sqrt(np.sum(p_r**2 * r) * h)
                if p_r[np.argmax(np.abs(p_r))] < 0:
                    p_r = -p_r
                states[(n, l)] = (float(w[j]), p_r)
                u += occupation.get((n, l), 0.0) * p_r**2
        charge_inside = cumulative_trapezoid(u * r, dx=h, initial=0.0)
        outside = cumulative_trapezoid(u[::-1], dx=h, initial=0.0)[::-1]
        rho = np.maximum(u / (4 * np.pi * r**2), 1e-30)
        v_x = -((3 * rho / np.pi) ** (1 / 3))
        rs = (3 / (4 * np.pi * rho)) ** (1 / 3)
        sq = np.sqrt(rs)
        v_c_low_density = -0.1423 * (1 + 7 / 6 * 1.0529 * sq + 4 / 3 * 0.3334 * rs) / (1 + 1.0529 * sq + 0.3334 * rs) ** 2
        lr = np.log(rs)
        v_c_high_density = 0.0311 * lr + (-0.048 - 0.0311 / 3) + 2 / 3 * 0.0020 * rs * lr + (2 * -0.0116 - 0.0020) / 3 * rs
        v_new = -z_nuc / r + charge_inside / r + outside + v_x + np.where(rs >= 1, v_c_low_density, v_c_high_density)
        change = float(np.max(np.abs((v_new - potential) * r)))
        potential = 0.4 * v_new + 0.6 * potential
        if change < 1e-6:
            break
    return r, states


@lru_cache(maxsize=None)
def _lda_solution(element: str) -> tuple[Any, dict[tuple[int, int], tuple[float, Any]]]:
    return _lda_atom(element)


@lru_cache(maxsize=None)
def _lda_table(element: str) -> dict[tuple[int, int], tuple[float, float]]:
    """(n, l) → (orbital energy in hartree, ⟨r⟩ in bohr; NaN for an unbound unoccupied state)."""
    import numpy as np

    r, states = _lda_solution(element)
    h = float(np.log(r[1] / r[0]))
    occupied = {(n, _L_OF[l]) for n, l, _ in _configuration(element)}
    out: dict[tuple[int, int], tuple[float, float]] = {}
    for key, (energy, p_r) in states.items():
        bound = energy < 0 or key in occupied
        out[key] = (energy, float(np.sum(p_r**2 * r * r) * h) if bound else float("nan"))
    return out


def radial_density(element: str, shells: tuple[Shell, ...] | list[Shell]) -> tuple[Any, Any]:
    """Spherical all-electron density of some subshells of the neutral LDA atom.

    Args:
        element: element symbol.
        shells: subshells with their occupations (e.g. :func:`valence_shells` or core shells).

    Returns:
        (r in Å, ρ(r) in e/Å³) on the solver's logarithmic grid (r from 10⁻⁴/Z bohr to 50 bohr).

    Raises:
        KeyError: a subshell the solver did not compute.
    """
    import numpy as np

    r, states = _lda_solution(_symbol_of(element))
    u = np.zeros_like(r)
    for sh in shells:
        if sh.electrons:
            u += sh.electrons * states[(sh.n, sh.l)][1] ** 2
    return r * BOHR, u / (4 * np.pi * r**2) / BOHR**3


def core_shells(element: str, zval: float | None = None) -> tuple[Shell, ...]:
    """Occupied subshells (with electrons) of the neutral atom that are not in the valence.

    Args:
        element: element symbol.
        zval: valence electrons (MP default when None).

    Returns:
        Shells sorted by (n, l); their electrons sum to Z − ZVAL (for lanthanide ``_3``/``_2`` potentials the
        4f shell gives up the electron the valence holds in 5d).
    """
    from pymatgen.core import Element

    sym = _symbol_of(element)
    shells = valence_shells(sym, zval)
    valence = {(s.n, s.l): s.electrons for s in shells}
    out = []
    for n, l, e in _configuration(sym):
        rest = e - valence.get((n, _L_OF[l]), 0.0)
        if rest > 1e-9:
            out.append(Shell(n, _L_OF[l], rest))
    # f-in-core potentials promote one 4f electron to 5d: take it out of the core 4f shell
    excess = sum(s.electrons for s in out) + sum(valence.values()) - Element(sym).Z
    if excess > 1e-9:
        out = [Shell(s.n, s.l, s.electrons - excess) if (s.l == 3 and s.electrons > excess) else s for s in out]
    return tuple(sorted(out, key=lambda s: (s.n, s.l)))


def orbital_mean_radius(element: str, n: int, l: int) -> float:  # noqa: E741
    """Mean radius ⟨r⟩ of subshell (n, l) of the neutral atom, in Å, from a self-consistent LDA atom.

    Computed once per element and process (about 0.2 s) and rounded to 4 significant digits, so that
    results do not depend on the last bits of the linear-algebra library. Subshells the solver did not
    produce (unbound or beyond its list) fall back to Slater's rules: ⟨r⟩ = (2n* + 1)/(2ζ).

    Args:
        element: element symbol.
        n, l: the subshell.

    Returns:
        ⟨r⟩ in Å.
    """
    import math

    sym = _symbol_of(element)
    radius = _lda_table(sym).get((n, l), (0.0, float("nan")))[1]
    if not math.isfinite(radius):
        radius = (2 * _effective_n(n) + 1) / (2 * slater_exponent(sym, n, l))
    radius *= BOHR
    return float(f"{radius:.4g}")


# ------------------------------------------------------------------------------- configurations
@lru_cache(maxsize=None)
def _configuration(element: str) -> tuple[tuple[int, str, float], ...]:
    """Ground-state configuration ((n, 'l', electrons), ...) from pymatgen, Aufbau order."""
    from pymatgen.core import Element

    try:
        structure = Element(element).full_electronic_structure
    except (KeyError, ValueError) as exc:
        raise ValueError(f"pymatgen has no electronic configuration for {element}") from exc
    return tuple((int(n), str(l), float(e)) for n, l, e in structure)


def slater_exponent(
    element: str, n: int, l: int, configuration: tuple[tuple[int, int, float], ...] | None = None  # noqa: E741
) -> float:
    """Slater-rule orbital exponent ζ = (Z − σ)/n* of subshell (n, l) of the neutral atom, in 1/bohr.

    Slater's groups are (1s)(2s,2p)(3s,3p)(3d)(4s,4p)(4d)(4f)(5s,5p)(5d)...; an electron is screened by
    0.35 per other electron of its own group (0.30 in 1s), and, for s/p electrons, 0.85 per electron with
    principal number n−1 and 1.00 per deeper electron; d/f electrons are screened 1.00 by every electron
    in a group to their left. (J. C. Slater, Phys. Rev. 36, 57, 1930.)

    Args:
        element: element symbol.
        n, l: the subshell.
        configuration: ((n, l, electrons), ...) to screen with; the ground state when None.

    Returns:
        ζ in bohr⁻¹ (the orbital is r^(n*−1) e^(−ζ r)).
    """
    from pymatgen.core import Element

    z = Element(element).Z
    conf = configuration or tuple((a, _L_OF[b], c) for a, b, c in _configuration(element))

    def group(nn: int, ll: int) -> tuple[int, int]:
        return (nn, 0) if ll <= 1 else (nn, ll)

    target = group(n, l)
    sigma = 0.0
    for nn, ll, e in conf:
        g = group(nn, ll)
        if g == target:
            sigma += (0.30 if n == 1 else 0.35) * e
        elif g < target:
            if l <= 1 and nn == n - 1:
                sigma += 0.85 * e
            else:
                sigma += 1.00 * e
    sigma -= 0.30 if n == 1 else 0.35  # the electron does not screen itself
    return max(z - sigma, 0.5) / _effective_n(n)


def _effective_n(n: int) -> float:
    """Slater's effective principal quantum number n*."""
    return {1: 1.0, 2: 2.0, 3: 3.0, 4: 3.7, 5: 4.0, 6: 4.2}.get(n, 4.2)


@lru_cache(maxsize=None)
def _orbital_energies(element: str) -> dict[tuple[int, int], float]:
    """(n, l) → orbital energy in hartree: pymatgen's NIST LDA values, Slater-rule energies otherwise."""
    from pymatgen.core import Element

    el = Element(element)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = el.atomic_orbitals
    conf = _configuration(element)
    out: dict[tuple[int, int], float] = {}
    for n, l, _ in conf:
        key = (n, _L_OF[l])
        label = f"{n}{l}"
        if table and label in table:
            out[key] = float(table[label])
        elif el.Z > 92:
            # no NIST data (Z > 92): borrow the ordering of uranium, the heaviest element that has it
            out[key] = _orbital_energies("U").get(key, -0.5 * slater_exponent(element, n, _L_OF[l]) ** 2)
        else:
            out[key] = -0.5 * slater_exponent(element, n, _L_OF[l]) ** 2
    return out


def _is_f_in_core(symbol: str) -> int | None:
    """For lanthanide ``X_3``/``X_2`` POTCARs, the number of 5d+6s electrons (3 or 2); else None."""
    parts = symbol.split("_")
    if len(parts) >= 2 and parts[1] in {"2", "3"}:
        return int(parts[1])
    return None


@lru_cache(maxsize=None)
def _shells_cached(element: str, zval: float, f_in_core: int | None) -> tuple[Shell, ...]:
    conf = [(n, _L_OF[l], e) for n, l, e in _configuration(element)]
    energies = _orbital_energies(element)
    if f_in_core is not None:
        # 4f frozen in the core: valence is 5s² 5p⁶ plus (f_in_core) electrons in 5d/6s (6s² first)
        conf = [(n, l, e) for n, l, e in conf if not (n == 4 and l == 3) and not (n == 5 and l == 2) and not (n == 6 and l == 0)]
        conf.append((6, 0, 2.0))
        if f_in_core > 2:
            conf.append((5, 2, float(f_in_core - 2)))
            energies = dict(energies)
            energies.setdefault((5, 2), energies.get((6, 0), -0.15) - 0.01)
    order = sorted(conf, key=lambda s: (energies.get((s[0], s[1]), 0.0), -s[0], -s[1]), reverse=True)
    need = float(zval)
    picked: list[Shell] = []
    for n, l, e in order:
        if need <= 1e-9:
            break
        take = min(e, need)
        picked.append(Shell(n, l, take))
        need -= take
    if need > 1e-9:
        raise ValueError(f"{element} has fewer than {zval} electrons for its valence")
    return tuple(sorted(picked, key=lambda s: (s.n, s.l)))


def valence_shells(element: str, zval: float | None = None, *, potcar_symbol: str | None = None) -> tuple[Shell, ...]:
    """Occupied valence subshells of ``element`` holding ``zval`` electrons.

    Args:
        element: element symbol.
        zval: valence electrons to distribute; the MP default (:func:`default_valence`) when None.
        potcar_symbol: the POTCAR the count comes from; only used to detect lanthanide ``_3``/``_2``
            potentials (4f in the core). When None it is looked up from ``zval`` among the element's POTCARs.

    Returns:
        Shells sorted by (n, l); their electrons sum to ``zval``.

    Raises:
        ValueError: ``zval`` exceeds the atomic number.
    """
    sym = _symbol_of(element)
    if zval is None:
        zval = default_valence(sym)
        potcar_symbol = potcar_symbol or default_potcar_symbol(sym)
    if potcar_symbol is None:
        candidates = [s for s, z in _element_potcars(sym) if abs(z - zval) < 1e-6]
        default = default_potcar_symbol(sym)
        potcar_symbol = default if default in candidates else (candidates[0] if candidates else None)
    f_in_core = _is_f_in_core(potcar_symbol) if potcar_symbol else None
    return _shells_cached(sym, float(zval), f_in_core)


def match_valence(
    counts: dict[str, float], n_electrons: float, *, max_combinations: int = 20000
) -> dict[str, float]:
    """Per-element valence counts that reproduce a file's electron count.

    Calculations that did not use the MP default POTCARs integrate to a different count (a NaCl run
    with ``Na`` instead of ``Na_pv`` holds 8 electrons, not 14). The rule: among all combinations of the
    elements' available POTCAR valences (:func:`valence_options`), pick the one whose total is closest
    to ``n_electrons``; ties go to the combination closest to the MP defaults (sum of |ΔZVAL| per atom),
    then to the one that changes heavier elements' valences less. Dropping or adding whole
    semicore shells is thereby what changes; which shells are dropped follows from
    :func:`valence_shells` (the most strongly bound ones first).

    Args:
        counts: element symbol → number of atoms.
        n_electrons: electrons in the cell (the file's mean of ρ·V).
        max_combinations: above this many combinations, only MP default and the element's extreme options
            are tried.

    Returns:
        element symbol → valence electrons per atom.
    """
    elements = sorted(counts, key=lambda e: _symbol_of(e))
    defaults = {e: default_valence(e) for e in elements}
    options = {e: valence_options(e) for e in elements}
    total_combos = 1
    for e in elements:
        total_combos *= len(options[e])
    if total_combos > max_combinations:
        options = {e: tuple(sorted({min(o), defaults[e], max(o)})) for e, o in options.items()}
    best: tuple | None = None
    best_choice: dict[str, float] = dict(defaults)
    for combo in itertools.product(*(options[e] for e in elements)):
        total = sum(counts[e] * z for e, z in zip(elements, combo))
        miss = abs(total - n_electrons)
        change = sum(counts[e] * abs(z - defaults[e]) for e, z in zip(elements, combo))
        key = (round(miss, 6), round(change, 6), tuple(abs(z - defaults[e]) for e, z in zip(elements, combo)))
        if best is None or key < best:
            best = key
            best_choice = dict(zip(elements, combo))
    return best_choice
