"""Which GPAW density is like a VASP CHGCAR, which settings are converged, and what an SCF costs.

Three measurements, printed as Markdown tables and saved as JSON (benchmarks/results/dft_bench.json):

1. ``compare``: for every valence density file of ../shared/data/chgcar that GPAW can run, one SCF on
   the file's own cell (no reduction, so both grids cover the same cell) with the product's
   settings; three exports of it against the file after Fourier interpolation onto the file's grid:
   the product's VASP-like density (valence pseudo density + compensation charges, no pseudo-core),
   GPAW's default ``get_pseudo_density()`` (with pseudo-core) and the all-electron valence density.
   Pearson r and relative L2 over the cell and more than 0.8 Å from every nucleus, electron counts,
   and the statistics the models' trees use (mean, std, 99th percentile of ρ, e/Å³).
2. ``settings``: for Si, NaCl, Al, bcc Fe and MgO, the VASP-like density at each (cutoff, k-point
   density) against a tight reference (700 eV, k-density 6), with SCF seconds.
3. ``timing``: medians of the SCF seconds recorded in a density table (default data/densities) by
   atoms, irreducible k-points and spin.

Run (one core each; the figures are CPU-bound, so run it on an idle machine for clean timings):
    OMP_NUM_THREADS=1 python benchmarks/dft_bench.py [compare settings timing] [--table data/densities]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

REPO = Path(__file__).resolve().parents[1]
CHGCAR = Path(os.environ.get("SCREENER_SHARED", REPO.parent / "shared")) / "data" / "chgcar"
#: valence density files (CHGCAR family and the cube) that GPAW can run in minutes on one core.
FILES = [
    "atomate_Si_static_CHGCAR.gz", "aiida-vasp_Si_CHGCAR", "atomate_Al_CHGCAR.gz", "atomate_LiH_SCAN_relax_CHGCAR",
    "pymatgen_chargemol_NaCl_CHGCAR.gz", "pyiron_Fe_bcc_CHGCAR_spin", "pymatgen_CHGCAR.spin.gz", "pawpyseed_Ga_CHGCAR",
    "baderkit_Ca2N_CHGCAR.cube", "pydefect_H2_CHGCAR",
]  # fmt: skip


def _upsample(rho: np.ndarray, shape) -> np.ndarray:
    import torch

    from screener.grid.resample import fourier_resample

    return fourier_resample(torch.from_numpy(np.ascontiguousarray(rho, dtype=np.float64))[None], tuple(shape))[0].numpy()


def _far_mask(structure, shape, distance: float = 0.8) -> np.ndarray:
    grids = np.meshgrid(*[np.arange(n) / n for n in shape], indexing="ij")
    frac = np.stack(grids, -1).reshape(-1, 3)
    nearest = np.full(len(frac), np.inf)
    for site in structure:
        delta = frac - site.frac_coords
        delta -= np.round(delta)
        nearest = np.minimum(nearest, np.linalg.norm(delta @ structure.lattice.matrix, axis=1))
    return (nearest > distance).reshape(shape)


def _agreement(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> tuple[float, float]:
    if mask is not None:
        a, b = a[mask], b[mask]
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1]), float(np.linalg.norm(a - b) / np.linalg.norm(b))


def _stats(rho: np.ndarray) -> dict:
    return {"mean": float(rho.mean()), "std": float(rho.std()), "p99": float(np.percentile(rho, 99)), "min": float(rho.min())}


def compare(files: list[str]) -> list[dict]:
    from screener.config import DftConfig
    from screener.dft.gpaw_scf import run_scf
    from screener.io.reading import read_density

    config = dataclasses.replace(DftConfig(), reduce_cell=False)
    rows = []
    for name in files:
        record = read_density(CHGCAR / name)
        ref = np.asarray(record.rho, dtype=np.float64)
        start = time.perf_counter()
        result = run_scf(record.structure, config=config, keep_calculator=True)
        calc = result.calculator
        exports = {
            "vasp_like": result.density,
            "pseudo_default": calc.get_pseudo_density(),
            "ae_valence": calc.get_all_electron_density(gridrefinement=2, skip_core=True),
        }
        far = _far_mask(record.structure, ref.shape)
        row = {"file": name, "formula": record.structure.composition.reduced_formula, "atoms": len(record.structure),
               "seconds": round(time.perf_counter() - start, 1), "kpoints_ibz": result.kpoints_ibz,
               "electrons_file": round(record.n_electrons, 3), "gpaw_grid": list(result.density.shape), "file_grid": list(ref.shape),
               "stats_file": _stats(ref)}  # fmt: skip
        for key, rho in exports.items():
            up = _upsample(rho, ref.shape)
            r, l2 = _agreement(up, ref)
            r_far, l2_far = _agreement(up, ref, far)
            row[key] = {"r": r, "l2": l2, "r_far": r_far, "l2_far": l2_far, "electrons": float(rho.mean() * record.volume), "stats": _stats(up)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def _structures():
    from ase.build import bulk
    from pymatgen.io.ase import AseAtomsAdaptor

    cells = {"Si": bulk("Si", "diamond", a=5.468), "NaCl": bulk("NaCl", "rocksalt", a=5.69), "Al": bulk("Al", "fcc", a=4.04),
             "Fe": bulk("Fe", "bcc", a=2.83), "MgO": bulk("MgO", "rocksalt", a=4.25)}  # fmt: skip
    return {name: AseAtomsAdaptor.get_structure(atoms) for name, atoms in cells.items()}


def settings(ecuts=(250.0, 350.0, 500.0), densities=(1.5, 2.0, 3.0), reference=(700.0, 5.0)) -> list[dict]:
    from screener.config import DftConfig
    from screener.dft.gpaw_scf import run_scf

    rows = []
    for name, structure in _structures().items():
        tight = dataclasses.replace(DftConfig(), ecut_ev=reference[0], hard_ecut_ev=reference[0], kpoint_density=reference[1], scf_density_tol=1e-5)
        ref = run_scf(structure, config=tight)
        for ecut in ecuts:
            for density in densities:
                config = dataclasses.replace(DftConfig(), ecut_ev=ecut, hard_ecut_ev=ecut, kpoint_density=density)
                result = run_scf(structure, config=config)
                up = _upsample(result.density, ref.density.shape)
                r, l2 = _agreement(up, ref.density)
                row = {"material": name, "ecut_ev": ecut, "kpoint_density": density, "r": r, "l2": l2, "seconds": round(result.seconds, 2),
                       "kpoints_ibz": result.kpoints_ibz, "grid": list(result.density.shape), "energy_error_ev_per_atom": (result.energy_ev - ref.energy_ev) / len(ref.structure)}  # fmt: skip
                rows.append(row)
                print(json.dumps(row), flush=True)
    return rows


def timing(table: Path) -> list[dict]:
    import pyarrow.parquet as pq

    from screener.io.density_table import part_files

    frame = pq.ParquetDataset([str(p) for p in part_files(table)]).read(
        columns=["n_atoms", "kpoints_ibz", "spin_polarized", "seconds", "error"]).to_pandas()  # fmt: skip
    done = frame[frame["error"].isna()].copy()
    done["atoms"] = done["n_atoms"].clip(upper=12).map(lambda n: "≥12" if n >= 12 else str(n))
    rows = []
    for (atoms, spin), group in done.groupby(["atoms", "spin_polarized"]):
        rows.append({"atoms": atoms, "spin": bool(spin), "n": len(group), "median_s": float(group["seconds"].median()),
                     "p90_s": float(group["seconds"].quantile(0.9)), "median_kpoints": float(group["kpoints_ibz"].median())})  # fmt: skip
    print("| atoms | spin | n | median s | p90 s | median irr. k-points |")
    print("|---|---|---:|---:|---:|---:|")
    for row in sorted(rows, key=lambda r: (r["atoms"] == "≥12", len(r["atoms"]), r["atoms"], r["spin"])):
        print(f"| {row['atoms']} | {'yes' if row['spin'] else 'no'} | {row['n']} | {row['median_s']:.1f} | {row['p90_s']:.1f} | {row['median_kpoints']:.0f} |")
    failed = frame[frame["error"].notna()]
    print(f"\n{len(done)} computed, {len(failed)} failed of {len(frame)} tried")
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("parts", nargs="*", default=["compare", "settings", "timing"], choices=["compare", "settings", "timing"])
    parser.add_argument("--table", type=Path, default=REPO / "data" / "densities", help="density table for the timing summary")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "dft_bench.json")
    args = parser.parse_args(argv)
    results = json.loads(args.out.read_text()) if args.out.is_file() else {}
    if "compare" in args.parts:
        if not CHGCAR.is_dir():
            sys.exit(f"{CHGCAR} is absent: the comparison needs ../shared/data/chgcar")
        results["compare"] = compare(FILES)
    if "settings" in args.parts:
        results["settings"] = settings()
    if "timing" in args.parts:
        results["timing"] = timing(args.table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1))
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
