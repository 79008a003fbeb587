"""Reading CHGCAR-family files and periodic Gaussian cube files into one typed record.

The VASP parse goes through pymatgen: its ``Poscar`` parser for the header and its compiled
``parse_n_doubles`` fast path for the value blocks (the same pieces ``Chgcar.from_file`` uses),
driven here over an in-memory buffer so that the file is read once (for hashing and parsing),
compressed files are inflated in one call instead of line by line, and every way a file can be
broken is checked and reported with the file's name.

Units: VASP files hold ρ·V_cell (e); the record holds ρ in e/Å³. Cube files hold ρ in e/bohr³.
"""

from __future__ import annotations

import hashlib
import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..config import ReadLimits
from ..errors import InputError
from .buffers import (
    _HEADER_BYTES,
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

    Their SHA-256 is the input's id (resume and duplicate detection key on it).
    """
    if split_row_path(path) is not None:
        try:
            return row_bytes(read_row(path))
        except (OSError, ValueError, IndexError) as exc:
            raise InputError(str(path), f"cannot read the table row ({exc})") from None
    return read_bytes_reusing(path, max_bytes=max_bytes)


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



def _head(raw: bytes | memoryview, codec: str | None, path: str, size: int) -> bytes:
    """The first ``size`` bytes of the (decompressed) text."""
    return _inflate_head(raw, codec, path, size) if codec else bytes(raw[:size])


def _vasp_header(raw, codec: str | None, path: str, head: bytes, limits: ReadLimits):
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
        head = _head(raw, codec, path, size)


def _text_stream(raw, codec: str | None, path: str, points: int, limits: ReadLimits):
    """The file's text as a stream: ``raw`` itself, a one-shot inflate when a gzip file's size fits
    one block of the grid (the common case, fastest), or a streaming inflate capped at what the
    declared grid can need."""
    fast = points * limits.max_bytes_per_value + limits.header_bytes // 8
    return open_text(raw, codec, path, max_bytes=limits.text_bytes(points), fast_bytes=fast)


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
    if raw is None:
        raw = read_bytes_reusing(path, max_bytes=limits.max_file_bytes)
    digest = _hash_in_background(raw) if sha256 is None else None
    codec = detect_compression(raw, filename)
    head = _head(raw, codec, path_str, _HEADER_BYTES)
    _check_text(head, path_str)

    magnetization = None
    spin = "none"
    if is_cube_name(filename):
        dims = _cube_header(io.BytesIO(head), path_str).dims
        points = math.prod(dims)
        _grid_capacity_check(points, len(raw), codec, path_str, limits)
        structure, rho64, dims = _read_cube(path_str, _text_stream(raw, codec, path_str, points, limits))
        n_electrons = float(rho64.mean() * structure.volume)
        rho = np.ascontiguousarray(rho64, dtype=np.float32)
        del rho64
        fmt = "cube"
    else:
        header, head = _vasp_header(raw, codec, path_str, head, limits)
        dims, structure = header.dims, header.structure
        points = math.prod(dims)
        _grid_capacity_check(points, len(raw), codec, path_str, limits)
        blocks, n_electrons = _read_vasp_blocks(_text_stream(raw, codec, path_str, points, limits), header, path_str)
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
        sha256=sha256 if digest is None else digest.result(),
        format=fmt,
        spin=spin,
        compression=codec,
    )
