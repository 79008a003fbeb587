"""``screener run``: the batch screen (in this process for small inputs, on Ray for large ones)."""

from __future__ import annotations

import sys

import click

from ..config import RunConfig

#: non-density files and error reasons named in the summary (the rest: the errors table).
SHOWN = 5


def print_summary(summary, *, echo=click.echo) -> None:
    """The end-of-run report: counts, throughput, what was skipped and why files failed, where the results are."""
    echo(
        f"run {summary.run_id}: {summary.discovered} inputs, {summary.predicted} predicted, "
        f"{summary.failed} failed, {summary.duplicates} duplicates, {summary.skipped} already done "
        f"in {summary.seconds:.1f} s ({summary.files_per_second:.2f} files/s, engine {summary.engine}); model {summary.model_id}"
    )
    from ..io.paths import display_path  # names that are not valid UTF-8 print with \xNN escapes

    skipped = [display_path(p) for p in getattr(summary, "not_densities", [])]
    if skipped:
        names = ", ".join(skipped[:SHOWN]) + (f" and {len(skipped) - SHOWN} more" if len(skipped) > SHOWN else "")
        echo(f"  not densities, skipped ({len(skipped)}: LOCPOT, ELFCAR, table rows without one): {names}")
    for stage, count in sorted(summary.errors_by_stage.items()):
        echo(f"  errors at {stage}: {count}")
    samples = list(getattr(summary, "error_samples", []))
    for path, stage, message in samples:
        echo(f"    {display_path(path)} ({stage}): {message}")
    if summary.failed > len(samples):
        echo(f"    ... all {summary.failed} in {summary.output}/errors/ "
             f"(screener query run_summary --results {summary.output})")  # fmt: skip
    echo(f"results in {summary.output}/{{predictions,latents,errors}}/ and {summary.output}/manifest.json")


@click.command(
    epilog="""\b
Examples:
  screener run --input runs/ --output results/                  # small inputs in this process, large on Ray
  screener run --input runs/ --input more.txt --output results/ --strict
  screener run --input runs/ --output results/ --gpus 4         # one model replica per GPU (Ray)
  screener run --input /mnt/chgcars --output /mnt/results --address auto --gpus 4
  screener query stiffest_stable --results results/             # then rank the results
""",
)
@click.option("--input", "inputs", multiple=True, required=True, type=click.Path(exists=True),
              help="Folder (searched recursively for CHGCAR, CHG, AECCAR*, PARCHG, *.cube, compressed or not), "
                   "a single file, or a text file listing paths. Repeatable.")
@click.option("--output", required=True, type=click.Path(file_okay=False),
              help="Output folder (Parquet parts, manifest.json, ray.log); a rerun into it continues.")
@click.option("--model", type=click.Path(exists=True, file_okay=False), default=None,
              help="Model bundle folder [default: the demo bundle shipped with screener].")
@click.option("--engine", type=click.Choice(["auto", "local", "ray"]), default="auto", show_default=True,
              help=f"local: in this process, no Ray start (fastest for small inputs); ray: Ray actors; auto: local up to "
                   f"{RunConfig().local_max_files} files left to do (RunConfig.local_max_files), Ray above. "
                   "--address and --gpus > 0 always use Ray.")
@click.option("--gpus", type=click.IntRange(min=0), default=0, show_default=True,
              help="GPU replicas of the models, one GPU each (Ray); 0 runs the same stages on CPUs.")
@click.option("--cpus", type=click.IntRange(min=1), default=None, help="CPUs of a local Ray instance [default: all cores].")
@click.option("--batch-size", type=click.IntRange(min=1), default=8, show_default=True, help="Densities per model call (files).")
@click.option("--address", default=None,
              help="Ray cluster to join ('auto', 'HOST:PORT' or 'ray://HOST:10001') [default: none; no cluster].")
@click.option("--precision", type=click.Choice(["auto", "fp32", "bf16", "fp16"]), default="auto", show_default=True,
              help="Model arithmetic: auto = bf16 on CUDA, fp32 on CPU.")
@click.option("--resume/--no-resume", default=True, show_default=True,
              help="Skip inputs whose id (SHA-256 of the file) is already in OUTPUT; --no-resume refuses a non-empty OUTPUT.")
@click.option("--retry-errors", is_flag=True, help="On resume, read again the inputs an earlier run recorded as failed [default: off].")
@click.option("--strict", is_flag=True, help="Exit with status 1 if any input failed [default: off].")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Process at most N discovered inputs [default: all].")
@click.option("--rows-per-part", type=click.IntRange(min=1), default=256, show_default=True,
              help="Rows per Parquet part file (smaller parts: less work redone after a crash).")
@click.option("--quiet", is_flag=True, help="No steps and no progress bar, only the summary [default: off].")
def run(inputs, output, model, engine, gpus, cpus, batch_size, address, precision, resume, retry_errors, strict, limit, rows_per_part, quiet) -> None:
    """Predict every density under INPUT and write Parquet for SQL ranking.

    Every input ends up in OUTPUT/predictions (with its latent in OUTPUT/latents) or in
    OUTPUT/errors with the reason; the same bytes under two paths are predicted once. Rerunning
    into the same OUTPUT continues where a run stopped. On a cluster, inputs and OUTPUT must be
    on a path every node sees. Ray's own log lines go to OUTPUT/ray.log.
    """
    from ..api import screen
    from ..errors import Interrupted

    try:
        summary = screen(list(inputs), output, model=model, engine=engine, gpus=gpus, cpus=cpus, batch_size=batch_size,
                         precision=precision, address=address, resume=resume, retry_errors=retry_errors, limit=limit,
                         rows_per_part=rows_per_part, progress=not quiet)  # fmt: skip
    except Interrupted as exc:  # SIGINT/SIGTERM: finished rows saved, run marked interrupted
        click.echo(str(exc), err=True)
        sys.exit(exc.exit_code)
    print_summary(summary)
    if strict and summary.failed:
        sys.exit(1)
