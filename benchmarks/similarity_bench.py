"""Which embedding makes `similar_to` mean something? A retrieval test on structure prototypes.

Every built-in prototype structure (`screener.synth.prototypes`: 299 compounds over 14 structure
types: rocksalt, perovskite, zincblende, B2, L12, rutile, ...) gets a procrystal CHGCAR, is read by
the screening stage and encoded by a bundle (the shipped demo bundle by default). For each
candidate embedding we ask, for every material, whether its k nearest neighbours (cosine
similarity, the material itself excluded) share its structure prototype, and report the mean
fraction (precision@k), against

* random neighbours (the expected fraction of same-prototype pairs), and
* a composition-only embedding (element fractions, and the standardized MAGPIE composition
  descriptors the models use, without the cell descriptors: what a composition search would find).

Run::

    python benchmarks/similarity_bench.py [--count 299] [--k 5] [--spacing 0.15] [--work DIR]

It prints a Markdown table (results in benchmarks/QUERY.md).
"""

from __future__ import annotations

import argparse
import collections
import tempfile
import time
from pathlib import Path

import numpy as np


def precision_at_k(vectors: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Mean fraction of each row's k cosine-nearest other rows that share its label."""
    x = np.asarray(vectors, np.float64)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    x = x / np.where(norms > 0, norms, 1.0)
    sims = x @ x.T
    np.fill_diagonal(sims, -np.inf)
    nearest = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    return float((labels[nearest] == labels[:, None]).mean())


def random_baseline(labels: np.ndarray) -> float:
    """Expected precision@k of random neighbours: P(another row shares the label)."""
    counts = collections.Counter(labels.tolist())
    n = len(labels)
    return float(sum(c * (c - 1) for c in counts.values()) / (n * (n - 1)))


def standardize(x: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    return (x - mean) / np.where(std > 1e-12, std, 1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=299)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--spacing", type=float, default=0.15, help="procrystal grid spacing, Å")
    parser.add_argument("--model", default=None, help="bundle (default: the shipped demo bundle)")
    parser.add_argument("--work", default=None, help="keep the CHGCARs here (default: a temporary folder)")
    args = parser.parse_args()

    from screener.config import ReadLimits, SynthConfig
    from screener.models.features import magpie_feature_names
    from screener.models.latent_features import embedding, invariant_features
    from screener.models.predictor import Predictor
    from screener.screening.pipeline import default_model_path
    from screener.screening.stages import read_one
    from screener.synth.driver import synthesize_prototypes
    from screener.synth.prototypes import generate_prototypes

    work = Path(args.work or tempfile.mkdtemp(prefix="simbench-"))
    start = time.perf_counter()
    structures = generate_prototypes(args.count, seed=0)
    if not any(work.glob("*/CHGCAR")):
        synthesize_prototypes(work, count=args.count, seed=0, config=SynthConfig(spacing=args.spacing), workers=2)
    t_synth = time.perf_counter() - start
    predictor = Predictor.from_path(args.model or default_model_path(), device="cpu", batch_size=8)
    names, latents, tabular, formulas = [], [], [], []
    for name in structures:
        row = read_one(str(work / name / "CHGCAR"), str(work), limits=ReadLimits())
        if row.get("status") != "ok":
            continue
        rho = np.frombuffer(row["rho"], dtype=np.float32).reshape(tuple(row["grid"]), order="F")
        grid = predictor.to_model_grid([rho], [np.asarray(row["lattice"]).reshape(3, 3)])
        latent, _ = predictor.encode(grid)
        names.append(name)
        latents.append(latent.numpy()[0])
        tabular.append(row["tabular"])
        formulas.append(structures[name].composition)
    t_encode = time.perf_counter() - start - t_synth
    latents_arr = np.stack(latents)
    labels = np.array([n.split("_", 1)[1] for n in names])
    tab = np.stack(tabular)

    # "training" statistics: the bundle's own when it has them, else those of this set (a stand-in)
    raw = embedding(latents_arr).astype(np.float64)
    bundle_stats = getattr(predictor.bundle, "embedding_stats", None)
    inv = invariant_features(latents_arr)
    elements = sorted({el.symbol for c in formulas for el in c.elements})
    fractions = np.array([[c.get_atomic_fraction(el) for el in elements] for c in formulas])
    magpie = tab[:, : len(magpie_feature_names())]  # composition only: the cell descriptors are left out
    variants = {
        "channel mean+max, raw: the old embedding": raw,
        "channel mean+max, standardized by this set": standardize(raw, raw.mean(0), raw.std(0)),
    }
    variants["invariant latent summaries (7 per channel), raw"] = inv
    variants["invariant latent summaries, standardized by this set"] = standardize(inv, inv.mean(0), inv.std(0))
    if bundle_stats is not None:
        variants["invariant latent summaries, standardized by the bundle's training statistics: the new embedding"] = embedding(latents_arr, bundle_stats)
    variants.update(
        {
            "composition only: element fractions": fractions,
            "composition only: MAGPIE descriptors, standardized": standardize(magpie, magpie.mean(0), magpie.std(0)),
        }
    )
    rand = random_baseline(labels)
    print(f"{len(names)} materials, {len(set(labels))} prototypes, k = {args.k}; "
          f"synthesis {t_synth:.0f} s, read+encode {t_encode:.0f} s")
    print()
    print(f"| embedding | same prototype among the {args.k} nearest |")
    print("|---|---:|")
    print(f"| random neighbours (expected) | {rand:.3f} |")
    for label, vectors in variants.items():
        print(f"| {label} | {precision_at_k(vectors, labels, args.k):.3f} |")
    sims = raw / np.linalg.norm(raw, axis=1, keepdims=True)
    cos = sims @ sims.T
    off = cos[~np.eye(len(cos), dtype=bool)]
    print(f"\nraw cosine similarities: {off.min():.3f} .. {off.max():.3f} (median {np.median(off):.3f})")


if __name__ == "__main__":
    main()
