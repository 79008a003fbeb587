"""Density-table rows of one structure: computed, or failed with its reason (plain functions)."""

from __future__ import annotations

import json
import time
import traceback
from dataclasses import asdict
from typing import Any

import numpy as np

from ..config import DftConfig
from ..io import density_table
from .gpaw_scf import DftError, run_scf
from .inputs import StructureInput


def settings_json(config: DftConfig) -> str:
    """The DFT settings of a row as JSON (every field of :class:`DftConfig`)."""
    return json.dumps(asdict(config), sort_keys=True)


def _base_row(item: StructureInput, config: DftConfig) -> dict[str, Any]:
    row = density_table.empty_row()
    row.update(id=item.id, source=item.source, settings_json=settings_json(config))
    for name in density_table.LABEL_COLUMNS:
        row[name] = item.labels.get(name)
    if item.structure is not None:
        row.update(formula=item.structure.composition.reduced_formula, n_atoms=len(item.structure), structure=item.structure.to_json())
    return row


def error_row(item: StructureInput, *, kind: str, message: str, seconds: float, config: DftConfig) -> dict[str, Any]:
    """The row of a structure that was tried and failed (density null, ``error`` names the reason)."""
    row = _base_row(item, config)
    row.update(error_kind=kind, error=message, seconds=float(seconds), converged=False)
    return row


def compute_row(item: StructureInput, *, config: DftConfig) -> dict[str, Any]:
    """Run the SCF of one input and return its table row; never raises for a bad structure.

    The density is stored as ρ·V_cell (as a CHGCAR) in float32, flattened in C order.
    """
    start = time.perf_counter()
    if item.structure is None:
        return error_row(item, kind="bad_structure", message=item.error or "no structure", seconds=0.0, config=config)
    try:
        result = run_scf(item.structure, config=config)
    except DftError as exc:
        return error_row(item, kind=exc.kind, message=str(exc), seconds=time.perf_counter() - start, config=config)
    except MemoryError:
        return error_row(item, kind="memory", message="out of memory during the SCF", seconds=time.perf_counter() - start, config=config)
    except Exception as exc:  # a bug or an unforeseen GPAW failure: recorded, never fatal to the run
        last = traceback.extract_tb(exc.__traceback__)[-1]
        message = f"{type(exc).__name__}: {exc} (at {last.filename}:{last.lineno})"
        return error_row(item, kind="internal", message=message, seconds=time.perf_counter() - start, config=config)
    volume = result.structure.lattice.volume
    values = (result.density * volume).astype(np.float32).ravel(order="C")
    row = _base_row(item, config)
    row.update(
        formula=result.structure.composition.reduced_formula,
        n_atoms=len(result.structure),
        structure=result.structure.to_json(),
        grid_shape=list(result.density.shape),
        density=values,
        n_electrons=result.n_electrons,
        valence_json=json.dumps(result.valence, sort_keys=True),
        energy_ev=result.energy_ev,
        converged=True,
        iterations=result.iterations,
        seconds=result.seconds,
        kpoints_ibz=result.kpoints_ibz,
        ecut_ev=result.plan.ecut_ev,
        spin_polarized=result.plan.spin_polarized,
        magnetic_moment=result.magnetic_moment,
        code=f"gpaw {result.gpaw_version}",
    )
    return row
