"""Real-density models: featurize the real-density set, compare feature sets, test transfer to VASP.

Subcommands (each prints its figures; ``benchmarks/REAL_DENSITY.md`` records them):

* ``featurize --table data/densities --out FEATURES.parquet`` computes every row's inputs
  (:func:`screener.models.features.input_features`: MAGPIE, cell and the invariant density
  descriptors) once, in ``--workers`` processes.
* ``trees --features FEATURES.parquet`` fits LightGBM on a seeded 80/10/10 split by material for
  several feature sets and prints test R², MAE, log10-MAE with bootstrap intervals and the paired
  bootstrap ΔR² against MAGPIE + invariant cell descriptors (no density).

The materials of ``../shared/data/chgcar`` are not in the table (``data/excluded.csv``); nothing
here reads them except the transfer test in ``transfer``.
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np


def _featurize_row(args: tuple[str, str, list, dict, float]) -> tuple[str, list[float] | None, str]:
    from pymatgen.core import Structure

    from screener.models.features import input_features

    material_id, structure_json, shape, labels, volume = args
    try:
        structure = Structure.from_dict(json.loads(structure_json))
        rho = np.asarray(labels.pop("__rho"), dtype=np.float64).reshape(shape) / volume
        n_electrons = float(rho.mean() * volume)
        return material_id, input_features(structure, rho, n_electrons=n_electrons).tolist(), ""
    except Exception as exc:  # noqa: BLE001 - reported, never silently dropped
        return material_id, None, f"{type(exc).__name__}: {exc}"


def featurize(table: str, out: str, *, workers: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq
    from pymatgen.core import Structure

    from screener.io.density_table import LABEL_COLUMNS, iter_rows
    from screener.models.features import input_feature_names

    names = input_feature_names()
    tasks, meta = [], {}
    for _, _, row in iter_rows(table):
        if row["density"] is None:
            continue
        structure = json.loads(row["structure"])
        volume = Structure.from_dict(structure).volume
        labels = {"__rho": row["density"]}
        tasks.append((row["id"], row["structure"], list(row["grid_shape"]), labels, volume))
        meta[row["id"]] = {"formula": row["formula"], "n_atoms": row["n_atoms"], **{k: row.get(k) for k in LABEL_COLUMNS}}
    start = time.perf_counter()
    rows, failed = [], []
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for material_id, values, error in pool.map(_featurize_row, tasks, chunksize=8):
            if values is None:
                failed.append((material_id, error))
                continue
            rows.append({"id": material_id, **meta[material_id], "features": values})
    print(f"featurized {len(rows)} rows in {time.perf_counter() - start:.0f} s; failed {len(failed)}")
    for material_id, error in failed[:20]:
        print("  failed", material_id, error)
    table_out = pa.Table.from_pylist(rows)
    table_out = table_out.replace_schema_metadata({"feature_names": json.dumps(list(names))})
    pq.write_table(table_out, out)


def load_features(path: str):
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    names = json.loads(table.schema.metadata[b"feature_names"])
    data = table.to_pydict()
    return names, data


def split_of(material_id: str) -> str:
    """80/10/10 by a hash of the material id: stable as the set grows (a material never changes split)."""
    import hashlib

    bucket = int(hashlib.sha256(material_id.encode()).hexdigest(), 16) % 10
    return "test" if bucket == 0 else "val" if bucket == 1 else "train"


def split_ids(ids: list[str]) -> dict[str, np.ndarray]:
    labels = np.array([split_of(i) for i in ids])
    return {name: np.flatnonzero(labels == name) for name in ("train", "val", "test")}




# ------------------------------------------------------------------------------------ trees
FEATURE_SETS = {
    "magpie+cell": lambda names: [n for n in names if n.startswith("magpie_") or n in _cell_names()],
    "magpie+invariant-cell": lambda names: [n for n in names if n.startswith("magpie_") or n in ("volume_per_atom", "mass_density")],
    "invariant (shipped)": lambda names: list(_invariant_names()),
}


def _cell_names():
    from screener.models.features import CELL_FEATURES

    return CELL_FEATURES


def _invariant_names():
    from screener.models.features import invariant_input_names

    return invariant_input_names()


def fit_trees(x_train, y_train, x_val, y_val, *, seed: int = 0, n_models: int = 1):
    """LightGBM with the product's defaults (early stopping on validation); ``n_models`` bagged seeds."""
    from screener.config import LgbmConfig
    from screener.models.trees import fit_booster

    return [fit_booster(x_train, y_train, x_val, y_val, config=LgbmConfig(), seed=seed + k) for k in range(n_models)]


def trees(features: str, *, n_bootstrap: int = 1000) -> None:
    from screener.models.trees import predict_booster
    from screener.training.metrics import log10_mae, mae, r2_score

    names, data = load_features(features)
    x_all = np.asarray(data["features"], dtype=np.float64)
    ids = data["id"]
    splits = split_ids(ids)
    rng = np.random.default_rng(0)
    print(f"{len(ids)} materials: train {len(splits['train'])}, val {len(splits['val'])}, test {len(splits['test'])}")
    for target in ("bulk_modulus", "shear_modulus"):
        y = np.log10(np.asarray([np.nan if v is None else v for v in data[target]], dtype=np.float64))
        test = splits["test"][np.isfinite(y[splits["test"]])]
        boot = [rng.integers(0, len(test), len(test)) for _ in range(n_bootstrap)]
        predictions = {}
        for label, choose in FEATURE_SETS.items():
            cols = [names.index(n) for n in choose(names)]
            x = x_all[:, cols]
            boosters = fit_trees(x[splits["train"]], y[splits["train"]], x[splits["val"]], y[splits["val"]])
            predictions[label] = np.mean([predict_booster(b, x[test]) for b in boosters], axis=0)
        truth = 10 ** y[test]
        base = predictions["magpie+cell"]
        for label, p in predictions.items():
            r2 = r2_score(truth, 10**p)
            r2s = np.array([r2_score(truth[b], 10 ** p[b]) for b in boot])
            d = np.array([r2_score(truth[b], 10 ** p[b]) - r2_score(truth[b], 10 ** base[b]) for b in boot])
            print(
                f"{target:14s} {label:24s} n={len(test)} R² {r2:.3f} [{np.quantile(r2s, 0.025):.3f}, {np.quantile(r2s, 0.975):.3f}]"
                f" MAE {mae(truth, 10**p):.1f} GPa log10-MAE {log10_mae(truth, 10**p):.3f}"
                f" ΔR² vs magpie+cell {r2 - r2_score(truth, 10**base):+.3f} [{np.quantile(d, 0.025):+.3f}, {np.quantile(d, 0.975):+.3f}]"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    f = sub.add_parser("featurize")
    f.add_argument("--table", default="data/densities")
    f.add_argument("--out", required=True)
    f.add_argument("--workers", type=int, default=2)
    t = sub.add_parser("trees")
    t.add_argument("--features", required=True)
    args = parser.parse_args()
    if args.command == "featurize":
        featurize(args.table, args.out, workers=args.workers)
    elif args.command == "trees":
        trees(args.features)


if __name__ == "__main__":
    main()
