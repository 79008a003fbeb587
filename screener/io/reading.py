"""Reading CHGCAR-family files and periodic Gaussian cube files into one typed record.

The VASP parse goes through pymatgen: its ``Poscar`` parser for the header and its compiled
``parse_n_doubles`` fast path for the value blocks (the same pieces ``Chgcar.from_file`` uses),
driven here over a stream of the file's text: a plain file is read from disk through a small
buffer (and hashed in a second pass on another core), a compressed one is inflated as a stream
(holding a few MiB of its text), so the memory of a read is bounded by the
declared grid whatever the file's bytes; every way a file can be broken is checked and reported
with the file's name.

Units: VASP files hold ρ·V_cell (e); the record holds ρ in e/Å³. Cube files hold ρ in e/bohr³.
"""

from __future__ import annotations

import hashlib
import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Callable

import numpy as np

from ..config import ReadLimits
from ..errors import InputError
from .buffers import (
    _HEADER_BYTES,
    RegularFile,
    _check_text,
    _grid_capacity_check,
    _hash_in_background,
    _inflate_head,
    detect_compression,
    open_text,
    read_bytes_reusing,
)
from .chgcar import _guess_vasp_kind, _parse_vasp_header, _read_vasp_blocks, _scaled_float32
from .cube import _cube_header, _read_cube
from .density_table import read_row, read_row_record, row_bytes, split_row_path
from .naming import is_cube_name, not_density_kind, record_name, vasp_kind_from_name

if TYPE_CHECKING:
    from pymatgen.core import Structure

#: formats whose total density counts valence electrons, a whole number for a neutral cell.
_VALENCE_FORMATS = ("chgcar", "chg")
#: how far from a whole number a valence electron count may be before it is flagged, e.
_ELECTRON_COUNT_TOLERANCE = 1e-3


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


def input_bytes(path: str | Path, *, max_bytes: int | None = None) -> bytes | memoryview:
    """The bytes that identify an input: a file's bytes (a per-thread reused view; only a regular
    file, never more than ``max_bytes``), or a table row's.

    Their SHA-256 is the input's id (resume and duplicate detection key on it). To get only the
    id, :func:`input_sha256` does not hold a file's bytes.
    """
    if split_row_path(path) is not None:
        try:
            return row_bytes(read_row(path))
        except (OSError, ValueError, IndexError) as exc:
            raise InputError(str(path), f"cannot read the table row ({exc})") from None
    return read_bytes_reusing(path, max_bytes=max_bytes)


def input_sha256(path: str | Path, *, max_bytes: int | None = None) -> str:
    """An input's id: the SHA-256 of a file's bytes, read in chunks (constant memory; only a regular
    file, never more than ``max_bytes`` bytes), or of a table row's bytes.

    Raises:
        InputError: the file or row cannot be read, is not a regular file, or is too large.
    """
    if split_row_path(path) is not None:
        return hashlib.sha256(input_bytes(path)).hexdigest()
    with RegularFile(path, max_bytes=max_bytes) as file:
        return file.sha256()


def read_density(
    path: str | Path,
    *,
    root: str | Path | None = None,
    limits: ReadLimits | None = None,
    raw: bytes | memoryview | None = None,
    sha256: str | None = None,
) -> DensityRecord:
    """Read one charge-density file into a :class:`DensityRecord` in physical units.

    Read from disk, a file's memory is bounded by its declared grid (the float64 values of its
    blocks, their float32 results, a few MiB of buffers), whatever its bytes: it is streamed, plain
    or compressed (and hashed in a second pass), and text beyond what the grid can need is refused.

    Args:
        path: a CHGCAR, CHG, AECCAR0/1/2, PARCHG or Gaussian cube file, plain or compressed
            (``.gz``, ``.bz2``, ``.xz``, ``.lzma``).
        root: the input root it was discovered under (decides the record's ``name``).
        limits: header limits, checked before anything large is allocated.
        raw: the file's bytes, when the caller already holds them (``bytes`` or a view); parsed
            in memory.
        sha256: their SHA-256, when the caller has already computed it.

    Raises:
        InputError: for anything that is not a usable density, naming the file and the reason
            (an unexpected failure while parsing is reported the same way, never as a traceback).
    """
    path_str = str(path)
    if split_row_path(path_str) is not None:  # a row of a density table (screener dft's Parquet)
        if sha256 is None and raw is not None:
            sha256 = hashlib.sha256(raw).hexdigest()
        return read_row_record(path_str, sha256=sha256)
    try:
        return _read_density(path, root=root, limits=limits or ReadLimits(), raw=raw, sha256=sha256)
    except InputError:
        raise
    except MemoryError:
        raise InputError(path_str, "not enough memory to hold this density") from None
    except Exception as exc:  # a parser failure on malformed input is still the input's fault
        raise InputError(path_str, f"unreadable ({type(exc).__name__}: {exc})") from None



def _size(source: bytes | memoryview | RegularFile) -> int:
    """Bytes of the file (as stored)."""
    return source.size if isinstance(source, RegularFile) else len(source)


def _prefix(source: bytes | memoryview | RegularFile, size: int) -> bytes:
    """The first ``size`` bytes of the file (as stored)."""
    return source.pread(0, size) if isinstance(source, RegularFile) else bytes(source[:size])


def _head(source: bytes | memoryview | RegularFile, codec: str | None, path: str, size: int) -> bytes:
    """The first ``size`` bytes of the (decompressed) text. Only a prefix of the compressed bytes is
    inflated (``size`` plus 64 KiB: text compresses, and even stored gzip blocks add only 5 bytes per
    64 KiB), so a file on disk is not read whole for it and the inflater's copy of the input it has
    not used does not grow with the file."""
    if not codec:
        return _prefix(source, size)
    limit = size + (1 << 16)
    compressed = source.pread(0, limit) if isinstance(source, RegularFile) else memoryview(source)[:limit]
    return _inflate_head(compressed, codec, path, size)


def _vasp_header(source, codec: str | None, path: str, head: bytes, limits: ReadLimits):
    """Parse the header from ``head``, reading a longer head (up to ``limits.header_bytes``) when a
    large cell's header does not fit in the first MiB. Returns (header, the head it came from)."""
    size = len(head)
    while True:
        try:
            return _parse_vasp_header(head, path), head
        except InputError as exc:
            cut = len(head) == size and "ends inside its structure header" in exc.reason
            if not cut:
                raise
            if size >= limits.header_bytes:
                raise InputError(path, f"structure header longer than {limits.header_bytes:,} bytes (ReadLimits.header_bytes)") from None
        size = min(size * 8, limits.header_bytes)
        head = _head(source, codec, path, size)


def _text_stream(
    source: bytes | memoryview | RegularFile,
    codec: str | None,
    path: str,
    points: int,
    limits: ReadLimits,
    *,
    sha256: str | None,
) -> tuple[IO[bytes], Callable[[], str]]:
    """The file's text as a stream capped at what the declared grid can need, and a function that
    gives the file's SHA-256 (``sha256`` when known, else hashed on a second core meanwhile).

    A file on disk is streamed and hashed in a second pass over the file, so its cost does not grow
    with its bytes: a plain file through a small buffer, a compressed one (whatever its size)
    through the streaming inflate, which holds a few MiB of its text. A file read in two passes
    (parse and hash) is refused if it changed in between.
    """
    stream = open_text(source, codec, path, max_bytes=limits.text_bytes(points))
    if isinstance(source, RegularFile):
        file = source
        digest = file.hash_in_background() if sha256 is None else None

        def finish() -> str:
            value = sha256 if digest is None else digest.result()
            file.check_unchanged()
            return value

        return stream, finish
    if sha256 is not None:
        return stream, lambda: sha256
    return stream, _hash_in_background(source).result


def electron_count_warning(record: DensityRecord) -> str | None:
    """A warning (not an error) when a valence density's electron count is not a whole number."""
    if record.format not in _VALENCE_FORMATS:
        return None
    nearest = round(record.n_electrons)
    if abs(record.n_electrons - nearest) > _ELECTRON_COUNT_TOLERANCE:
        return (
            f"n_electrons {record.n_electrons:.6f} is not within {_ELECTRON_COUNT_TOLERANCE:g} of a whole number "
            "(a cut-short, edited or charged-cell density?)"
        )
    return None


def _read_density(
    path: str | Path, *, root: str | Path | None, limits: ReadLimits, raw: bytes | memoryview | None, sha256: str | None
) -> DensityRecord:
    path_str = str(path)
    filename = Path(path).name
    kind = not_density_kind(filename)
    if kind:
        raise InputError(path_str, f"{kind} files hold volumetric data that is not a charge density; refused")
    if raw is not None:
        return _parse_density(path, raw, root=root, limits=limits, sha256=sha256)
    with RegularFile(path, max_bytes=limits.max_file_bytes) as file:
        return _parse_density(path, file, root=root, limits=limits, sha256=sha256)


def _parse_density(
    path: str | Path, source: bytes | memoryview | RegularFile, *, root: str | Path | None, limits: ReadLimits, sha256: str | None
) -> DensityRecord:
    path_str = str(path)
    filename = Path(path).name
    codec = detect_compression(_prefix(source, 6), filename)
    head = _head(source, codec, path_str, _HEADER_BYTES)
    _check_text(head, path_str)

    magnetization = None
    spin = "none"
    if is_cube_name(filename):
        dims = _cube_header(io.BytesIO(head), path_str).dims
        points = math.prod(dims)
        _grid_capacity_check(points, _size(source), codec, path_str, limits)
        stream, file_sha256 = _text_stream(source, codec, path_str, points, limits, sha256=sha256)
        structure, rho64, dims = _read_cube(path_str, stream)
        n_electrons = float(rho64.mean() * structure.volume)
        rho = np.ascontiguousarray(rho64, dtype=np.float32)
        del rho64
        fmt = "cube"
    else:
        header, head = _vasp_header(source, codec, path_str, head, limits)
        dims, structure = header.dims, header.structure
        points = math.prod(dims)
        _grid_capacity_check(points, _size(source), codec, path_str, limits)
        stream, file_sha256 = _text_stream(source, codec, path_str, points, limits, sha256=sha256)
        blocks, n_electrons = _read_vasp_blocks(stream, header, path_str)
        inverse_volume = 1.0 / float(structure.volume)
        rho = _scaled_float32(blocks[0], inverse_volume)
        if len(blocks) == 2:
            spin, magnetization = "collinear", _scaled_float32(blocks[1], inverse_volume)
        elif len(blocks) == 4:
            spin = "noncollinear"
            magnetization = np.stack([_scaled_float32(block, inverse_volume) for block in blocks[1:]])
        del blocks
        fmt = vasp_kind_from_name(filename) or _guess_vasp_kind(head, header)
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
        sha256=file_sha256(),
        format=fmt,
        spin=spin,
        compression=codec,
    )
