"""A results directory of ``n`` plausible predictions, as ``screener run`` writes it (with a manifest)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from screener import physics
from screener.screening.pipeline import default_model_path
from screener.screening.schema import ERRORS_SCHEMA, LATENTS_SCHEMA, PREDICTIONS_SCHEMA
from screener.targets import TARGET_NAMES

RUN_ID = "20260101T000000-fixture"
FORMULAS = ("NaCl", "MgO", "Si", "TiO2", "Fe", "Al2O3", "SiC", "BN", "Cu", "ZnS", "CaF2", "BaTiO3")
ERRORS = (
    ("read", "InputError", "truncated data block: 1000 of 32768 values"),
    ("read", "InputError", "gzip stream is corrupt"),
    ("duplicate", "Duplicate", "same bytes as runs/a/CHGCAR"),
)


def demo_model_id() -> str:
    return json.loads((default_model_path() / "manifest.json").read_text())["model_id"]


def write_fixture(root: Path, n: int, *, seed: int = 0, model_id: str | None = None) -> Path:
    """Write ``root`` with ``n`` predictions (two part files), latents, three errors and a manifest
    naming the shipped demo bundle as its model."""
    model_id = model_id or demo_model_id()
    rng = np.random.default_rng(seed)
    k = rng.lognormal(np.log(90), 0.6, n)
    g = k * rng.uniform(0.25, 1.1, n)
    ef = rng.normal(-0.8, 0.7, n)
    theta = rng.lognormal(np.log(400), 0.4, n)
    ids = [f"{i:064x}" for i in rng.integers(0, 2**62, n, dtype=np.int64)]
    ids = [f"{i:08d}" + s[8:] for i, s in enumerate(ids)]  # unique
    values = {
        "bulk_modulus": k, "shear_modulus": g, "youngs_modulus": physics.youngs_modulus(k, g),
        "formation_energy": ef, "debye_temperature": theta,
    }  # fmt: skip
    columns: dict[str, object] = {
        "id": ids,
        "name": [f"mp-{i}" for i in range(n)],
        "path": [f"/data/runs/mp-{i}/CHGCAR" for i in range(n)],
        "formula": [FORMULAS[i % len(FORMULAS)] for i in range(n)],
        "n_sites": np.full(n, 4, np.int32),
        "volume": rng.uniform(20, 200, n),
        "density": rng.uniform(2, 10, n),
        "n_electrons": rng.uniform(8, 80, n),
        "grid": [[48, 48, 48]] * n,
        "recon_error": rng.lognormal(-1, 0.5, n),
        "ood_score": rng.lognormal(-0.7, 0.6, n),
    }
    for name in TARGET_NAMES:
        columns[name] = values[name]
        columns[f"{name}_lgbm"] = values[name] * 1.02
        columns[f"{name}_attcnn"] = values[name] * 0.98
        scale = np.abs(values[name]) if name != "formation_energy" else np.ones(n)
        columns[f"{name}_std"] = scale * rng.lognormal(np.log(0.08), 0.6, n)
    columns["pugh_ratio"] = physics.pugh_ratio(k, g)
    columns["poisson_ratio"] = physics.poisson_ratio(k, g)
    columns["vickers_hardness"] = physics.vickers_hardness(k, g)
    columns["model_id"] = [model_id] * n
    columns["run_id"] = [RUN_ID] * n
    columns["created_at"] = pa.array([0] * n, pa.timestamp("us", tz="UTC"))
    # columns the fixture does not set (path_bytes, warning) are null, as for ordinary well-formed files
    table = pa.table({f.name: pa.array(columns.get(f.name, [None] * n), f.type) for f in PREDICTIONS_SCHEMA}, schema=PREDICTIONS_SCHEMA)
    half = n // 2
    for sub in ("predictions", "latents", "errors"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for seq, part in enumerate((table.slice(0, half), table.slice(half))):
        pq.write_table(part, root / "predictions" / f"part-{RUN_ID}-{seq:05d}.parquet")
    embeddings = rng.normal(size=(n, 8)).astype(np.float32)
    latents = pa.table(
        {
            "id": pa.array(ids, pa.string()),
            "latent": pa.array([None] * n, pa.list_(pa.float32())),
            "embedding": pa.array(list(embeddings), pa.list_(pa.float32())),
            "model_id": pa.array([model_id] * n, pa.string()),
        },
        schema=LATENTS_SCHEMA,
    )
    pq.write_table(latents, root / "latents" / f"part-{RUN_ID}-00000.parquet")
    errors = pa.table(
        {
            "path": [f"/data/bad/{i}/CHGCAR" for i in range(len(ERRORS))],
            "path_bytes": [None] * len(ERRORS),
            "id": [None, None, "f" * 64],
            "stage": [e[0] for e in ERRORS],
            "error_type": [e[1] for e in ERRORS],
            "message": [e[2] for e in ERRORS],
            "run_id": [RUN_ID] * len(ERRORS),
        },
        schema=ERRORS_SCHEMA,
    )
    pq.write_table(errors, root / "errors" / f"part-{RUN_ID}-00000.parquet")
    run = {
        "run_id": RUN_ID, "started": "2026-01-01T00:00:00+00:00", "seconds": 12.5, "inputs": ["/data/runs"],
        "model": str(default_model_path()), "model_id": model_id,
        "counts": {"discovered": n + 3, "predicted": n, "failed": 2, "duplicates": 1, "skipped_already_done": 0},
        "errors_by_stage": {"read": 2}, "throughput_files_per_second": round((n + 3) / 12.5, 3),
        "replicas": {"read": 2, "predict": 1, "gpus": 0},
    }  # fmt: skip
    manifest = {"runs": [run], "schema_version": 1, "model_id": model_id, "totals": {"predictions": n}}
    (root / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return root


def figures_of(page: str) -> dict:
    match = re.search(r"<script type='application/json' id=figures>(.*?)</script>", page, re.S)
    assert match, "no figure data in the page"
    return json.loads(match.group(1).replace("<\\/", "</"))
