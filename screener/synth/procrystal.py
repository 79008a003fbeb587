"""Synthetic procrystal charge densities written as VASP CHGCAR files (``screener synth``).

A procrystal density is a superposition of spherical atomic valence densities. Here it is built
analytically in reciprocal space, the way a plane-wave code represents a density:

    ρ(r) = (1/V) Σ_G  Σ_species F_s(|G|) S_s(G) e^{iG·r},     S_s(G) = Σ_{atoms j of s} e^{−iG·R_j},

with closed-form atomic form factors F_s, summed over exactly the reciprocal-lattice vectors an FFT grid
holds, then one inverse FFT. The result is periodic by construction, band-limited to the grid (no
aliasing), and its mean times the cell volume is F(0) summed over atoms: the valence electron count.

The atomic model (one element, valence shells from :mod:`screener.synth.valence`) is built to look like what a
VASP PAW CHGCAR holds, the smooth pseudo valence density plus compensation charges, not like the
all-electron density:

1. Every valence subshell (n, l) gets the mean radius ⟨r⟩ of that subshell in a self-consistent LDA atom
   (:func:`screener.synth.valence.orbital_mean_radius`). Valence s and p subshells with the same n share one
   radius, their electron-weighted mean (they hybridize in solids).
2. Compact *semicore-like* subshells, nodeless (l = n − 1) and below the outermost valence n (1s of
   Li_sv/Be_sv, 2p of Na_pv, 3d of Fe or Ga_d, 4f), appear in a PAW CHGCAR as a smooth blob centred on
   the nucleus (their pseudo-partial waves are soft and the compensation charge carries the rest). Model:
   a normalized Gaussian with σ = ``PEAK_WIDTH`` × ⟨r⟩, F(G) = exp(−G²σ²/2).
3. Every other subshell is a Slater-type density r^(2n*−2) e^{−αr} (n* Slater's effective principal
   number) with α = (2n*+1)/⟨r⟩, so that its mean radius is ⟨r⟩. It is hollow at the nucleus like a
   pseudo valence density. Its normalized form factor is closed-form:
   F(G) = sin(sθ) cos^(s+1)θ / (s sin θ), θ = arctan(G/α), s = 2n*.
4. Pseudization smoothing: these Slater-type shells are multiplied by exp(−G²σ_s²/2), σ_s =
   ``SMOOTHING`` × (smallest ⟨r⟩ among the element's valence subshells); a soft potential such as Li
   (1 electron) has a large smallest radius and a smooth density, a hard one such as Li_sv a small one.

``PEAK_WIDTH`` and ``SMOOTHING`` were chosen by measuring the Pearson correlation against the real VASP
files in ``shared/data/chgcar`` (``benchmarks/procrystal_correlation.py``, ``benchmarks/PROCRYSTAL.md``);
the other ingredients have no free parameters.

:func:`allelectron_density` is the all-electron counterpart (point-sampled LDA-atom densities with
nuclear cusps), for comparisons with AECCAR0/1/2 files; ``screener synth`` does not use it.
"""

from __future__ import annotations

import gzip
import logging
import math
import os
import tempfile
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..config import SynthConfig
from ..errors import ConfigError, ScreenerError

if TYPE_CHECKING:  # pragma: no cover
    from pymatgen.core import Lattice, Structure

__all__ = [
    "NUCLEUS_FLOOR",
    "PEAK_WIDTH",
    "SMOOTHING",
    "SynthResult",
    "SynthSummary",
    "allelectron_density",
    "atomic_form_factor",
    "format_fortran_e",
    "iter_structure_files",
    "procrystal_density",
    "synthesize_prototypes",
    "synthesize_structures",
    "vasp_grid_shape",
    "write_chgcar",
]

logger = logging.getLogger(__name__)

#: σ of the Gaussian that models a semicore-like (nodeless, inner) subshell, in units of its ⟨r⟩.
PEAK_WIDTH = 0.65
#: σ of the pseudization smoothing of Slater-type shells, in units of the element's smallest valence ⟨r⟩.
SMOOTHING = 0.2

#: Slater's effective principal quantum numbers n*.
_N_STAR = {1: 1.0, 2: 2.0, 3: 3.0, 4: 3.7, 5: 4.0, 6: 4.2, 7: 4.2}

#: Structure file names ``synthesize_structures`` picks up (case-insensitive).
_STRUCTURE_SUFFIXES = (".cif", ".vasp", ".poscar")
_STRUCTURE_PREFIXES = ("POSCAR", "CONTCAR")

ProgressCallback = Callable[[int, int, str], None]


# ------------------------------------------------------------------------------------------- grid
def _fft_friendly_even(n: int) -> int:
    """Smallest even m ≥ n whose prime factors are all in {2, 3, 5, 7}."""
    m = max(2, n + (n % 2))
    while True:
        k = m
        for p in (2, 3, 5, 7):
            while k % p == 0:
                k //= p
        if k == 1:
            return m
        m += 2


def vasp_grid_shape(lattice: Lattice | Any, *, spacing: float, min_grid: int = 8) -> tuple[int, int, int]:
    """Points per axis of a VASP-like fine FFT grid for a cell.

    Each axis gets at least ``|a_i| / spacing`` points (and at least ``min_grid``), rounded up to the next
    even number whose only prime factors are 2, 3, 5 and 7, as VASP does for its FFT grids.

    Args:
        lattice: a pymatgen ``Lattice`` (or anything with ``.abc``) or a 3×3 array of lattice vectors in Å (rows).
        spacing: target distance between grid points along each axis, in Å.
        min_grid: smallest points per axis.

    Returns:
        (n1, n2, n3).

    Raises:
        ConfigError: ``spacing`` is not positive or the lattice is degenerate.
    """
    if not (spacing > 0 and math.isfinite(spacing)):
        raise ConfigError(f"grid spacing must be a positive number of Å, got {spacing!r}")
    abc = getattr(lattice, "abc", None)
    if abc is None:
        abc = np.linalg.norm(np.asarray(lattice, dtype=float), axis=1)
    lengths = [float(a) for a in abc]
    if len(lengths) != 3 or not all(a > 0 and math.isfinite(a) for a in lengths):
        raise ConfigError(f"lattice vector lengths must be positive, got {lengths}")
    return tuple(_fft_friendly_even(max(int(math.ceil(a / spacing - 1e-9)), int(min_grid))) for a in lengths)  # type: ignore[return-value]


# ---------------------------------------------------------------------------------- form factors
def _slater_form_factor(g: np.ndarray, s: float, alpha: float) -> np.ndarray:
    """Normalized Fourier transform of the density r^(s−2) e^{−αr} (closed form), g and α in 1/Å."""
    theta = np.arctan(g / alpha)
    # sin(sθ)/(s sinθ) written with sinc so that θ → 0 is exact (value 1)
    return np.sinc(s * theta / np.pi) / np.sinc(theta / np.pi) * np.cos(theta) ** (s + 1)


@dataclass(frozen=True)
class _ShellModel:
    electrons: float
    kind: str  # "gauss" or "slater"
    sigma: float = 0.0  # Å (gauss width, or smoothing of a slater shell)
    s: float = 0.0  # 2 n*
    alpha: float = 0.0  # 1/Å


@lru_cache(maxsize=4096)
def _element_model(element: str, zval: float) -> tuple[_ShellModel, ...]:
    from .valence import orbital_mean_radius, valence_shells

    shells = valence_shells(element, zval)
    radius = {(sh.n, sh.l): orbital_mean_radius(element, sh.n, sh.l) for sh in shells}
    n_outer = max(sh.n for sh in shells)
    r_smallest = min(radius.values())
    models = []
    for sh in shells:
        r_mean = radius[(sh.n, sh.l)]
        if sh.l == sh.n - 1 and sh.n < n_outer:
            models.append(_ShellModel(sh.electrons, "gauss", sigma=PEAK_WIDTH * r_mean))
            continue
        if sh.l <= 1:
            group = [t for t in shells if t.n == sh.n and t.l <= 1]
            r_mean = sum(t.electrons * radius[(t.n, t.l)] for t in group) / sum(t.electrons for t in group)
        n_star = _N_STAR.get(sh.n, 4.2)
        s = 2.0 * n_star
        models.append(_ShellModel(sh.electrons, "slater", sigma=SMOOTHING * r_smallest, s=s, alpha=(s + 1.0) / r_mean))
    return tuple(models)


def atomic_form_factor(element: str, g: np.ndarray | float, *, zval: float | None = None) -> np.ndarray:
    """Form factor F(|G|) of the model's atomic valence density: electrons per atom, F(0) = ZVAL.

    Args:
        element: element symbol.
        g: |G| in 1/Å (any shape; G includes the 2π).
        zval: valence electrons; the Materials Project default (:func:`screener.synth.valence.default_valence`) when None.

    Returns:
        F(|G|), same shape as ``g``, float64.
    """
    from .valence import default_valence

    if zval is None:
        zval = default_valence(element)
    g = np.asarray(g, dtype=np.float64)
    out = np.zeros_like(g)
    for m in _element_model(_canonical_symbol(element), float(zval)):
        if m.kind == "gauss":
            out += m.electrons * np.exp(-0.5 * (g * m.sigma) ** 2)
        else:
            out += m.electrons * _slater_form_factor(g, m.s, m.alpha) * np.exp(-0.5 * (g * m.sigma) ** 2)
    return out


@lru_cache(maxsize=None)
def _canonical_symbol(element: str) -> str:
    from pymatgen.core import Element

    return Element(str(element)).symbol


# ------------------------------------------------------------------------------------- density
def _axis_frequencies(n: int, *, half: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Integer frequencies of one FFT axis, with the Nyquist bin of an even n split into ±n/2.

    Returns:
        (m, bin, weight): frequency, output bin and weight (½ for each half of a split Nyquist bin).
    """
    if half:
        m = np.arange(n // 2 + 1)
    else:
        m = np.fft.fftfreq(n, 1.0 / n).round().astype(np.int64)
    bins = np.arange(m.size)
    weight = np.ones(m.size)
    if n % 2 == 0:
        nyq = n // 2
        nyq_bin = int(np.flatnonzero(np.abs(m) == nyq)[0])
        weight[nyq_bin] = 0.5
        m = np.append(m, -m[nyq_bin])
        bins = np.append(bins, nyq_bin)
        weight = np.append(weight, 0.5)
    return m.astype(np.float64), bins, weight


def _fold(array: np.ndarray, axis: int, bins: np.ndarray, n_bins: int) -> np.ndarray:
    if bins.size == n_bins:
        return array
    out = np.take(array, np.arange(n_bins), axis=axis)
    extra = np.take(array, [bins.size - 1], axis=axis)
    index: list[Any] = [slice(None)] * array.ndim
    index[axis] = slice(int(bins[-1]), int(bins[-1]) + 1)
    out[tuple(index)] += extra
    return out


def _structure_parts(structure: Structure) -> tuple[np.ndarray, np.ndarray, list[str], float]:
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


def _prepare(structure: Structure, grid_shape) -> tuple[tuple[int, int, int], tuple, dict[str, float]]:
    """Validated grid shape, the structure's parts, and the number of sites of each element."""
    shape = tuple(int(n) for n in grid_shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ScreenerError(f"grid shape must be three positive integers, got {grid_shape!r}")
    parts = _structure_parts(structure)
    counts: dict[str, float] = {}
    for sym in parts[2]:
        counts[sym] = counts.get(sym, 0) + 1
    return shape, parts, counts  # type: ignore[return-value]


def procrystal_density(
    structure: Structure,
    grid_shape: Sequence[int],
    *,
    n_electrons: float | None = None,
    valence: Mapping[str, float] | None = None,
    dtype: Any = np.float64,
) -> np.ndarray:
    """Procrystal valence density of a structure on a periodic grid, in e/Å³.

    Computed in reciprocal space (closed-form atomic form factors times structure factors, one inverse
    FFT), so it is exactly periodic and band-limited to the grid. Every reciprocal-lattice vector of the
    grid's frequency box enters once; the Nyquist planes of even sizes average the ±N/2 vectors, which
    keeps the density real and symmetric under the structure's point operations.

    Args:
        structure: an ordered pymatgen ``Structure``.
        grid_shape: (n1, n2, n3) points along the three lattice vectors.
        n_electrons: electrons in the cell. When given, each element's valence is chosen with
            :func:`screener.synth.valence.match_valence` (unless ``valence`` is given) and the density is scaled
            so that it integrates to exactly this number.
        valence: element symbol → valence electrons per atom; MP default POTCAR valences when None.
        dtype: float dtype of the result (computation is float64).

    Returns:
        ρ with shape ``grid_shape``, axis i along lattice vector i; mean(ρ)·V equals the electron count
        (to about 1e-15 relative).

    Raises:
        ScreenerError: disordered structure, singular lattice or a bad grid shape.
    """
    from .valence import default_valence, match_valence

    shape, (lattice, frac, symbols, volume), counts = _prepare(structure, grid_shape)
    try:
        if valence is not None:
            zvals = {_canonical_symbol(k): float(v) for k, v in valence.items()}
            missing = set(counts) - set(zvals)
            zvals.update({el: default_valence(el) for el in missing})
        elif n_electrons is not None:
            zvals = match_valence(counts, float(n_electrons))
        else:
            zvals = {el: default_valence(el) for el in counts}
        for el in counts:
            _element_model(el, zvals[el])
    except ValueError as exc:
        raise ScreenerError(f"no valence model: {exc}") from exc

    recip = 2.0 * np.pi * np.linalg.inv(lattice).T  # rows b_i, with 2π
    metric = recip @ recip.T
    axes = [_axis_frequencies(shape[0], half=False), _axis_frequencies(shape[1], half=False), _axis_frequencies(shape[2], half=True)]
    m1, m2, m3 = (a[0] for a in axes)
    w = axes[0][2][:, None, None] * axes[1][2][None, :, None] * axes[2][2][None, None, :]
    g2 = (
        metric[0, 0] * m1[:, None, None] ** 2
        + metric[1, 1] * m2[None, :, None] ** 2
        + metric[2, 2] * m3[None, None, :] ** 2
        + 2 * metric[0, 1] * m1[:, None, None] * m2[None, :, None]
        + 2 * metric[0, 2] * m1[:, None, None] * m3[None, None, :]
        + 2 * metric[1, 2] * m2[None, :, None] * m3[None, None, :]
    )
    g = np.sqrt(np.maximum(g2, 0.0))
    del g2
    coeff = np.zeros(g.shape, dtype=np.complex128)
    sym_array = np.array(symbols)
    chunk = max(1, int(2**22 // max(1, m1.size * m2.size)))  # bounds the (atoms × n1 × n2) phase array to ~64 MB
    for el in sorted(counts):
        idx = np.flatnonzero(sym_array == el)
        structure_factor = np.zeros(g.shape, dtype=np.complex128)
        for start in range(0, idx.size, chunk):
            x = frac[idx[start : start + chunk]]
            e1 = np.exp(-2j * np.pi * np.outer(x[:, 0], m1))
            e2 = np.exp(-2j * np.pi * np.outer(x[:, 1], m2))
            e3 = np.exp(-2j * np.pi * np.outer(x[:, 2], m3))
            pair = (e1[:, :, None] * e2[:, None, :]).reshape(len(x), -1)
            structure_factor += (pair.T @ e3).reshape(g.shape)
        coeff += atomic_form_factor(el, g, zval=zvals[el]) * structure_factor
    coeff *= w
    for axis, (_, bins, _) in enumerate(axes):
        n_bins = shape[axis] if axis < 2 else shape[2] // 2 + 1
        coeff = _fold(coeff, axis, bins, n_bins)
    total = float(coeff[0, 0, 0].real)
    if n_electrons is not None and total > 0:
        coeff *= float(n_electrons) / total
    rho = np.fft.irfftn(coeff, s=shape, axes=(0, 1, 2))
    rho *= rho.size / volume
    return rho.astype(dtype, copy=False)


# ------------------------------------------------------------------------------ all-electron
#: Below this distance from a nucleus (Å) the all-electron radial density is taken at this distance.
#: Grid values exactly at a nucleus in VASP AECCAR files match the atom's density about 0.001 Å out
#: (measured: benchmarks/procrystal_correlation.py); the true cusp value at r = 0 is 5–20 % higher.
NUCLEUS_FLOOR = 1e-3


def allelectron_density(
    structure: Structure,
    grid_shape: Sequence[int],
    *,
    part: str = "valence",
    n_electrons: float | None = None,
    valence: Mapping[str, float] | None = None,
    cutoff: float = 6.0,
    dtype: Any = np.float64,
) -> np.ndarray:
    """All-electron procrystal density sampled at the grid points (the analogue of VASP's AECCAR files).

    Unlike :func:`procrystal_density` this is a real-space point sampling of superposed spherical LDA-atom
    densities (:func:`screener.synth.valence.radial_density`), with their nodes and nuclear cusps, so it is
    periodic but not band-limited, and its grid mean only approximates the electron count (like an
    AECCAR's). Use it to compare with AECCAR0/1/2 files; synthetic CHGCARs use :func:`procrystal_density`.

    Args:
        structure: an ordered pymatgen ``Structure``.
        grid_shape: (n1, n2, n3) points along the lattice vectors.
        part: ``valence`` (AECCAR1/AECCAR2-like), ``core`` (AECCAR0-like) or ``total`` (core + valence).
        n_electrons: when given, valences are matched to it (as in :func:`procrystal_density`) and the
            result is scaled so that mean·V equals it.
        valence: element → valence electrons per atom (MP defaults when None).
        cutoff: atoms contribute within this distance in Å.
        dtype: float dtype of the result.

    Returns:
        ρ in e/Å³ with shape ``grid_shape``.
    """
    from .valence import core_shells, default_valence, match_valence, radial_density, valence_shells

    if part not in ("valence", "core", "total"):
        raise ConfigError(f"part must be 'valence', 'core' or 'total', got {part!r}")
    shape, (lattice, frac, symbols, volume), counts = _prepare(structure, grid_shape)
    if valence is not None:
        zvals = {el: float(valence.get(el, default_valence(el))) for el in counts}
    elif n_electrons is not None and part == "valence":
        zvals = match_valence(counts, float(n_electrons))
    else:
        zvals = {el: default_valence(el) for el in counts}
    tables = {}
    for el in counts:
        shells: tuple = ()
        if part in ("valence", "total"):
            shells += tuple(valence_shells(el, zvals[el]))
        if part in ("core", "total"):
            shells += tuple(core_shells(el, zvals[el]))
        r, rho_r = radial_density(el, shells)
        tables[el] = (np.log(r), np.log(np.maximum(rho_r, 1e-300)))
    # fractional half-extent of a sphere of radius `cutoff` along each axis: cutoff × |row of inv(A)ᵀ|
    extent = cutoff * np.linalg.norm(np.linalg.inv(lattice).T, axis=1)
    out = np.zeros(int(np.prod(shape)), dtype=np.float64)
    for x, el in zip(frac, symbols):
        ranges = [np.arange(math.ceil((x[i] - extent[i]) * shape[i]), math.floor((x[i] + extent[i]) * shape[i]) + 1) for i in range(3)]
        log_r, log_rho = tables[el]
        for i0 in ranges[0]:  # one plane at a time keeps memory bounded
            f1 = ranges[1][:, None] / shape[1] - x[1]
            f2 = ranges[2][None, :] / shape[2] - x[2]
            f0 = i0 / shape[0] - x[0]
            cart = f0 * lattice[0] + f1[..., None] * lattice[1] + f2[..., None] * lattice[2]
            dist = np.sqrt(np.einsum("...k,...k->...", cart, cart))
            inside = dist < cutoff
            if not inside.any():
                continue
            ld = np.log(np.maximum(dist[inside], NUCLEUS_FLOOR))
            values = np.exp(np.interp(ld, log_r, log_rho))
            j1, j2 = np.nonzero(inside)
            flat = ((i0 % shape[0]) * shape[1] + ranges[1][j1] % shape[1]) * shape[2] + ranges[2][j2] % shape[2]
            out += np.bincount(flat, weights=values, minlength=out.size)
    rho = out.reshape(shape)
    if n_electrons is not None:
        total = rho.mean() * volume
        if total > 0:
            rho *= float(n_electrons) / total
    return rho.astype(dtype, copy=False)


# ------------------------------------------------------------------------------------------ write
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
    lattice, frac, symbols, _ = _structure_parts(structure)
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


# ------------------------------------------------------------------------------------ batch jobs
@dataclass(frozen=True)
class SynthResult:
    """Outcome of one structure.

    Attributes:
        name: output folder name (the structure file's stem or the prototype name).
        path: the written CHGCAR, or None when it failed.
        grid: grid shape written.
        n_electrons: electrons in the cell (MP default valences).
        seconds: wall time of density + write.
        error: why it failed (None on success).
    """

    name: str
    path: Path | None
    grid: tuple[int, int, int] | None = None
    n_electrons: float | None = None
    seconds: float = 0.0
    error: str | None = None


@dataclass
class SynthSummary:
    """What a ``synthesize_*`` call did.

    Attributes:
        out_dir: the output root.
        results: one :class:`SynthResult` per input, in input order.
        seconds: wall time of the whole call.
    """

    out_dir: Path
    results: list[SynthResult] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def written(self) -> list[Path]:
        """Paths of the CHGCARs written."""
        return [r.path for r in self.results if r.path is not None]

    @property
    def failed(self) -> list[tuple[str, str]]:
        """(name, reason) of every input that failed."""
        return [(r.name, r.error or "") for r in self.results if r.error is not None]

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly summary."""
        return {
            "out_dir": str(self.out_dir),
            "written": len(self.written),
            "failed": [{"name": n, "reason": e} for n, e in self.failed],
            "seconds": round(self.seconds, 3),
        }


def _synthesize_one(name: str, source: Any, out_dir: str, spacing: float, min_grid: int, digits: int, compress: bool = False) -> SynthResult:
    """Worker: build (or read) one structure, compute its density and write ``out_dir/name/CHGCAR``."""
    t0 = time.perf_counter()
    try:
        if isinstance(source, (str, Path)):
            from pymatgen.core import Structure

            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    structure = Structure.from_file(str(source))
            except Exception as exc:  # noqa: BLE001 - pymatgen raises many types on bad files
                raise ScreenerError(f"cannot read structure file ({type(exc).__name__}: {exc})") from exc
        else:
            structure = source
        if len(structure) == 0:
            raise ScreenerError("structure has no sites")
        grid = vasp_grid_shape(structure.lattice, spacing=spacing, min_grid=min_grid)
        rho = procrystal_density(structure, grid)
        n_e = float(rho.mean() * structure.lattice.volume)
        filename = "CHGCAR.gz" if compress else "CHGCAR"
        path = write_chgcar(Path(out_dir) / name / filename, structure, rho, significant_digits=digits, comment=f"{name} procrystal (screener synth)")
        return SynthResult(name, path, grid, n_e, time.perf_counter() - t0)
    except Exception as exc:  # noqa: BLE001 - one bad input must not stop the batch
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if not isinstance(exc, ScreenerError):
            reason = f"{type(exc).__name__}: {reason}"
        return SynthResult(name, None, error=reason, seconds=time.perf_counter() - t0)


def _run_jobs(
    jobs: list[tuple[str, Any]],
    out_dir: Path,
    config: SynthConfig,
    *,
    workers: int,
    progress: ProgressCallback | None,
) -> SynthSummary:
    t0 = time.perf_counter()
    summary = SynthSummary(out_dir=out_dir)
    args = (str(out_dir), float(config.spacing), int(config.min_grid), int(config.significant_digits), bool(config.compress))
    results: dict[int, SynthResult] = {}
    total = len(jobs)
    if workers <= 1 or total <= 1:
        for i, (name, source) in enumerate(jobs):
            results[i] = _synthesize_one(name, source, *args)
            if progress is not None:
                progress(i + 1, total, name)
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            futures = {pool.submit(_synthesize_one, name, source, *args): i for i, (name, source) in enumerate(jobs)}
            done = 0
            for fut in as_completed(futures):
                i = futures[fut]
                try:
                    results[i] = fut.result()
                except Exception as exc:  # noqa: BLE001 - a crashed worker is one failed input
                    results[i] = SynthResult(jobs[i][0], None, error=f"{type(exc).__name__}: {exc}")
                done += 1
                if progress is not None:
                    progress(done, total, jobs[i][0])
    summary.results = [results[i] for i in range(total)]
    summary.seconds = time.perf_counter() - t0
    for name, reason in summary.failed:
        logger.info("synth: %s failed: %s", name, reason)
    return summary


def _is_structure_file(path: Path) -> bool:
    name = path.name
    upper = name.upper()
    if name.startswith("."):
        return False
    return upper.startswith(_STRUCTURE_PREFIXES) or path.suffix.lower() in _STRUCTURE_SUFFIXES


def _stem(path: Path) -> str:
    if path.name.upper().startswith(_STRUCTURE_PREFIXES) and path.suffix.lower() not in _STRUCTURE_SUFFIXES:
        return path.name  # POSCAR, POSCAR_xxx, CONTCAR.relax1 keep their whole name
    return path.stem


def synthesize_structures(
    structures_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    config: SynthConfig = SynthConfig(),
    workers: int = 1,
    progress: ProgressCallback | None = None,
) -> SynthSummary:
    """Write a procrystal CHGCAR for every structure file in a folder.

    Picks up (non-recursively) files named ``POSCAR*``/``CONTCAR*`` or ending in ``.cif``, ``.vasp`` or
    ``.poscar``, reads each with pymatgen's ``Structure.from_file`` and writes
    ``out_dir/<stem>/CHGCAR`` (stem: the file name without its suffix; ``POSCAR_xxx`` keeps its whole
    name). A file that cannot be read or computed is reported in the summary, not raised.

    Args:
        structures_dir: folder with structure files.
        out_dir: output root (created).
        config: grid spacing (Å), smallest grid and written digits.
        workers: processes (1: in this process).
        progress: called as ``progress(done, total, name)`` after each structure.

    Returns:
        A :class:`SynthSummary`.

    Raises:
        ConfigError: the folder does not exist or holds no structure files.
    """
    src = Path(structures_dir)
    if not src.is_dir():
        raise ConfigError(f"structures folder not found: {src}")
    files = sorted(p for p in src.iterdir() if p.is_file() and _is_structure_file(p))
    if not files:
        raise ConfigError(f"no POSCAR/CONTCAR/CIF/.vasp files in {src}")
    jobs: list[tuple[str, Any]] = []
    seen: dict[str, Path] = {}
    duplicates: list[SynthResult] = []
    for f in files:
        stem = _stem(f)
        if stem in seen:
            duplicates.append(SynthResult(stem, None, error=f"output name {stem!r} also used by {seen[stem].name}; skipped {f.name}"))
            continue
        seen[stem] = f
        jobs.append((stem, str(f)))
    summary = _run_jobs(jobs, Path(out_dir), config, workers=workers, progress=progress)
    summary.results.extend(duplicates)
    return summary


def synthesize_prototypes(
    out_dir: str | os.PathLike[str],
    *,
    count: int,
    seed: int = 0,
    config: SynthConfig = SynthConfig(),
    workers: int = 1,
    progress: ProgressCallback | None = None,
) -> SynthSummary:
    """Write procrystal CHGCARs for ``count`` built-in prototype structures (see :mod:`screener.synth.prototypes`).

    Args:
        out_dir: output root; each structure goes to ``out_dir/<name>/CHGCAR`` (e.g. ``NaCl_rocksalt``).
        count: number of distinct structures.
        seed: seed of the deterministic element substitutions.
        config: grid spacing (Å), smallest grid and written digits.
        workers: processes (1: in this process).
        progress: called as ``progress(done, total, name)`` after each structure.

    Returns:
        A :class:`SynthSummary`.
    """
    from .prototypes import generate_prototypes

    structures = generate_prototypes(count, seed=seed)
    jobs: list[tuple[str, Any]] = list(structures.items())
    return _run_jobs(jobs, Path(out_dir), config, workers=workers, progress=progress)


def iter_structure_files(structures_dir: str | os.PathLike[str]) -> Iterable[Path]:
    """The files :func:`synthesize_structures` would read, sorted."""
    src = Path(structures_dir)
    return sorted(p for p in src.iterdir() if p.is_file() and _is_structure_file(p))
