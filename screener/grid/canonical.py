"""The canonical cell: one crystal, one model grid, whatever cell and origin the file was written in.

A density file holds one choice of cell (primitive, conventional, a supercell, another basis) and
origin. The canonical frame samples the density on n³ points along the cell vectors of the
crystal's **standard primitive cell** with spglib's **standard origin** (International Tables
setting), so a supercell, a conventional cell or a shifted copy of the same crystal all give the
same model grid (up to interpolation; among the origins and orientations that the crystal's
symmetry makes equivalent, the density chooses: :func:`canonical_transform`).

The mapping is affine in fractional coordinates: x_file = A · x_canonical + b (mod 1), from spglib's
``transformation_matrix`` P and ``origin_shift`` p (x_std = P x + p) and the centring matrix of the
Bravais lattice (x_conv = C x_prim): A = P⁻¹ C, b = −P⁻¹ p.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from pymatgen.core import Structure

#: primitive vectors (columns) of each centring in units of the conventional cell (spglib's convention).
CENTRING = {
    "P": np.eye(3),
    "A": np.array([[1, 0, 0], [0, 0.5, -0.5], [0, 0.5, 0.5]]),
    "C": np.array([[0.5, 0.5, 0], [-0.5, 0.5, 0], [0, 0, 1]]),
    "I": np.array([[-0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.5, 0.5, -0.5]]),
    "F": np.array([[0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]]),
    "R": np.array([[2 / 3, -1 / 3, -1 / 3], [1 / 3, 1 / 3, -2 / 3], [1 / 3, 1 / 3, 1 / 3]]),
}
#: version of the frame choice (origin, tie-breaking, symmetry source). A bundle trained on canonical
#: grids records it; one made with another version is refused, because the same file would reach its
#: networks as another grid. 1: highest-density origin among the input cell's symmetry (screener before
#: 2026-11-29); 2: polar axes by density, ties broken by probe densities over the lattice's rotations,
#: origins from the standardized cell's full symmetry.
FRAME_VERSION = 2
#: interpolation grids finer than this spacing (Å) are used as they are; coarser ones are Fourier-refined first.
FINE_SPACING = 0.1
#: bound on the refined grid's points (memory: 8 bytes each, twice).
MAX_REFINED_POINTS = 8_000_000


def identity_transform() -> np.ndarray:
    """The transform of a file already in its canonical cell: A = I, b = 0, as 12 floats (A row-major, then b)."""
    return np.concatenate([np.eye(3).reshape(-1), np.zeros(3)])


def canonical_transform(structure: Structure, rho: np.ndarray | None = None, *, symprec: float = 1e-3) -> np.ndarray:
    """12 floats (A row-major, then b) with x_file = A · x_canonical + b; identity if spglib cannot tell.

    Where the crystal's symmetry allows several standard origins (diamond: the two atoms' sites, or
    a shift along a threefold axis), spglib's pick depends on the input; the origin is then chosen
    among those equivalent ones (translations of the Euclidean normalizer, from the standardized
    cell's full symmetry) as the one with the highest density, which depends only on the crystal.
    A polar group (wurtzite's 6mm) lets the origin slide along its axis: there it is the point of
    highest density on that line. Frames of equal density at the origin (symmetry-related origins,
    the lattice's rotations, which spglib may pick differently for a supercell) are told apart by
    the density at a few fixed probe points (:data:`TIE_PROBES`). This is frame version
    :data:`FRAME_VERSION`.

    Args:
        structure: the file's cell and atoms.
        rho: the file's density (e/Å³) to choose among equivalent origins (None: spglib's origin).
        symprec: spglib's symmetry tolerance, Å (the DFT driver reduces cells with the same 1e-3).
    """
    import spglib

    cell = (
        np.asarray(structure.lattice.matrix, dtype=np.float64),
        np.asarray(structure.frac_coords, dtype=np.float64),
        [site.specie.Z for site in structure],
    )
    try:
        dataset = spglib.get_symmetry_dataset(cell, symprec=symprec)
    except Exception:  # noqa: BLE001 - spglib raises on degenerate cells: keep the file's own cell
        dataset = None
    if dataset is None:
        return identity_transform()
    centring = CENTRING.get(str(dataset.international)[0], np.eye(3))
    p_matrix = np.asarray(dataset.transformation_matrix, dtype=np.float64)
    inverse = np.linalg.inv(p_matrix)
    shift = np.asarray(dataset.origin_shift, dtype=np.float64)
    if rho is None:
        return np.concatenate([(inverse @ centring).reshape(-1), -inverse @ shift])
    rotations = standard_rotations(dataset)  # once: each call is a spglib symmetry search
    free = free_origin_directions(dataset, rotations=rotations)
    smooth = _SmoothDensity(rho)
    candidates = []
    for d in _distinct_modulo(equivalent_origins(dataset, rotations=rotations), free):
        if len(free):  # a polar axis (or plane): the highest density along it, from this discrete origin
            candidates.extend(_highest_along(smooth, d, free, inverse=inverse, shift=shift))
        else:
            candidates.append((d, smooth.at(inverse @ (d - shift))))
    origin, rotation = _break_ties(candidates, lattice_rotations(dataset, centring), smooth, inverse=inverse, shift=shift,
                                   scale=float(np.mean(np.abs(rho))) or 1.0)  # fmt: skip
    return np.concatenate([(inverse @ rotation @ centring).reshape(-1), inverse @ (origin - shift)])


def lattice_rotations(dataset, centring: np.ndarray) -> list[np.ndarray]:
    """The rotations of the crystal's lattice (its holohedry) in standard conventional fractional
    coordinates that also map the primitive (centred) lattice onto itself; the identity first.

    The standard setting fixes the cell only up to these: spglib may return a hexagonal cell turned
    by 60° for a supercell of the same crystal, and for a crystal whose point group is smaller than
    its lattice's, such turned frames give grids the network would not see as equal.
    """
    import spglib

    std_lattice = np.asarray(dataset.std_lattice, dtype=np.float64)
    symmetry = spglib.get_symmetry((std_lattice, [[0.0, 0.0, 0.0]], [1]), symprec=1e-5)
    to_primitive = np.linalg.inv(centring)
    out = [np.eye(3)]
    for rotation in np.asarray(symmetry["rotations"], dtype=np.float64):
        on_primitive = to_primitive @ rotation @ centring
        if np.allclose(on_primitive, np.rint(on_primitive), atol=1e-8) and not np.allclose(rotation, np.eye(3)):
            out.append(rotation)
    return out


#: offsets (standard conventional fractional coordinates) at which the density tells apart frames of
#: equal density at the origin: symmetry-related origins (diamond's two atoms, the two heights of a
#: 6_3 axis) and the lattice's rotations give grids related by a rotation or inversion of the
#: crystal, which the network would not see as equal.
TIE_PROBES = np.array([[0.11, 0.23, 0.37], [0.29, 0.07, 0.19], [0.41, 0.31, 0.13], [0.17, 0.43, 0.05]])
#: densities closer than this (relative to the mean |ρ|) count as equal.
TIE_TOLERANCE = 1e-4


def _break_ties(
    candidates: list[tuple[np.ndarray, float]],
    rotations: list[np.ndarray],
    smooth: _SmoothDensity,
    *,
    inverse: np.ndarray,
    shift: np.ndarray,
    scale: float,
) -> tuple[np.ndarray, np.ndarray]:
    """The frame (origin, rotation): the origin of highest density, and among origins within
    :data:`TIE_TOLERANCE` of it and the lattice's rotations, the frame with the highest density at
    the first probe of :data:`TIE_PROBES` that tells the frames apart."""
    top = max(value for _, value in candidates)
    frames = [(d, r) for d, value in candidates if value >= top - TIE_TOLERANCE * scale for r in rotations]
    for probe in TIE_PROBES:
        if len(frames) == 1:
            break
        values = smooth.at_many(np.array([(d + r @ probe - shift) @ inverse.T for d, r in frames]))
        frames = [frame for frame, value in zip(frames, values) if value >= values.max() - TIE_TOLERANCE * scale]
    return frames[0]


def free_origin_directions(dataset, *, rotations: np.ndarray | None = None) -> np.ndarray:
    """Directions (standard conventional fractional coordinates, rows) along which a polar space group
    lets the origin move freely: the common fixed space of all its rotations (c for 4mm, 6mm, mm2 and
    3m in the standard setting, b for monoclinic 2, a plane for m, everything for P1). Empty for the
    other groups, whose origins are a discrete set (:func:`equivalent_origins`). ``rotations``:
    :func:`standard_rotations` of ``dataset`` when already computed."""
    rotations = standard_rotations(dataset) if rotations is None else rotations
    stacked = np.vstack([np.eye(3) - r for r in rotations])
    _, singular, vt = np.linalg.svd(stacked)
    null = vt[np.sum(singular > 1e-8) :]
    return null


def _distinct_modulo(origins: list[np.ndarray], free: np.ndarray) -> list[np.ndarray]:
    """The discrete origins that stay different once moves along the free directions are allowed."""
    if not len(free):
        return origins
    projector = np.eye(3) - free.T @ free
    seen, out = set(), []
    for d in origins:
        key = tuple(np.round((projector @ d) % 1.0, 6) % 1.0)
        if key not in seen:
            seen.add(key)
            out.append(d)
    return out


def _highest_along(density: _SmoothDensity, origin: np.ndarray, free: np.ndarray, *, inverse: np.ndarray, shift: np.ndarray) -> list[tuple[np.ndarray, float]]:
    """The points of highest density on the line (plane, cell) through ``origin`` along ``free``.

    A scan of one period of each free direction; every local maximum of the scan within 5 % of the
    highest is refined by three rounds of finer scans (to about 1/1000 of the period, so a crystal
    shifted along its polar axis gives the same canonical grid to about 1e-3). All are returned:
    symmetry makes some of them equal (the two heights of a 6_3 axis), and :func:`_break_ties` chooses.
    """
    import itertools

    k = len(free)
    period = np.array([direction / np.max(np.abs(direction)) for direction in free])  # one lattice translation each

    def values_at(steps: np.ndarray) -> np.ndarray:
        return density.at_many((origin + steps @ period - shift) @ inverse.T)

    n = {1: 64, 2: 24, 3: 12}[k]
    coarse = np.array(list(itertools.product(np.arange(n) / n, repeat=k)))
    scan = values_at(coarse).reshape((n,) * k)
    is_peak = np.ones(scan.shape, dtype=bool)
    for axis in range(k):
        is_peak &= (scan >= np.roll(scan, 1, axis=axis)) & (scan >= np.roll(scan, -1, axis=axis))
    is_peak &= scan >= scan.max() - 0.05 * abs(scan.max())
    local = np.array(list(itertools.product(np.linspace(-1.0, 1.0, 9), repeat=k)))
    found = []
    for start in coarse[np.flatnonzero(is_peak.reshape(-1))]:
        best_t, width = start, 1.0 / n
        for _ in range(3):
            steps = best_t + width * local
            values = values_at(steps)
            best_t, width = steps[int(np.argmax(values))], width / 4.0
        found.append((origin + best_t @ period, float(values.max())))
    return found


class _SmoothDensity:
    """ρ between grid points by periodic cubic splines (the coefficients are computed once, on first use)."""

    def __init__(self, rho: np.ndarray) -> None:
        self.rho = rho
        self._coefficients: np.ndarray | None = None

    def at(self, fractional: np.ndarray) -> float:
        return float(self.at_many(np.asarray(fractional)[None])[0])

    def at_many(self, fractional: np.ndarray) -> np.ndarray:
        """ρ at (m, 3) fractional points of the file's cell."""
        from scipy.ndimage import map_coordinates, spline_filter

        if self._coefficients is None:
            self._coefficients = spline_filter(np.asarray(self.rho, dtype=np.float64), order=3, mode="grid-wrap")
        coordinates = ((np.asarray(fractional) % 1.0) * np.array(self.rho.shape)).T
        return map_coordinates(self._coefficients, coordinates, order=3, mode="grid-wrap", prefilter=False)


def standard_rotations(dataset) -> np.ndarray:
    """The space group's rotations in standard conventional fractional coordinates, from spglib's
    standardized cell (the input cell's own list lacks those its lattice does not keep: a 2×1×1
    supercell of a hexagonal crystal has 8 of its 12, which let wrong origins through)."""
    import spglib

    cell = (np.asarray(dataset.std_lattice, dtype=np.float64), np.asarray(dataset.std_positions, dtype=np.float64), list(dataset.std_types))
    symmetry = spglib.get_symmetry(cell, symprec=1e-3)
    if symmetry is None:  # cannot happen for spglib's own standard cell; keep the input's list
        p_matrix = np.asarray(dataset.transformation_matrix, dtype=np.float64)
        return np.array([p_matrix @ r @ np.linalg.inv(p_matrix) for r in np.asarray(dataset.rotations, dtype=np.float64)])
    return np.asarray(symmetry["rotations"], dtype=np.float64)


def equivalent_origins(dataset, *, rotations: np.ndarray | None = None) -> list[np.ndarray]:
    """Shifts d (standard conventional fractional coordinates, multiples of 1/4 and 1/8) that move the
    origin to another one the space group's standard setting allows: (I − R)·d is a lattice translation
    (centring included) for every rotation R of the group (the translations of the Euclidean normalizer).
    ``rotations``: :func:`standard_rotations` of ``dataset`` when already computed."""
    import itertools

    rotations = standard_rotations(dataset) if rotations is None else rotations
    rotation_keys = {tuple(np.rint(r).astype(int).reshape(-1)) for r in rotations}
    centring = CENTRING.get(str(dataset.international)[0], np.eye(3))
    # the conventional lattice with its centring: integer combinations of the primitive vectors
    to_primitive = np.linalg.inv(centring)
    candidates = np.array(list(itertools.product(np.arange(8) / 8.0, repeat=3)))  # (512, 3)
    identity = np.eye(3)
    moved = np.einsum("ij,rjk,nk->rni", to_primitive, identity - np.array([np.array(f, float).reshape(3, 3) for f in rotation_keys]), candidates)
    ok = (np.abs(moved - np.rint(moved)) < 1e-6).all(axis=(0, 2))
    return [candidates[i] for i in np.flatnonzero(ok)]


def canonical_lattice(lattice: np.ndarray, transform: np.ndarray) -> np.ndarray:
    """Rows: the canonical cell's vectors (Å) in the file's Cartesian frame."""
    a = np.asarray(transform[:9], dtype=np.float64).reshape(3, 3)
    return a.T @ np.asarray(lattice, dtype=np.float64)


def canonical_grid(rho: np.ndarray, lattice: np.ndarray, transform: np.ndarray, n: int) -> np.ndarray:
    """ρ (e/Å³) sampled on n³ points of the canonical cell, float32 (n, n, n), mean equal to the file's.

    Coarse grids (spacing above :data:`FINE_SPACING`) are Fourier-refined first (exact for a
    band-limited density); values between grid points come from periodic cubic splines.

    Args:
        rho: density on the file's grid (e/Å³), axis i along lattice vector i.
        lattice: the file's lattice vectors as rows, Å.
        transform: from :func:`canonical_transform`.
        n: points per axis of the result.
    """
    import torch
    from scipy.ndimage import map_coordinates

    from .resample import fourier_resample

    values = np.asarray(rho, dtype=np.float64)
    spacing = float(np.max(np.linalg.norm(lattice, axis=1) / np.array(values.shape)))
    factor = max(1, int(np.ceil(spacing / FINE_SPACING)))
    while factor > 1 and values.size * factor**3 > MAX_REFINED_POINTS:
        factor -= 1
    if factor > 1:
        shape = tuple(factor * s for s in values.shape)
        values = fourier_resample(torch.as_tensor(values)[None], shape)[0].numpy().astype(np.float64)
    a = np.asarray(transform[:9], dtype=np.float64).reshape(3, 3)
    b = np.asarray(transform[9:12], dtype=np.float64)
    axis = np.arange(n) / n
    points = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1).reshape(-1, 3)
    fractional = (points @ a.T + b) % 1.0
    coordinates = (fractional * np.array(values.shape)).T
    sampled = map_coordinates(values, coordinates, order=3, mode="grid-wrap").reshape(n, n, n)
    mean = float(np.mean(rho))
    if sampled.mean() > 0 and mean > 0:
        sampled *= mean / sampled.mean()  # ρ is intensive: the canonical cell holds the file's mean density
    return sampled.astype(np.float32)
