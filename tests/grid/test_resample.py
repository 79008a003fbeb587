"""Regridding against analytic periodic functions (pyrho style): exactness, conservation, identity."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from screener.config import RegridConfig
from screener.grid.resample import cartesian_cube, fourier_resample, regrid, trilinear_resample


def plane_waves(shape, modes, *, offset: float = 2.0) -> np.ndarray:
    """offset + Σ a·cos(2π k·x + φ) sampled at x = i/n: a periodic function with a closed form."""
    axes = [np.arange(n) / n for n in shape]
    x, y, z = np.meshgrid(*axes, indexing="ij")
    out = np.full(shape, offset)
    for (kx, ky, kz), amplitude, phase in modes:
        out += amplitude * np.cos(2 * np.pi * (kx * x + ky * y + kz * z) + phase)
    return out


sizes = st.integers(min_value=4, max_value=24)
wavevector = st.tuples(*[st.integers(min_value=-5, max_value=5)] * 3)
modes_strategy = st.lists(
    st.tuples(wavevector, st.floats(0.05, 1.0), st.floats(0.0, 2 * math.pi)), min_size=1, max_size=4
)


@settings(max_examples=60, deadline=None)
@given(src=st.tuples(sizes, sizes, sizes), dst=st.tuples(sizes, sizes, sizes), modes=modes_strategy)
def test_fourier_resampling_matches_closed_form(src, dst, modes) -> None:
    """Modes below both grids' Nyquist frequencies are reproduced exactly; the rest are removed."""
    # Only modes the source grid can represent without aliasing make a band-limited input.
    modes = [m for m in modes if all(abs(k) < n / 2 for k, n in zip(m[0], src))]
    source = torch.tensor(plane_waves(src, modes))[None]
    out = fourier_resample(source, dst)[0].numpy()
    kept = [m for m in modes if all(abs(k) < n / 2 for k, n in zip(m[0], dst))]
    # A mode exactly at the output's Nyquist frequency is ambiguous on that grid; check the rest.
    if not any(any(abs(k) == n / 2 for k, n in zip(m[0], dst)) for m in modes):
        np.testing.assert_allclose(out, plane_waves(dst, kept), atol=1e-9)
    assert out.mean() == pytest.approx(source.numpy().mean(), rel=1e-12)


@settings(max_examples=30, deadline=None)
@given(src=st.tuples(sizes, sizes, sizes), n=st.sampled_from([8, 16, 32]), seed=st.integers(0, 2**16))
def test_electron_count_conserved_float32(src, n, seed) -> None:
    """Random (not band-limited) float32 densities keep their mean to 1e-6 relative."""
    rho = torch.tensor(np.random.default_rng(seed).random(src).astype(np.float32) + 0.01)
    for method in ("fourier", "trilinear"):
        out = regrid(rho, config=RegridConfig(grid=n, method=method))
        assert out.shape == (1, n, n, n) and out.dtype == torch.float32
        ratio = out.double().mean().item() / rho.double().mean().item()
        assert abs(ratio - 1) < 1e-6, (method, ratio)


def test_identity_on_same_grid() -> None:
    rho = torch.rand(2, 12, 12, 12)
    torch.testing.assert_close(fourier_resample(rho, (12, 12, 12)), rho)
    torch.testing.assert_close(trilinear_resample(rho, (12, 12, 12)), rho)


def test_upsample_then_downsample_round_trips() -> None:
    """Up-sampling is exact, so going back recovers the original grid values."""
    rho = torch.rand(1, 10, 14, 9, dtype=torch.float64)
    there = fourier_resample(rho, (24, 28, 20))
    back = fourier_resample(there, (10, 14, 9))
    torch.testing.assert_close(back, rho, atol=1e-10, rtol=0)


def test_translation_commutes_with_resampling() -> None:
    """Shifting by whole output voxels before or after resampling gives the same grid (periodic)."""
    rho = torch.tensor(plane_waves((24, 24, 24), [((1, 2, 3), 0.7, 0.2), ((4, -1, 0), 0.3, 1.0)]))[None]
    out = fourier_resample(rho, (8, 8, 8))
    shifted = fourier_resample(torch.roll(rho, shifts=(3, 6, 9), dims=(1, 2, 3)), (8, 8, 8))
    torch.testing.assert_close(shifted, torch.roll(out, shifts=(1, 2, 3), dims=(1, 2, 3)))


def test_trilinear_is_exact_for_linear_periodic_ramps_at_nodes() -> None:
    """Trilinear sampling at the source nodes (integer ratio) returns the node values."""
    rho = torch.rand(1, 8, 8, 8, dtype=torch.float64)
    out = trilinear_resample(rho, (4, 4, 4))
    torch.testing.assert_close(out, rho[:, ::2, ::2, ::2] * (rho.mean() / rho[:, ::2, ::2, ::2].mean()))


def test_cartesian_frame_is_independent_of_cell_choice() -> None:
    """The same periodic field on a primitive cell and on a 2×1×1 supercell gives the same cube."""
    a = 3.0
    lattice = np.diag([a, a, a])
    super_lattice = np.diag([2 * a, a, a])
    modes = [((1, 0, 0), 0.5, 0.0), ((0, 1, 1), 0.3, 0.4)]
    primitive = torch.tensor(plane_waves((16, 16, 16), modes))[None]
    # the supercell holds the same field: frequency (2k_x, k_y, k_z) on a grid twice as long in x
    super_modes = [((2 * k[0], k[1], k[2]), amp, ph) for k, amp, ph in modes]
    supercell = torch.tensor(plane_waves((32, 16, 16), super_modes))[None]
    cube_a = cartesian_cube(primitive, lattice, 16, edge=6.0)
    cube_b = cartesian_cube(supercell, super_lattice, 16, edge=6.0)
    torch.testing.assert_close(cube_a, cube_b, atol=1e-9, rtol=0)
    assert cube_a.mean().item() == pytest.approx(2.0, abs=0.05)


def test_cartesian_frame_needs_lattice() -> None:
    with pytest.raises(ValueError, match="lattice"):
        regrid(np.ones((4, 4, 4)), config=RegridConfig(grid=8, frame="cartesian"))


def test_real_density_regrid_conserves_electrons(chgcar_dir) -> None:
    from screener.io.reading import read_density

    record = read_density(chgcar_dir / "pymatgen_chargemol_NaCl_CHGCAR.gz")
    for n in (16, 32, 64):
        out = regrid(record.rho, config=RegridConfig(grid=n))
        assert out.double().mean().item() * record.volume == pytest.approx(record.n_electrons, rel=1e-6)
