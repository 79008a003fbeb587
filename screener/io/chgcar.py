"""VASP volumetric files (CHGCAR, CHG, AECCAR0/1/2, PARCHG): header, value blocks, augmentation skipping.

The parse goes through pymatgen: its ``Poscar`` parser for the header and its compiled
``parse_n_doubles`` fast path for the value blocks (the same pieces ``Chgcar.from_file`` uses),
driven over a seekable binary stream of the text. :func:`_read_block` and :func:`_check_lattice` serve the cube
parser too.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING

import numpy as np

from ..errors import InputError

if TYPE_CHECKING:
    from pymatgen.core import Structure


def _split_poscar_block(stream: IO[bytes], path: str) -> str:
    """Lines up to the first blank line: the POSCAR block of a volumetric file."""
    lines: list[bytes] = []
    while True:
        line = _line(stream, path)
        if not line:
            raise InputError(path, "no grid found: the file ends inside its structure header")
        stripped = line.strip()
        if not stripped and lines:
            return b"\n".join(lines).decode("utf-8", errors="replace")
        if stripped or not lines:
            lines.append(stripped)
        if len(lines) > 100_000:
            raise InputError(path, "no blank line after the structure header")


def _check_atom_lines(text: str, path: str) -> None:
    """Compare the atom counts of a POSCAR block with the coordinate lines it has (one clear message
    instead of pymatgen's ``IndexError``)."""
    lines = text.splitlines()
    index = 5
    counts = _ints(lines[index].split()) if len(lines) > index else None
    if counts is None:  # line 6 holds the species names, line 7 the counts
        index += 1
        counts = _ints(lines[index].split()) if len(lines) > index else None
    if not counts:
        return  # not a layout we can count; pymatgen reports what is wrong
    if min(counts) < 0 or sum(counts) == 0:
        raise InputError(path, f"structure header atom counts {counts[:10]} are not positive")
    index += 1
    if index < len(lines) and lines[index].strip()[:1] in ("S", "s"):  # "Selective dynamics"
        index += 1
    available = max(len(lines) - index - 1, 0)  # after the Direct/Cartesian line
    if sum(counts) > available:
        raise InputError(
            path, f"structure header counts {sum(counts):,} atoms but lists {available:,} coordinate lines"
        )


def _ints(tokens: list[str]) -> list[int] | None:
    try:
        return [int(token) for token in tokens] if tokens else None
    except ValueError:
        return None


def _parse_poscar(text: str, path: str) -> Structure:
    from pymatgen.io.vasp import Poscar

    _check_atom_lines(text, path)
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


#: longest line read outside a value block by default (see ``ReadLimits.max_line_bytes``), bytes.
_LINE_BYTES = 1 << 16
#: values parsed per step when skipping augmentation occupancies (bounded scratch memory).
_SKIP_CHUNK = 1 << 16


def _line(stream: IO[bytes], path: str, limit: int = _LINE_BYTES) -> bytes:
    """One line of at most ``limit`` bytes; a longer one is refused rather than split into tokens."""
    line = stream.readline(limit + 1)
    if len(line) > limit and not line.endswith(b"\n"):
        raise InputError(path, f"a line of more than {limit:,} bytes where a short header or grid line belongs")
    return line


def _next_nonempty(stream: IO[bytes], path: str = "", limit: int = _LINE_BYTES) -> bytes:
    while True:
        line = _line(stream, path, limit)
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
    start = stream.tell()
    first = stream.read(64).split(None, 1)[:1]
    stream.seek(start)
    parsed = parse_n_doubles(stream, values, count)
    end = stream.tell()
    if parsed != count:
        rest = stream.read(64).strip()
        if rest:
            token = rest.split()[0][:30]
            raise InputError(path, f"non-numeric token {token!r} in data block {block} at value {parsed + 1:,} of {count:,}")
        raise InputError(path, f"truncated data block {block}: expected {count:,} values, found {parsed:,}")
    tail = stream.readline(_LINE_BYTES + 1)
    if len(tail) > _LINE_BYTES and not tail.endswith(b"\n"):  # an endless line of values: never tokenized
        raise InputError(path, f"too many values in data block {block}: more than the {count:,} its grid {dims} declares")
    tail = tail.split()
    if tail and not _all_zero(tail):  # pymatgen's writer pads the last line with zeros; tolerate that
        raise InputError(path, f"too many values in data block {block}: more than the {count:,} its grid {dims} declares")
    if first and count > 2:
        _check_last_value(stream, start, end, len(tail) > 0, first[0], path, block)
    mean = float(values.mean())
    if not math.isfinite(mean):  # a NaN or inf anywhere makes the mean non-finite
        bad = int(np.count_nonzero(~np.isfinite(values)))
        raise InputError(path, f"{bad:,} NaN or inf values in data block {block}")
    return values.reshape(dims, order=order), mean


def _check_last_value(stream: IO[bytes], start: int, end: int, padded: bool, first: bytes, path: str, block: int) -> None:
    """Writers give every value of a block one width (VASP ``E18.11``, cube ``E13.5``): a last value
    narrower than both the first and the one before it was cut short (``0.56692403292E+03`` → ``0.56``)."""
    if padded:
        return  # a line of padding zeros follows: the last value was written whole
    resume = stream.tell()
    stream.seek(max(start, end - 128))
    window = stream.read(end - stream.tell()).split()
    stream.seek(resume)
    if len(window) < 2:
        return
    width = lambda token: len(token.lstrip(b"+-"))  # noqa: E731 - a sign is not part of the width
    last, before = window[-1], window[-2]
    if width(last) < width(first) and width(last) < width(before):
        raise InputError(
            path, f"the last value of data block {block} is cut short ({last.decode(errors='replace')!r}, "
            f"where every other value is written with {width(before)} characters): truncated file"
        )


def _skip_to_next_block(stream: IO[bytes], dims: tuple[int, int, int], n_atoms: int, path: str) -> bool:
    """Skip augmentation occupancies and per-atom moments; True when another grid block follows."""
    moments_limit = _LINE_BYTES + 32 * 3 * n_atoms  # a line of per-atom moments can be long
    while True:
        line = _next_nonempty(stream, path, moments_limit)
        if not line:
            return False
        stripped = line.strip()
        if stripped.startswith(b"augmentation occupancies"):
            try:
                count = int(stripped.rsplit(maxsplit=1)[-1])
            except ValueError:
                raise InputError(path, f"bad augmentation header {stripped[:60]!r}") from None
            if count < 0:
                raise InputError(path, f"augmentation block declares {count:,} values")
            _skip_values(stream, count, path)
            continue
        if b"." in stripped or b"E" in stripped.upper():
            # Only a line of per-atom magnetic moments directly before the next grid line may sit
            # here (ISPIN=2 CHGCARs); anything else is data beyond the declared grid.
            position = stream.tell()
            following = _next_nonempty(stream, path, moments_limit)
            stream.seek(position)
            if len(stripped.split()) > 3 * n_atoms or not _is_grid_line(following, dims):
                raise InputError(path, f"too many values: numbers after data block, beyond the grid {dims} it declares")
            continue
        if _parse_grid_line(stripped, path) != dims:
            raise InputError(path, f"second data block has grid {stripped[:60].decode(errors='replace')}, expected {dims}")
        return True


def _skip_values(stream: IO[bytes], count: int, path: str) -> None:
    """Parse and drop ``count`` augmentation values in bounded chunks (a huge declared count costs
    no allocation; the stream's own size cap ends it)."""
    from pymatgen.optimization.fast_parser import parse_n_doubles

    scratch = np.empty(min(count, _SKIP_CHUNK))
    left = count
    while left:
        step = min(left, _SKIP_CHUNK)
        if parse_n_doubles(stream, scratch, step) != step:
            raise InputError(path, f"truncated augmentation occupancies (declares {count:,} values)")
        left -= step


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
    line = _next_nonempty(stream, path)
    if not line:
        raise InputError(path, "no grid line after the structure header")
    return _VaspHeader(structure, _parse_grid_line(line, path), stream.tell())


def _read_vasp_blocks(stream: IO[bytes], header: _VaspHeader, path: str) -> tuple[list[np.ndarray], float]:
    """All value blocks (total, then 1 or 3 magnetization blocks) and the mean of the first, from a
    stream over the (decompressed) text."""
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


def _guess_vasp_kind(head: bytes, header: _VaspHeader) -> str:
    """CHG files hold 10 values per line and no augmentation occupancies; CHGCAR files 5 (from the head)."""
    first = bytes(head[header.data_offset : header.data_offset + 4096])
    return "chg" if len(first.split(b"\n", 1)[0].split()) == 10 else "chgcar"
