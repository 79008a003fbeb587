"""``screener demo``: the whole product on an embedded default, in about two minutes on a laptop."""

from __future__ import annotations

import os
from pathlib import Path

import click


@click.command()
@click.option("--output", type=click.Path(file_okay=False), default="screener-demo", show_default=True,
              help="Folder for the example CHGCARs and the results.")
@click.option("--count", type=click.IntRange(min=1), default=50, show_default=True, help="Example structures to synthesize.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the prototype generator.")
@click.option("--query", "query_name", default="stiffest_stable", show_default=True, help="Shipped ranking query to print.")
@click.option("--model", type=click.Path(exists=True, file_okay=False), default=None, help="Bundle (default: the shipped demo bundle).")
def demo(output: str, count: int, seed: int, query_name: str, model: str | None) -> None:
    """Synthesize example CHGCARs, screen them, and print the top candidates.

    \b
    1. writes COUNT procrystal CHGCARs of built-in prototypes (rocksalt, perovskite, rutile, ...)
       to OUTPUT/chgcars (the same code as `screener synth --prototypes`);
    2. runs the screening pipeline on them with the shipped demo bundle (OUTPUT/results);
    3. prints a shipped ranking query over the results (`screener query --list` shows the others).
    """
    from ..config import RunConfig, SynthConfig
    from ..query.export import format_table
    from ..query.views import run_query
    from ..screening.pipeline import run_screen
    from ..synth.driver import synthesize_prototypes
    from .run_cmd import print_summary

    root = Path(output)
    chgcars = root / "chgcars"
    workers = max(1, os.cpu_count() or 1)
    click.echo(f"1/3 writing {count} example CHGCARs to {chgcars} ...")
    summary = synthesize_prototypes(chgcars, count=count, seed=seed, config=SynthConfig(spacing=0.1), workers=workers)
    click.echo(f"    {len(summary.written)} written in {summary.seconds:.1f} s")
    results = root / "results"
    click.echo(f"2/3 screening them into {results} ...")
    run = run_screen([chgcars], results, model=model, config=RunConfig(), progress=True)
    print_summary(run)
    click.echo(f"3/3 query '{query_name}' (top 10):")
    table = run_query(query_name, [results], {}, limit=10)
    click.echo(format_table(table))
    click.echo(
        f"\nNext: screener report --results {results} --out report.html; screener query --list; "
        f"screener query superhard --results {results}; "
        f"duckdb over {results}/predictions/*.parquet"
    )
