"""Real DFT densities: self-consistent PBE valence densities with GPAW, one Ray task per structure.

Entry points: :func:`run_dft` (the engine: Ray or in-process, resumable), :func:`iter_inputs`
(structures and labels to compute), :func:`compute_row` (one structure as a plain function),
:func:`run_scf` (one SCF and its VASP-like density), and the held-out exclusions.
"""

from __future__ import annotations

from .._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__, engine="run_dft DftSummary", inputs="iter_inputs StructureInput", rows="compute_row",
    gpaw_scf="run_scf ScfResult DftError", exclusions="find_exclusions held_out_structures",
)
