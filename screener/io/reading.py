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
import functools
import hashlib
import io
import lzma
import math
import os
import zlib
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

import numpy as np

from ..config import BOHR_TO_ANGSTROM, ReadLimits
from ..errors import InputError
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
        rho: total electron density in e/Å³, float32, shape ``grid``, index [x, y, z] (VASP files
            keep their memory order, x fastest, i.e. a Fortran-ordered array).
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


def detect_compression(raw: bytes | memoryview, filename: str) -> str | None:
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


def _inflate_gzip_fast(raw: bytes | memoryview, max_bytes: int) -> memoryview | None:
    """One-shot gzip inflate through pyarrow (about 2× faster than zlib here), sized from the trailer.

    The gzip trailer's ISIZE is the uncompressed size modulo 2³² of the last member. When it is
    too small (multi-member files, files over 4 GiB) pyarrow fails; when it is too large pyarrow pads
    with zero bytes, which a text file never ends with. Either way return None and let zlib decide.
    """
    import pyarrow as pa

    size = int.from_bytes(raw[-4:], "little")
    if not 0 < size <= max_bytes:
        return None
    try:
        out = memoryview(pa.decompress(raw, decompressed_size=size, codec="gzip"))  # no copy to bytes
    except (OSError, ValueError, pa.ArrowException):
        return None
    return out if out[-1:] != b"\x00" else None


def _inflate_stream(raw: bytes | memoryview, codec: str, path: str, *, max_bytes: int) -> bytes:
    """Decompress every member of a gzip/bzip2/xz stream, stopping beyond ``max_bytes``.

    Concatenated members (``cat a.gz b.gz``, bgzip, pbzip2) are one file, as gzip itself reads them.
    """
    chunks: list[bytes] = []
    total = 0
    data = raw
    while True:
        inflater = _inflater(codec)
        try:
            out = inflater.decompress(data, max_bytes + 1 - total)
        except (OSError, EOFError, zlib.error, lzma.LZMAError, ValueError) as exc:
            raise InputError(path, f"corrupt {codec} data ({exc})") from None
        chunks.append(out)
        total += len(out)
        if total > max_bytes:
            raise InputError(path, f"decompresses to more than {max_bytes:,} bytes, more than its declared grid can hold")
        if not getattr(inflater, "eof", True):
            raise InputError(path, f"truncated {codec} stream (the compressed file ends early)")
        data = inflater.unused_data
        if not data.strip(b"\x00"):  # trailing padding after the last member
            return b"".join(chunks)


def _inflate(raw: bytes | memoryview, codec: str, path: str, *, max_bytes: int) -> bytes | memoryview:
    """Decompress ``raw``, refusing output beyond ``max_bytes`` (decompression bombs)."""
    if codec == "gzip" and (fast := _inflate_gzip_fast(raw, max_bytes)) is not None:
        return fast
    return _inflate_stream(raw, codec, path, max_bytes=max_bytes)


def _inflate_head(raw: bytes | memoryview, codec: str, path: str) -> bytes:
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


def _split_poscar_block(stream: IO[bytes], path: str) -> str:
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


def _remaining(stream: IO[bytes]) -> int:
    """Bytes left after the stream's position."""
    position = stream.tell()
    end = stream.seek(0, io.SEEK_END)
    stream.seek(position)
    return end - position


def _next_nonempty(stream: IO[bytes]) -> bytes:
    while True:
        line = stream.readline()
        if not line or line.strip():
            return line


def _read_block(
    stream: IO[bytes], dims: tuple[int, int, int], path: str, block: int, *, order: str = "F"
) -> tuple[np.ndarray, float]:
    """Read one block of NGX*NGY*NGZ values (x fastest for VASP, ``order="F"``; z fastest for cube, "C").

    Returns:
        An (nx, ny, nz) float64 view (no copy) and the mean of the values.
    """
    from pymatgen.optimization.fast_parser import parse_n_doubles

    count = math.prod(dims)
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
    mean = float(values.mean())
    if not math.isfinite(mean):  # a NaN or inf anywhere makes the mean non-finite
        bad = int(np.count_nonzero(~np.isfinite(values)))
        raise InputError(path, f"{bad:,} NaN or inf values in data block {block}")
    return values.reshape(dims, order=order), mean


def _skip_to_next_block(stream: IO[bytes], dims: tuple[int, int, int], n_atoms: int, path: str) -> bool:
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
            remaining = _remaining(stream)
            if not 0 <= count <= remaining // 2:  # each value takes at least 2 bytes
                raise InputError(path, f"augmentation block declares {count:,} values, more than the file holds")
            scratch = np.empty(count)
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


@dataclass(frozen=True)
class _VaspHeader:
    structure: Structure
    dims: tuple[int, int, int]
    data_offset: int  # byte offset of the first value in the decompressed text


def _parse_vasp_header(head: bytes, path: str) -> _VaspHeader:
    """Structure and grid of a VASP volumetric file, from its first bytes."""
    stream = io.BytesIO(head)
    structure = _parse_poscar(_split_poscar_block(stream, path), path)
    line = _next_nonempty(stream)
    if not line:
        raise InputError(path, "no grid line after the structure header")
    return _VaspHeader(structure, _parse_grid_line(line, path), stream.tell())


def _read_vasp_blocks(text: bytes | memoryview, header: _VaspHeader, path: str) -> tuple[list[np.ndarray], float]:
    """All value blocks (total, then 1 or 3 magnetization blocks) and the mean of the first."""
    stream = _byte_stream(text)
    stream.seek(header.data_offset)
    total, mean = _read_block(stream, header.dims, path, 1)
    blocks = [total]
    while _skip_to_next_block(stream, header.dims, len(header.structure), path):
        blocks.append(_read_block(stream, header.dims, path, len(blocks) + 1)[0])
        if len(blocks) > 4:
            raise InputError(path, "more than four data blocks (total + 3 magnetization components)")
    if len(blocks) == 3:
        raise InputError(path, "three data blocks: neither collinear (2) nor non-collinear (4)")
    return blocks, mean


def _scaled_float32(block: np.ndarray, scale: float) -> np.ndarray:
    """block · scale as float32 in one contiguous pass, keeping the file's memory order (x fastest)."""
    out = np.empty(block.shape, dtype=np.float32, order="F")
    np.multiply(block, scale, out=out, casting="same_kind")
    return out


# ---------------------------------------------------------------------------------------------
# Gaussian cube files
# ---------------------------------------------------------------------------------------------


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
    stream.readline()
    stream.readline()
    first = _floats(stream.readline().split(), 4, path, "line 3 (atoms, origin)")
    axes = [_floats(stream.readline().split(), 4, path, f"line {4 + i} (voxels, vector)") for i in range(3)]
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


def _read_cube(path: str, text: bytes | memoryview) -> tuple[Structure, np.ndarray, tuple[int, int, int]]:
    from pymatgen.core import Element, Lattice, Structure

    stream = _byte_stream(text)
    header = _cube_header(stream, path)
    scale = header.length_scale
    lattice = header.vectors * np.array(header.dims)[:, None] * scale
    _check_lattice(lattice, path)
    species, coords = [], []
    for index in range(header.n_atoms):
        fields = _floats(stream.readline().split(), 5, path, f"atom line {index + 1}")
        try:
            species.append(Element.from_Z(int(fields[0])))
        except ValueError:
            raise InputError(path, f"atom line {index + 1}: no element with Z = {fields[0]:g}") from None
        coords.append(fields[2:5])
    cartesian = (np.array(coords) - header.origin) * scale
    structure = Structure(Lattice(lattice), species, cartesian, coords_are_cartesian=True)
    values, _ = _read_block(stream, header.dims, path, 1, order="C")  # z fastest
    if stream.read().strip():
        raise InputError(path, f"too many values in cube data: more than the {math.prod(header.dims):,} its grid declares")
    return structure, values / scale**3, header.dims  # e/bohr³ → e/Å³


# ---------------------------------------------------------------------------------------------
# Public entry point
# ---------------------------------------------------------------------------------------------


def read_density(
    path: str | Path,
    *,
    root: str | Path | None = None,
    limits: ReadLimits | None = None,
    raw: bytes | memoryview | None = None,
    sha256: str | None = None,
) -> DensityRecord:
    """Read one charge-density file into a :class:`DensityRecord` in physical units.

    Args:
        path: a CHGCAR, CHG, AECCAR0/1/2, PARCHG or Gaussian cube file, plain or compressed
            (``.gz``, ``.bz2``, ``.xz``, ``.lzma``).
        root: the input root it was discovered under (decides the record's ``name``).
        limits: header limits, checked before anything large is allocated.
        raw: the file's bytes, when the caller has already read them (``bytes`` or a view).
        sha256: their SHA-256, when the caller has already computed it.

    Raises:
        InputError: for anything that is not a usable density, naming the file and the reason
            (an unexpected failure while parsing is reported the same way, never as a traceback).
    """
    path_str = str(path)
    try:
        return _read_density(path, root=root, limits=limits or ReadLimits(), raw=raw, sha256=sha256)
    except InputError:
        raise
    except MemoryError:
        raise InputError(path_str, "not enough memory to hold this density") from None
    except Exception as exc:  # a parser failure on malformed input is still the input's fault
        raise InputError(path_str, f"unreadable ({type(exc).__name__}: {exc})") from None


_reusable = threading.local()
#: files up to this size are read into a per-thread buffer that is reused from file to file, bytes.
_REUSABLE_MAX_BYTES = 1 << 30


def read_bytes_reusing(path: str | Path) -> memoryview | bytes:
    """A file's bytes in a per-thread buffer reused by the next call (no fresh allocation per file).

    A fresh 38 MB ``bytes`` costs its page faults on every file (~12 ms of a 128³ CHGCAR's ~28 ms
    read); reading into a buffer that stays mapped avoids them. The view is valid only until this
    thread's next call: parse it, hash it, and let it go. Files over ``_REUSABLE_MAX_BYTES`` come
    back as plain ``bytes``.

    Raises:
        InputError: the file cannot be read.
    """
    try:
        with open(path, "rb", buffering=0) as handle:
            size = os.fstat(handle.fileno()).st_size
            if size > _REUSABLE_MAX_BYTES:
                return handle.read()
            buffer: bytearray | None = getattr(_reusable, "buffer", None)
            if buffer is None or len(buffer) < size + 1:
                # a new object rather than a resize: an earlier view may still be exported
                buffer = _reusable.buffer = bytearray(size + 1)
            view = memoryview(buffer)
            count = 0
            while count < size + 1:  # one byte more than fstat said: a file that grew is read whole
                got = handle.readinto(view[count:])
                if not got:
                    break
                count += got
            if count > size:  # it grew while we read it; fall back to reading it in one piece
                handle.seek(0)
                return handle.read()
            return view[:count]
    except OSError as exc:
        raise InputError(str(path), f"cannot read file ({exc.strerror or exc})") from None


class _BufferStream(io.RawIOBase):
    """A seekable binary stream over a ``memoryview``, without copying it (``io.BytesIO`` would)."""

    def __init__(self, view: memoryview) -> None:
        super().__init__()
        self._view = view.cast("B") if view.format != "B" else view
        self._size = len(self._view)
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = min(max(base + offset, 0), self._size)
        return self._pos

    def readinto(self, target) -> int:
        count = min(len(target), self._size - self._pos)
        target[:count] = self._view[self._pos : self._pos + count]
        self._pos += count
        return count

    def read(self, size: int = -1) -> bytes:
        end = self._size if size is None or size < 0 else min(self._size, self._pos + size)
        out = bytes(self._view[self._pos : end])
        self._pos = end
        return out

    def readline(self, size: int = -1) -> bytes:
        # Lines are short here (headers, augmentation titles): search in small copied windows.
        limit = self._size if size is None or size < 0 else min(self._size, self._pos + size)
        start = self._pos
        while start < limit:
            window = bytes(self._view[start : min(start + 256, limit)])
            newline = window.find(b"\n")
            if newline >= 0:
                return self.read(start + newline + 1 - self._pos)
            start += len(window)
        return self.read(limit - self._pos)


def _byte_stream(text: bytes | memoryview) -> IO[bytes]:
    """A binary stream over ``text``: no copy for bytes (``BytesIO`` shares it) nor for a reusable view."""
    return _BufferStream(text) if isinstance(text, memoryview) else io.BytesIO(text)  # type: ignore[return-value]


def _read_density(
    path: str | Path, *, root: str | Path | None, limits: ReadLimits, raw: bytes | memoryview | None, sha256: str | None
) -> DensityRecord:
    path_str = str(path)
    filename = Path(path).name
    kind = not_density_kind(filename)
    if kind:
        raise InputError(path_str, f"{kind} files hold volumetric data that is not a charge density; refused")
    if raw is None:
        raw = read_bytes_reusing(path)
    digest = _hash_in_background(raw) if sha256 is None else None
    codec = detect_compression(raw, filename)
    head = _inflate_head(raw, codec, path_str) if codec else bytes(raw[:_HEADER_BYTES])
    _check_text(head, path_str)

    magnetization = None
    spin = "none"
    if is_cube_name(filename):
        dims = _cube_header(io.BytesIO(head), path_str).dims
        points = math.prod(dims)
        _grid_capacity_check(points, len(raw), codec, path_str, limits)
        text = _inflate(raw, codec, path_str, max_bytes=points * _MAX_BYTES_PER_VALUE + _INFLATE_SLACK) if codec else raw
        structure, rho64, dims = _read_cube(path_str, text)
        n_electrons = float(rho64.mean() * structure.volume)
        rho = np.ascontiguousarray(rho64, dtype=np.float32)
        fmt = "cube"
    else:
        header = _parse_vasp_header(head, path_str)
        dims, structure = header.dims, header.structure
        points = math.prod(dims)
        _grid_capacity_check(points, len(raw), codec, path_str, limits)
        text = _inflate(raw, codec, path_str, max_bytes=4 * points * _MAX_BYTES_PER_VALUE + _INFLATE_SLACK) if codec else raw
        blocks, n_electrons = _read_vasp_blocks(text, header, path_str)
        inverse_volume = 1.0 / float(structure.volume)
        rho = _scaled_float32(blocks[0], inverse_volume)
        if len(blocks) == 2:
            spin, magnetization = "collinear", _scaled_float32(blocks[1], inverse_volume)
        elif len(blocks) == 4:
            spin = "noncollinear"
            magnetization = np.stack([_scaled_float32(block, inverse_volume) for block in blocks[1:]])
        fmt = vasp_kind_from_name(filename) or _guess_vasp_kind(text, header)
    if limits.check_electron_count and not (n_electrons > 0 and math.isfinite(n_electrons)):
        raise InputError(path_str, f"electron count {n_electrons:.4g} is not positive: not a charge density")
    return DensityRecord(
        name=record_name(path, root),
        structure=structure,
        rho=rho,
        magnetization=magnetization,
        grid=tuple(int(d) for d in dims),  # type: ignore[arg-type]
        n_electrons=n_electrons,
        path=path_str,
        sha256=sha256 if digest is None else digest.result(),
        format=fmt,
        spin=spin,
        compression=codec,
    )


@functools.lru_cache(maxsize=1)
def _hash_pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="screener-sha256")


def _hash_in_background(raw: bytes | memoryview) -> Future[str]:
    """SHA-256 of ``raw`` on a second core while the caller parses.

    hashlib releases the GIL while hashing a large buffer, but the parser does not; so wait until
    the hashing thread has started (and is about to release the GIL) before returning.
    """
    started = threading.Event()

    def work() -> str:
        started.set()
        return hashlib.sha256(raw).hexdigest()

    future = _hash_pool().submit(work)
    started.wait()
    return future


def _guess_vasp_kind(text: bytes | memoryview, header: _VaspHeader) -> str:
    """CHG files hold 10 values per line and no augmentation occupancies; CHGCAR files 5."""
    first = bytes(text[header.data_offset : header.data_offset + 4096])
    return "chg" if len(first.split(b"\n", 1)[0].split()) == 10 else "chgcar"
