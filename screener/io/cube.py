"""Periodic Gaussian cube files: header, atoms and the one value block (ρ in e/bohr³, or e/Å³)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING

import numpy as np

from ..config import BOHR_TO_ANGSTROM
from ..errors import InputError
from .chgcar import _check_lattice, _line, _read_block

if TYPE_CHECKING:
    from pymatgen.core import Structure


@dataclass(frozen=True)
class _CubeHeader:
    n_atoms: int
    origin: np.ndarray  # bohr (or Å)
    counts: tuple[int, int, int]  # signed voxel counts (negative: Å units)
    vectors: np.ndarray  # (3, 3) voxel vectors

    @property
    def dims(self) -> tuple[int, int, int]:
        return tuple(abs(c) for c in self.counts)  # type: ignore[return-value]

    @property
    def length_scale(self) -> float:
        """Å per file length unit (a negative voxel count means Å, and ρ in e/Å³)."""
        return BOHR_TO_ANGSTROM if self.counts[0] > 0 else 1.0


def _floats(tokens: list[bytes], count: int, path: str, what: str) -> list[float]:
    if len(tokens) < count:
        raise InputError(path, f"not a Gaussian cube file: {what} has {len(tokens)} fields, expected {count}")
    try:
        return [float(token) for token in tokens[:count]]
    except ValueError:
        raise InputError(path, f"not a Gaussian cube file: non-numeric {what}") from None


def _cube_header(stream: IO[bytes], path: str) -> _CubeHeader:
    """Lines 3-6 of a cube file: atom count and origin, then three voxel counts and vectors."""
    _line(stream, path)
    _line(stream, path)
    first = _floats(_line(stream, path).split(), 4, path, "line 3 (atoms, origin)")
    axes = [_floats(_line(stream, path).split(), 4, path, f"line {4 + i} (voxels, vector)") for i in range(3)]
    n_atoms = int(first[0])
    counts = tuple(int(axis[0]) for axis in axes)
    if n_atoms < 0:
        raise InputError(path, "molecular-orbital cube file (negative atom count), not a density")
    if n_atoms == 0:
        raise InputError(path, "cube file has no atoms")
    if 0 in counts:
        raise InputError(path, "grid dimensions must be non-zero")
    if len({c > 0 for c in counts}) != 1:
        raise InputError(path, "cube header mixes bohr and Å voxel vectors")
    return _CubeHeader(n_atoms, np.array(first[1:4]), counts, np.array([axis[1:4] for axis in axes]))  # type: ignore[arg-type]


def _read_cube(path: str, stream: IO[bytes]) -> tuple[Structure, np.ndarray, tuple[int, int, int]]:
    """Structure, ρ (e/Å³, float64) and grid from a stream over the (decompressed) text."""
    from pymatgen.core import Element, Lattice, Structure

    header = _cube_header(stream, path)
    scale = header.length_scale
    lattice = header.vectors * np.array(header.dims)[:, None] * scale
    _check_lattice(lattice, path)
    species, coords = [], []
    for index in range(header.n_atoms):
        fields = _floats(_line(stream, path).split(), 5, path, f"atom line {index + 1}")
        try:
            species.append(Element.from_Z(int(fields[0])))
        except ValueError:
            raise InputError(path, f"atom line {index + 1}: no element with Z = {fields[0]:g}") from None
        coords.append(fields[2:5])
    cartesian = (np.array(coords) - header.origin) * scale
    structure = Structure(Lattice(lattice), species, cartesian, coords_are_cartesian=True)
    values, _ = _read_block(stream, header.dims, path, 1, order="C")  # z fastest
    if not _only_whitespace_left(stream):
        raise InputError(path, f"too many values in cube data: more than the {math.prod(header.dims):,} its grid declares")
    values /= scale**3  # e/bohr³ → e/Å³, in place
    return structure, values, header.dims


def _only_whitespace_left(stream: IO[bytes], *, chunk: int = 1 << 20) -> bool:
    """True when the rest of the stream is whitespace (read in bounded chunks)."""
    while block := stream.read(chunk):
        if block.strip():
            return False
    return True
