"""Density descriptors that do not depend on how the file was written.

A density file is one choice of cell, origin, grid and valence partition for a crystal. These
descriptors are statistics of the density over the **interstitial region** (points farther than a
core radius from every nucleus), computed on the file's own grid after moving the density to the
**canonical valence partition** (:mod:`screener.synth.partition`):

* origin and cell: the distribution of ρ over a uniformly sampled cell is the same for any origin,
  supercell or basis of the same lattice (sampling aside);
* valence partition: semicore shells live inside the core radius; their tails outside it are moved
  with free-atom shells: ρ_canonical = ρ − procrystal(file partition) + procrystal(canonical);
* code: inside the PAW spheres the pseudo densities of VASP and GPAW differ; outside they agree to
  Pearson 0.99999 (``benchmarks/DFT.md``).

Besides ρ, the deformation density Δρ = ρ − procrystal (the bonding and charge transfer) and the
reduced density gradient s = |∇ρ| / (2 (3π²)^{1/3} ρ^{4/3}) are summarized the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..config import DescriptorConfig

if TYPE_CHECKING:
    from pymatgen.core import Structure

#: bumped when the descriptors change meaning; recorded in bundles that use them.
DESCRIPTOR_VERSION = "interstitial-v1"

RHO_QUANTILES = (0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99)
DRHO_QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
GRADIENT_QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)
_S_PREFACTOR = 2.0 * (3.0 * np.pi**2) ** (1.0 / 3.0)
#: radius (Å) inside which added or removed semicore shells are held flat (see :func:`move_partition`).
FLAT_CORE = 0.5


def descriptor_names() -> tuple[str, ...]:
    """Names of :func:`density_descriptors`' values, in order (units: e/Å³ for ρ and Δρ, 1 for fractions and s)."""
    return (
        ("interstitial_fraction", "vacuum_fraction", "interstitial_electrons_per_atom", "canonical_electrons_per_volume")
        + ("partition_residual_per_atom",)
        + ("rho_i_mean", "rho_i_std")
        + tuple(f"rho_i_q{int(round(q * 100)):02d}" for q in RHO_QUANTILES)
        + ("drho_i_mean", "drho_i_std", "drho_i_positive_fraction")
        + tuple(f"drho_i_q{int(round(q * 100)):02d}" for q in DRHO_QUANTILES)
        + tuple(f"s_i_q{int(round(q * 100)):02d}" for q in GRADIENT_QUANTILES)
    )


@dataclass(frozen=True)
class Descriptors:
    """Descriptors of one density.

    Attributes:
        values: float64 vector in the order of :func:`descriptor_names`.
        partition: element → valence electrons per atom the file was found to hold.
        partition_residual: electrons per cell that no partition explains (0 for a valence density;
            large for core-only or all-electron files).
    """

    values: np.ndarray
    partition: dict[str, float]
    partition_residual: float


def _points_within(shape: np.ndarray, lattice: np.ndarray, position: np.ndarray, radius: float) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """Grid points (periodic) closer than ``radius`` Å to a fractional ``position``: (index arrays, distances in Å)."""
    reach = np.linalg.norm(np.linalg.inv(lattice), axis=0)  # fractional extent per Å along each axis
    centre = (np.asarray(position, dtype=np.float64) % 1.0) * shape
    half = np.ceil(radius * reach * shape).astype(int) + 1
    axes = [np.arange(int(np.floor(centre[a])) - half[a], int(np.floor(centre[a])) + half[a] + 2) for a in range(3)]
    d = [(axes[a] - centre[a]) / shape[a] for a in range(3)]  # fractional offsets per axis
    cart = d[0][:, None, None, None] * lattice[0] + d[1][None, :, None, None] * lattice[1] + d[2][None, None, :, None] * lattice[2]
    distance = np.sqrt(np.einsum("ijkl,ijkl->ijk", cart, cart))
    i, j, k = np.nonzero(distance < radius)
    return (axes[0][i] % shape[0], axes[1][j] % shape[1], axes[2][k] % shape[2]), distance[i, j, k]


def near_nuclei_mask(shape: tuple[int, int, int], lattice: np.ndarray, frac: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """Boolean grid, True at points within ``radii[i]`` Å of atom i (periodic images included).

    Args:
        shape: grid points along the three lattice vectors.
        lattice: (3, 3) rows are the lattice vectors, Å.
        frac: (N, 3) fractional coordinates of the atoms.
        radii: (N,) radii in Å.
    """
    mask = np.zeros(tuple(int(n) for n in shape), dtype=bool)
    for position, radius in zip(np.asarray(frac, dtype=np.float64), np.asarray(radii, dtype=np.float64)):
        if radius > 0:
            mask[_points_within(np.array(mask.shape), lattice, position, radius)[0]] = True
    return mask


def add_radial(
    grid: np.ndarray, lattice: np.ndarray, frac: np.ndarray, radius: np.ndarray, values: np.ndarray, *, cutoff: float
) -> None:
    """Add a spherical function around each atom to ``grid`` in place (periodic images within ``cutoff``).

    Args:
        grid: (n1, n2, n3) array, e/Å³.
        lattice: (3, 3) lattice vectors as rows, Å.
        frac: (N, 3) fractional positions of the atoms that carry the function.
        radius, values: the radial function on an increasing radius grid (Å, e/Å³); interpolated linearly.
        cutoff: distance (Å) beyond which the function is taken as zero.
    """
    for position in np.asarray(frac, dtype=np.float64):
        index, distance = _points_within(np.array(grid.shape), lattice, position, cutoff)
        np.add.at(grid, index, np.interp(distance, radius, values))


def to_canonical_partition(rho: np.ndarray, structure: Structure, partition: dict[str, float]) -> np.ndarray:
    """ρ moved from the file's valence partition to the canonical one (e/Å³, a new array); see :func:`move_partition`."""
    from ..synth.partition import canonical_valence

    return move_partition(rho, structure, partition, {element: canonical_valence(element) for element in partition})


def move_partition(
    rho: np.ndarray,
    structure: Structure,
    partition: dict[str, float],
    target: dict[str, float],
    *,
    cutoff: float = 4.0,
    flat_core: float = FLAT_CORE,
) -> np.ndarray:
    """ρ moved from one valence partition to another (e/Å³, a new array).

    For each element whose valence differs, the free-atom (LDA) shells in one partition's valence
    but not the other's are added (``target`` holds more) or removed (``target`` holds fewer).
    Exact outside the semicore region for chemically inert shells; inside it only approximate,
    which is why the descriptors leave the cores out.

    Args:
        rho: density (e/Å³) on the structure's cell.
        partition, target: element → valence electrons per atom, as held and as wanted.
        cutoff: distance (Å) beyond which the shells are taken as zero.
        flat_core: inside this radius (Å) the shells' density is held at its value there, as a
            pseudo-density is smooth inside its augmentation sphere (the cusp of an all-electron
            shell is nothing a valence density from VASP or GPAW holds).
    """
    from ..synth.valence import core_shells, radial_density

    out = np.array(rho, dtype=np.float64)
    lattice = np.asarray(structure.lattice.matrix, dtype=np.float64)
    symbols = np.array([site.specie.symbol for site in structure])
    for element, valence in partition.items():
        wanted = float(target.get(element, valence))
        if abs(valence - wanted) < 1e-9:
            continue
        r, held_core = radial_density(element, core_shells(element, valence))
        _, wanted_core = radial_density(element, core_shells(element, wanted))
        difference = held_core - wanted_core  # > 0: the target valence holds shells the file left in the core
        difference = smooth_core(r, difference, flat_core)
        added = np.zeros_like(out)
        sites = structure.frac_coords[symbols == element]
        add_radial(added, lattice, sites, r, difference, cutoff=cutoff)
        electrons = len(sites) * (wanted - valence)  # what the grid must gain (or lose): exactly whole shells
        sampled = float(added.mean()) * abs(float(np.linalg.det(lattice)))
        if abs(sampled) > 1e-9:
            added *= electrons / sampled
        out += added
    return out


def smooth_core(r: np.ndarray, values: np.ndarray, radius: float) -> np.ndarray:
    """A radial density made smooth inside ``radius`` (Å), holding the same charge.

    Inside, ρ(r) = A + B (r/radius)² with A + B = ρ(radius) (continuous) and the charge inside the
    sphere unchanged; outside, as given.
    """
    if radius <= 0 or r[0] >= radius:
        return values
    inside = r < radius
    shell = 4.0 * np.pi * r**2 * values
    charge = float(np.trapezoid(np.append(shell[inside], np.interp(radius, r, shell)), np.append(r[inside], radius)))
    edge = float(np.interp(radius, r, values))
    mean = charge / (4.0 / 3.0 * np.pi * radius**3)  # mean density inside
    a = 7.5 * (mean / 3.0 - edge / 5.0)
    b = edge - a
    out = np.array(values, dtype=np.float64)
    out[inside] = a + b * (r[inside] / radius) ** 2
    return out


def model_density(rho: np.ndarray, structure: Structure, *, n_electrons: float) -> np.ndarray:
    """The density the networks see: ρ on the canonical valence partition (the same array when the file
    already holds it, as every GPAW density of the training set does), e/Å³."""
    from ..synth.partition import canonical_valence, infer_partition

    counts: dict[str, float] = {}
    for site in structure:
        counts[site.specie.symbol] = counts.get(site.specie.symbol, 0) + 1
    partition, residual = infer_partition(counts, n_electrons)
    if abs(residual) > 0.05 * max(len(structure), 1) or all(abs(z - canonical_valence(e)) < 1e-9 for e, z in partition.items()):
        return rho  # canonical already, or not a valence density at all (left as it is; the OOD score says so)
    return to_canonical_partition(rho, structure, partition)


def core_radii(structure: Structure, *, config: DescriptorConfig) -> np.ndarray:
    """Per-atom core radius (Å): ``config.core_radius`` capped at ``nn_fraction`` × nearest-neighbour distance."""
    radii = np.full(len(structure), float(config.core_radius))
    if len(structure) == 0:
        return radii
    distances = structure.distance_matrix if len(structure) > 1 else np.zeros((1, 1))
    nearest = np.where(distances > 1e-6, distances, np.inf).min(axis=1)
    # an atom alone in its cell: its nearest neighbour is its own image
    nearest = np.minimum(nearest, min(structure.lattice.abc))
    return np.minimum(radii, config.nn_fraction * nearest)


def reduced_gradient(rho: np.ndarray, lattice: np.ndarray) -> np.ndarray:
    """s = |∇ρ| / (2 (3π²)^{1/3} ρ^{4/3}) on the grid (central differences, periodic); NaN where ρ ≤ 1e-6 e/Å³."""
    n = np.array(rho.shape)
    inverse = np.linalg.inv(lattice)  # ∂u_a/∂r_j = inverse[j, a]
    grad = np.zeros(rho.shape + (3,), dtype=np.float64)
    for axis in range(3):
        du = (np.roll(rho, -1, axis=axis) - np.roll(rho, 1, axis=axis)) * (n[axis] / 2.0)
        grad += du[..., None] * inverse[:, axis]
    magnitude = np.linalg.norm(grad, axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = magnitude / (_S_PREFACTOR * np.power(rho, 4.0 / 3.0))
    return np.where(rho > 1e-6, s, np.nan)


def coarser_grid(rho: np.ndarray, *, max_points: int) -> np.ndarray:
    """``rho`` on a uniform periodic grid of at most ``max_points`` points, same aspect (Fourier resampling).

    Every later step (the core mask, the procrystal, the gradient) assumes a uniform periodic grid:
    taking every k-th point would not give one unless k divides each size, and would keep the fine
    grid's sharper features, which a procrystal computed on the coarse grid does not have (the
    deformation density then moved by up to 0.6 of its spread across materials between two cells
    of NaCl; ``benchmarks/REAL_DENSITY.md``). Here ρ and the procrystal hold the same frequencies.
    """
    import torch

    from ..grid.resample import fourier_resample

    scale = (max_points / rho.size) ** (1.0 / 3.0)
    shape = tuple(max(2, int(n * scale)) for n in rho.shape)
    return fourier_resample(torch.from_numpy(np.ascontiguousarray(rho))[None], shape)[0].numpy()


def density_descriptors(
    rho: np.ndarray,
    structure: Structure,
    *,
    n_electrons: float,
    config: DescriptorConfig | None = None,
) -> Descriptors:
    """Invariant descriptors of one density (see the module docstring).

    Args:
        rho: (n1, n2, n3) density in e/Å³ on the file's grid, axis i along lattice vector i.
        structure: the file's structure (same cell as ``rho``).
        n_electrons: the file's electron count (mean of ρ·V).
        config: core radius and thresholds (defaults: :class:`~screener.config.DescriptorConfig`).

    Returns:
        :class:`Descriptors`.
    """
    from ..synth.partition import canonical_valence, infer_partition
    from ..synth.procrystal import procrystal_density

    config = config or DescriptorConfig()
    rho = np.asarray(rho, dtype=np.float64)
    if rho.size > config.max_points:  # a fine grid, resampled: same statistics, bounded cost
        rho = coarser_grid(rho, max_points=config.max_points)
    lattice = np.asarray(structure.lattice.matrix, dtype=np.float64)
    volume = abs(float(np.linalg.det(lattice)))
    counts: dict[str, float] = {}
    for site in structure:
        symbol = site.specie.symbol
        counts[symbol] = counts.get(symbol, 0) + 1
    partition, residual = infer_partition(counts, n_electrons)
    canonical = {e: canonical_valence(e) for e in counts}
    canonical_electrons = sum(counts[e] * canonical[e] for e in counts)
    if partition != canonical:
        rho = to_canonical_partition(rho, structure, partition)
    deformation = rho - procrystal_density(structure, rho.shape, valence=canonical, n_electrons=canonical_electrons)

    radii = core_radii(structure, config=config)
    interstitial = ~near_nuclei_mask(rho.shape, lattice, structure.frac_coords, radii)
    if not interstitial.any():
        interstitial = np.ones(rho.shape, dtype=bool)
    values_rho = rho[interstitial]
    values_drho = deformation[interstitial]
    s = reduced_gradient(rho, lattice)[interstitial]
    s = s[np.isfinite(s)]
    s_quantiles = np.quantile(s, GRADIENT_QUANTILES) if s.size else np.full(len(GRADIENT_QUANTILES), np.nan)
    fraction = float(interstitial.mean())
    values = np.concatenate(
        [
            [
                fraction,
                float((values_rho < config.vacuum_density).mean()) * fraction,
                float(values_rho.mean()) * fraction * volume / max(len(structure), 1),
                canonical_electrons / volume,
                abs(residual) / max(len(structure), 1),
            ],
            [values_rho.mean(), values_rho.std()],
            np.quantile(values_rho, RHO_QUANTILES),
            [values_drho.mean(), values_drho.std(), float((values_drho > 0).mean())],
            np.quantile(values_drho, DRHO_QUANTILES),
            s_quantiles,
        ]
    ).astype(np.float64)
    return Descriptors(values=values, partition=partition, partition_residual=residual)
