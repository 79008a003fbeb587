"""The five predicted properties, their units, learning transforms and label aliases."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Target:
    """One predicted property.

    Attributes:
        name: column name in labels, predictions and bundles.
        unit: physical unit of the column.
        log10: learned as log10 of the value (moduli and Debye temperature; requires positive labels).
        aliases: other column names recognized in label files (Materials Project, matminer, the paper).
        valid_range: labels outside [low, high] (in ``unit``) are reported and left out.
    """

    name: str
    unit: str
    log10: bool
    aliases: tuple[str, ...]
    valid_range: tuple[float, float]

    def to_model_space(self, values: np.ndarray) -> np.ndarray:
        """Physical values → the space the regressors learn in (log10 or identity)."""
        values = np.asarray(values, dtype=np.float64)
        if self.log10:
            with np.errstate(divide="ignore", invalid="ignore"):
                return np.log10(values)
        return values

    def from_model_space(self, values: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`to_model_space`."""
        values = np.asarray(values, dtype=np.float64)
        return np.power(10.0, values) if self.log10 else values


TARGETS: tuple[Target, ...] = (
    Target("bulk_modulus", "GPa", True, ("K_VRH", "bulk_hill", "bulk_modulus_vrh", "k_vrh"), (0.0, 1000.0)),
    Target("shear_modulus", "GPa", True, ("G_VRH", "shear_hill", "shear_modulus_vrh", "g_vrh"), (0.0, 1000.0)),
    Target("youngs_modulus", "GPa", True, ("E", "youngs", "young_modulus", "E_VRH"), (0.0, 2500.0)),
    Target(
        "formation_energy",
        "eV/atom",
        False,
        ("formation_energy_per_atom", "e_form", "corrected_formation_energy_per_atom"),
        (-15.0, 10.0),
    ),
    Target("debye_temperature", "K", True, ("debye", "theta_D", "debye_temp"), (0.0, 5000.0)),
)

TARGET_NAMES: tuple[str, ...] = tuple(t.name for t in TARGETS)
TARGETS_BY_NAME: dict[str, Target] = {t.name: t for t in TARGETS}
