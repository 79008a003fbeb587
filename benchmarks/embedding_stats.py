"""Training statistics of the similarity embedding for a bundle, and a retrieval test on real structures.

Stage 1 (both uses): the demo bundle's training materials (de Jong 2015, MP binary elasticity,
WBM; ``benchmarks/demo_bundle.py`` writes their POSCARs) are shuffled with seed 0; the first
``--stats`` of them are the *statistics sample*, the next ``--test`` the *retrieval set* (disjoint).
Each gets a procrystal CHGCAR (``screener synth``), is read by the screening stage and encoded by
the bundle; latents and labels are cached in ``WORK/latents.npz``.

Stage 2, ``--retrieval``: the retrieval set's structure prototype is the space group number with
the sorted Wyckoff letters of its symmetry-distinct sites and the anonymized formula (pymatgen's
``SpacegroupAnalyzer``, symprec 0.1 Å). For each embedding, precision@k = the mean fraction of a
material's k cosine-nearest neighbours (itself excluded) that share its prototype, over the
materials whose prototype has at least one other member; against random neighbours and
composition-only embeddings. Statistics for standardizing come from the statistics sample, never
from the retrieval set.

Stage 3, ``--install BUNDLE``: writes the mean and standard deviation of the standardized-invariant
embedding over the statistics sample into BUNDLE (re-saved: its model id changes).

Run::

    python benchmarks/embedding_stats.py --work /tmp/embstats --retrieval [--install screener/data/demo_bundle]
"""

from __future__ import annotations

import argparse
import collections
import random
import shutil
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))


def encode_folder(chgcars: Path, names: list[str], model: str | None) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Read and encode ``chgcars/<name>/CHGCAR``: (names that worked, latents, tabular)."""
    from screener.config import ReadLimits
    from screener.models.predictor import Predictor
    from screener.screening.pipeline import default_model_path
    from screener.screening.stages import read_one

    predictor = Predictor.from_path(model or default_model_path(), device="cpu")
    done, latents, tabular = [], [], []
    for i, name in enumerate(names):
        row = read_one(str(chgcars / name / "CHGCAR"), str(chgcars), limits=ReadLimits())
        if row.get("status") != "ok":
            continue
        rho = np.frombuffer(row["rho"], dtype=np.float32).reshape(tuple(row["grid"]), order="F")
        latent, _ = predictor.encode(predictor.to_model_grid([rho], [np.asarray(row["lattice"]).reshape(3, 3)]))
        done.append(name)
        latents.append(latent.numpy()[0])
        tabular.append(row["tabular"])
        if (i + 1) % 200 == 0:
            print(f"  encoded {i + 1}/{len(names)}", flush=True)
    return done, np.stack(latents), np.stack(tabular)


def prototype_label(path_or_structure) -> str:  # noqa: ANN001 - a path or a pymatgen Structure
    from pymatgen.core import Structure
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    structure = path_or_structure if isinstance(path_or_structure, Structure) else Structure.from_file(str(path_or_structure))
    path = Path(str(structure.composition.reduced_formula))
    try:
        sym = SpacegroupAnalyzer(structure, symprec=0.1).get_symmetrized_structure()
        number = SpacegroupAnalyzer(structure, symprec=0.1).get_space_group_number()
        wyckoff = ",".join(sorted(sym.wyckoff_symbols))
    except Exception:  # noqa: BLE001 - a structure spglib cannot handle gets its own label
        return f"unknown:{path.stem}"
    return f"{number}|{wyckoff}|{structure.composition.anonymized_formula}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--labels-dir", type=Path, default=REPO.parent / "shared" / "data" / "labels")
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--stats", type=int, default=800, help="materials in the statistics sample")
    parser.add_argument("--test", type=int, default=600, help="materials in the retrieval set")
    parser.add_argument("--spacing", type=float, default=0.15, help="procrystal grid spacing, Å (the model regrids to 32³)")
    parser.add_argument("--model", default=None)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--retrieval", action="store_true")
    parser.add_argument("--install", type=Path, default=None, help="bundle directory to add the statistics to")
    parser.add_argument("--real", type=Path, default=None,
                        help="instead: the retrieval test on a table of real DFT densities (data/densities), "
                        "standardized with the bundle's own statistics")
    args = parser.parse_args()
    if args.real:
        real_retrieval(args.real, k=args.k, model=args.model)
        return

    from demo_bundle import write_inputs

    work: Path = args.work
    work.mkdir(parents=True, exist_ok=True)
    cache = work / "latents.npz"
    start = time.perf_counter()
    if not cache.exists():
        if not (work / "labels.csv").exists():
            write_inputs(args.labels_dir, work)
        everything = sorted(p.stem for p in (work / "structures").glob("*.vasp"))
        random.Random(0).shuffle(everything)
        chosen = everything[: args.stats + args.test]
        todo = work / "todo"
        shutil.rmtree(todo, ignore_errors=True)
        todo.mkdir()
        for name in chosen:
            (todo / f"{name}.vasp").symlink_to((work / "structures" / f"{name}.vasp").resolve())
        from screener.config import SynthConfig
        from screener.synth.driver import synthesize_structures

        if not (work / "chgcars").exists():
            synthesize_structures(todo, work / "chgcars", config=SynthConfig(spacing=args.spacing), workers=2)
        print(f"synthesized {len(chosen)} in {time.perf_counter() - start:.0f} s", flush=True)
        names, latents, tabular = encode_folder(work / "chgcars", chosen, args.model)
        role = np.array(["stats" if n in set(chosen[: args.stats]) else "test" for n in names])
        np.savez(cache, names=np.array(names), latents=latents, tabular=tabular, role=role)
        print(f"encoded {len(names)} in {time.perf_counter() - start:.0f} s", flush=True)
    data = np.load(cache)
    names, latents, tabular, role = list(data["names"]), data["latents"], data["tabular"], data["role"]

    from screener.models.latent_features import embedding, invariant_features

    stats_rows = role == "stats"
    inv = invariant_features(latents)
    inv_mean, inv_std = inv[stats_rows].mean(0), inv[stats_rows].std(0)
    if args.retrieval:
        from similarity_bench import standardize

        from screener.models.features import magpie_feature_names

        test = np.flatnonzero(role == "test")
        labels = np.array([prototype_label(work / "structures" / f"{names[i]}.vasp") for i in test])
        counts = collections.Counter(labels.tolist())
        shared = np.array([counts[label] > 1 for label in labels])
        raw = embedding(latents).astype(np.float64)
        raw_mean, raw_std = raw[stats_rows].mean(0), raw[stats_rows].std(0)
        magpie = tabular[:, : len(magpie_feature_names())]
        mag_mean, mag_std = magpie[stats_rows].mean(0), magpie[stats_rows].std(0)
        variants = {
            "channel mean+max, raw (the old embedding)": raw[test],
            "channel mean+max, standardized (training statistics)": standardize(raw[test], raw_mean, raw_std),
            "invariant latent summaries (7 per channel), raw": inv[test],
            "invariant latent summaries (7 per channel), standardized (training statistics): the new embedding": standardize(inv[test], inv_mean, inv_std),
            "composition only: MAGPIE descriptors, standardized (training statistics)": standardize(magpie[test], mag_mean, mag_std),
        }
        print(f"\nretrieval set: {len(test)} materials, {len(counts)} prototypes, {int(shared.sum())} materials whose "
              f"prototype has another member; k = {args.k}\n")
        print(f"| embedding | same prototype among the {args.k} nearest | cosine range (5th-95th percentile) |")
        print("|---|---:|---|")
        subset_labels = labels[shared]
        expected = np.mean([(counts[label] - 1) / (len(labels) - 1) for label in subset_labels])
        print(f"| random neighbours (expected) | {expected:.3f} | |")
        for label, vectors in variants.items():
            p = precision_at_k_subset(vectors, labels, shared, args.k)
            unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
            cos = (unit @ unit.T)[~np.eye(len(unit), dtype=bool)]
            print(f"| {label} | {p:.3f} | {np.percentile(cos, 5):.2f} .. {np.percentile(cos, 95):.2f} |")
    if args.install:
        from screener.models.bundle import load_bundle, save_bundle

        bundle = load_bundle(args.install)
        old = bundle.model_id
        bundle.embedding_stats = (inv_mean.astype(np.float32), inv_std.astype(np.float32))
        total = len(list((work / "structures").glob("*.vasp")))
        bundle.info = {**bundle.info, "embedding_statistics": (
            f"mean and std of the invariant latent summaries over {int(stats_rows.sum())} procrystal densities "
            f"({args.spacing} Å) drawn at random (seed 0) from the {total:,} materials the bundle was trained on "
            "(its split itself could not be rebuilt, so about 80% of them are training rows); "
            "benchmarks/embedding_stats.py")}
        created = bundle_created(args.install)
        new = save_bundle(bundle, args.install)
        restore_created(args.install, created)  # not part of the model id: keep when the model was made
        print(f"installed embedding statistics into {args.install}: model id {old} -> {new}")


def real_retrieval(folder: Path, *, k: int, model: str | None) -> None:
    """precision@k on real PBE densities (``screener dft`` tables), with the bundle's embedding statistics."""
    from similarity_bench import standardize

    from screener.io.density_table import read_density_rows
    from screener.models.features import magpie_features
    from screener.models.latent_features import embedding, invariant_features
    from screener.models.predictor import Predictor
    from screener.screening.pipeline import default_model_path

    predictor = Predictor.from_path(model or default_model_path(), device="cpu")
    stats = predictor.bundle.embedding_stats
    if stats is None:
        raise SystemExit("this bundle has no embedding statistics (run --install first)")
    latents, labels, magpie = [], [], []
    for row in read_density_rows(folder):
        grid = predictor.to_model_grid([row.rho.astype(np.float32)], [row.structure.lattice.matrix])
        latent, _ = predictor.encode(grid)
        latents.append(latent.numpy()[0])
        labels.append(prototype_label(row.structure))
        magpie.append(magpie_features(row.structure.composition))
    latents_arr, labels_arr, magpie_arr = np.stack(latents), np.array(labels), np.stack(magpie)
    counts = collections.Counter(labels)
    shared = np.array([counts[label] > 1 for label in labels])
    inv = invariant_features(latents_arr)
    variants = {
        "channel mean+max, raw (the old embedding)": embedding(latents_arr),
        "invariant latent summaries, raw": inv,
        "invariant latent summaries, standardized with the bundle's statistics: the new embedding": embedding(latents_arr, stats),
        "composition only: MAGPIE descriptors, standardized over this set": standardize(magpie_arr, magpie_arr.mean(0), magpie_arr.std(0)),
    }
    expected = np.mean([(counts[label] - 1) / (len(labels) - 1) for label in labels_arr[shared]])
    print(f"\n{len(labels)} real densities, {len(counts)} prototypes, {int(shared.sum())} whose prototype has another member\n")
    print(f"| embedding | k = {k} | k = 1 | cosine range (5th-95th percentile) |")
    print("|---|---:|---:|---|")
    print(f"| random neighbours (expected) | {expected:.3f} | {expected:.3f} | |")
    for label, vectors in variants.items():
        vectors = np.asarray(vectors, np.float64)
        p = [precision_at_k_subset(vectors, labels_arr, shared, kk) for kk in (k, 1)]
        unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        cos = (unit @ unit.T)[~np.eye(len(unit), dtype=bool)]
        print(f"| {label} | {p[0]:.3f} | {p[1]:.3f} | {np.percentile(cos, 5):.2f} .. {np.percentile(cos, 95):.2f} |")


def bundle_created(path: Path) -> str:
    import json

    return json.loads((path / "manifest.json").read_text())["created_at"]


def restore_created(path: Path, created: str) -> None:
    import json

    manifest_path = path / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["created_at"] = created
    manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n")


def precision_at_k_subset(vectors: np.ndarray, labels: np.ndarray, queries: np.ndarray, k: int) -> float:
    """precision@k over the query rows, neighbours searched among all rows."""
    x = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    sims = x @ x.T
    np.fill_diagonal(sims, -np.inf)
    nearest = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    hits = labels[nearest] == labels[:, None]
    return float(hits[queries].mean())


if __name__ == "__main__":
    main()
