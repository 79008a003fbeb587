"""Leave out the materials of a held-out folder: inputs whose structure matches one of its files.

Matching is by structure (pymatgen's ``StructureMatcher`` with its default tolerances, primitive
cells, species kept), not by formula: another polymorph of a held-out compound stays in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .inputs import StructureInput

if TYPE_CHECKING:
    from pymatgen.core import Structure


@dataclass(frozen=True)
class Exclusion:
    """One left-out input: its id and formula and the held-out file its structure matches."""

    id: str
    formula: str
    matches: str


def held_out_structures(folder: str | Path) -> list[tuple[str, Structure]]:
    """(file name, structure) of every density or potential file under ``folder`` that has a structure.

    Reads headers only (any file ``screener`` reads: CHGCAR family, LOCPOT, cube; compressed or not).
    Files that cannot be read are skipped: they hold no structure to match.
    """
    found: list[tuple[str, Structure]] = []
    for path in sorted(Path(folder).rglob("*")):
        if not path.is_file():
            continue
        structure = read_structure(path)
        if structure is not None:
            found.append((path.name, structure))
    return found


def read_structure(path: Path) -> Structure | None:
    """The structure in the header of a VASP volumetric file (CHGCAR, AECCAR, LOCPOT, …) or a cube file; None if unreadable."""
    import bz2
    import gzip
    import lzma

    from pymatgen.io.vasp import Poscar

    name = path.name.lower()
    try:
        if ".cube" in name:
            from ..io.reading import read_density

            return read_density(path).structure
        opener = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}.get(path.suffix.lower(), open)
        lines: list[str] = []
        with opener(path, "rt", errors="replace") as handle:
            for line in handle:
                if not line.strip() and len(lines) > 8:
                    break
                lines.append(line)
                if len(lines) > 100_000:
                    return None
        return Poscar.from_str("".join(lines)).structure
    except Exception:  # not a VASP/cube file, or a damaged one: nothing to match
        return None


def find_exclusions(items: Iterable[StructureInput], references: list[tuple[str, Structure]]) -> list[Exclusion]:
    """The inputs whose structure matches a reference structure (same composition first, then StructureMatcher)."""
    from pymatgen.analysis.structure_matcher import StructureMatcher

    matcher = StructureMatcher()
    by_formula: dict[str, list[tuple[str, Structure]]] = {}
    for name, structure in references:
        by_formula.setdefault(structure.composition.reduced_formula, []).append((name, structure))
    excluded: list[Exclusion] = []
    for item in items:
        if item.structure is None:
            continue
        formula = item.structure.composition.reduced_formula
        for name, reference in by_formula.get(formula, []):
            if matcher.fit(item.structure, reference):
                excluded.append(Exclusion(item.id, formula, name))
                break
    return excluded
