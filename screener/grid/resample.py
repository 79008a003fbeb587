"""Periodic, charge-conserving resampling of densities onto the model grid (torch, batched, CPU or CUDA).

A VASP density is a Fourier series on its FFT grid, so the default resampler works in Fourier
space, axis by axis: the centred spectrum is zero-padded (up-sampling, exact for a band-limited
field) or truncated (down-sampling, an anti-aliasing low-pass), with the Nyquist plane of even
sizes split or joined symmetrically as in ``scipy.signal.resample``. The DC term, and hence the
electron count, is kept; it is restored in float64 afterwards to remove float32 round-off.

Two frames:

* fractional: n³ points along the cell vectors (sample ``i/n`` of each lattice vector);
* cartesian: n³ points spanning a cube of fixed edge in Å from the cell origin, tiling the
  periodic cell, so every voxel has the same physical size whatever cell the file holds.

All functions take and return ``torch.Tensor`` of shape ``(batch, nx, ny, nz)``; densities are in
e/Å³ (any unit works; the functions are linear).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..config import RegridConfig


def _resize_spectrum_axis(spectrum: torch.Tensor, size: int, dim: int) -> torch.Tensor:
    """Zero-pad or truncate one axis of an (unshifted) FFT spectrum to ``size`` bins."""
    n = spectrum.shape[dim]
    if size == n:
        return spectrum
    keep = min(n, size)
    positive = keep // 2 + 1  # bins 0..keep//2, the last one is Nyquist when keep is even
    negative = keep - positive  # bins -negative..-1
    out_shape = list(spectrum.shape)
    out_shape[dim] = size
    out = spectrum.new_zeros(out_shape)
    out.narrow(dim, 0, positive).copy_(spectrum.narrow(dim, 0, positive))
    if negative > 0:
        out.narrow(dim, size - negative, negative).copy_(spectrum.narrow(dim, n - negative, negative))
    if keep % 2 == 0:
        nyquist = keep // 2
        if size < n:  # down-sampling: fold the -N/2 bin onto the +N/2 bin of the output
            out.narrow(dim, nyquist, 1).add_(spectrum.narrow(dim, n - nyquist, 1))
        else:  # up-sampling: split the input's Nyquist bin between +N/2 and -N/2
            half = spectrum.narrow(dim, nyquist, 1) * 0.5
            out.narrow(dim, nyquist, 1).copy_(half)
            out.narrow(dim, size - nyquist, 1).copy_(half)
    return out


def _resize_half_spectrum(spectrum: torch.Tensor, n: int, size: int) -> torch.Tensor:
    """Resize the last axis of an ``rfft`` spectrum of real length ``n`` to that of real length ``size``.

    The same operation as ``_resize_spectrum_axis`` on the full spectrum of real lines, where the
    bin -k is the conjugate of the bin k: folding the -N/2 bin onto +N/2 gives twice its real
    part, and the split halves of an input Nyquist bin are each other's conjugates.
    """
    if size == n:
        return spectrum
    keep = min(n, size)
    out_shape = list(spectrum.shape)
    out_shape[-1] = size // 2 + 1
    out = spectrum.new_zeros(out_shape)
    out[..., : keep // 2 + 1] = spectrum[..., : keep // 2 + 1]
    if keep % 2 == 0:
        nyquist = keep // 2
        if size < n:  # down-sampling: X[N/2] + X[-N/2] = 2 Re X[N/2]
            out[..., nyquist] = 2 * spectrum[..., nyquist].real
        else:  # up-sampling: the input's Nyquist bin is split between +N/2 and its conjugate -N/2
            out[..., nyquist] = 0.5 * spectrum[..., nyquist]
    return out


def _restore_mean(resampled: torch.Tensor, source: torch.Tensor, *, multiplicative: bool) -> torch.Tensor:
    """Make each sample's mean equal the source's (float64 accumulation): the electron count is kept."""
    dims = tuple(range(1, source.ndim))
    target = source.mean(dim=dims, keepdim=True, dtype=torch.float64)
    current = resampled.mean(dim=dims, keepdim=True, dtype=torch.float64)
    if multiplicative:
        scale = torch.where(current != 0, target / current, torch.ones_like(current))
        return resampled * scale.to(resampled.dtype)
    return resampled + (target - current).to(resampled.dtype)


def fourier_resample(grids: torch.Tensor, shape: tuple[int, int, int]) -> torch.Tensor:
    """Band-limited periodic resampling of a batch of real grids to ``shape``.

    Exact for any field whose Fourier components lie below both grids' Nyquist frequencies;
    down-sampling removes the components the output grid cannot hold (no aliasing).

    Args:
        grids: real tensor (batch, nx, ny, nz).
        shape: output (mx, my, mz).

    Returns:
        Real tensor (batch, mx, my, mz) with each sample's mean equal to the input's.
    """
    if tuple(grids.shape[1:]) == tuple(shape):
        return grids.clone()
    # The last (contiguous) axis goes through a real FFT: half the work and memory of a complex one.
    spectrum = _resize_half_spectrum(torch.fft.rfft(grids, dim=3), grids.shape[3], shape[2])
    # Down-sample the axes that shrink first: the later FFTs then run on fewer points.
    for axis in sorted(range(2), key=lambda axis: shape[axis] / grids.shape[axis + 1]):
        dim = axis + 1
        spectrum = _resize_spectrum_axis(torch.fft.fft(spectrum, dim=dim), shape[axis], dim)
    out = torch.fft.irfftn(spectrum, s=shape, dim=(1, 2, 3))
    out = out * (math.prod(shape) / math.prod(grids.shape[1:]))
    return _restore_mean(out.to(grids.dtype), grids, multiplicative=False)


def _linear_axis(grids: torch.Tensor, size: int, dim: int) -> torch.Tensor:
    """Periodic linear interpolation of one axis onto ``size`` points at i·n/size."""
    n = grids.shape[dim]
    if size == n:
        return grids
    position = torch.arange(size, device=grids.device, dtype=torch.float64) * (n / size)
    lower = torch.floor(position)
    weight = (position - lower).to(grids.dtype)
    index0 = lower.long() % n
    index1 = (index0 + 1) % n
    shape = [1] * grids.ndim
    shape[dim] = size
    weight = weight.view(shape)
    return grids.index_select(dim, index0) * (1 - weight) + grids.index_select(dim, index1) * weight


def trilinear_resample(grids: torch.Tensor, shape: tuple[int, int, int]) -> torch.Tensor:
    """Periodic trilinear resampling, rescaled so each sample keeps its electron count.

    No ringing on sharp peaks (AECCAR cores), but down-sampling aliases and peaks are blunted.
    """
    out = grids
    for axis in range(3):
        out = _linear_axis(out, shape[axis], axis + 1)
    return _restore_mean(out, grids, multiplicative=True)


def _lowpass_cartesian(grids: torch.Tensor, lattice: torch.Tensor, cutoff: float) -> torch.Tensor:
    """Remove Fourier components with |G| above ``cutoff`` (Å⁻¹), a spherical anti-aliasing filter."""
    nx, ny, nz = grids.shape[1:]
    spectrum = torch.fft.fftn(grids.to(torch.float64), dim=(1, 2, 3))
    reciprocal = 2 * math.pi * torch.linalg.inv(lattice.to(torch.float64)).T  # rows b_i, Å⁻¹
    freqs = [torch.fft.fftfreq(n, d=1.0 / n, device=grids.device, dtype=torch.float64) for n in (nx, ny, nz)]
    kx, ky, kz = torch.meshgrid(*freqs, indexing="ij")
    g = kx[..., None] * reciprocal[0] + ky[..., None] * reciprocal[1] + kz[..., None] * reciprocal[2]
    mask = (g.norm(dim=-1) <= cutoff).to(spectrum.dtype)
    return torch.fft.ifftn(spectrum * mask, dim=(1, 2, 3)).real.to(grids.dtype)


def cartesian_cube(
    grids: torch.Tensor,
    lattice: np.ndarray | torch.Tensor,
    n: int,
    *,
    edge: float,
) -> torch.Tensor:
    """Sample periodic densities on an n³ grid spanning a Cartesian cube of ``edge`` Å.

    The cube starts at the cell origin with axes along x, y, z; points sit at ``(i, j, k)·edge/n``.
    Components above the cube grid's Nyquist frequency are first removed (spherical low-pass),
    then the density is interpolated trilinearly with periodic wrap-around.

    Args:
        grids: (batch, nx, ny, nz) densities of cells that share one lattice.
        lattice: (3, 3) lattice vectors as rows, Å.
        n: points per cube edge.
        edge: cube edge, Å.

    Returns:
        (batch, n, n, n). Its mean approximates the cell's mean density, but the electron count is
        not exactly conserved, since the cube need not hold a whole number of cells.
    """
    lattice_t = torch.as_tensor(np.asarray(lattice), dtype=torch.float64, device=grids.device)
    spacing = edge / n
    filtered = _lowpass_cartesian(grids, lattice_t, cutoff=math.pi / spacing)
    axis = torch.arange(n, device=grids.device, dtype=torch.float64) * spacing
    x, y, z = torch.meshgrid(axis, axis, axis, indexing="ij")
    cartesian = torch.stack([x, y, z], dim=-1).reshape(-1, 3)
    fractional = torch.remainder(cartesian @ torch.linalg.inv(lattice_t), 1.0)
    sizes = torch.tensor(grids.shape[1:], device=grids.device, dtype=torch.float64)
    position = fractional * sizes
    lower = torch.floor(position)
    weight = (position - lower).to(grids.dtype)
    i0 = lower.long() % sizes.long()
    i1 = (i0 + 1) % sizes.long()
    out = torch.zeros(grids.shape[0], cartesian.shape[0], dtype=grids.dtype, device=grids.device)
    for cx in (0, 1):
        wx = weight[:, 0] if cx else 1 - weight[:, 0]
        ix = i1[:, 0] if cx else i0[:, 0]
        for cy in (0, 1):
            wy = weight[:, 1] if cy else 1 - weight[:, 1]
            iy = i1[:, 1] if cy else i0[:, 1]
            for cz in (0, 1):
                wz = weight[:, 2] if cz else 1 - weight[:, 2]
                iz = i1[:, 2] if cz else i0[:, 2]
                out += filtered[:, ix, iy, iz] * (wx * wy * wz)
    return out.reshape(grids.shape[0], n, n, n)


def regrid(
    rho: np.ndarray | torch.Tensor,
    *,
    config: RegridConfig = RegridConfig(),
    lattice: np.ndarray | None = None,
    device: str | torch.device | None = None,
    canonical: np.ndarray | None = None,
) -> torch.Tensor:
    """Resample one density (nx, ny, nz) or a batch (b, nx, ny, nz) onto the model grid.

    Args:
        rho: density in e/Å³ (any linear unit).
        config: grid size, method and frame.
        lattice: (3, 3) lattice rows in Å, required for the Cartesian and canonical frames.
        canonical: for the canonical frame, the file's transform from
            :func:`screener.grid.canonical.canonical_transform` (12 floats; identity when None).
        device: where to compute (default: the tensor's device, or CPU for numpy input).

    Returns:
        float32 tensor (b, n, n, n) on ``device``.
    """
    if config.frame == "canonical":
        from .canonical import canonical_grid, identity_transform

        if lattice is None:
            raise ValueError("the canonical frame needs the lattice")
        source = rho.detach().cpu().numpy() if isinstance(rho, torch.Tensor) else np.asarray(rho)
        grid = canonical_grid(source, np.asarray(lattice), identity_transform() if canonical is None else np.asarray(canonical), config.grid)
        out = torch.as_tensor(grid)[None]
        return out.to(device) if device is not None else out
    if isinstance(rho, np.ndarray) and not rho.flags.writeable:
        rho = rho.copy(order="K")  # e.g. a view of a Ray object-store buffer; torch wants writable memory
    tensor = torch.as_tensor(rho)
    if device is not None:
        tensor = tensor.to(device)
    tensor = tensor.to(torch.float32)
    batched = tensor if tensor.ndim == 4 else tensor.unsqueeze(0)
    n = config.grid
    if config.frame == "cartesian":
        if lattice is None:
            raise ValueError("the cartesian frame needs the lattice")
        return cartesian_cube(batched, lattice, n, edge=config.cube_edge)
    resample = trilinear_resample if config.method == "trilinear" else fourier_resample
    reversed_axes = batched.permute(0, 3, 2, 1)
    if not batched.is_contiguous() and reversed_axes.is_contiguous():
        # Fortran-ordered input (VASP's x-fastest layout): resample the contiguous (z, y, x) view,
        # which needs no transposing copy of the large source grid, and turn the small output back.
        return resample(reversed_axes, (n, n, n)).permute(0, 3, 2, 1).contiguous()
    return resample(batched.contiguous(), (n, n, n))
