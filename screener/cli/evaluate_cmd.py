"""``screener evaluate``: metrics of a bundle on labelled densities."""

from __future__ import annotations

import click

from .train_cmd import parse_mapping


@click.command(
    epilog="""\b
Examples:
  screener evaluate --model my-bundle --chgcars runs/ --labels labels.csv --out eval/
  screener evaluate --model my-bundle --chgcars runs/ --labels labels.csv --out eval/ \\
      --split my-bundle.work/splits.csv --subset test
""",
)
@click.option("--model", required=True, type=click.Path(exists=True, file_okay=False), help="Bundle directory.")
@click.option("--chgcars", multiple=True, required=True, type=click.Path(exists=True), help="Densities (folder, file or list). Repeatable.")
@click.option("--labels", "labels_path", required=True, type=click.Path(exists=True, dir_okay=False), help="CSV or Parquet labels.")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Folder for metrics.json, predictions.csv, parity plots.")
@click.option("--split", "split_file", type=click.Path(exists=True, dir_okay=False), default=None, help="CSV id,split.")
@click.option("--subset", type=click.Choice(["train", "val", "test"]), default=None, help="With --split: evaluate only this split.")
@click.option("--map", "mapping", multiple=True, metavar="COLUMN=TARGET", help="Label column for a target. Repeatable.")
@click.option("--bootstrap", type=click.IntRange(min=0), default=1000, show_default=True, help="Bootstrap resamples for 95% intervals.")
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Processes for reading densities.")
@click.option("--device", default="auto", show_default=True, help="auto (CUDA when present), cpu or cuda.")
def evaluate(model, chgcars, labels_path, out, split_file, subset, mapping, bootstrap, workers, device) -> None:
    """R², MAE, RMSE and log10-MAE per target for LightGBM, attention CNN and their blend.

    Each metric comes with a bootstrap 95% interval. Writes OUT/metrics.json, OUT/predictions.csv
    and parity plots (OUT/parity_<target>.png and .svg per target, OUT/parity_all.png/.svg for all).
    """
    from ..training.evaluation import evaluate_bundle

    if subset and not split_file:
        raise click.UsageError("--subset needs --split")
    result = evaluate_bundle(
        model=model, chgcars=chgcars, labels_path=labels_path, out=out, split_file=split_file, subset=subset,
        mapping=parse_mapping(mapping), workers=workers, n_bootstrap=bootstrap, device=device,
    )  # fmt: skip
    click.echo(f"{result['n_densities']} densities evaluated (model {result['model_id']}); written to {out}")
    click.echo(f"{'target':18s} {'model':7s} {'n':>5s} {'R²':>16s} {'MAE':>22s}")
    for target, models in result["metrics"].items():
        for name, report in models.items():
            ci = report.get("ci", {})
            r2_ci = ci.get("r2", [float("nan")] * 2)
            mae_ci = ci.get("mae", [float("nan")] * 2)
            click.echo(
                f"{target:18s} {name:7s} {report['n']:5d} {report['r2']:6.3f} [{r2_ci[0]:.2f},{r2_ci[1]:.2f}] "
                f"{report['mae']:8.4g} [{mae_ci[0]:.3g},{mae_ci[1]:.3g}]"
            )
