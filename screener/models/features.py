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


#: cell descriptors that do not change with the cell choice (no lattice lengths or angles).
INVARIANT_CELL_FEATURES: tuple[str, ...] = ("volume_per_atom", "mass_density")


def input_feature_names() -> tuple[str, ...]:
    """Every per-file feature a read row carries (``tabular``): MAGPIE, cell descriptors, then the
    invariant density descriptors (:func:`screener.models.descriptors.descriptor_names`). A bundle
    uses the subset its manifest names (``tabular_features``)."""
    from .descriptors import descriptor_names

    return tabular_feature_names() + descriptor_names()


def invariant_input_names() -> tuple[str, ...]:
    """The inputs of a bundle that must not depend on how the file was written: MAGPIE, volume per
    atom, mass density and the invariant density descriptors."""
    from .descriptors import descriptor_names

    return magpie_feature_names() + INVARIANT_CELL_FEATURES + descriptor_names()


def input_features(structure: Structure, rho: np.ndarray | None, *, n_electrons: float, config=None) -> np.ndarray:
    """The :func:`input_feature_names` vector of one file (descriptors NaN when ``rho`` is None).

    Args:
        structure: the file's structure.
        rho: its density on its own grid (e/Å³), or None.
        n_electrons: the file's electron count.
        config: :class:`~screener.config.DescriptorConfig` (default when None).

    Raises:
        Exception: whatever the descriptors raise (an element without a valence model, say).
    """
    from .descriptors import descriptor_names, density_descriptors

    descriptors = np.full(len(descriptor_names()), np.nan)
    if rho is not None:
        descriptors = density_descriptors(rho, structure, n_electrons=n_electrons, config=config).values
    return np.concatenate([tabular_features(structure, n_electrons=n_electrons), descriptors])


def select_inputs(features: np.ndarray, names: tuple[str, ...] | list[str]) -> np.ndarray:
    """Columns ``names`` of a (B, len(input_feature_names())) matrix; a matrix that already has
    ``len(names)`` columns is taken as given (callers that built a bundle's inputs themselves)."""
    features = np.asarray(features, dtype=np.float64)
    all_names = input_feature_names()
    if features.shape[-1] == len(all_names):
        index = {name: i for i, name in enumerate(all_names)}
        return features[..., [index[name] for name in names]]
    if features.shape[-1] == len(names):
        return features
    raise ValueError(f"{features.shape[-1]} input features, expected {len(all_names)} (all) or {len(names)} (the bundle's)")
