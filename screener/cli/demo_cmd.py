"""``screener demo``: the whole product on an embedded default, in under a minute on a 2-core machine."""

from __future__ import annotations

import json
from pathlib import Path

import click


#: written beside the example CHGCARs; a rerun with the same settings reuses them.
MARKER = ".demo-inputs.json"


@click.command(
    epilog="""\b
Examples:
  screener demo                                # 40 real PBE densities into ./screener-demo
  screener demo --count 10 --output /tmp/demo --query superhard
"""
)
@click.option("--output", type=click.Path(file_okay=False), default="screener-demo", show_default=True,
              help="Folder for the example CHGCARs and the results.")
@click.option("--count", type=click.IntRange(min=1), default=40, show_default=True,
              help="Example densities to screen (at most the 40 shipped).")
@click.option("--query", "query_name", default="stiffest_stable", show_default=True, help="Shipped ranking query to print.")
@click.option("--model", type=click.Path(exists=True, file_okay=False), default=None, help="Bundle (default: the shipped demo bundle).")
def demo(output: str, count: int, query_name: str, model: str | None) -> None:
    """Write example CHGCARs of real DFT densities, screen them, and print the top candidates.

    \b
    1. writes COUNT CHGCARs of self-consistent PBE densities shipped with the package (held-out
       materials of the real-density set, data/densities: never trained on) to OUTPUT/chgcars;
    2. runs the screening pipeline on them with the shipped demo bundle (OUTPUT/results);
    3. prints a shipped ranking query over the results (`screener query --list` shows the others).
    """
    from ..api import query, screen
    from ..query.export import format_table
    from .run_cmd import print_summary

    root = Path(output)
    chgcars = root / "chgcars"
    click.echo(f"1/3 example CHGCARs in {chgcars}")
    _example_inputs(chgcars, count=count)
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


def shipped_densities() -> Path:
    """The held-out real densities shipped in the package (a density table folder)."""
    from importlib.resources import files

    return Path(str(files("screener") / "data" / "demo_densities"))


def _example_inputs(folder: Path, *, count: int) -> None:
    """Write ``count`` shipped densities as CHGCARs (``<id>/CHGCAR``), or reuse those an earlier demo wrote."""
    from ..io.chgcar_writer import write_chgcar
    from ..io.density_table import read_density_rows

    settings = {"count": count, "source": "demo_densities"}
    marker = folder / MARKER
    try:
        previous = json.loads(marker.read_text())
    except (OSError, ValueError):
        previous = {}
    if previous.get("settings") == settings and all((folder / p).is_file() for p in previous.get("files", [None])):
        click.echo(f"    reusing the {len(previous['files'])} written by an earlier demo (delete {folder} to write them again)")
        return
    files = []
    for row in read_density_rows(shipped_densities()):
        if len(files) >= count:
            break
        path = write_chgcar(folder / row.id / "CHGCAR", row.structure, row.rho, significant_digits=7,
                            comment=f"{row.id} PBE valence density (GPAW, screener dft)")  # fmt: skip
        files.append(str(path.relative_to(folder)))
    click.echo(f"    {len(files)} written (real PBE densities of held-out materials)")
    marker.write_text(json.dumps({"settings": settings, "files": files}, indent=1) + "\n")
