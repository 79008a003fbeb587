"""Writing a density as a VASP CHGCAR: a vectorized Fortran ``E`` formatter and an atomic file write."""

from __future__ import annotations

import gzip
import os
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import ScreenerError

if TYPE_CHECKING:  # pragma: no cover
    from pymatgen.core import Structure


def structure_parts(structure: Structure) -> tuple[np.ndarray, np.ndarray, list[str], float]:
    """Lattice (rows, Å), fractional coordinates, element symbols and cell volume (Å³) of an ordered structure."""
    lattice = np.asarray(structure.lattice.matrix, dtype=np.float64)
    frac = np.asarray(structure.frac_coords, dtype=np.float64)
    symbols = []
    for site in structure:
        species = site.species
        if len(species) != 1 or abs(sum(species.values()) - 1.0) > 1e-8:
            raise ScreenerError(f"site {site.frac_coords} is disordered or partially occupied ({species}); order the structure first")
        symbols.append(next(iter(species)).symbol)
    volume = abs(float(np.linalg.det(lattice)))
    if not volume > 0:
        raise ScreenerError("the lattice is singular (zero cell volume)")
    return lattice, frac, symbols, volume


_POW_SPAN = 400


@lru_cache(maxsize=1)
def _powers_of_ten() -> np.ndarray:
    """10.0**k for k in [−400, 400] (float64; out-of-range entries are 0 or inf and never used)."""
    with np.errstate(over="ignore", under="ignore"):
        return np.array([float(f"1e{k}") for k in range(-_POW_SPAN, _POW_SPAN + 1)], dtype=np.float64)


@lru_cache(maxsize=1)
def _three_digit_table() -> np.ndarray:
    """ASCII of "000".."999" as a (1000, 3) uint8 array."""
    return np.frombuffer("".join(f"{i:03d}" for i in range(1000)).encode("ascii"), dtype=np.uint8).reshape(1000, 3)


def _divmod_1000(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(x // 1000, x % 1000) for non-negative int64 via a float estimate and an exact correction.

    numpy's integer division is several times slower than this; the float quotient is off by at most
    one for x < 2^63, which the correction step fixes.
    """
    q = np.floor(x * 1e-3).astype(np.int64)
    r = x - q * 1000
    neg = r < 0
    q[neg] -= 1
    r[neg] += 1000
    big = r >= 1000
    q[big] += 1
    r[big] -= 1000
    return q, r


def format_fortran_e(values: np.ndarray, *, significant_digits: int = 11, per_line: int = 5) -> bytes:
    """Format numbers like Fortran's ``E`` edit descriptor, vectorized (no per-value Python loop).

    Each value becomes ``" 0.DDDDDDDDDDDE+XX"`` (a blank or ``-`` sign, mantissa in [0.1, 1) with
    ``significant_digits`` digits, two- or three-digit exponent), preceded by one blank; ``per_line``
    values per line, the last line possibly shorter, every line ending in a newline.

    Args:
        values: finite numbers (any shape; flattened in C order).
        significant_digits: mantissa digits (1–16).
        per_line: values per line.

    Returns:
        ASCII bytes.

    Raises:
        ValueError: a non-finite value or an unsupported digit count.
    """
    d = int(significant_digits)
    if not 1 <= d <= 16:
        raise ValueError(f"significant_digits must be 1..16, got {significant_digits}")
    v = np.asarray(values, dtype=np.float64).ravel()
    if not np.all(np.isfinite(v)):
        raise ValueError("cannot write NaN or infinite values")
    n = v.size
    if n == 0:
        return b""
    a = np.abs(v)
    tiny = a < 1e-99  # would need a 3-digit negative exponent; flush to zero like VASP's own output
    a = np.where(tiny, 0.0, a)
    nonzero = a > 0
    exponent = np.floor(np.log10(np.where(nonzero, a, 1.0))).astype(np.int64) + 1
    exponent[~nonzero] = 0
    powers_of_ten = _powers_of_ten()
    # mantissa digits as an integer: a·10^(d−e), via a table of powers of ten (no per-value pow)
    digits_int = np.rint(a * powers_of_ten[np.clip(d - exponent, -_POW_SPAN, _POW_SPAN) + _POW_SPAN]).astype(np.int64)
    top = 10**d
    # log10 may be off by one near powers of ten; fix both directions, then rounding overflow
    low = nonzero & (digits_int < top // 10)
    if np.any(low):
        exponent[low] -= 1
        digits_int[low] = np.rint(a[low] * powers_of_ten[d - exponent[low] + _POW_SPAN]).astype(np.int64)
    high = digits_int >= top
    if np.any(high):
        exponent[high] += 1
        digits_int[high] = np.rint(a[high] * powers_of_ten[d - exponent[high] + _POW_SPAN]).astype(np.int64)
        still = digits_int >= top
        digits_int[still] = top // 10
        exponent[still] += 1
    exp_digits = 3 if np.any(np.abs(exponent) >= 100) else 2
    width = 1 + 1 + 2 + d + 2 + exp_digits  # blank, sign, "0.", digits, "E±", exponent
    template = np.frombuffer((b"  0." + b"0" * d + b"E+" + b"0" * exp_digits), dtype=np.uint8)
    buf = np.empty((n, width), dtype=np.uint8)
    buf[:] = template
    negative = np.signbit(v) & nonzero
    if np.any(negative):
        buf[negative, 1] = ord("-")
    # digits three at a time through a 1000-entry lookup table ("000".."999")
    groups = -(-d // 3)
    pad = 3 * groups - d
    lut = _three_digit_table()
    text = np.empty((n, 3 * groups), dtype=np.uint8)
    rest = digits_int
    for k in range(groups - 1, -1, -1):
        rest, group = _divmod_1000(rest)
        text[:, 3 * k : 3 * k + 3] = np.take(lut, group, axis=0)
    buf[:, 4 : 4 + d] = text[:, pad:]
    negative_exponent = exponent < 0
    if np.any(negative_exponent):
        buf[negative_exponent, 5 + d] = ord("-")
    e_abs = np.abs(exponent)
    if exp_digits == 2:
        buf[:, 6 + d :] = np.take(lut, e_abs, axis=0)[:, 1:]
    else:
        buf[:, 6 + d :] = np.take(lut, e_abs, axis=0)
    full = n // per_line
    parts = []
    if full:
        block = buf[: full * per_line].reshape(full, per_line * width)
        lines = np.empty((full, per_line * width + 1), dtype=np.uint8)
        lines[:, :-1] = block
        lines[:, -1] = ord("\n")
        parts.append(lines.tobytes())
    rest = n - full * per_line
    if rest:
        parts.append(buf[full * per_line :].tobytes() + b"\n")
    return b"".join(parts)


def _poscar_block(structure: Structure, comment: str) -> str:
    lattice, frac, symbols, _ = structure_parts(structure)
    groups: list[tuple[str, int]] = []
    for sym in symbols:
        if groups and groups[-1][0] == sym:
            groups[-1] = (sym, groups[-1][1] + 1)
        else:
            groups.append((sym, 1))
    comment = " ".join(comment.split()) or "screener procrystal"
    lines = [comment, "   1.00000000000000"]
    lines += ["  " + " ".join(f"{x:21.15f}" for x in row) for row in lattice]
    lines.append("   " + " ".join(f"{s:>4s}" for s, _ in groups))
    lines.append("   " + " ".join(f"{c:4d}" for _, c in groups))
    lines.append("Direct")
    lines += ["  " + " ".join(f"{x:19.15f}" for x in row) for row in frac]
    return "\n".join(lines) + "\n"


def write_chgcar(
    path: str | os.PathLike[str],
    structure: Structure,
    rho: np.ndarray,
    *,
    significant_digits: int = 11,
    comment: str | None = None,
) -> Path:
    """Write a density as a VASP 5 CHGCAR (values ρ·V_cell, x fastest, 5 per line), atomically.

    The file holds the POSCAR block (comment, scale 1, lattice, element line, counts, ``Direct``
    coordinates), a blank line, the grid line and the values in Fortran ``E`` format, without
    augmentation occupancies. pymatgen's ``Chgcar.from_file`` reads it back to the written digits.
    It is written to a temporary name in the same folder and renamed, so readers never see half a file.

    Args:
        path: output file (parent folders are created).
        structure: the structure (ordered; consecutive equal species form one element block).
        rho: density in e/Å³, shape (n1, n2, n3) along the lattice vectors.
        significant_digits: mantissa digits per value (VASP writes 11).
        comment: first line; the reduced formula when None.

    Returns:
        The written path.

    Raises:
        ScreenerError: non-3D or non-finite density.
    """
    rho = np.asarray(rho)
    if rho.ndim != 3:
        raise ScreenerError(f"density must be a 3D grid, got shape {rho.shape}")
    if not np.all(np.isfinite(rho)):
        raise ScreenerError("density contains NaN or infinite values")
    path = Path(path)
    volume = float(structure.lattice.volume)
    header = _poscar_block(structure, comment if comment is not None else f"{structure.composition.reduced_formula} procrystal (screener)")
    grid_line = "   " + " ".join(f"{n:4d}" for n in rho.shape) + "\n"
    values = (np.asarray(rho, dtype=np.float64) * volume).ravel(order="F")  # x fastest
    body = format_fortran_e(values, significant_digits=significant_digits)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as raw:
            # A ``.gz`` path gets a gzip stream (level 1: fast, about 3× smaller than plain text).
            fh = gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1, mtime=0) if path.suffix == ".gz" else raw
            fh.write(header.encode("ascii"))
            fh.write(b"\n")
            fh.write(grid_line.encode("ascii"))
            fh.write(body)
            if fh is not raw:
                fh.close()
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; a CHGCAR is an ordinary readable file
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path
