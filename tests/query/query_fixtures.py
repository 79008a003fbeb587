"""A small results set with known values for the ``screener query`` tests.

Two results directories, as ``screener run`` writes them:

* ``run_a`` -- today's schema (:mod:`screener.screening.schema`): 9 materials, their latents, 4 error rows.
* ``run_b`` -- an older schema without ``recon_error`` and ``ood_score`` and with no ``errors/``
  folder (a run with zero errors writes no errors part file): 6 materials, one of them (Fe) the
  same file as in ``run_a``, one (SiO2) embedded by another model, one (graphite) a second
  polymorph of C, one (solid He) with an all-zero embedding.

Every value derives from :data:`MATERIALS` with the pipeline's formulas (Hill moduli given,
E = 9KG/(3K+G), Pugh ratio K/G, Poisson ratio, Chen hardness), so tests compute their expected
rows from the same records rather than hard-coding output.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from screener.screening.schema import ERRORS_SCHEMA, LATENTS_SCHEMA, PREDICTIONS_SCHEMA
from screener.targets import TARGET_NAMES

#: Columns an older run did not write yet.
OLD_MISSING_COLUMNS = ("recon_error", "ood_score")


@dataclass(frozen=True)
class Material:
    """One fixture prediction (moduli in GPa, formation energy in eV/atom, Debye temperature in K)."""

    run: str
    name: str
    formula: str
    bulk: float
    shear: float
    formation_energy: float
    debye: float
    ood: float | None
    embedding: tuple[float, ...] | None
    rel_std: float = 0.05  # one-sigma spread of K, G, E, theta_D relative to the value
    ef_std: float = 0.03  # eV/atom
    model_id: str = "m1"

    @property
    def id(self) -> str:
        """SHA-256 stand-in: the same name is the same file, in any run."""
        return hashlib.sha256(self.name.encode()).hexdigest()

    @property
    def youngs(self) -> float:
        return 9 * self.bulk * self.shear / (3 * self.bulk + self.shear)

    @property
    def pugh(self) -> float:
        return self.bulk / self.shear

    @property
    def poisson(self) -> float:
        return (3 * self.bulk - 2 * self.shear) / (2 * (3 * self.bulk + self.shear))

    @property
    def hardness(self) -> float:
        k = self.shear / self.bulk
        return max(0.0, 2 * (k * k * self.shear) ** 0.585 - 3)

    def value(self, target: str) -> float:
        return {
            "bulk_modulus": self.bulk,
            "shear_modulus": self.shear,
            "youngs_modulus": self.youngs,
            "formation_energy": self.formation_energy,
            "debye_temperature": self.debye,
        }[target]

    def std(self, target: str) -> float:
        return self.ef_std if target == "formation_energy" else self.rel_std * self.value(target)


RUN_A, RUN_B = "run-a", "run-b"

MATERIALS: tuple[Material, ...] = (
    Material(RUN_A, "diamond", "C", 443, 535, 0.0, 2230, 0.4, (1.0, 0.0, 0.0, 0.0)),
    Material(RUN_A, "cBN", "BN", 376, 403, -1.3, 1700, 0.6, (0.9, 0.2, 0.0, 0.1)),
    Material(RUN_A, "WC", "WC", 385, 280, -0.2, 493, 0.8, (0.5, 0.5, 0.1, 0.0)),
    Material(RUN_A, "Fe", "Fe", 170, 82, 0.0, 470, 0.3, (0.1, 0.9, 0.3, 0.0)),
    Material(RUN_A, "Ni3Al", "Ni3Al", 174, 77, -0.42, 400, 0.5, (0.2, 0.8, 0.5, 0.1), rel_std=0.3),
    Material(RUN_A, "Cu", "Cu", 140, 48, 0.0, 343, 0.2, None),
    Material(RUN_A, "TiC", "TiC", 242, 188, -0.9, 940, 1.6, (0.7, 0.3, 0.0, 0.4)),
    Material(RUN_A, "NaCl", "NaCl", 25, 15, -2.1, 321, 0.9, (0.0, 0.1, 0.2, 1.0), ef_std=0.25),
    Material(RUN_A, "Li2O-odd", "Li2O", 80, 45, -2.0, 900, 3.2, (0.3, 0.0, 0.9, 0.3), rel_std=0.5),
    Material(RUN_B, "MgO", "MgO", 160, 130, -3.0, 940, None, (0.6, 0.1, 0.1, 0.6)),
    Material(RUN_B, "Fe", "Fe", 172, 83, 0.0, 468, None, (0.1, 0.9, 0.3, 0.0)),
    Material(RUN_B, "Mo", "Mo", 260, 125, 0.0, 450, None, (0.2, 0.7, 0.6, 0.0)),
    Material(RUN_B, "quartz", "SiO2", 37, 31, -3.0, 470, None, (0.95, 0.05, 0.0, 0.0), model_id="m2"),
    Material(RUN_B, "graphite", "C", 34, 20, 0.0, 420, None, (0.1, 0.2, 0.9, 0.5)),
    Material(RUN_B, "solid-He", "He", 0.05, 0.03, 0.0, 30, None, (0.0, 0.0, 0.0, 0.0)),  # no direction
)

#: (run, path, stage, error_type, message); id is null for the file that could not be hashed.
ERRORS: tuple[tuple[str, str, str, str, str], ...] = (
    (RUN_A, "in/broken1/CHGCAR", "read", "InputError", "truncated grid: 100 of 32768 values"),
    (RUN_A, "in/broken2/CHGCAR", "read", "InputError", "not a CHGCAR: no lattice"),
    (RUN_A, "in/neg/CHGCAR", "validate", "InputError", "negative electron count"),
    (RUN_A, "in/diamond_copy/CHGCAR", "duplicate", "DuplicateError", "same bytes as in/diamond/CHGCAR"),
)

CREATED = {
    RUN_A: datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc),
    RUN_B: datetime(2025, 11, 5, 9, 30, tzinfo=timezone.utc),
}


def materials(run: str | None = None) -> list[Material]:
    """The fixture materials, optionally of one run."""
    return [m for m in MATERIALS if run is None or m.run == run]


def prediction_row(m: Material) -> dict:
    """One predictions row as the pipeline writes it."""
    row = {
        "id": m.id,
        "name": m.name,
        "path": f"in/{m.name}/CHGCAR",
        "formula": m.formula,
        "n_sites": 2,
        "volume": 20.0,
        "density": 5.0,
        "n_electrons": 16.0,
        "grid": [48, 48, 48],
        "recon_error": None if m.ood is None else 0.01 * m.ood,
        "ood_score": m.ood,
        "pugh_ratio": m.pugh,
        "poisson_ratio": m.poisson,
        "vickers_hardness": m.hardness,
        "model_id": m.model_id,
        "run_id": m.run,
        "created_at": CREATED[m.run],
    }
    for target in TARGET_NAMES:
        value = m.value(target)
        row[target] = value
        row[f"{target}_lgbm"] = value * 1.01
        row[f"{target}_attcnn"] = value * 0.99
        row[f"{target}_std"] = m.std(target)
    return row


def _write(rows: list[dict], schema: pa.Schema, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)


def old_predictions_schema() -> pa.Schema:
    """The predictions schema of an older run: without :data:`OLD_MISSING_COLUMNS`."""
    return pa.schema([f for f in PREDICTIONS_SCHEMA if f.name not in OLD_MISSING_COLUMNS])


def write_results(root: Path) -> dict[str, Path]:
    """Write ``root/run_a`` and ``root/run_b``; return ``{"run_a": path, "run_b": path}``."""
    dirs = {"run_a": root / "run_a", "run_b": root / "run_b"}
    runs = ((RUN_A, dirs["run_a"], PREDICTIONS_SCHEMA), (RUN_B, dirs["run_b"], old_predictions_schema()))
    for run, directory, schema in runs:
        rows = [prediction_row(m) for m in materials(run)]
        half = math.ceil(len(rows) / 2)  # two part files per run, as several workers would write
        for seq, chunk in enumerate((rows[:half], rows[half:])):
            chunk = [{k: v for k, v in r.items() if k in schema.names} for r in chunk]
            _write(chunk, schema, directory / "predictions" / f"part-{run}-{seq:05d}.parquet")
        latents = [
            {
                "id": m.id,
                "latent": None if m.embedding is None else list(m.embedding) * 2,
                "embedding": None if m.embedding is None else list(m.embedding),
                "model_id": m.model_id,
            }
            for m in materials(run)
        ]
        _write(latents, LATENTS_SCHEMA, directory / "latents" / f"part-{run}-00000.parquet")
        errors = [
            {
                "path": path,
                "id": None if stage == "read" else hashlib.sha256(path.encode()).hexdigest(),
                "stage": stage,
                "error_type": etype,
                "message": msg,
                "run_id": r,
            }
            for r, path, stage, etype, msg in ERRORS
            if r == run
        ]
        if errors:
            _write(errors, ERRORS_SCHEMA, directory / "errors" / f"part-{run}-00000.parquet")
        (directory / "manifest.json").write_text('{"schema_version": 1, "run_id": "%s"}\n' % run)
    return dirs
