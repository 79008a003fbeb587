"""Quantities derived from the bulk modulus K and shear modulus G (GPa) and the structure.

Formulas (with their sources):

* Young's modulus E = 9KG / (3K + G)                        (GPa)
* Poisson ratio ν = (3K − 2G) / (6K + 2G)                   (dimensionless)
* Pugh ratio K/G; above about 1.75 suggests ductility      (Pugh, Phil. Mag. 45, 823, 1954)
* Chen's Vickers hardness Hv = 2 (k² G)^0.585 − 3, k = G/K, clipped at 0 (GPa)
                                                             (Chen et al., Intermetallics 19, 1275, 2011)
* Debye temperature from the mean sound velocity (Anderson, J. Phys. Chem. Solids 24, 909, 1963),
  as pymatgen's ``ElasticTensor.debye_temperature`` computes it:
  v_l = √((K + 4G/3)/ρ), v_t = √(G/ρ), v_m = [(1/3)(1/v_l³ + 2/v_t³)]^(−1/3),
  Θ_D = (ħ/k_B) v_m (6π² N/V)^(1/3)                         (K)

All functions are vectorized over numpy arrays and return NaN where an input is missing or
unphysical (non-positive moduli).
"""

from __future__ import annotations

import numpy as np

_HBAR = 1.054571817e-34  # J s
_K_B = 1.380649e-23  # J/K
_AMU = 1.66053906660e-27  # kg
_GPA = 1e9  # Pa


def _positive(*arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    out = []
    for array in arrays:
        array = np.asarray(array, dtype=np.float64)
        out.append(np.where(array > 0, array, np.nan))
    return tuple(out)


def youngs_modulus(bulk: np.ndarray, shear: np.ndarray) -> np.ndarray:
    """E = 9KG / (3K + G), GPa."""
    k, g = _positive(bulk, shear)
    return 9 * k * g / (3 * k + g)


def poisson_ratio(bulk: np.ndarray, shear: np.ndarray) -> np.ndarray:
    """ν = (3K − 2G) / (6K + 2G)."""
    k, g = _positive(bulk, shear)
    return (3 * k - 2 * g) / (6 * k + 2 * g)


def pugh_ratio(bulk: np.ndarray, shear: np.ndarray) -> np.ndarray:
    """K/G; above about 1.75 suggests ductile behaviour."""
    k, g = _positive(bulk, shear)
    return k / g


def vickers_hardness(bulk: np.ndarray, shear: np.ndarray) -> np.ndarray:
    """Chen's model Hv = 2 (k² G)^0.585 − 3 with k = G/K, in GPa, clipped at 0."""
    k, g = _positive(bulk, shear)
    ratio = g / k
    return np.clip(2.0 * (ratio**2 * g) ** 0.585 - 3.0, 0.0, None)


def debye_temperature(
    bulk: np.ndarray,
    shear: np.ndarray,
    *,
    mass_density: np.ndarray,
    atoms_per_volume: np.ndarray,
) -> np.ndarray:
    """Debye temperature from the mean sound velocity, in K.

    Args:
        bulk: K_VRH in GPa.
        shear: G_VRH in GPa.
        mass_density: ρ in g/cm³.
        atoms_per_volume: N/V in atoms per Å³.
    """
    k, g, rho = _positive(bulk, shear, mass_density)
    rho_si = rho * 1000.0  # g/cm³ → kg/m³
    v_l = np.sqrt((k + 4.0 * g / 3.0) * _GPA / rho_si)
    v_t = np.sqrt(g * _GPA / rho_si)
    v_m = (((1.0 / v_l**3) + 2.0 / v_t**3) / 3.0) ** (-1.0 / 3.0)
    n_per_m3 = np.asarray(atoms_per_volume, dtype=np.float64) * 1e30
    return _HBAR / _K_B * v_m * (6 * np.pi**2 * n_per_m3) ** (1.0 / 3.0)


def structure_debye_inputs(structure) -> tuple[float, float]:
    """(mass density in g/cm³, atoms per Å³) of a pymatgen structure."""
    return float(structure.density), len(structure) / float(structure.volume)
