"""Synthetic procrystal charge densities, the model ``screener synth`` writes as VASP CHGCAR files.

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

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ConfigError, ScreenerError
from ..io.chgcar_writer import structure_parts

if TYPE_CHECKING:  # pragma: no cover
    from pymatgen.core import Structure

__all__ = [
    "NUCLEUS_FLOOR",
    "PEAK_WIDTH",
    "SMOOTHING",
    "allelectron_density",
    "atomic_form_factor",
    "procrystal_density",
]

#: σ of the Gaussian that models a semicore-like (nodeless, inner) subshell, in units of its ⟨r⟩.
PEAK_WIDTH = 0.65
#: σ of the pseudization smoothing of Slater-type shells, in units of the element's smallest valence ⟨r⟩.
SMOOTHING = 0.2

#: Slater's effective principal quantum numbers n*.
_N_STAR = {1: 1.0, 2: 2.0, 3: 3.0, 4: 3.7, 5: 4.0, 6: 4.2, 7: 4.2}


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


def _prepare(structure: Structure, grid_shape) -> tuple[tuple[int, int, int], tuple, dict[str, float]]:
    """Validated grid shape, the structure's parts, and the number of sites of each element."""
    shape = tuple(int(n) for n in grid_shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ScreenerError(f"grid shape must be three positive integers, got {grid_shape!r}")
    parts = structure_parts(structure)
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
