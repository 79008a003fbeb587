"""Fractional vs. Cartesian regridding frame, side by side, on the paper's structures (reduced budget).

Usage (after ``benchmarks/paper_accuracy.py`` has written the procrystal CHGCARs)::

    python benchmarks/frame_comparison.py --work /work/paper-bench [--cube-edge 8.0]

For each frame it runs ``screener train`` with the same split, seed and a reduced budget (the
autoencoder sees 2 × 1,200 training densities, the attention CNN trains up to 15 epochs) and
prints the validation R² of the attention CNN (the part of the model that sees only the latent
and the descriptors) and of the blend. Decisions are made on validation, never on test.

The Cartesian frame samples an n³ grid over a cube of fixed edge in Å, so every voxel has the
same physical size whatever cell the file holds; the fractional frame samples along the cell
vectors (a primitive and a conventional cell of one crystal give different pictures).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=REPO.parent / "paper-bench")
    parser.add_argument("--cube-edge", type=float, default=8.0)
    parser.add_argument("--grid", type=int, default=32)
    parser.add_argument("--results", type=Path, default=REPO / "benchmarks" / "results" / "frame_comparison.json")
    args = parser.parse_args()

    from screener.config import AttentionConfig, AutoencoderConfig, LgbmConfig, RegridConfig, TrainConfig
    from screener.training.trainer import TrainOptions, train_model

    results = {}
    for frame in ("fractional", "cartesian"):
        options = TrainOptions(
            regrid=RegridConfig(grid=args.grid, frame=frame, cube_edge=args.cube_edge),
            autoencoder=AutoencoderConfig(grid=args.grid),
            attention=AttentionConfig(widths=(32, 64)),
            lgbm=LgbmConfig(n_pca=0, invariant_features=False, density_features=True, n_estimators=3000),
            train=TrainConfig(epochs=2, regressor_epochs=15, patience=4, seed=0, transform_trial_epochs=0),
            ae_samples_per_epoch=1200,
            workers=2,
        )
        out = args.work / f"frame-{frame}"
        start = time.perf_counter()
        result = train_model(
            chgcars=[args.work / "chgcars"], labels_path=args.work / "labels.csv", out=out, options=options,
            split_file=args.work / "split.csv", workdir=args.work / f"frame-{frame}.work", resume=(args.work / f"frame-{frame}.work").exists(),
        )  # fmt: skip
        val = result.metrics["val"]
        results[frame] = {
            "seconds": time.perf_counter() - start,
            "val_r2": {t: {m: round(v[m]["r2"], 4) for m in ("attcnn", "lgbm", "blend")} for t, v in val.items()},
            "recon_error_p95": json.loads((out / "manifest.json").read_text())["recon_error_p95"],
        }
        print(frame, json.dumps(results[frame]["val_r2"]))
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps({"command": f"python benchmarks/frame_comparison.py --cube-edge {args.cube_edge} --grid {args.grid}", **results}, indent=2))
    print(f"wrote {args.results}")


if __name__ == "__main__":
    main()
