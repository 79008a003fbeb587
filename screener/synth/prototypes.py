"""Built-in prototype crystal structures with chemically sensible element substitutions.

Each prototype (rocksalt, CsCl, zincblende, wurtzite, fluorite, antifluorite, cubic perovskite, rutile,
bcc, fcc, hcp, diamond, L1₂, B2) has element pools that respect charge balance or bonding type, and a
lattice built from radii in pymatgen's element data so that bond lengths are physical:

* ionic prototypes: sum of Shannon crystal radii (pymatgen ``Species.ionic_radius``) of cation and anion;
* covalent prototypes (zincblende, wurtzite, diamond): sum of Pauling's tetrahedral covalent radii
  (Cordero et al. 2008 radii from ``pymatgen.analysis.molecule_structure_comparator`` as fallback);
* metals and intermetallics: metallic radii (pymatgen ``Element.metallic_radius``).

:func:`generate_prototypes` draws ``count`` distinct structures deterministically from a seed: it shuffles
the candidates of every prototype and takes them round-robin over prototypes, so any prefix is diverse.
When more structures are asked for than there are distinct candidates, further ones are the same
compositions with a seeded isotropic strain of up to ±4 % in volume, named ``<name>_v<k>``.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from ..errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from pymatgen.core import Structure

__all__ = ["PROTOTYPES", "Prototype", "build_prototype", "generate_prototypes", "prototype_candidates"]

_SQRT3 = math.sqrt(3.0)


# ------------------------------------------------------------------------------------------ radii
@lru_cache(maxsize=None)
def _ionic(symbol: str, charge: int) -> float:
    """Shannon crystal radius in Å (pymatgen's ``Species.ionic_radius``)."""
    from pymatgen.core import Species

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        radius = Species(symbol, charge).ionic_radius
    if radius is None:
        raise ValueError(f"no ionic radius for {symbol}{charge:+d}")
    return float(radius)


@lru_cache(maxsize=None)
def _covalent(symbol: str) -> float:
    """Covalent radius in Å (Cordero 2008)."""
    from pymatgen.analysis.molecule_structure_comparator import CovalentRadius

    return float(CovalentRadius.radius[symbol])


#: Pauling's tetrahedral covalent radii in Å (L. Pauling, The Nature of the Chemical Bond, 3rd ed., 1960),
#: which reproduce sp³ bond lengths of diamond/zincblende/wurtzite crystals to about 2 %.
_TETRAHEDRAL = {
    "Be": 1.06, "B": 0.88, "C": 0.77, "N": 0.70, "O": 0.66, "Al": 1.26, "Si": 1.17, "P": 1.10, "S": 1.04,
    "Cl": 0.99, "Cu": 1.35, "Zn": 1.31, "Ga": 1.26, "Ge": 1.22, "As": 1.18, "Se": 1.14, "Br": 1.11,
    "Ag": 1.52, "Cd": 1.48, "In": 1.44, "Sn": 1.40, "Sb": 1.36, "Te": 1.32, "I": 1.28, "Hg": 1.48,
}


def _tetrahedral(symbol: str) -> float:
    """Tetrahedral covalent radius in Å (Pauling), falling back to Cordero's covalent radius."""
    return _TETRAHEDRAL.get(symbol) or _covalent(symbol)


@lru_cache(maxsize=None)
def _metallic(symbol: str) -> float:
    """Metallic radius in Å (12-coordinate), falling back to the atomic radius."""
    from pymatgen.core import Element

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        el = Element(symbol)
        radius = el.metallic_radius or el.atomic_radius
    if not radius:
        raise ValueError(f"no metallic radius for {symbol}")
    return float(radius)


# ------------------------------------------------------------------------------------- prototypes
@dataclass(frozen=True)
class Prototype:
    """A structure type.

    Attributes:
        key: short name used in structure names (``rocksalt``).
        roles: element roles in formula order (``("A", "X")``).
        pools: alternative pool sets; each maps a role to the elements (and, for ionic prototypes,
            oxidation states) allowed together, e.g. ``{"A": (("Na", 1), ...), "X": (("Cl", -1), ...)}``.
        build: (elements by role, pool charges by role) → (lattice 3×3 in Å, species list, fractional coords).
    """

    key: str
    roles: tuple[str, ...]
    pools: tuple[dict[str, tuple[tuple[str, int], ...]], ...]
    build: Callable[[dict[str, str], dict[str, int]], tuple[list[list[float]], list[str], list[list[float]]]]


_FCC = [[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]]


def _cubic(a: float) -> list[list[float]]:
    return [[a, 0, 0], [0, a, 0], [0, 0, a]]


def _hexagonal(a: float, c: float) -> list[list[float]]:
    return [[a, 0, 0], [-a / 2, a * _SQRT3 / 2, 0], [0, 0, c]]


def _shift(points: list[list[float]], t: Sequence[float]) -> list[list[float]]:
    return [[(p[i] + t[i]) % 1.0 for i in range(3)] for p in points]


def _rocksalt(el: dict[str, str], q: dict[str, int]) -> tuple:
    a = 2 * (_ionic(el["A"], q["A"]) + _ionic(el["X"], q["X"]))
    return _cubic(a), [el["A"]] * 4 + [el["X"]] * 4, _FCC + _shift(_FCC, (0.5, 0, 0))


def _cscl(el: dict[str, str], q: dict[str, int]) -> tuple:
    if q["A"]:
        d = _ionic(el["A"], q["A"]) + _ionic(el["X"], q["X"])
    else:
        d = _metallic(el["A"]) + _metallic(el["X"])
    a = 2 * d / _SQRT3
    return _cubic(a), [el["A"], el["X"]], [[0, 0, 0], [0.5, 0.5, 0.5]]


def _zincblende(el: dict[str, str], q: dict[str, int]) -> tuple:
    a = 4 * (_tetrahedral(el["A"]) + _tetrahedral(el["X"])) / _SQRT3
    return _cubic(a), [el["A"]] * 4 + [el["X"]] * 4, _FCC + _shift(_FCC, (0.25, 0.25, 0.25))


def _wurtzite(el: dict[str, str], q: dict[str, int]) -> tuple:
    d = _tetrahedral(el["A"]) + _tetrahedral(el["X"])
    a = d * math.sqrt(8.0 / 3.0)
    c = a * math.sqrt(8.0 / 3.0)
    u = 3.0 / 8.0
    coords = [[1 / 3, 2 / 3, 0], [2 / 3, 1 / 3, 0.5], [1 / 3, 2 / 3, u], [2 / 3, 1 / 3, 0.5 + u]]
    return _hexagonal(a, c), [el["A"]] * 2 + [el["X"]] * 2, coords


def _fluorite(el: dict[str, str], q: dict[str, int]) -> tuple:
    a = 4 * (_ionic(el["A"], q["A"]) + _ionic(el["X"], q["X"])) / _SQRT3
    anions = _shift(_FCC, (0.25, 0.25, 0.25)) + _shift(_FCC, (0.75, 0.75, 0.75))
    return _cubic(a), [el["A"]] * 4 + [el["X"]] * 8, _FCC + anions


def _antifluorite(el: dict[str, str], q: dict[str, int]) -> tuple:
    a = 4 * (_ionic(el["A"], q["A"]) + _ionic(el["X"], q["X"])) / _SQRT3
    cations = _shift(_FCC, (0.25, 0.25, 0.25)) + _shift(_FCC, (0.75, 0.75, 0.75))
    return _cubic(a), [el["A"]] * 8 + [el["X"]] * 4, cations + _FCC


def _perovskite(el: dict[str, str], q: dict[str, int]) -> tuple:
    a = 2 * (_ionic(el["B"], q["B"]) + _ionic(el["X"], q["X"]))
    coords = [[0.5, 0.5, 0.5], [0, 0, 0], [0.5, 0, 0], [0, 0.5, 0], [0, 0, 0.5]]
    return _cubic(a), [el["A"], el["B"], el["X"], el["X"], el["X"]], coords


def _rutile(el: dict[str, str], q: dict[str, int]) -> tuple:
    # TiO2 rutile (a = 4.594, c = 2.959 Å, u = 0.305) scaled by the cation–anion bond length
    d = _ionic(el["A"], q["A"]) + _ionic(el["X"], q["X"])
    scale = d / (_ionic("Ti", 4) + _ionic("O", -2))
    a, c, u = 4.594 * scale, 2.959 * scale, 0.305
    lattice = [[a, 0, 0], [0, a, 0], [0, 0, c]]
    coords = [[0, 0, 0], [0.5, 0.5, 0.5], [u, u, 0], [1 - u, 1 - u, 0], [0.5 + u, 0.5 - u, 0.5], [0.5 - u, 0.5 + u, 0.5]]
    return lattice, [el["A"]] * 2 + [el["X"]] * 4, coords


def _bcc(el: dict[str, str], q: dict[str, int]) -> tuple:
    a = 4 * _metallic(el["A"]) / _SQRT3
    return _cubic(a), [el["A"]] * 2, [[0, 0, 0], [0.5, 0.5, 0.5]]


def _fcc(el: dict[str, str], q: dict[str, int]) -> tuple:
    a = 2 * math.sqrt(2.0) * _metallic(el["A"])
    return _cubic(a), [el["A"]] * 4, [list(p) for p in _FCC]


def _hcp(el: dict[str, str], q: dict[str, int]) -> tuple:
    a = 2 * _metallic(el["A"])
    c = a * math.sqrt(8.0 / 3.0)
    return _hexagonal(a, c), [el["A"]] * 2, [[1 / 3, 2 / 3, 0.25], [2 / 3, 1 / 3, 0.75]]


def _diamond(el: dict[str, str], q: dict[str, int]) -> tuple:
    a = 8 * _tetrahedral(el["A"]) / _SQRT3
    return _cubic(a), [el["A"]] * 8, _FCC + _shift(_FCC, (0.25, 0.25, 0.25))


def _l12(el: dict[str, str], q: dict[str, int]) -> tuple:
    a = 2 * math.sqrt(2.0) * (3 * _metallic(el["A"]) + _metallic(el["B"])) / 4
    return _cubic(a), [el["A"]] * 3 + [el["B"]], [[0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0], [0, 0, 0]]


def _pool(*pairs: tuple[str, int]) -> tuple[tuple[str, int], ...]:
    return tuple(pairs)


def _same(charge: int, symbols: str) -> tuple[tuple[str, int], ...]:
    return tuple((s, charge) for s in symbols.split())


PROTOTYPES: tuple[Prototype, ...] = (
    Prototype(
        "rocksalt",
        ("A", "X"),
        (
            {"A": _same(1, "Li Na K Rb Ag"), "X": _same(-1, "F Cl Br I")},
            {"A": _same(2, "Mg Ca Sr Ba Mn Fe Co Ni Cd"), "X": _same(-2, "O S Se Te")},
            {"A": _same(3, "Sc Y La"), "X": _same(-3, "N P As")},
        ),
        _rocksalt,
    ),
    Prototype("CsCl", ("A", "X"), ({"A": _same(1, "Cs Tl"), "X": _same(-1, "Cl Br I")},), _cscl),
    Prototype(
        "zincblende",
        ("A", "X"),
        (
            {"A": _same(3, "B Al Ga In"), "X": _same(-3, "N P As Sb")},
            {"A": _same(2, "Be Zn Cd Hg"), "X": _same(-2, "S Se Te")},
            {"A": _same(1, "Cu Ag"), "X": _same(-1, "Cl Br I")},
            {"A": _same(4, "Si"), "X": _same(-4, "C")},
        ),
        _zincblende,
    ),
    Prototype(
        "wurtzite",
        ("A", "X"),
        (
            {"A": _same(3, "Al Ga In"), "X": _same(-3, "N")},
            {"A": _same(2, "Be Zn Cd"), "X": _same(-2, "O S Se")},
        ),
        _wurtzite,
    ),
    Prototype(
        "fluorite",
        ("A", "X"),
        (
            {"A": _same(2, "Ca Sr Ba Cd Pb"), "X": _same(-1, "F Cl")},
            {"A": _same(4, "Zr Hf Ce Th U"), "X": _same(-2, "O")},
        ),
        _fluorite,
    ),
    Prototype("antifluorite", ("A", "X"), ({"A": _same(1, "Li Na K Rb"), "X": _same(-2, "O S Se Te")},), _antifluorite),
    Prototype(
        "perovskite",
        ("A", "B", "X"),
        (
            {"A": _same(2, "Ca Sr Ba Pb"), "B": _same(4, "Ti Zr Hf Sn"), "X": _same(-2, "O")},
            {"A": _same(1, "Na K"), "B": _same(5, "Nb Ta"), "X": _same(-2, "O")},
            {"A": _same(3, "La"), "B": _same(3, "Al Ga Cr Fe Sc"), "X": _same(-2, "O")},
            {"A": _same(1, "K Rb Cs"), "B": _same(2, "Mg Zn Mn Ni Ca"), "X": _same(-1, "F")},
            {"A": _same(1, "Cs"), "B": _same(2, "Pb Sn"), "X": _same(-1, "Cl Br I")},
        ),
        _perovskite,
    ),
    Prototype(
        "rutile",
        ("A", "X"),
        (
            {"A": _same(4, "Ti Sn Ge Ru Mn Pb Ir Os Cr V Nb"), "X": _same(-2, "O")},
            {"A": _same(2, "Mg Zn Fe Co Ni Mn"), "X": _same(-1, "F")},
        ),
        _rutile,
    ),
    Prototype("bcc", ("A",), ({"A": _same(0, "Li Na K Rb Cs Ba V Nb Ta Cr Mo W Fe")},), _bcc),
    Prototype("fcc", ("A",), ({"A": _same(0, "Al Cu Ag Au Ni Pd Pt Pb Ca Sr Rh Ir")},), _fcc),
    Prototype("hcp", ("A",), ({"A": _same(0, "Be Mg Ti Zr Hf Zn Cd Co Ru Os Re Sc Y")},), _hcp),
    Prototype("diamond", ("A",), ({"A": _same(0, "C Si Ge Sn")},), _diamond),
    Prototype("L12", ("A", "B"), ({"A": _same(0, "Ni Cu Pt Pd"), "B": _same(0, "Al Au Fe Mn Ti Ga")},), _l12),
    Prototype("B2", ("A", "X"), ({"A": _same(0, "Ni Co Fe Cu Ag Pd"), "X": _same(0, "Al Ti Zn Mg Ga")},), _cscl),
)


def build_prototype(key: str, elements: dict[str, str], charges: dict[str, int] | None = None) -> Structure:
    """One prototype structure with the given elements.

    Args:
        key: prototype key (``rocksalt``, ``perovskite``, ...; see :data:`PROTOTYPES`).
        elements: role → element symbol, e.g. ``{"A": "Na", "X": "Cl"}``.
        charges: role → oxidation state used for ionic radii (looked up in the prototype's pools when None).

    Returns:
        A pymatgen ``Structure``.

    Raises:
        ConfigError: unknown prototype or elements outside its pools without charges.
    """
    from pymatgen.core import Lattice, Structure

    proto = {p.key: p for p in PROTOTYPES}.get(key)
    if proto is None:
        raise ConfigError(f"unknown prototype {key!r}; known: {', '.join(p.key for p in PROTOTYPES)}")
    if charges is None:
        charges = {}
        for pools in proto.pools:
            found = {role: dict(pools[role]).get(elements.get(role, "")) for role in proto.roles}
            if all(v is not None for v in found.values()):
                charges = {k: int(v) for k, v in found.items()}  # type: ignore[arg-type]
                break
        if not charges:
            raise ConfigError(f"{elements} is not among the {key} pools; give charges explicitly")
    lattice, species, coords = proto.build(elements, charges)
    return Structure(Lattice(lattice), species, coords)


def prototype_candidates() -> list[tuple[str, str, dict[str, str], dict[str, int]]]:
    """Every (name, prototype key, elements by role, charges by role) the pools allow, in a fixed order.

    Combinations for which pymatgen has no radius are left out.
    """
    from pymatgen.core import Composition

    out: list[tuple[str, str, dict[str, str], dict[str, int]]] = []
    seen: set[str] = set()
    for proto in PROTOTYPES:
        for pools in proto.pools:
            for combo in itertools.product(*(pools[role] for role in proto.roles)):
                elements = {role: sym for role, (sym, _) in zip(proto.roles, combo)}
                if len(set(elements.values())) != len(elements):
                    continue
                charges = {role: q for role, (_, q) in zip(proto.roles, combo)}
                structure_formula = {
                    "rocksalt": "AX", "CsCl": "AX", "zincblende": "AX", "wurtzite": "AX", "fluorite": "AX2",
                    "antifluorite": "A2X", "perovskite": "ABX3", "rutile": "AX2", "bcc": "A", "fcc": "A",
                    "hcp": "A", "diamond": "A", "L12": "A3B", "B2": "AX",
                }[proto.key]
                formula = structure_formula
                for role in sorted(proto.roles, key=len, reverse=True):
                    formula = formula.replace(role, f"{{{role}}}")
                formula = formula.format(**elements)
                name = f"{Composition(formula).reduced_formula}_{proto.key}"
                if name in seen:
                    continue
                try:  # pymatgen lacks a radius for a few ions (e.g. As3-): leave those out
                    proto.build(elements, charges)
                except (ValueError, KeyError):
                    continue
                seen.add(name)
                out.append((name, proto.key, elements, charges))
    return out


def generate_prototypes(count: int, *, seed: int = 0) -> dict[str, Structure]:
    """``count`` distinct prototype structures, deterministic for a seed.

    Args:
        count: number of structures (≥ 1).
        seed: seed of the draw (numpy ``default_rng``).

    Returns:
        name → ``Structure``, in draw order; names look like ``NaCl_rocksalt`` (``_v<k>`` for strained
        repeats once every candidate has been used).

    Raises:
        ConfigError: ``count`` < 1.
    """
    import numpy as np

    if count < 1:
        raise ConfigError(f"count must be at least 1, got {count}")
    rng = np.random.default_rng(seed)
    candidates = prototype_candidates()
    by_proto: dict[str, list[int]] = {}
    for i, (_, key, _, _) in enumerate(candidates):
        by_proto.setdefault(key, []).append(i)
    keys = [PROTOTYPES[i].key for i in rng.permutation(len(PROTOTYPES))]
    queues = {k: [by_proto[k][j] for j in rng.permutation(len(by_proto[k]))] for k in keys}
    order: list[int] = []
    while any(queues.values()):
        for k in keys:
            if queues[k]:
                order.append(queues[k].pop(0))
    out: dict[str, Structure] = {}
    round_index = 0
    while len(out) < count:
        for i in order:
            if len(out) >= count:
                break
            name, key, elements, charges = candidates[i]
            structure = build_prototype(key, elements, charges)
            if round_index:
                factor = float(1.0 + rng.uniform(-0.04, 0.04)) ** (1.0 / 3.0)
                structure = structure.copy()
                structure.scale_lattice(structure.volume * factor**3)
                name = f"{name}_v{round_index}"
            out[name] = structure
        round_index += 1
    return out
