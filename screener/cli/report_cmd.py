"""``screener report``: a self-contained interactive HTML page of one or more runs' results."""

from __future__ import annotations

from pathlib import Path

import click


@click.command(
    "report",
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog="""\b
Examples:
  screener report --results screener-demo/results --out report.html
  screener report -r run1/ -r run2/ --out both.html --max-points 10000
""",
)
@click.option("--results", "-r", "results_dirs", multiple=True, required=True, metavar="DIR",
              type=click.Path(file_okay=False, path_type=Path),
              help="Output directory of 'screener run' or 'screener demo' (repeat to combine runs).")
@click.option("--out", "-o", required=True, metavar="FILE.html", type=click.Path(dir_okay=False, path_type=Path),
              help="The page to write (overwritten).")
@click.option("--max-points", type=click.IntRange(min=100), default=None,
              help="Materials drawn as hoverable points per scatter; more rows are sampled over a density "
              "(default 4000).")
@click.option("--top", "top_n", type=click.IntRange(min=1), default=None, help="Rows per ranking table (default 15).")
def report(results_dirs: tuple[Path, ...], out: Path, max_points: int | None, top_n: int | None) -> None:
    """Write one HTML file (no internet needed to open it) with the run summary, a shear-vs-bulk
    modulus map with the Pugh line and Chen hardness contours, the distribution of each prediction,
    uncertainty against OOD score with the materials to send to DFT next, and the top candidates of
    every shipped ranking query as sortable tables, each with the 'screener query' command that
    reproduces it.
    """
    from dataclasses import replace

    from ..config import ReportConfig
    from ..report.page import write_report

    config = ReportConfig()
    if max_points is not None:
        config = replace(config, max_points=max_points)
    if top_n is not None:
        config = replace(config, top_n=top_n)
    path, size, seconds = write_report(list(results_dirs), out, config=config)
    click.echo(f"wrote {path} ({size / 1e6:.1f} MB) in {seconds:.1f} s; open it in a browser")
