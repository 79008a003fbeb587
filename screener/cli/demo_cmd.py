"""``screener demo``: the whole product on an embedded default, in under a minute on a 2-core machine."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click


#: written beside the example CHGCARs; a rerun with the same settings reuses them.
MARKER = ".demo-inputs.json"


@click.command(
    epilog="""\b
Examples:
  screener demo                                # 50 examples into ./screener-demo
  screener demo --count 200 --output /tmp/demo --query superhard
"""
)
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
    from ..api import query, screen
    from ..query.export import format_table
    from .run_cmd import print_summary

    root = Path(output)
    chgcars = root / "chgcars"
    click.echo(f"1/3 example CHGCARs in {chgcars}")
    _example_inputs(chgcars, count=count, seed=seed)
    results = root / "results"
    click.echo(f"2/3 screening them into {results}")
    run = screen([chgcars], results, model=model, progress=True)
    print_summary(run)
    click.echo(f"3/3 query '{query_name}' (top 10):")
    click.echo(format_table(query(query_name, results, limit=10)))
    click.echo(
        f"\nNext: screener report --results {results} --out report.html; screener query --list; "
        f"screener query superhard --results {results}; "
        f"duckdb over {results}/predictions/*.parquet"
    )


def _example_inputs(folder: Path, *, count: int, seed: int) -> None:
    """Write ``count`` procrystal CHGCARs with a progress bar, or reuse those an earlier demo wrote."""
    from tqdm.auto import tqdm

    from ..config import SynthConfig
    from ..synth.driver import synthesize_prototypes

    settings = {"count": count, "seed": seed, "spacing": 0.1}
    marker = folder / MARKER
    try:
        previous = json.loads(marker.read_text())
    except (OSError, ValueError):
        previous = {}
    if previous.get("settings") == settings and all((folder / p).is_file() for p in previous.get("files", [None])):
        click.echo(f"    reusing the {len(previous['files'])} written by an earlier demo (delete {folder} to write them again)")
        return
    with tqdm(total=count, desc="    writing", unit="file") as bar:
        summary = synthesize_prototypes(folder, count=count, seed=seed, config=SynthConfig(spacing=settings["spacing"]),
                                        workers=max(1, os.cpu_count() or 1), progress=lambda done, total, name: bar.update(1))  # fmt: skip
    click.echo(f"    {len(summary.written)} written in {summary.seconds:.1f} s")
    files = [str(Path(p).relative_to(folder)) for p in summary.written]
    marker.write_text(json.dumps({"settings": settings, "files": files}, indent=1) + "\n")
