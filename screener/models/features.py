"""Tabular descriptors: MAGPIE composition features (matminer) and cell descriptors.

Both regressors fuse these with the density latent. MAGPIE's 132 features come from matminer's
``ElementProperty.from_preset("magpie")`` run serially (``n_jobs=1``: its process pool can hang
inside Ray workers); its names ("MagpieData minimum Number") become snake_case
(``magpie_minimum_number``) so they are valid Parquet and SQL column names.
"""

from __future__ import annotations

import functools
import re
import warnings
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from pymatgen.core import Composition, Structure

#: cell descriptors, in order, with units.
CELL_FEATURES: tuple[str, ...] = (
    "volume_per_atom",  # Å³/atom
    "mass_density",  # g/cm³
    "lattice_a",  # Å
    "lattice_b",  # Å
    "lattice_c",  # Å
    "lattice_alpha",  # degrees
    "lattice_beta",  # degrees
    "lattice_gamma",  # degrees
    "electrons_per_volume",  # valence e/Å³ (from the density file's electron count)
)


def snake_case(name: str) -> str:
    """``MagpieData avg_dev SpaceGroupNumber`` → ``magpie_avg_dev_space_group_number``."""
    name = name.replace("MagpieData", "magpie")
    name = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)
    return re.sub(r"[^0-9a-zA-Z]+", "_", name).strip("_").lower()


@functools.lru_cache(maxsize=1)
def _magpie():
    from matminer.featurizers.composition import ElementProperty

    featurizer = ElementProperty.from_preset("magpie", impute_nan=True)
    featurizer.set_n_jobs(1)
    return featurizer


@functools.lru_cache(maxsize=1)
def magpie_feature_names() -> tuple[str, ...]:
    """The 132 MAGPIE feature names in snake_case."""
    return tuple(snake_case(label) for label in _magpie().feature_labels())


@functools.lru_cache(maxsize=65536)
def _magpie_by_formula(formula: str) -> np.ndarray:
    from pymatgen.core import Composition

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        values = _magpie().featurize(Composition(formula))
    out = np.asarray(values, dtype=np.float64)
    out.setflags(write=False)
    return out


def magpie_features(composition: Composition | str) -> np.ndarray:
    """MAGPIE features (132,) of a composition; cached per reduced formula."""
    from pymatgen.core import Composition

    return _magpie_by_formula(Composition(composition).reduced_formula)


def cell_features(structure: Structure, *, n_electrons: float) -> np.ndarray:
    """Cell descriptors (see :data:`CELL_FEATURES`) of a structure with ``n_electrons`` valence electrons."""
    lattice = structure.lattice
    volume = float(structure.volume)
    return np.array(
        [
            volume / len(structure),
            float(structure.density),
            *lattice.abc,
            *lattice.angles,
            n_electrons / volume,
        ],
        dtype=np.float64,
    )


def tabular_feature_names() -> tuple[str, ...]:
    """Names of :func:`tabular_features`: MAGPIE then cell descriptors."""
    return magpie_feature_names() + CELL_FEATURES


def tabular_features(structure: Structure, *, n_electrons: float) -> np.ndarray:
    """MAGPIE + cell descriptors as one float64 vector (141,)."""
    return np.concatenate([magpie_features(structure.composition), cell_features(structure, n_electrons=n_electrons)])
