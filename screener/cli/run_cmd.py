"""``screener run``: the batch screen on Ray."""

from __future__ import annotations

import sys

import click


def print_summary(summary, *, echo=click.echo) -> None:
    """The end-of-run report: counts, throughput and where the results are."""
    echo(
        f"run {summary.run_id}: {summary.discovered} inputs, {summary.predicted} predicted, "
        f"{summary.failed} failed, {summary.duplicates} duplicates, {summary.skipped} already done "
        f"in {summary.seconds:.1f} s ({summary.files_per_second:.2f} files/s); model {summary.model_id}"
    )
    for stage, count in sorted(summary.errors_by_stage.items()):
        echo(f"  errors at {stage}: {count}")
    echo(f"results in {summary.output}/{{predictions,latents,errors}}/ and {summary.output}/manifest.json")


@click.command()
@click.option("--input", "inputs", multiple=True, required=True, type=click.Path(exists=True),
              help="Folder (searched recursively for CHGCAR, CHG, AECCAR*, PARCHG, *.cube, compressed or not), "
                   "a single file, or a text file listing paths. Repeatable.")
@click.option("--output", required=True, type=click.Path(file_okay=False), help="Output folder (Parquet parts + manifest.json).")
@click.option("--model", type=click.Path(exists=True, file_okay=False), default=None,
              help="Model bundle (default: the demo bundle shipped with screener).")
@click.option("--gpus", type=click.IntRange(min=0), default=0, show_default=True,
              help="GPU replicas of the models (one GPU each); 0 runs the same stages on CPU replicas.")
@click.option("--cpus", type=click.IntRange(min=1), default=None, help="CPUs of a local Ray instance (default: all).")
@click.option("--batch-size", type=click.IntRange(min=1), default=8, show_default=True, help="Densities per model call.")
@click.option("--address", default=None,
              help="Ray cluster to join ('auto', 'HOST:PORT' or 'ray://HOST:10001'); default: start a local instance.")
@click.option("--precision", type=click.Choice(["auto", "fp32", "bf16", "fp16"]), default="auto", show_default=True,
              help="auto = bf16 on CUDA, fp32 on CPU.")
@click.option("--resume/--no-resume", default=True, show_default=True,
              help="Skip inputs whose id (SHA-256) is already in OUTPUT.")
@click.option("--retry-errors", is_flag=True, help="On resume, read again the inputs an earlier run recorded as failed.")
@click.option("--strict", is_flag=True, help="Exit with status 1 if any input failed.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Process at most N discovered inputs.")
@click.option("--rows-per-part", type=click.IntRange(min=1), default=256, show_default=True,
              help="Rows per Parquet part file (smaller parts: less work redone after a crash).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def run(inputs, output, model, gpus, cpus, batch_size, address, precision, resume, retry_errors, strict, limit, rows_per_part, quiet) -> None:
    """Predict every density under INPUT and write Parquet for SQL ranking.

    Every input ends up in OUTPUT/predictions (with its latent in OUTPUT/latents) or in
    OUTPUT/errors with the reason; the same bytes under two paths are predicted once. Rerunning
    into the same OUTPUT continues where a run stopped. On a cluster, inputs and OUTPUT must be
    on a path every node sees.
    """
    from ..config import RunConfig
    from ..errors import Interrupted
    from ..screening.pipeline import run_screen

    config = RunConfig(gpus=gpus, cpus=cpus, batch_size=batch_size, precision=precision, resume=resume,
                       strict=strict, limit=limit, address=address, rows_per_part=rows_per_part, retry_errors=retry_errors)  # fmt: skip
    try:
        summary = run_screen(inputs, output, model=model, config=config, progress=not quiet)
    except Interrupted as exc:  # SIGINT/SIGTERM: finished rows saved, run marked interrupted
        click.echo(str(exc), err=True)
        sys.exit(exc.exit_code)
    print_summary(summary)
    if strict and summary.failed:
        sys.exit(1)
