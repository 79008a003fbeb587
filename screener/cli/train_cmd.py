"""``screener train``: densities + labels → model bundle."""

from __future__ import annotations

import json
from pathlib import Path

import click


def parse_mapping(pairs: tuple[str, ...]) -> dict[str, str]:
    """``("bulk=bulk_modulus", "mpid=id")`` → ``{"bulk": "bulk_modulus", "mpid": "id"}``."""
    mapping = {}
    for pair in pairs:
        if "=" not in pair:
            raise click.BadParameter(f"{pair!r}: expected COLUMN=TARGET", param_hint="--map")
        column, target = pair.split("=", 1)
        mapping[column.strip()] = target.strip()
    return mapping


def labels_from_tables(inputs: tuple[str, ...], workdir: Path) -> Path:
    """Write the labels that the density tables among ``inputs`` hold as WORKDIR/table_labels.csv."""
    import csv

    from ..io import density_table

    labels: dict[str, dict[str, float]] = {}
    for item in inputs:
        if density_table.is_density_table(item):
            labels.update(density_table.labels_table(item))
    if not labels:
        raise click.UsageError("--labels is required: no density table with labels among the --densities inputs")
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "table_labels.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", *density_table.LABEL_COLUMNS])
        for material_id, values in sorted(labels.items()):
            writer.writerow([material_id, *(values.get(name, "") for name in density_table.LABEL_COLUMNS)])
    click.echo(f"labels of {len(labels)} materials taken from the density table(s): {path}", err=True)
    return path


@click.command(
    epilog="""\b
Examples:
  screener train --chgcars runs/ --labels labels.csv --out my-bundle
  screener train --chgcars runs/ --labels mp.parquet --map K_VRH=bulk_modulus --split split.csv --grid 32 --out my-bundle
  screener train --densities dft/densities --out my-bundle                          # labels from the table
  screener train --chgcars runs/ --labels labels.csv --out my-bundle --resume      # after an interruption
  screener run --model my-bundle --input new_runs/ --output results/             # then screen with it
""",
)
@click.option("--chgcars", "--densities", "chgcars", multiple=True, required=True, type=click.Path(exists=True),
              help="Folder (searched recursively), file, or list file of densities, or a density table "
                   "(`screener dft`'s Parquet file or folder: one density per row). Repeatable.")
@click.option("--labels", "labels_path", default=None, type=click.Path(exists=True, dir_okay=False),
              help="CSV or Parquet with an 'id' column (the densities' names) and target columns. "
                   "Default for density tables: the labels the table holds.")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Bundle directory to write.")
@click.option("--split", "split_file", type=click.Path(exists=True, dir_okay=False), default=None,
              help="CSV with columns id,split (train/val/test). Default: random 80/10/10 with --seed.")
@click.option("--map", "mapping", multiple=True, metavar="COLUMN=TARGET",
              help="Use a label column for a target (or 'COLUMN=id'). Repeatable.")
@click.option("--grid", type=click.IntRange(min=8), default=32, show_default=True,
              help="Model grid n (divisible by 8; the paper uses 128, which needs a GPU to train).")
@click.option("--regrid-method", type=click.Choice(["fourier", "trilinear"]), default="fourier", show_default=True,
              help="Resampling onto the model grid: fourier (band-limited, conserves electrons) or trilinear (periodic; no ringing on sharp cores).")
@click.option("--frame", type=click.Choice(["canonical", "fractional", "cartesian"]), default="canonical", show_default=True,
              help="Model grid along the vectors of the crystal's standard primitive cell from its standard origin "
                   "(canonical: the same grid for any supercell, basis or origin), along the file's own cell vectors "
                   "(fractional), or a Cartesian cube of --cube-edge Å.")
@click.option("--cube-edge", type=float, default=8.0, show_default=True, help="Å, for --frame cartesian.")
@click.option("--epochs", type=click.IntRange(min=0), default=40, show_default=True, help="Autoencoder epochs (max).")
@click.option("--regressor-epochs", type=click.IntRange(min=0), default=150, show_default=True, help="Attention CNN epochs (max).")
@click.option("--ae-samples-per-epoch", type=click.IntRange(min=1), default=None,
              help="Random training densities per autoencoder epoch (default: all).")
@click.option("--batch-size", type=click.IntRange(min=2), default=16, show_default=True, help="Densities per optimizer step.")
@click.option("--learning-rate", type=float, default=1e-3, show_default=True, help="Adam learning rate of both networks (per step).")
@click.option("--patience", type=click.IntRange(min=1), default=10, show_default=True, help="Early-stopping patience (epochs).")
@click.option("--widths", default="64,128,256", show_default=True, help="Attention CNN stage widths.")
@click.option("--n-pca", type=click.IntRange(min=0), default=0, show_default=True,
              help="PCA components of the flattened latent as LightGBM features (the paper: 512; 0: none).")
@click.option("--invariant-features/--no-invariant-features", default=False, show_default=True,
              help="Translation-invariant summaries of each latent channel as LightGBM features.")
@click.option("--density-features/--no-density-features", default=True, show_default=True,
              help="Statistics of rho over the cell (quantiles, volume fractions) as LightGBM features.")
@click.option("--inputs", type=click.Choice(["invariant", "legacy"]), default="invariant", show_default=True,
              help="Per-file inputs of both regressors: invariant = MAGPIE, volume per atom, mass density and density "
                   "descriptors that do not change with origin, cell or valence partition; legacy = MAGPIE + lattice "
                   "descriptors (bundles before 0.2).")
@click.option("--ensemble", type=click.IntRange(min=1), default=5, show_default=True,
              help="LightGBM members per target; their spread, calibrated on validation, is the uncertainty.")
@click.option("--min-labels", type=click.IntRange(min=1), default=20, show_default=True,
              help="Targets with fewer training labels are not trained and predicted as NULL.")
@click.option("--trees", type=click.IntRange(min=1), default=2000, show_default=True, help="Maximum LightGBM trees per target.")
@click.option("--transform-trial-epochs", type=click.IntRange(min=0), default=3, show_default=True,
              help="Epochs per candidate input transform (0: asinh(ρ/0.05) without trials).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the split (without --split), weights and sampling.")
@click.option("--device", default="auto", show_default=True, help="auto (CUDA when present), cpu or cuda.")
@click.option("--precision", type=click.Choice(["auto", "fp32", "bf16", "fp16"]), default="auto", show_default=True,
              help="Training arithmetic: auto = bf16 autocast on CUDA, fp32 on CPU.")
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Processes for reading densities (default: all CPUs).")
@click.option("--workdir", type=click.Path(file_okay=False), default=None,
              help="Cache, checkpoints, logs and label report (default: OUT.work).")
@click.option("--resume", is_flag=True, help="Continue an interrupted run from its work directory, on the same densities prepared the same way (it refuses densities its split never saw, and changed files or another grid, frame or descriptor version).")
@click.option("--data-description", default=None,
              help="What the densities and labels are (sources, licences); recorded in the bundle's manifest.")
def train(chgcars, labels_path, out, split_file, mapping, grid, regrid_method, frame, cube_edge, epochs,
          regressor_epochs, ae_samples_per_epoch, batch_size, learning_rate, patience, widths, n_pca,
          invariant_features, density_features, inputs, ensemble, min_labels, trees, transform_trial_epochs, seed, device, precision, workers, workdir, resume,
          data_description) -> None:  # fmt: skip
    """Train a model bundle from your own densities and labels.

    Phase 1 trains the periodic autoencoder on the training split only; phase 2 fits the PCA,
    LightGBM and the attention CNN on the training split with early stopping on validation.
    Labels are validated (invalid values are listed in WORKDIR/label_report.csv and left out),
    missing Young's moduli and Debye temperatures are filled from K and G. The bundle's manifest
    holds the validation and test metrics.
    """
    from ..config import AttentionConfig, AutoencoderConfig, LgbmConfig, RegridConfig, TrainConfig
    from ..training.trainer import TrainOptions, train_model

    if labels_path is None:
        labels_path = labels_from_tables(chgcars, Path(workdir) if workdir else Path(out).with_name(Path(out).name + ".work"))

    if grid % 8:
        raise click.BadParameter("must be divisible by 8", param_hint="--grid")
    try:
        width_tuple = tuple(int(w) for w in widths.split(","))
    except ValueError:
        raise click.BadParameter(f"{widths!r}: expected integers separated by commas", param_hint="--widths") from None
    options = TrainOptions(
        regrid=RegridConfig(grid=grid, method=regrid_method, frame=frame, cube_edge=cube_edge),
        autoencoder=AutoencoderConfig(grid=grid),
        attention=AttentionConfig(widths=width_tuple),
        lgbm=LgbmConfig(n_pca=n_pca, invariant_features=invariant_features, density_features=density_features, n_estimators=trees),
        train=TrainConfig(epochs=epochs, regressor_epochs=regressor_epochs, batch_size=batch_size,
                          learning_rate=learning_rate, patience=patience, seed=seed, device=device,
                          transform_trial_epochs=transform_trial_epochs, inputs=inputs, ensemble=ensemble,
                          min_labels=min_labels),  # fmt: skip
        ae_samples_per_epoch=ae_samples_per_epoch,
        workers=workers,
        precision=precision,
    )
    result = train_model(
        chgcars=chgcars, labels_path=labels_path, out=out, options=options, split_file=split_file,
        mapping=parse_mapping(mapping), workdir=workdir, resume=resume,
        info={"command": "screener train", "chgcars": [str(Path(c)) for c in chgcars], "data_description": data_description},
    )  # fmt: skip
    click.echo(f"bundle {result.bundle_path} (model id {result.model_id}); work directory {result.workdir}")
    for split, table in result.metrics.items():
        for target, models in table.items():
            blend = models["blend"]
            click.echo(f"  {split:4s} {target:18s} n={blend['n']:4d} R²={blend['r2']:.3f} MAE={blend['mae']:.4g}")
    click.echo(json.dumps({"model_id": result.model_id}))
