"""Synthetic densities: the procrystal models, prototype structures, valence tables, the batch driver.

Public entry points below, imported on first use (:mod:`screener._lazy`); the rest is private by convention.
"""

from __future__ import annotations

from .._lazy import lazy_exports

_EXPORTS = {
    "procrystal_density": "procrystal",
    "allelectron_density": "procrystal",
    "generate_prototypes": "prototypes",
    "default_valence": "valence",
    "synthesize_structures": "driver",
    "synthesize_prototypes": "driver",
    "iter_structure_files": "driver",
    "SynthSummary": "driver",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
