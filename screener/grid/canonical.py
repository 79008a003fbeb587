"""The canonical cell: one crystal, one model grid, whatever cell and origin the file was written in.

A density file holds one choice of cell (primitive, conventional, a supercell, another basis) and
origin. The canonical frame samples the density on n³ points along the cell vectors of the
crystal's **standard primitive cell** with spglib's **standard origin** (International Tables
setting), so a supercell, a conventional cell or a shifted copy of the same crystal all give the
same model grid (up to interpolation, and up to spglib's choice among origins that the crystal's
symmetry makes equivalent).

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
    among those equivalent ones (translations by quarters of the conventional cell that map every
    atom onto an atom of its species) as the one with the highest density, which depends only on
    the crystal.

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
    a = inverse @ centring
    if rho is None:
        return np.concatenate([a.reshape(-1), -inverse @ shift])
    best, best_value = np.zeros(3), -np.inf
    for d in equivalent_origins(dataset, symprec=symprec):
        value = _density_at(rho, inverse @ (d - shift))
        if best_value == -np.inf or value > best_value + 1e-6 * max(1e-3, abs(best_value)):
            best, best_value = d, value
    return np.concatenate([a.reshape(-1), inverse @ (best - shift)])


def equivalent_origins(dataset, *, symprec: float = 1e-3) -> list[np.ndarray]:
    """Shifts d (standard conventional fractional coordinates, multiples of 1/4 and 1/8) that move the
    origin to another one the space group's standard setting allows: (I − R)·d is a lattice translation
    (centring included) for every rotation R of the group (the translations of the Euclidean normalizer)."""
    import itertools

    rotations = np.asarray(dataset.rotations)
    p_matrix = np.asarray(dataset.transformation_matrix, dtype=np.float64)
    standard_rotations = {tuple(np.rint(p_matrix @ r @ np.linalg.inv(p_matrix)).astype(int).reshape(-1)) for r in rotations}
    centring = CENTRING.get(str(dataset.international)[0], np.eye(3))
    # the conventional lattice with its centring: integer combinations of the primitive vectors
    to_primitive = np.linalg.inv(centring)
    candidates = np.array(list(itertools.product(np.arange(8) / 8.0, repeat=3)))  # (512, 3)
    identity = np.eye(3)
    moved = np.einsum("ij,rjk,nk->rni", to_primitive, identity - np.array([np.array(f, float).reshape(3, 3) for f in standard_rotations]), candidates)
    ok = (np.abs(moved - np.rint(moved)) < 1e-6).all(axis=(0, 2))
    return [candidates[i] for i in np.flatnonzero(ok)]


def _density_at(rho: np.ndarray, fractional: np.ndarray) -> float:
    """ρ at one fractional point of the file's cell (periodic trilinear interpolation)."""
    shape = np.array(rho.shape)
    position = (np.asarray(fractional) % 1.0) * shape
    low = np.floor(position).astype(int)
    weight = position - low
    value = 0.0
    for corner in np.ndindex(2, 2, 2):
        c = np.array(corner)
        index = tuple((low + c) % shape)
        value += float(rho[index]) * float(np.prod(np.where(c == 1, weight, 1 - weight)))
    return value


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
