"""Build the demo bundle shipped in ``screener/data/demo_bundle`` from openly licensed data only.

Usage (about 1.5 hours on a 2-core CPU machine; stages resume)::

    python benchmarks/demo_bundle.py --labels-dir ../shared/data/labels --work /work/demo-bundle

Data (see ``../shared/data/SOURCES.md``):

* de Jong et al. 2015 elastic tensors as distributed by matminer (CC BY 4.0): K_VRH, G_VRH, ν;
* Materials Project binary elasticity, Jan 2025, from matcalc (BSD-3; data CC BY 4.0): K_VRH, G_VRH
  (it wins for the 723 materials both sets hold: newer calculations);
* WBM random structures with MP2020-corrected formation energies, from matcalc (BSD-3; CC BY 4.0).

Densities are procrystal CHGCARs from ``screener synth`` (0.1 Å, gzip); the bundle is trained by
``screener train`` (random 80/10/10 split, seed 0) and copied into the package. Nothing from the
paper's unlicensed files is used. The validation/test metrics land in the bundle's manifest and in
``benchmarks/DEMO_BUNDLE.md`` (written by hand from the printed table).
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA_DESCRIPTION = (
    "Procrystal densities (screener synth, 0.1 Å) of: de Jong et al., Sci. Data 2, 150009 (2015) elastic "
    "tensors as distributed by matminer (CC BY 4.0); Materials Project binary elasticity 2025.1 and WBM "
    "(Wang et al. 2021) MP2020-corrected formation energies, both from materialsvirtuallab/matcalc "
    "benchmark_data (BSD-3; data CC BY 4.0). Random 80/10/10 split, seed 0. Demonstration model."
)


def write_inputs(labels_dir: Path, work: Path) -> Path:
    """POSCARs named by material id, and labels.csv keyed by the same ids."""
    import pandas as pd
    from pymatgen.core import Structure

    structures = work / "structures"
    structures.mkdir(parents=True, exist_ok=True)
    rows: dict[str, dict] = {}
    dejong = json.load(gzip.open(labels_dir / "elastic_tensor_2015.json.gz"))
    column = {name: i for i, name in enumerate(dejong["columns"])}
    for record in dejong["data"]:
        ident = record[column["material_id"]]
        rows[ident] = {"id": ident, "source": "de Jong 2015 (matminer)", "bulk_modulus": record[column["K_VRH"]],
                       "shear_modulus": record[column["G_VRH"]], "poisson_ratio": record[column["poisson_ratio"]],
                       "structure": record[column["structure"]]}  # fmt: skip
    for record in json.load(gzip.open(labels_dir / "mp-binary-pbe-elasticity-2025.1.json.gz")):
        ident = record["mp_id"]
        rows[ident] = {"id": ident, "source": "MP binary elasticity 2025.1 (matcalc)", "bulk_modulus": record["bulk_modulus_vrh"],
                       "shear_modulus": record["shear_modulus_vrh"], "poisson_ratio": None, "structure": record["structure"]}  # fmt: skip
    for record in json.load(gzip.open(labels_dir / "wbm-random-pbe52-equilibrium-2025.1.json.gz")):
        ident = record["material_id"]
        rows[ident] = {"id": ident, "source": "WBM 2025.1 (matcalc)", "formation_energy": record["corrected_formation_energy_per_atom"],
                       "structure": record["structure"]}  # fmt: skip
    for ident, row in rows.items():
        path = structures / f"{ident}.vasp"
        if not path.exists():
            Structure.from_dict(row["structure"]).to(filename=str(path), fmt="poscar")
    table = pd.DataFrame([{k: v for k, v in row.items() if k != "structure"} for row in rows.values()])
    labels = work / "labels.csv"
    table.to_csv(labels, index=False)
    print(f"{len(table)} materials: {table['bulk_modulus'].notna().sum()} with K and G, {table['formation_energy'].notna().sum()} with a formation energy")
    return labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--labels-dir", type=Path, default=REPO.parent / "shared" / "data" / "labels")
    parser.add_argument("--work", type=Path, default=REPO.parent / "demo-bundle")
    parser.add_argument("--install", action="store_true", help="copy the bundle into screener/data/demo_bundle")
    parser.add_argument("--train-args", default="--grid 32 --epochs 8 --ae-samples-per-epoch 1200 --regressor-epochs 40 "
                        "--patience 6 --widths 32,64 --trees 800 --transform-trial-epochs 1 --workers 2")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    labels = write_inputs(args.labels_dir, args.work)
    screener = [sys.executable, "-m", "screener.cli.main"]
    chgcars = args.work / "chgcars"
    existing = {p.parent.name for p in chgcars.glob("*/CHGCAR*")}
    missing = [p for p in (args.work / "structures").iterdir() if p.stem not in existing]
    if missing:
        todo = args.work / "todo"
        shutil.rmtree(todo, ignore_errors=True)
        todo.mkdir()
        for path in missing:
            (todo / path.name).symlink_to(path.resolve())
        subprocess.run([*screener, "synth", "--structures", str(todo), "--out", str(chgcars), "--spacing", "0.1", "--gzip", "--workers", "2"], check=True)
    bundle = args.work / "bundle"
    workdir = args.work / "bundle.work"
    command = [*screener, "train", "--chgcars", str(chgcars), "--labels", str(labels), "--out", str(bundle),
               "--workdir", str(workdir), "--data-description", DATA_DESCRIPTION, *args.train_args.split()]  # fmt: skip
    if workdir.exists():
        command.append("--resume")
    subprocess.run(command, check=True)
    size = sum(p.stat().st_size for p in bundle.iterdir())
    print(f"bundle {bundle}: {size / 1e6:.1f} MB")
    if args.install:
        target = REPO / "screener" / "data" / "demo_bundle"
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(bundle, target)
        print(f"installed into {target}")


if __name__ == "__main__":
    main()
