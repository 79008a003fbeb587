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


# ------------------------------------------------------------------------------------ transfer
#: the valence density files of ../shared/data/chgcar with reference moduli (GPa; MP 2025 binary set
#: where it has the material, else de Jong 2015), and whether the file's structure matches the reference.
TRANSFER_FILES = (
    ("atomate_Si_static_CHGCAR.gz", "Si", 83.0, 61.2, True),
    ("atomate_Si_static_CHG.gz", "Si", 83.0, 61.2, False),  # same calculation as the CHGCAR: reported, not scored twice
    ("aiida-vasp_Si_CHGCAR", "Si", 83.0, 61.2, False),  # distorted Si cell
    ("aiida-vasp_Si_CHG", "Si", 83.0, 61.2, False),
    ("atomate_Al_CHGCAR.gz", "Al", 83.3, 23.9, True),
    ("atomate_LiH_SCAN_relax_CHGCAR", "LiH", 36.35, 42.54, True),
    ("baderkit_Ca2N_CHGCAR.cube", "Ca2N", 33.87, 15.63, True),
    ("pyiron_Fe_bcc_CHGCAR_no_spin", "Fe", 182.5, 73.6, True),
    ("pyiron_Fe_bcc_CHGCAR_spin", "Fe", 182.5, 73.6, True),
    ("pyiron_Fe_bcc_conv_full_job_CHGCAR", "Fe", 182.5, 73.6, False),  # a = 2.80 Å test cell
    ("pymatgen_CHGCAR.nospin.gz", "Li", 14.0, 4.5, True),
    ("pymatgen_CHGCAR.spin.gz", "Li", 14.0, 4.5, True),
    ("pymatgen_chargemol_NaCl_CHGCAR.gz", "NaCl", 23.77, 14.30, True),
    ("pawpyseed_Ga_CHGCAR", "Ga", 49.67, 34.56, False),  # 10%-compressed Ga
)


# ------------------------------------------------------------------------------------ the bundle
def _model(path: str):
    import screener

    return screener.load_model(path)


def transfer(models: dict[str, str], *, folder: str) -> dict:
    """Predict every transfer file with each bundle; print per-file values and the scored MAE."""
    results = {}
    for label, path in models.items():
        model = _model(path)
        rows = []
        for name, material, k_ref, g_ref, scored in TRANSFER_FILES:
            row = model.predict_file(Path(folder) / name)
            rows.append({"file": name, "material": material, "K_ref": k_ref, "G_ref": g_ref, "scored": scored,
                         "K": row["bulk_modulus"], "G": row["shear_modulus"], "K_std": row["bulk_modulus_std"],
                         "G_std": row["shear_modulus_std"], "ood": row["ood_score"]})  # fmt: skip
        scored_rows = [r for r in rows if r["scored"]]
        k_mae = float(np.mean([abs(r["K"] - r["K_ref"]) for r in scored_rows]))
        g_mae = float(np.mean([abs(r["G"] - r["G_ref"]) for r in scored_rows]))
        worst = max(scored_rows, key=lambda r: abs(r["K"] / r["K_ref"] - 1))
        print(f"\n== transfer, {label} ({path}): scored files {len(scored_rows)}, K MAE {k_mae:.1f} GPa, G MAE {g_mae:.1f} GPa, "
              f"largest K error {100 * (worst['K'] / worst['K_ref'] - 1):+.0f}% ({worst['file']})")  # fmt: skip
        print("| file | K ref | K | ΔK % | G ref | G | ΔG % | σK | σG | OOD | scored |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
        for r in rows:
            print(f"| {r['file']} | {r['K_ref']:.1f} | {r['K']:.1f} | {100 * (r['K'] / r['K_ref'] - 1):+.0f} | {r['G_ref']:.1f} | {r['G']:.1f} | "
                  f"{100 * (r['G'] / r['G_ref'] - 1):+.0f} | {r['K_std']:.1f} | {r['G_std']:.1f} | {r['ood']:.2f} | {'yes' if r['scored'] else 'no'} |")  # fmt: skip
        results[label] = {"k_mae": k_mae, "g_mae": g_mae, "rows": rows}
    return results


#: the transfer files whose density the invariance checks transform, and the matrices (new lattice =
#: matrix @ file lattice) of their conventional cells.
INVARIANCE_FILES = {"Si": "atomate_Si_static_CHGCAR.gz", "NaCl": "pymatgen_chargemol_NaCl_CHGCAR.gz", "Fe": "pyiron_Fe_bcc_CHGCAR_no_spin"}
CONVENTIONAL_CELL = {"Si": [[-1, 1, 1], [1, -1, 1], [1, 1, -1]], "NaCl": [[-1, 1, 1], [1, -1, 1], [1, 1, -1]], "Fe": [[0, 1, 1], [1, 0, 1], [1, 1, 0]]}


def fourier_shift(rho: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """ρ(u − shift) for a fractional shift (exact for a band-limited periodic density)."""
    axes = [np.fft.fftfreq(n) * n for n in rho.shape]
    phase = np.exp(-2j * np.pi * (axes[0][:, None, None] * shift[0] + axes[1][None, :, None] * shift[1] + axes[2][None, None, :] * shift[2]))
    return np.fft.ifftn(np.fft.fftn(rho) * phase).real


def resample_cell(rho: np.ndarray, structure, matrix: np.ndarray, *, upsample: int = 2):
    """The same crystal in another cell: new lattice = matrix @ old lattice (integer matrix, det ≥ 1).

    The density is Fourier-upsampled ``upsample``× and interpolated (cubic, periodic) at the new
    grid's points, whose spacing matches the old grid's.
    """
    from scipy.ndimage import map_coordinates

    from screener.grid.resample import fourier_resample
    import torch

    matrix = np.asarray(matrix, dtype=np.float64)
    new = structure.copy()
    new.make_supercell(matrix)
    fine_shape = tuple(upsample * n for n in rho.shape)
    fine = fourier_resample(torch.as_tensor(rho)[None], fine_shape)[0].numpy()
    old_lengths = np.array(structure.lattice.abc) / np.array(rho.shape)
    spacing = float(np.mean(old_lengths))
    shape = tuple(max(2, int(round(length / spacing))) for length in new.lattice.abc)
    grids = np.meshgrid(*[np.arange(n) / n for n in shape], indexing="ij")
    frac_new = np.stack([g.reshape(-1) for g in grids], axis=1)
    frac_old = (frac_new @ matrix) % 1.0  # new fractional → old fractional
    coords = (frac_old * np.array(fine_shape)).T
    values = map_coordinates(fine, coords, order=3, mode="grid-wrap").reshape(shape)
    values *= rho.mean() / values.mean()  # interpolation conserves the electron count to ~1e-4; make it exact
    return new, values


def invariance(model_path: str, *, folder: str, gpaw_table: str | None = None) -> list[dict]:
    """Largest change of K and G under origin shifts, other cells and another valence partition."""
    from screener.io.reading import read_density
    from screener.models.descriptors import move_partition
    from screener.synth.partition import infer_partition, partition_options

    model = _model(model_path)
    out = []
    print("\n| material | transformation | K (GPa) | G (GPa) | ΔK % | ΔG % |")
    print("|---|---|---:|---:|---:|---:|")
    for material, name in INVARIANCE_FILES.items():
        record = read_density(Path(folder) / name, root=folder)
        structure, rho = record.structure, np.asarray(record.rho, dtype=np.float64)
        base = model.predict_density(structure, rho)
        variants = []
        for shift in ((0.5 / rho.shape[0], 0.0, 0.0), (0.137, 0.291, 0.613), (0.5, 0.5, 0.5)):
            moved = structure.copy()
            moved.translate_sites(list(range(len(moved))), shift, frac_coords=True, to_unit_cell=True)
            label = "origin ½ voxel" if shift[1] == 0 and shift[0] < 0.1 else f"origin ({shift[0]:.3g}, {shift[1]:.3g}, {shift[2]:.3g})"
            variants.append((label, moved, fourier_shift(rho, np.array(shift))))
        for reps in ((2, 1, 1), (1, 1, 2), (2, 2, 2)):
            bigger = structure.copy()
            bigger.make_supercell(reps)
            variants.append((f"supercell {reps[0]}×{reps[1]}×{reps[2]}", bigger, np.tile(rho, reps)))
        variants.append(("other basis [[1,1,0],[0,1,0],[0,0,1]]", *resample_cell(rho, structure, [[1, 1, 0], [0, 1, 0], [0, 0, 1]])))
        variants.append(("conventional cell", *resample_cell(rho, structure, CONVENTIONAL_CELL[material])))
        counts = structure.composition.get_el_amt_dict()
        partition, _ = infer_partition(counts, record.n_electrons)
        target = {}
        for element, valence in partition.items():  # the next semicore option above the file's (Na → Na_pv, Fe → Fe_pv)
            larger = [z for z in partition_options(element) if z > valence]
            target[element] = min(larger) if larger else valence
        if target != partition:
            label = "valence partition " + ", ".join(f"{e} {partition[e]:g}→{target[e]:g}" for e in sorted(target) if target[e] != partition[e])
            variants.append((label, structure, move_partition(rho, structure, partition, target)))
        if gpaw_table:
            from screener.io.density_table import read_density_rows

            rows = {r.id: r for r in read_density_rows(gpaw_table)}
            if material in rows:
                variants.append(("GPAW density of the same structure (other code and partition)", rows[material].structure, rows[material].rho))
        print(f"| {material} | as read | {base['bulk_modulus']:.1f} | {base['shear_modulus']:.1f} | | |")
        for label, s, r in variants:
            p = model.predict_density(s, r)
            dk = 100 * (p["bulk_modulus"] / base["bulk_modulus"] - 1)
            dg = 100 * (p["shear_modulus"] / base["shear_modulus"] - 1)
            out.append({"material": material, "transformation": label, "K": p["bulk_modulus"], "G": p["shear_modulus"], "dK": dk, "dG": dg})
            print(f"| {material} | {label} | {p['bulk_modulus']:.1f} | {p['shear_modulus']:.1f} | {dk:+.2f} | {dg:+.2f} |")
    return out


def descriptor_changes(*, folder: str, table: str, gpaw_table: str | None = None, n_reference: int = 64) -> None:
    """How far each transformation moves the density descriptors, in units of their spread.

    The spread of each descriptor is its standard deviation over the first ``n_reference`` GPAW
    densities of ``table``; the table prints, per material and transformation, the largest and the
    median |change| / spread over the 35 descriptors and the three that move most.
    """
    from screener.io.density_table import read_density_rows
    from screener.io.reading import read_density
    from screener.models.descriptors import density_descriptors, descriptor_names

    def describe(structure, rho):
        rho = np.asarray(rho, dtype=np.float64)
        return density_descriptors(rho, structure, n_electrons=float(rho.mean() * structure.lattice.volume)).values

    names = descriptor_names()
    reference = []
    for row in read_density_rows(table):
        if row.rho is not None:
            reference.append(describe(row.structure, row.rho))
        if len(reference) == n_reference:
            break
    spread = np.nanstd(np.array(reference), axis=0) + 1e-12
    gpaw = {r.id: r for r in read_density_rows(gpaw_table)} if gpaw_table else {}
    print(f"\nspread: standard deviation over {len(reference)} GPAW densities of {table}\n")
    print("| material | transformation | largest change / spread | median | moved most |")
    print("|---|---|---:|---:|---|")
    for material, name in INVARIANCE_FILES.items():
        record = read_density(Path(folder) / name, root=folder)
        structure, rho = record.structure, np.asarray(record.rho, dtype=np.float64)
        base = describe(structure, rho)
        variants = {
            "other basis [[1,1,0],[0,1,0],[0,0,1]]": resample_cell(rho, structure, [[1, 1, 0], [0, 1, 0], [0, 0, 1]]),
            "conventional cell": resample_cell(rho, structure, CONVENTIONAL_CELL[material]),
            "supercell 2×2×2": (structure * (2, 2, 2), np.tile(rho, (2, 2, 2))),
        }
        if material in gpaw:
            variants["GPAW density of the same structure"] = (gpaw[material].structure, gpaw[material].rho)
        for label, (other_structure, other_rho) in variants.items():
            z = np.abs(describe(other_structure, other_rho) - base) / spread
            top = ", ".join(f"{names[i]} {z[i]:.2f}" for i in np.argsort(-z)[:3])
            print(f"| {material} | {label} | {z.max():.3f} | {np.median(z):.3f} | {top} |")


def canonical_frames(*, folder: str, n: int = 32) -> None:
    """Relative L2 distance between the canonical model grid of each transfer file and that of the
    same density shifted, repeated or written in another basis (the network's input, before any model)."""
    from screener.grid.canonical import canonical_grid, canonical_transform
    from screener.io.reading import read_density

    def grid(structure, rho):
        return canonical_grid(rho, structure.lattice.matrix, canonical_transform(structure, rho), n)

    print(f"\n| file | crystal | origin (0.137, 0.291, 0.613) | origin (0, 0, 0.29) | supercell 2×1×1 | other basis |")
    print("|---|---|---:|---:|---:|---:|")
    seen = set()
    for name, material, *_ in TRANSFER_FILES:
        if material in seen:
            continue
        seen.add(material)
        record = read_density(Path(folder) / name, root=folder)
        structure, rho = record.structure, np.asarray(record.rho, dtype=np.float64)
        base = grid(structure, rho)
        distances = []
        for shift in ((0.137, 0.291, 0.613), (0.0, 0.0, 0.29)):
            moved = structure.copy()
            moved.translate_sites(list(range(len(moved))), shift, frac_coords=True, to_unit_cell=True)
            distances.append(grid(moved, fourier_shift(rho, np.array(shift))))
        bigger = structure.copy()
        bigger.make_supercell((2, 1, 1))
        distances.append(grid(bigger, np.tile(rho, (2, 1, 1))))
        distances.append(grid(*resample_cell(rho, structure, [[1, 1, 0], [0, 1, 0], [0, 0, 1]])))
        cells = " | ".join(f"{np.linalg.norm(g - base) / np.linalg.norm(base):.4f}" for g in distances)
        symbol = structure.get_space_group_info(symprec=1e-3)[0]
        print(f"| {name} | {material} ({symbol}) | {cells} |")


# ------------------------------------------------------------------------------------ OOD
#: files of ../shared/data/chgcar by what the OOD score should say about them.
OOD_CASES = (
    ("atomate_Si_static_AECCAR0.gz", "core only (AECCAR0)", True),
    ("atomate_Y2MgPO42_AECCAR0.gz", "core only (AECCAR0)", True),
    ("atomate_YMgPO4_AECCAR0.gz", "core only (AECCAR0)", True),
    ("atomate_YPO4_AECCAR0.gz", "core only (AECCAR0)", True),
    ("pydefect_NaMgF3_AECCAR0", "core only (AECCAR0)", True),
    ("pyiron_H2O_bader_AECCAR0", "core only (AECCAR0)", True),
    ("pymatgen_CHGCAR.Fe3O4_ref.gz", "all-electron with core", True),
    ("pydefect_H2_CHGCAR", "molecule in a box", True),
    ("pyiron_H2O_bader_AECCAR2", "molecule in a box", True),
) + tuple((name, "valence CHGCAR, held-out crystal", False) for name, *_ in TRANSFER_FILES)


def ood(model_path: str, *, folder: str) -> list[dict]:
    """The OOD score of each case; unfamiliar inputs should score above 1, held-out valence crystals below."""
    model = _model(model_path)
    rows = []
    print("\n| file | kind | OOD score | as expected |")
    print("|---|---|---:|---|")
    for name, kind, unfamiliar in OOD_CASES:
        try:
            score = float(model.predict_file(Path(folder) / name)["ood_score"])
        except Exception as exc:  # noqa: BLE001 - a file the reader refuses is reported as such
            print(f"| {name} | {kind} | refused: {exc} | |")
            continue
        ok = score > 1 if unfamiliar else score < 1
        rows.append({"file": name, "kind": kind, "ood": score, "ok": ok})
        print(f"| {name} | {kind} | {score:.2f} | {'yes' if ok else '**no**'} |")
    print(f"\n{sum(r['ok'] for r in rows)} of {len(rows)} as expected")
    return rows


# ------------------------------------------------------------------------------------ demo set
def demo_set(table: str, out: str, *, count: int = 40, max_points: int = 16000) -> None:
    """The densities ``screener demo`` screens: held-out (test-split) rows of the real-density set.

    Test-split materials only (never trained on, never used for model selection), labelled, on
    grids of at most ``max_points`` points (a small file), chosen to spread over K (every k-th by
    bulk modulus) plus the formation-energy rows, written as one density-table part.
    """
    from screener.io.density_table import iter_rows, write_part

    rows = [row for _, _, row in iter_rows(table) if row["density"] is not None and split_of(row["id"]) == "test"]
    small = [r for r in rows if int(np.prod(r["grid_shape"])) <= max_points]
    elastic = sorted((r for r in small if r["bulk_modulus"] is not None), key=lambda r: r["bulk_modulus"])
    energy = [r for r in small if r["formation_energy"] is not None and r["bulk_modulus"] is None]
    n_energy = min(len(energy), count // 4)
    step = max(1, len(elastic) // max(1, count - n_energy))
    chosen = elastic[::step][: count - n_energy] + energy[:n_energy]
    folder = Path(out)
    for old in folder.glob("part-*.parquet"):
        old.unlink()
    path = write_part(folder, chosen)
    print(f"{len(chosen)} test-split densities ({len(chosen) - n_energy} with K and G, {n_energy} with formation energies) "
          f"from {len(rows)} test rows → {path} ({path.stat().st_size / 1e6:.2f} MB)")  # fmt: skip


# ------------------------------------------------------------------------------------ test split
def _metrics(truth: np.ndarray, pred: np.ndarray, boot: list[np.ndarray], *, log: bool) -> dict:
    from screener.training.metrics import log10_mae, mae, r2_score

    keep = np.isfinite(truth) & np.isfinite(pred)
    truth, pred = truth[keep], pred[keep]
    out = {"n": int(keep.sum()), "r2": r2_score(truth, pred), "mae": mae(truth, pred)}
    if log:
        out["log10_mae"] = log10_mae(truth, pred)
    samples = [b[b < len(truth)] for b in boot]
    out["r2_ci"] = tuple(np.quantile([r2_score(truth[b], pred[b]) for b in samples], [0.025, 0.975]))
    out["mae_ci"] = tuple(np.quantile([mae(truth[b], pred[b]) for b in samples], [0.025, 0.975]))
    return out


def _label(row: dict, target: str) -> float:
    """A row's label; E and the Debye temperature derived from K, G and the structure as ``screener train`` does."""
    from pymatgen.core import Structure

    from screener import physics

    if target in ("bulk_modulus", "shear_modulus", "formation_energy"):
        return np.nan if row.get(target) is None else float(row[target])
    bulk, shear = row.get("bulk_modulus"), row.get("shear_modulus")
    if bulk is None or shear is None:
        return np.nan
    if target == "youngs_modulus":
        return float(physics.youngs_modulus(np.array([bulk]), np.array([shear]))[0])
    density, atoms = physics.structure_debye_inputs(Structure.from_dict(json.loads(row["structure"])))
    return float(physics.debye_temperature(bulk, shear, mass_density=density, atoms_per_volume=atoms))


def evaluate(model_path: str, *, table: str, features: str, procrystal_model: str | None, n_bootstrap: int = 1000) -> dict:
    """Test-split accuracy of a bundle through the product's own path (``predict_files`` on table rows),
    beside LightGBM on MAGPIE + cell descriptors and the procrystal model on procrystal densities."""
    from screener.io.density_table import iter_rows, row_path
    from screener.models.trees import predict_booster
    from screener.synth.procrystal import procrystal_density
    from screener.training.metrics import r2_score

    model = _model(model_path)
    rows = [(file, index, row) for file, index, row in iter_rows(table) if row["density"] is not None and split_of(row["id"]) == "test"]
    ids = [row["id"] for _, _, row in rows]
    start = time.perf_counter()
    predicted = model.predict_files([row_path(file, index) for file, index, _ in rows]).to_pylist()
    print(f"{len(rows)} test-split densities predicted in {time.perf_counter() - start:.0f} s")
    names, data = load_features(features)
    x_all = np.asarray(data["features"], dtype=np.float64)
    position = {material_id: i for i, material_id in enumerate(data["id"])}
    splits = split_ids(data["id"])
    cell_cols = [names.index(n) for n in FEATURE_SETS["magpie+cell"](names)]
    old = _model(procrystal_model) if procrystal_model else None
    old_rows = []
    if old is not None:
        from pymatgen.core import Structure

        for _, _, row in rows:
            structure = Structure.from_dict(json.loads(row["structure"]))
            shape = tuple(max(8, int(np.ceil(length / 0.1))) for length in structure.lattice.abc)
            old_rows.append(old.predict_density(structure, procrystal_density(structure, shape)))
    rng = np.random.default_rng(0)
    boot = [rng.integers(0, len(rows), len(rows)) for _ in range(n_bootstrap)]
    report = {}
    for target, log in (("bulk_modulus", True), ("shear_modulus", True), ("youngs_modulus", True), ("debye_temperature", True), ("formation_energy", False)):
        truth = np.array([_label(row, target) for _, _, row in rows], dtype=np.float64)
        if not np.isfinite(truth).any():
            continue
        keep = np.isfinite(truth)
        results = {}
        for label in ("lgbm", "attcnn", "blend"):
            column = target if label == "blend" else f"{target}_{label}"
            results[label] = np.array([np.nan if p[column] is None else p[column] for p in predicted], dtype=np.float64)
        # LightGBM on MAGPIE + cell descriptors (no density), trained on the same training split
        if target in data:
            y = np.array([np.nan if v is None else v for v in data[target]], dtype=np.float64)
        else:  # E: from K and G (the Debye temperature needs the structure: no baseline for it)
            k = np.array([np.nan if v is None else v for v in data["bulk_modulus"]], dtype=np.float64)
            g = np.array([np.nan if v is None else v for v in data["shear_modulus"]], dtype=np.float64)
            y = 9 * k * g / (3 * k + g) if target == "youngs_modulus" else np.full(len(k), np.nan)
        y_model = np.log10(y) if log else y
        if np.isfinite(y_model[splits["train"]]).sum() >= 20:
            boosters = fit_trees(x_all[splits["train"]][:, cell_cols], y_model[splits["train"]], x_all[splits["val"]][:, cell_cols], y_model[splits["val"]])
            baseline = np.full(len(rows), np.nan)
            have = [i for i, m in enumerate(ids) if m in position]
            raw = predict_booster(boosters[0], x_all[[position[ids[i]] for i in have]][:, cell_cols])
            baseline[have] = 10**raw if log else raw
            results["LightGBM, MAGPIE + cell (no density)"] = baseline
        if old_rows:
            results["procrystal model on procrystal densities"] = np.array([r[target] for r in old_rows], dtype=np.float64)
        sub_boot = [b[keep[b]] for b in boot]
        idx = np.flatnonzero(keep)
        remap = -np.ones(len(rows), dtype=int)
        remap[idx] = np.arange(len(idx))
        sub_boot = [remap[b] for b in sub_boot]
        print(f"\n### {target} (test split, n = {int(keep.sum())})\n")
        print("| model | R² [95% CI] | MAE [95% CI] | log10-MAE | ΔR² vs blend [95% CI] |")
        print("|---|---|---|---:|---|")
        table_rows = {}
        for label, values in results.items():
            m = _metrics(truth[keep], values[keep], sub_boot, log=log)
            blend = results["blend"][keep]
            delta = [r2_score(truth[keep][b], values[keep][b]) - r2_score(truth[keep][b], blend[b]) for b in sub_boot]
            lo, hi = np.quantile(delta, [0.025, 0.975])
            table_rows[label] = {**m, "delta_r2_vs_blend": (float(m["r2"] - r2_score(truth[keep], blend)), float(lo), float(hi))}
            print(f"| {label} | {m['r2']:.3f} [{m['r2_ci'][0]:.3f}, {m['r2_ci'][1]:.3f}] | {m['mae']:.3g} [{m['mae_ci'][0]:.3g}, {m['mae_ci'][1]:.3g}] | "
                  f"{m.get('log10_mae', float('nan')):.3f} | {table_rows[label]['delta_r2_vs_blend'][0]:+.3f} [{lo:+.3f}, {hi:+.3f}] |")  # fmt: skip
        spread = np.array([np.nan if p[f"{target}_std"] is None else p[f"{target}_std"] for p in predicted], dtype=np.float64)[keep]
        error = np.abs(results["blend"][keep] - truth[keep])
        within1 = float(np.mean(error <= spread))
        within2 = float(np.mean(error <= 2 * spread))
        print(f"\ncoverage: {100 * within1:.0f}% of errors within 1σ, {100 * within2:.0f}% within 2σ (aim 68% and 95%)")
        report[target] = {"rows": table_rows, "coverage_1sigma": within1, "coverage_2sigma": within2}
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    f = sub.add_parser("featurize")
    f.add_argument("--table", default="data/densities")
    f.add_argument("--out", required=True)
    f.add_argument("--workers", type=int, default=2)
    t = sub.add_parser("trees")
    t.add_argument("--features", required=True)
    x = sub.add_parser("transfer")
    x.add_argument("--model", action="append", required=True, metavar="LABEL=PATH")
    x.add_argument("--folder", default="../shared/data/chgcar")
    v = sub.add_parser("invariance")
    v.add_argument("--model", required=True)
    v.add_argument("--folder", default="../shared/data/chgcar")
    v.add_argument("--gpaw-table", default=None, help="screener dft table of the transfer structures (ids Si, NaCl, Fe)")
    dc = sub.add_parser("descriptors", help="descriptor changes under other cells, supercells and GPAW, in units of their spread")
    dc.add_argument("--folder", default="../shared/data/chgcar")
    dc.add_argument("--table", default="data/densities")
    dc.add_argument("--gpaw-table", default=None)
    fr = sub.add_parser("frames", help="canonical model grids under shifts, supercells and another basis")
    fr.add_argument("--folder", default="../shared/data/chgcar")
    o = sub.add_parser("ood")
    o.add_argument("--model", required=True)
    o.add_argument("--folder", default="../shared/data/chgcar")
    d = sub.add_parser("demo-set")
    d.add_argument("--table", default="data/densities")
    d.add_argument("--out", default="screener/data/demo_densities")
    d.add_argument("--count", type=int, default=40)
    e = sub.add_parser("evaluate")
    e.add_argument("--model", required=True)
    e.add_argument("--table", default="data/densities")
    e.add_argument("--features", required=True, help="from `featurize` (for the MAGPIE + cell baseline)")
    e.add_argument("--procrystal-model", default=None, help="the procrystal-trained bundle, on procrystal densities of the same structures")
    sp = sub.add_parser("split", help="write id,split for every row of the table (the split the shipped bundle used)")
    sp.add_argument("--table", default="data/densities")
    sp.add_argument("--out", required=True)
    args = parser.parse_args()
    if args.command == "featurize":
        featurize(args.table, args.out, workers=args.workers)
    elif args.command == "split":
        from screener.io.density_table import iter_rows

        ids = [row["id"] for _, _, row in iter_rows(args.table, columns=["id"])]
        Path(args.out).write_text("id,split\n" + "".join(f"{i},{split_of(i)}\n" for i in ids))
        print(f"{len(ids)} ids → {args.out}")
    elif args.command == "trees":
        trees(args.features)
    elif args.command == "transfer":
        transfer(dict(item.split("=", 1) for item in args.model), folder=args.folder)
    elif args.command == "demo-set":
        demo_set(args.table, args.out, count=args.count)
    elif args.command == "evaluate":
        evaluate(args.model, table=args.table, features=args.features, procrystal_model=args.procrystal_model)
    elif args.command == "ood":
        ood(args.model, folder=args.folder)
    elif args.command == "descriptors":
        descriptor_changes(folder=args.folder, table=args.table, gpaw_table=args.gpaw_table)
    elif args.command == "frames":
        canonical_frames(folder=args.folder)
    elif args.command == "invariance":
        invariance(args.model, folder=args.folder, gpaw_table=args.gpaw_table)


if __name__ == "__main__":
    main()
