"""Training labels: reading, column mapping, validation (with a report), and physics fill-ins.

A labels file is CSV or Parquet with an ``id`` column matching the inputs' record names (the
calculation folder for VASP output names, the file stem otherwise) and any of the five targets in
their units (GPa, eV/atom, K). Materials Project / matminer / paper column names are recognized
(:data:`screener.targets.TARGETS` aliases) and ``--map COLUMN=target`` adds more.

Validation never drops silently: every left-out value is a row of the report with the reason.
Rules:

* a modulus or Debye temperature that is not positive, or not finite → that value is left out;
* a value outside the target's physical range (e.g. the paper's −8.95e6 eV/atom) → left out;
* a given Poisson ratio outside (−1, 0.5) means the elastic data of that row are inconsistent →
  its K, G, E and Debye temperature are left out (its formation energy is kept).

Missing Young's moduli are filled from K and G (E = 9KG/(3K+G)) and missing Debye temperatures
from K, G and the structure (Anderson's formula); filled values are counted in the report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import physics
from ..errors import LabelError
from ..targets import TARGETS, TARGETS_BY_NAME

ID_ALIASES = ("id", "name", "material_id", "formula_sp")


@dataclass
class LabelSet:
    """Validated labels: ``values[target]`` is a float array aligned with ``ids`` (NaN = no label)."""

    ids: list[str]
    values: dict[str, np.ndarray]
    report: list[dict] = field(default_factory=list)  # one row per left-out value
    filled: dict[str, int] = field(default_factory=dict)

    def index(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.ids)}

    def counts(self) -> dict[str, int]:
        return {name: int(np.isfinite(v).sum()) for name, v in self.values.items()}


def read_table(path: str | Path, *, what: str = "labels file"):
    """A CSV or Parquet table as a pandas DataFrame, or :class:`LabelError` naming the file and the reason."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise LabelError(f"{path}: {what} not found")
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            return pd.read_parquet(path)
        return pd.read_csv(path)
    except Exception as exc:  # pandas/pyarrow raise many types for a malformed file
        raise LabelError(f"{path}: cannot read {what} ({type(exc).__name__}: {exc})") from None


def resolve_columns(columns: list[str], mapping: dict[str, str] | None = None) -> tuple[str, dict[str, str], str | None]:
    """(id column, {target: source column}, poisson column or None) for a table's columns."""
    mapping = dict(mapping or {})
    lower = {c.lower(): c for c in columns}
    mapped_id = [column for column, target in mapping.items() if target == "id"]
    for column in mapped_id:
        del mapping[column]
    id_column = mapped_id[0] if mapped_id else next((lower[a.lower()] for a in ID_ALIASES if a.lower() in lower), None)
    if id_column is None or id_column not in columns:
        raise LabelError(f"no id column: expected one of {', '.join(ID_ALIASES)} (or --map COLUMN=id); found {columns}")
    sources: dict[str, str] = {}
    for column, target in ((c, t) for c, t in mapping.items()):
        if target not in TARGETS_BY_NAME:
            raise LabelError(f"--map {column}={target}: unknown target (known: {', '.join(TARGETS_BY_NAME)})")
        if column not in columns:
            raise LabelError(f"--map {column}={target}: no column {column!r} in the labels file")
        sources[target] = column
    for target in TARGETS:
        if target.name in sources:
            continue
        for candidate in (target.name, *target.aliases):
            if candidate.lower() in lower:
                sources[target.name] = lower[candidate.lower()]
                break
    if not sources:
        raise LabelError(f"no target column found; expected any of {', '.join(TARGETS_BY_NAME)} or their aliases")
    poisson = lower.get("poisson_ratio")
    return id_column, sources, poisson


def load_labels(path: str | Path, *, mapping: dict[str, str] | None = None) -> LabelSet:
    """Read and validate a labels file (see the module docstring for the rules)."""
    path = Path(path)
    table = read_table(path)
    id_column, sources, poisson_column = resolve_columns(list(table.columns), mapping)
    ids = [str(v) for v in table[id_column].tolist()]
    duplicates = {i for i in ids if ids.count(i) > 1} if len(set(ids)) != len(ids) else set()
    if duplicates:
        raise LabelError(f"{path}: duplicate ids in column {id_column!r}: {sorted(duplicates)[:5]}")
    values: dict[str, np.ndarray] = {}
    for target in TARGETS:
        column = sources.get(target.name)
        values[target.name] = (
            np.asarray(table[column], dtype=np.float64) if column else np.full(len(ids), np.nan)
        )
    report: list[dict] = []

    def drop(row: int, target: str, reason: str) -> None:
        value = values[target][row]
        if np.isfinite(value) or reason.startswith("not finite"):
            report.append({"id": ids[row], "target": target, "value": float(value), "reason": reason})
        values[target][row] = np.nan

    for target in TARGETS:
        column = values[target.name]
        low, high = target.valid_range
        for row in np.flatnonzero(~np.isfinite(column) & ~np.isnan(column)):
            drop(row, target.name, "not finite")
        for row in np.flatnonzero(np.isfinite(column)):
            value = column[row]
            if target.log10 and value <= 0:
                drop(row, target.name, f"non-positive {target.name.replace('_', ' ')}")
            elif not low <= value <= high:
                drop(row, target.name, f"outside the physical range [{low:g}, {high:g}] {target.unit}")
    if poisson_column is not None:
        ratio = np.asarray(table[poisson_column], dtype=np.float64)
        bad = np.isfinite(ratio) & ((ratio <= -1.0) | (ratio >= 0.5))
        for row in np.flatnonzero(bad):
            for name in ("bulk_modulus", "shear_modulus", "youngs_modulus", "debye_temperature"):
                if np.isfinite(values[name][row]):
                    drop(row, name, f"Poisson ratio {ratio[row]:.3f} outside (-1, 0.5): inconsistent elastic data")
    return LabelSet(ids=ids, values=values, report=report)


def fill_from_physics(labels: LabelSet, debye_inputs: dict[str, tuple[float, float]]) -> LabelSet:
    """Fill missing E from K and G, and missing Debye temperatures from K, G and the structure.

    ``labels.filled`` counts the filled values of records that have a density (the keys of
    ``debye_inputs``): label rows without one are filled too but never used.

    Args:
        debye_inputs: record name → (mass density g/cm³, atoms per Å³) of every record with a density.
    """
    bulk, shear = labels.values["bulk_modulus"], labels.values["shear_modulus"]
    youngs = labels.values["youngs_modulus"]
    missing = ~np.isfinite(youngs) & np.isfinite(bulk) & np.isfinite(shear)
    youngs[missing] = physics.youngs_modulus(bulk[missing], shear[missing])
    labels.filled["youngs_modulus"] = sum(1 for row in np.flatnonzero(missing) if labels.ids[row] in debye_inputs)
    debye = labels.values["debye_temperature"]
    filled = 0
    for row in np.flatnonzero(~np.isfinite(debye) & np.isfinite(bulk) & np.isfinite(shear)):
        inputs = debye_inputs.get(labels.ids[row])
        if inputs is None:
            continue
        density, atoms = inputs
        debye[row] = physics.debye_temperature(bulk[row], shear[row], mass_density=density, atoms_per_volume=atoms)
        filled += 1
    labels.filled["debye_temperature"] = filled
    return labels


def write_report(labels: LabelSet, path: str | Path) -> Path:
    """The left-out values as CSV (id, target, value, reason)."""
    import csv

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["id", "target", "value", "reason"])
        writer.writeheader()
        writer.writerows(labels.report)
    return path
