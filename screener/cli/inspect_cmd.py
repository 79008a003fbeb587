"""``screener inspect``: what a density file holds, and whether it can be used."""

from __future__ import annotations

import json
import sys
import time

import click


def inspect_one(path: str, *, grid: int | None) -> dict:
    """Summary of one file as a JSON-ready dict (raises InputError for an unusable file)."""
    from ..config import RegridConfig
    from ..io.reading import read_density

    record = read_density(path)
    info = {
        "path": path,
        "name": record.name,
        "format": record.format,
        "compression": record.compression,
        "formula": record.structure.composition.reduced_formula,
        "n_sites": len(record.structure),
        "volume": round(record.volume, 6),
        "grid": list(record.grid),
        "spin": record.spin,
        "n_electrons": record.n_electrons,
        "sha256": record.sha256,
        **valence_partition(record.structure, record.n_electrons),
    }
    if grid:
        from ..grid.resample import regrid

        start = time.perf_counter()
        resampled = regrid(record.rho, config=RegridConfig(grid=grid))
        info["regrid_seconds"] = round(time.perf_counter() - start, 6)
        info["n_electrons_regridded"] = float(resampled.double().mean()) * record.volume
    return info


def valence_partition(structure, n_electrons: float) -> dict:
    """The valence partition a file holds (per element), the canonical one, and what no partition explains."""
    from ..synth.partition import canonical_valence, infer_partition

    counts = structure.composition.get_el_amt_dict()
    try:
        partition, residual = infer_partition(counts, n_electrons)
    except Exception as exc:  # noqa: BLE001 - an element without valence tables: say so, inspect the rest
        return {"valence_partition_error": f"{type(exc).__name__}: {exc}"}
    return {
        "valence_partition": partition,
        "canonical_partition": {element: canonical_valence(element) for element in partition},
        "unexplained_electrons": round(residual, 6),
    }


def _partition_text(info: dict) -> str:
    if "valence_partition" not in info:
        return f" partition=? ({info.get('valence_partition_error', '')})"
    held = " ".join(
        f"{e}:{z:g}" + (f"(canonical {info['canonical_partition'][e]:g})" if info["canonical_partition"][e] != z else "")
        for e, z in sorted(info["valence_partition"].items())
    )
    text = f" valence per atom {held}"
    if abs(info["unexplained_electrons"]) > 0.05:
        text += f", {info['unexplained_electrons']:+.2f} e unexplained (not a valence density: core or all-electron?)"
    return text


@click.command(
    epilog="""\b
Examples:
  screener inspect runs/mp-149/CHGCAR.gz
  screener inspect runs/mp-149/CHGCAR --grid 32      # electron count after regridding to 32³
""",
)
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--grid", type=click.IntRange(min=2), default=None, help="Also regrid to N³ and report the electron count after it.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line instead of a table.")
def inspect(paths: tuple[str, ...], grid: int | None, as_json: bool) -> None:
    """Show format, formula, cell, grid, spin, electron count and valence partition of density files.

    The valence partition is the number of electrons per atom of each element the file holds,
    inferred from its electron count (VASP's Na holds 1, Na_pv 7; GPAW's default Na 7); the models
    move every density to the canonical partition (GPAW's defaults) before describing it.

    PATHS are CHGCAR, CHG, AECCAR0/1/2, PARCHG or Gaussian cube files, plain or compressed
    (.gz, .bz2, .xz, .lzma), or density tables (`screener dft`'s Parquet file or folder: a summary
    of rows, failures, labels and grid sizes). A file that cannot be used gets an error line with the reason;
    the others are still processed, and the exit status is 1 if any failed.
    """
    from ..errors import InputError
    from ..io import density_table

    failed = 0
    for path in paths:
        if density_table.is_density_table(path):
            summary = density_table.summarize(path)
            if as_json:
                click.echo(json.dumps(summary))
            else:
                labelled = ", ".join(f"{k} {v}" for k, v in summary["labelled"].items())
                failures = ", ".join(f"{k} {v}" for k, v in sorted(summary["failed"].items())) or "none"
                click.echo(f"{path}: density table, {summary['rows']} rows in {summary['parts']} parts "
                           f"({summary['bytes'] / 1e6:.1f} MB): {summary['computed']} densities, failed: {failures}; "
                           f"labelled: {labelled}; median {summary['atoms_median']} atoms, "
                           f"{summary['grid_points_median']} grid points; {summary['dft_seconds_total'] / 3600:.1f} h of DFT")  # fmt: skip
            continue
        try:
            info = inspect_one(path, grid=grid)
        except InputError as exc:
            failed += 1
            if as_json:
                click.echo(json.dumps({"path": path, "error": exc.reason}))
            else:
                click.echo(f"{path}: ERROR {exc.reason}", err=False)
            continue
        if as_json:
            click.echo(json.dumps(info))
        else:
            line = (
                f"{info['path']}: {info['format']} {info['formula']} sites={info['n_sites']} "
                f"V={info['volume']:.3f} Å³ grid={'x'.join(map(str, info['grid']))} spin={info['spin']} "
                f"electrons={info['n_electrons']:.6f}"
                + _partition_text(info)
            )
            if grid:
                line += f" regridded({grid}³)={info['n_electrons_regridded']:.6f} in {info['regrid_seconds']:.3f} s"
            click.echo(line)
    if failed:
        sys.exit(1)
