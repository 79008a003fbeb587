"""The canonical frame: one crystal gives one model grid, whatever cell or origin its file uses."""

from __future__ import annotations

import numpy as np
from pymatgen.core import Lattice, Structure

from screener.config import RegridConfig
from screener.grid.canonical import canonical_grid, canonical_transform
from screener.grid.resample import regrid
from screener.synth.procrystal import procrystal_density


def diamond() -> Structure:
    return Structure(Lattice.cubic(5.43), ["Si"] * 8, [[0, 0, 0], [.25, .25, .25], [0, .5, .5], [.25, .75, .75],
                     [.5, 0, .5], [.75, .25, .75], [.5, .5, 0], [.75, .75, .25]]).get_primitive_structure()  # fmt: skip


def rutile() -> Structure:
    """A tetragonal cell with two species (P4_2/mnm)."""
    return Structure(Lattice.tetragonal(4.59, 2.96), ["Ti", "Ti", "O", "O", "O", "O"],
                     [[0, 0, 0], [.5, .5, .5], [.305, .305, 0], [.695, .695, 0], [.805, .195, .5], [.195, .805, .5]])  # fmt: skip


def _grid(structure: Structure, rho: np.ndarray, n: int = 16) -> np.ndarray:
    return canonical_grid(rho, structure.lattice.matrix, canonical_transform(structure, rho), n)


def test_supercells_and_whole_voxel_shifts_give_the_same_canonical_grid() -> None:
    for structure in (diamond(), rutile()):
        shape = (20, 20, 24)
        rho = procrystal_density(structure, shape)
        base = _grid(structure, rho)
        bigger = structure.copy()
        bigger.make_supercell((2, 1, 1))
        np.testing.assert_allclose(_grid(bigger, np.tile(rho, (2, 1, 1))), base, rtol=1e-4, atol=1e-6)
        moved = structure.copy()
        moved.translate_sites(list(range(len(moved))), (5 / 20, 3 / 20, 7 / 24), frac_coords=True)
        np.testing.assert_allclose(_grid(moved, np.roll(rho, (5, 3, 7), axis=(0, 1, 2))), base, rtol=1e-3, atol=1e-5)


def wurtzite() -> Structure:
    """ZnO: a polar group (P6_3mc, the origin free along c) on a lattice with more rotations than the crystal."""
    u = 0.382
    return Structure(Lattice.hexagonal(3.25, 5.21), ["Zn", "Zn", "O", "O"],
                     [[1 / 3, 2 / 3, 0], [2 / 3, 1 / 3, 0.5], [1 / 3, 2 / 3, u], [2 / 3, 1 / 3, 0.5 + u]])  # fmt: skip


def _fourier_shift(rho: np.ndarray, shift: tuple[float, float, float]) -> np.ndarray:
    axes = [np.fft.fftfreq(n) * n for n in rho.shape]
    phase = np.exp(-2j * np.pi * sum(np.reshape(axes[i], [-1 if j == i else 1 for j in range(3)]) * shift[i] for i in range(3)))
    return np.fft.ifftn(np.fft.fftn(rho) * phase).real


def test_a_polar_crystal_shifted_along_its_polar_axis_or_repeated_gives_the_same_canonical_grid() -> None:
    """Before: shifts along c moved the grid by 15-45 % (relative L2) and a 2×1×1 supercell by 135 %
    (its spglib symmetry list lacks the 6-fold rotations, which let a wrong origin through)."""
    structure = wurtzite()
    shape = (20, 20, 24)
    rho = procrystal_density(structure, shape)
    base = _grid(structure, rho)
    for shift in ((0.0, 0.0, 7 / 24), (5 / 20, 3 / 20, 0.0137), (0.0, 0.0, 0.291)):
        moved = structure.copy()
        moved.translate_sites(list(range(len(moved))), shift, frac_coords=True)
        grid = _grid(moved, _fourier_shift(rho, shift))
        assert np.linalg.norm(grid - base) / np.linalg.norm(base) < 5e-3, shift
    bigger = structure.copy()
    bigger.make_supercell((2, 1, 1))
    np.testing.assert_allclose(_grid(bigger, np.tile(rho, (2, 1, 1))), base, rtol=1e-4, atol=1e-6)


def test_the_canonical_frame_conserves_the_mean_density_through_regrid() -> None:
    structure = diamond()
    rho = procrystal_density(structure, (18, 18, 18))
    out = regrid(rho, config=RegridConfig(grid=16, frame="canonical"), lattice=structure.lattice.matrix,
                 canonical=canonical_transform(structure, rho))  # fmt: skip
    assert out.shape == (1, 16, 16, 16)
    assert abs(float(out.double().mean()) - rho.mean()) < 1e-6 * rho.mean()
