"""``screener query``: rank and search results with the shipped SQL queries or your own ``.sql`` file.

Only click is imported at module level; DuckDB and pyarrow load when the command runs, and torch
or ray never do.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

#: Output formats; must match :data:`screener.query.EXPORT_FORMATS` (a test checks).
FORMATS: tuple[str, ...] = ("table", "csv", "json", "parquet")

#: Rows shown unless ``--limit`` says otherwise (0 = all).
DEFAULT_LIMIT = 20


def parse_params(pairs: tuple[str, ...]) -> dict[str, str]:
    """``("k=5", "ref=SiO2")`` -> ``{"k": "5", "ref": "SiO2"}``.

    The value is everything after the first ``=``, taken verbatim (it may hold ``=``, quotes,
    semicolons...); it is converted to the declared type and bound as a value, never spliced into SQL.

    Raises:
        click.UsageError: a pair without ``=``, an empty name, or a name given twice.
    """
    params: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        name = name.strip()
        if not sep or not name:
            raise click.UsageError(f"--param expects KEY=VALUE, got {pair!r}")
        if name in params:
            raise click.UsageError(f"--param {name} given twice")
        params[name] = value
    return params


def _announce_reference(results_dirs: list[Path], ref: str) -> None:
    """Say on stderr which rows ``similar_to`` takes as its reference; fail (exit 1) when none match."""
    from ..query.reference import resolve_reference
    from ..query.views import connect

    with connect(results_dirs) as con:
        references = resolve_reference(con, ref)
    if len(references) == 1:
        click.echo(f"reference: {references[0].describe()}", err=True)
    else:
        shown = "; ".join(r.describe() for r in references[:5]) + ("; …" if len(references) > 5 else "")
        click.echo(
            f"reference: ref={ref} matches {len(references)} rows ({shown}); each material is scored against "
            "the closest of them (column closest_reference)",
            err=True,
        )


def _list_text() -> str:
    """Every shipped query with its description and parameters."""
    from ..query.params import list_queries

    blocks = []
    for spec in list_queries():
        lines = [spec.name, f"    {spec.description}"]
        if not spec.params:
            lines.append("    (no parameters)")
        width = max((len(p.name) + len(p.default_text()) for p in spec.params), default=0) + 1
        for p in spec.params:
            setting = f"{p.name}={p.default_text()}".ljust(width)
            lines.append(f"    --param {setting}  {p.type:<5}  {p.description}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


@click.command(
    "query",
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog="""\b
Examples:
  screener query --list
  screener query stiffest_stable --results out/
  screener query superhard -r out/ -r old_run/ --param min_hardness=30
  screener query similar_to -r out/ --param ref=SiO2 --param k=5 --format json
  screener query uncertain -r out/ --limit 0 --format csv --out to_dft.csv
  screener query my_query.sql -r out/ --format parquet --out picked.parquet
""",
)
@click.argument("name_or_file", metavar="NAME|FILE.sql", required=False)
@click.option(
    "--results",
    "-r",
    "results_dirs",
    multiple=True,
    type=click.Path(file_okay=False, path_type=Path),
    metavar="DIR",
    help="Output directory of 'screener run' or 'screener demo' (repeat to combine runs; older schemas mix in).",
)
@click.option(
    "--param",
    "-p",
    "params",
    multiple=True,
    metavar="KEY=VALUE",
    help="Value of a query parameter (repeatable). See --list for names, types and defaults.",
)
@click.option(
    "--format",
    "-f",
    "fmt",
    type=click.Choice(FORMATS),
    default="table",
    show_default=True,
    help="table: aligned text, ids cut to their first 12 characters; csv; json: JSON Lines, one object per row; "
    "parquet: needs --out.",
)
@click.option(
    "--out",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Write the result to FILE (overwritten) instead of standard output.",
)
@click.option(
    "--limit",
    "-n",
    type=click.IntRange(min=0),
    default=DEFAULT_LIMIT,
    show_default=True,
    help="At most N rows, in the query's order; 0 for all rows.",
)
@click.option(
    "--list", "list_only", is_flag=True, help="List the shipped queries, their parameters and defaults, then exit."
)
@click.option("--show", is_flag=True, help="Print the query file (header with the physics notes, and SQL), then exit.")
def query(
    name_or_file: str | None,
    results_dirs: tuple[Path, ...],
    params: tuple[str, ...],
    fmt: str,
    out: Path | None,
    limit: int,
    list_only: bool,
    show: bool,
) -> None:
    """Run a ranking or search query over the Parquet results of one or more runs.

    NAME is a shipped query (see --list): stiffest_stable, superhard, ductile_stiff, high_debye,
    uncertain, similar_to, run_summary. FILE.sql is your own query: one SELECT over the views
    predictions, latents and errors, with a header declaring its $parameters
    ('-- @param NAME TYPE [= DEFAULT] : DESCRIPTION'; see the shipped files). Values given with
    --param are converted to the declared type and bound as parameters, never pasted into SQL.
    Queries can read only the given results directories.
    """
    from ..query.export import write_result
    from ..query.params import load_query
    from ..query.views import run_query

    if list_only:
        click.echo(_list_text(), nl=False)
        return
    if not name_or_file:
        raise click.UsageError("give a query NAME or FILE.sql (or --list to see the shipped queries)")
    spec = load_query(name_or_file)
    if show:
        click.echo(spec.text, nl=not spec.text.endswith("\n"))
        return
    values = parse_params(params)
    spec.bind(values)  # report parameter mistakes before touching any file
    if not results_dirs:
        raise click.UsageError("give at least one --results DIR (an output directory of 'screener run')")
    if fmt == "parquet" and out is None:
        raise click.UsageError("--format parquet writes a file: add --out FILE.parquet")
    if spec.name == "similar_to" and "ref" in spec.used:
        _announce_reference(list(results_dirs), spec.bind(values)["ref"])
    table = run_query(spec, list(results_dirs), values, limit)
    try:
        write_result(table, fmt, out=out, stream=None if out else sys.stdout)
        sys.stdout.flush()
    except BrokenPipeError:  # e.g. piped into `head`: stop quietly, like other Unix tools
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
    if out is not None:
        click.echo(f"wrote {table.num_rows} rows to {out}", err=True)
    elif fmt == "table" and limit and table.num_rows == limit:
        click.echo(f"(first {limit} rows; --limit 0 for all)", err=True)

