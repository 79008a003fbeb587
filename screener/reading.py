"""Reading CHGCAR-family files and periodic Gaussian cube files into one typed record.

The VASP parse goes through pymatgen: its ``Poscar`` parser for the header and its compiled
``parse_n_doubles`` fast path for the value blocks (the same pieces ``Chgcar.from_file`` uses),
driven here over an in-memory buffer so that the file is read once (for hashing and parsing),
compressed files are inflated in one call instead of line by line, and every way a file can be
broken is checked and reported with the file's name.

Units: VASP files hold ρ·V_cell (e); the record holds ρ in e/Å³. Cube files hold ρ in e/bohr³.
"""

from __future__ import annotations

import bz2
import hashlib
import io
import lzma
import math
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .config import BOHR_TO_ANGSTROM, ReadLimits
from .errors import InputError
from .naming import is_cube_name, not_density_kind, record_name, strip_compression, vasp_kind_from_name

if TYPE_CHECKING:
    from pymatgen.core import Structure

#: bytes of decompressed text read to parse a header before the full inflate.
_HEADER_BYTES = 1 << 20
#: generous upper bound on bytes per written value (VASP writes 18), for the inflate cap.
_MAX_BYTES_PER_VALUE = 40
#: slack for headers and augmentation occupancies in the inflate cap.
_INFLATE_SLACK = 64 << 20


@dataclass(frozen=True)
class DensityRecord:
    """One charge density in physical units.

    Attributes:
        name: calculation folder (VASP output names) or file stem; labels and outputs key on it.
        structure: the crystal (pymatgen ``Structure``, Å).
        rho: total electron density in e/Å³, float32, shape ``grid``, index [x, y, z].
        magnetization: spin density in μB/Å³ (float32): shape ``grid`` for collinear runs,
            ``(3, *grid)`` for non-collinear runs, None otherwise.
        grid: source grid (nx, ny, nz).
        n_electrons: ∫ρ dV over the cell (e); for VASP files the mean of the first block.
        path: source file.
        sha256: SHA-256 of the file's bytes (as stored, i.e. compressed if compressed).
        format: ``chgcar``, ``chg``, ``aeccar0``, ``aeccar1``, ``aeccar2``, ``parchg`` or ``cube``.
        spin: ``none``, ``collinear`` or ``noncollinear``.
        compression: ``gzip``, ``bzip2``, ``xz``, ``lzma`` or None.
    """

    name: str
    structure: Structure
    rho: np.ndarray
    magnetization: np.ndarray | None
    grid: tuple[int, int, int]
    n_electrons: float
    path: str
    sha256: str
    format: str
    spin: str
    compression: str | None

    @property
    def volume(self) -> float:
        """Cell volume in Å³."""
        return float(self.structure.volume)


def sha256_file(path: str | Path, *, chunk: int = 1 << 22) -> str:
    """SHA-256 of a file's bytes, read in chunks (constant memory)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def detect_compression(raw: bytes, filename: str) -> str | None:
    """Codec from the magic bytes, falling back to the suffix (legacy ``.lzma`` has no magic)."""
    if raw[:2] == b"\x1f\x8b":
        return "gzip"
    if raw[:3] == b"BZh":
        return "bzip2"
    if raw[:6] == b"\xfd7zXZ\x00":
        return "xz"
    codec = strip_compression(filename)[1]
    return "lzma" if codec == "lzma" else None


def _inflater(codec: str):
    if codec == "gzip":
        return zlib.decompressobj(wbits=47)  # 32 + 15: gzip or zlib header
    if codec == "bzip2":
        return bz2.BZ2Decompressor()
    return lzma.LZMADecompressor(format=lzma.FORMAT_AUTO)


def _inflate(raw: bytes, codec: str, path: str, *, max_bytes: int) -> bytes:
    """Decompress ``raw`` in one call, refusing output beyond ``max_bytes`` (decompression bombs)."""
    inflater = _inflater(codec)
    try:
        out = inflater.decompress(raw, max_bytes + 1)
    except (OSError, EOFError, zlib.error, lzma.LZMAError, ValueError) as exc:
        raise InputError(path, f"corrupt {codec} data ({exc})") from None
    if len(out) > max_bytes:
        raise InputError(path, f"decompresses to more than {max_bytes:,} bytes, more than its declared grid can hold")
    eof = getattr(inflater, "eof", True)
    if not eof:
        raise InputError(path, f"truncated {codec} stream (the compressed file ends early)")
    return out


def _inflate_head(raw: bytes, codec: str, path: str) -> bytes:
    """The first ``_HEADER_BYTES`` of the decompressed text (for the header check)."""
    try:
        return _inflater(codec).decompress(raw, _HEADER_BYTES)
    except (OSError, EOFError, zlib.error, lzma.LZMAError, ValueError) as exc:
        raise InputError(path, f"corrupt {codec} data ({exc})") from None


def _check_text(head: bytes, path: str) -> None:
    if not head.strip():
        raise InputError(path, "empty file")
    sample = head[:4096]
    if b"\x00" in sample or sum(byte > 127 for byte in sample) > len(sample) // 10:
        raise InputError(path, "binary data, not a text CHGCAR or cube file")


def _grid_capacity_check(points: int, raw_size: int, codec: str | None, path: str, limits: ReadLimits) -> None:
    """Refuse a declared grid before allocating it: over the limit, or more than the file can hold."""
    if points > limits.max_grid_points:
        raise InputError(
            path, f"declared grid of {points:,} points exceeds the limit of {limits.max_grid_points:,} (ReadLimits)"
        )
    if codec is None:
        capacity = raw_size // limits.min_bytes_per_value
    elif codec == "gzip":
        capacity = raw_size * limits.max_gzip_ratio // limits.min_bytes_per_value
    else:
        return  # bzip2/xz ratios are unbounded in principle; the grid limit and the inflate cap apply
    if points > capacity:
        raise InputError(
            path, f"declared grid of {points:,} points cannot fit in a file of {raw_size:,} bytes (truncated or corrupt)"
        )


# ---------------------------------------------------------------------------------------------
# VASP volumetric files
# ---------------------------------------------------------------------------------------------


def _split_poscar_block(stream: io.BytesIO, path: str) -> str:
    """Lines up to the first blank line: the POSCAR block of a volumetric file."""
    lines: list[bytes] = []
    while True:
        line = stream.readline()
        if not line:
            raise InputError(path, "no grid found: the file ends inside its structure header")
        stripped = line.strip()
        if not stripped and lines:
            return b"\n".join(lines).decode("utf-8", errors="replace")
        if stripped or not lines:
            lines.append(stripped)
        if len(lines) > 100_000:
            raise InputError(path, "no blank line after the structure header")


def _parse_poscar(text: str, path: str) -> Structure:
    from pymatgen.io.vasp import Poscar

    try:
        poscar = Poscar.from_str(text, read_velocities=False)
    except Exception as exc:  # pymatgen raises many types for a bad header
        raise InputError(path, f"cannot parse the structure header ({type(exc).__name__}: {exc})") from None
    structure = poscar.structure
    _check_lattice(structure.lattice.matrix, path)
    return structure


def _check_lattice(matrix: np.ndarray, path: str) -> None:
    if not np.all(np.isfinite(matrix)):
        raise InputError(path, "lattice contains NaN or inf")
    lengths = np.linalg.norm(matrix, axis=1)
    volume = abs(float(np.linalg.det(matrix)))
    if volume <= 1e-6 * max(float(np.prod(lengths)), 1e-30) or volume < 1e-3:
        raise InputError(path, f"singular lattice (cell volume {volume:.3g} Å³)")


def _parse_grid_line(line: bytes, path: str) -> tuple[int, int, int]:
    tokens = line.split()
    if len(tokens) != 3:
        raise InputError(path, f"expected a grid line 'NGX NGY NGZ', found {line.strip()[:60]!r}")
    try:
        dims = tuple(int(token) for token in tokens)
    except ValueError:
        raise InputError(path, f"grid line is not three integers: {line.strip()[:60]!r}") from None
    if min(dims) <= 0:
        raise InputError(path, f"grid dimensions must be positive, got {dims}")
    return dims  # type: ignore[return-value]


def _next_nonempty(stream: io.BytesIO) -> bytes:
    while True:
        line = stream.readline()
        if not line or line.strip():
            return line


def _read_block(stream: io.BytesIO, dims: tuple[int, int, int], path: str, block: int) -> np.ndarray:
    """Read one block of NGX*NGY*NGZ values (x fastest) into an (nx, ny, nz) float64 array."""
    from pymatgen.optimization.fast_parser import parse_n_doubles

    count = dims[0] * dims[1] * dims[2]
    values = np.empty(count, dtype=np.float64)
    parsed = parse_n_doubles(stream, values, count)
    if parsed != count:
        rest = stream.read(64).strip()
        if rest:
            token = rest.split()[0][:30]
            raise InputError(path, f"non-numeric token {token!r} in data block {block} at value {parsed + 1:,} of {count:,}")
        raise InputError(path, f"truncated data block {block}: expected {count:,} values, found {parsed:,}")
    tail = stream.readline().split()
    if tail and not _all_zero(tail):  # pymatgen's writer pads the last line with zeros; tolerate that
        raise InputError(path, f"too many values in data block {block}: more than the {count:,} its grid {dims} declares")
    if not np.all(np.isfinite(values)):
        bad = int(np.count_nonzero(~np.isfinite(values)))
        raise InputError(path, f"{bad:,} NaN or inf values in data block {block}")
    return values.reshape(dims, order="F")


def _skip_to_next_block(stream: io.BytesIO, dims: tuple[int, int, int], n_atoms: int, path: str) -> bool:
    """Skip augmentation occupancies and per-atom moments; True when another grid block follows."""
    from pymatgen.optimization.fast_parser import parse_n_doubles

    while True:
        line = _next_nonempty(stream)
        if not line:
            return False
        stripped = line.strip()
        if stripped.startswith(b"augmentation occupancies"):
            try:
                count = int(stripped.rsplit(maxsplit=1)[-1])
            except ValueError:
                raise InputError(path, f"bad augmentation header {stripped[:60]!r}") from None
            scratch = np.empty(max(count, 0))
            if parse_n_doubles(stream, scratch, count) != count:
                raise InputError(path, "truncated augmentation occupancies")
            continue
        if b"." in stripped or b"E" in stripped.upper():
            # Only a line of per-atom magnetic moments directly before the next grid line may sit
            # here (ISPIN=2 CHGCARs); anything else is data beyond the declared grid.
            position = stream.tell()
            following = _next_nonempty(stream)
            stream.seek(position)
            if len(stripped.split()) > 3 * n_atoms or not _is_grid_line(following, dims):
                raise InputError(path, f"too many values: numbers after data block, beyond the grid {dims} it declares")
            continue
        if _parse_grid_line(stripped, path) != dims:
            raise InputError(path, f"second data block has grid {stripped.decode(errors='replace')}, expected {dims}")
        return True


def _all_zero(tokens: list[bytes]) -> bool:
    try:
        return all(float(token) == 0.0 for token in tokens)
    except ValueError:
        return False


def _is_grid_line(line: bytes, dims: tuple[int, int, int]) -> bool:
    tokens = line.split()
    try:
        return tuple(int(token) for token in tokens) == dims
    except ValueError:
        return False


def _read_vasp(
    path: str, text: bytes, *, structure_only: bool = False
) -> tuple[Structure, np.ndarray, list[np.ndarray], tuple[int, int, int]]:
    stream = io.BytesIO(text)
    structure = _parse_poscar(_split_poscar_block(stream, path), path)
    grid_line = _next_nonempty(stream)
    if not grid_line:
        raise InputError(path, "no grid line after the structure header")
    dims = _parse_grid_line(grid_line, path)
    total = _read_block(stream, dims, path, 1)
    extra: list[np.ndarray] = []
    while _skip_to_next_block(stream, dims, len(structure), path):
        extra.append(_read_block(stream, dims, path, len(extra) + 2))
        if len(extra) > 3:
            raise InputError(path, "more than four data blocks (total + 3 magnetization components)")
    if len(extra) == 2:
        raise InputError(path, "three data blocks: neither collinear (2) nor non-collinear (4)")
    return structure, total, extra, dims


def _vasp_header_grid(head: bytes, path: str) -> tuple[int, int, int]:
    """Parse only as far as the grid line (for the capacity check)."""
    stream = io.BytesIO(head)
    text = _split_poscar_block(stream, path)
    structure = _parse_poscar(text, path)
    del structure
    line = _next_nonempty(stream)
    if not line:
        raise InputError(path, "no grid line after the structure header")
    return _parse_grid_line(line, path)


# ---------------------------------------------------------------------------------------------
# Gaussian cube files
# ---------------------------------------------------------------------------------------------


def _cube_header(stream: io.BytesIO, path: str) -> tuple[int, np.ndarray, list[tuple[int, np.ndarray]]]:
    stream.readline()
    stream.readline()
    try:
        first = stream.readline().split()
        n_atoms = int(first[0])
        origin = np.array([float(value) for value in first[1:4]])
        axes = []
        for _ in range(3):
            tokens = stream.readline().split()
            axes.append((int(tokens[0]), np.array([float(value) for value in tokens[1:4]])))
    except (IndexError, ValueError):
        raise InputError(path, "not a Gaussian cube file: bad header lines 3-6") from None
    if n_atoms < 0:
        raise InputError(path, "molecular-orbital cube file (negative atom count), not a density")
    if n_atoms == 0:
        raise InputError(path, "cube file has no atoms")
    for count, _ in axes:
        if count == 0:
            raise InputError(path, "grid dimensions must be non-zero")
    return n_atoms, origin, axes


def _read_cube(path: str, text: bytes, limits: ReadLimits, raw_size: int, codec: str | None):
    from pymatgen.core import Element, Lattice, Structure
    from pymatgen.optimization.fast_parser import parse_n_doubles

    stream = io.BytesIO(text)
    n_atoms, origin, axes = _cube_header(stream, path)
    # A negative voxel count means lengths in Å (and ρ in e/Å³) instead of bohr (and e/bohr³).
    signs = {count > 0 for count, _ in axes}
    if len(signs) != 1:
        raise InputError(path, "cube header mixes bohr and Å voxel vectors")
    length_scale = BOHR_TO_ANGSTROM if signs.pop() else 1.0
    dims = tuple(abs(count) for count, _ in axes)
    _grid_capacity_check(int(np.prod(dims)), raw_size, codec, path, limits)
    lattice = np.array([vector * abs(count) * length_scale for count, vector in axes])
    _check_lattice(lattice, path)
    species, coords = [], []
    for index in range(n_atoms):
        tokens = stream.readline().split()
        try:
            species.append(Element.from_Z(int(float(tokens[0]))))
            coords.append([float(value) for value in tokens[2:5]])
        except (IndexError, ValueError):
            raise InputError(path, f"bad atom line {index + 1} in the cube header") from None
    cartesian = (np.array(coords) - origin) * length_scale
    structure = Structure(Lattice(lattice), species, cartesian, coords_are_cartesian=True)
    count = int(np.prod(dims))
    values = np.empty(count, dtype=np.float64)
    parsed = parse_n_doubles(stream, values, count)
    if parsed != count:
        rest = stream.read(64).strip()
        if rest:
            raise InputError(path, f"non-numeric token {rest.split()[0][:30]!r} in cube data at value {parsed + 1:,}")
        raise InputError(path, f"truncated cube data: expected {count:,} values, found {parsed:,}")
    if stream.read().strip():
        raise InputError(path, f"too many values in cube data: more than the {count:,} its grid declares")
    if not np.all(np.isfinite(values)):
        raise InputError(path, "NaN or inf values in cube data")
    rho = values.reshape(dims) / length_scale**3  # z fastest (C order); e/bohr³ → e/Å³
    return structure, rho, dims


# ---------------------------------------------------------------------------------------------
# Public entry point
# ---------------------------------------------------------------------------------------------


def read_density(
    path: str | Path,
    *,
    root: str | Path | None = None,
    limits: ReadLimits | None = None,
    raw: bytes | None = None,
) -> DensityRecord:
    """Read one charge-density file into a :class:`DensityRecord` in physical units.

    Args:
        path: a CHGCAR, CHG, AECCAR0/1/2, PARCHG or Gaussian cube file, plain or compressed
            (``.gz``, ``.bz2``, ``.xz``, ``.lzma``).
        root: the input root it was discovered under (decides the record's ``name``).
        limits: header limits checked before anything large is allocated.
        raw: the file's bytes when already in memory (they are hashed as given).

    Raises:
        InputError: for anything that is not a usable density, naming the file and the reason.
    """
    limits = limits or ReadLimits()
    path_str = str(path)
    filename = Path(path).name
    kind = not_density_kind(filename)
    if kind:
        raise InputError(path_str, f"{kind} files hold volumetric data that is not a charge density; refused")
    if raw is None:
        try:
            raw = Path(path).read_bytes()
        except OSError as exc:
            raise InputError(path_str, f"cannot read file ({exc.strerror or exc})") from None
    sha256 = hashlib.sha256(raw).hexdigest()
    if not raw.strip():
        raise InputError(path_str, "empty file")
    codec = detect_compression(raw, filename)
    head = _inflate_head(raw, codec, path_str) if codec else raw[:_HEADER_BYTES]
    _check_text(head, path_str)
    is_cube = is_cube_name(filename)

    if not is_cube:
        dims = _vasp_header_grid(head, path_str)
        points = dims[0] * dims[1] * dims[2]
        _grid_capacity_check(points, len(raw), codec, path_str, limits)
        cap = 4 * points * _MAX_BYTES_PER_VALUE + _INFLATE_SLACK
    else:
        cap = limits.max_grid_points * _MAX_BYTES_PER_VALUE + _INFLATE_SLACK
    text = _inflate(raw, codec, path_str, max_bytes=cap) if codec else raw
    del raw

    magnetization = None
    spin = "none"
    if is_cube:
        structure, rho64, dims = _read_cube(path_str, text, limits, len(text), None)
        n_electrons = float(rho64.mean() * structure.volume)
        fmt = "cube"
    else:
        structure, total, extra, dims = _read_vasp(path_str, text)
        volume = float(structure.volume)
        n_electrons = float(total.mean())
        rho64 = total / volume
        if len(extra) == 1:
            spin, magnetization = "collinear", (extra[0] / volume).astype(np.float32)
        elif len(extra) == 3:
            spin = "noncollinear"
            magnetization = (np.stack(extra) / volume).astype(np.float32)
        fmt = vasp_kind_from_name(filename) or _guess_vasp_kind(text)
    if limits.check_electron_count and not (n_electrons > 0 and math.isfinite(n_electrons)):
        raise InputError(path_str, f"electron count {n_electrons:.4g} is not positive: not a charge density")
    return DensityRecord(
        name=record_name(path, root),
        structure=structure,
        rho=np.ascontiguousarray(rho64, dtype=np.float32),
        magnetization=magnetization,
        grid=tuple(int(d) for d in dims),  # type: ignore[arg-type]
        n_electrons=n_electrons,
        path=path_str,
        sha256=sha256,
        format=fmt,
        spin=spin,
        compression=codec,
    )


def _guess_vasp_kind(text: bytes) -> str:
    """CHG files hold 10 values per line and no augmentation occupancies; CHGCAR files 5."""
    stream = io.BytesIO(text[: 1 << 20])
    _split_poscar_block(stream, "")
    _next_nonempty(stream)
    first_data_line = stream.readline()
    return "chg" if len(first_data_line.split()) == 10 else "chgcar"
