"""Synthetic densities: the procrystal models, prototype structures, valence tables, the batch driver."""

from __future__ import annotations

from .._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__, procrystal="procrystal_density allelectron_density", prototypes="generate_prototypes",
    valence="default_valence",
    driver="synthesize_structures synthesize_prototypes iter_structure_files SynthSummary",
)
