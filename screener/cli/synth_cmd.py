"""``screener synth``: write synthetic procrystal CHGCARs for structure files or built-in prototypes.

Only click is imported at module level; numpy, pymatgen and tqdm load when the command runs.
"""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.command(
    "synth",
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog="""\b
Examples:
  screener synth --structures my_poscars/ --out synth/
  screener synth --prototypes --count 50 --seed 0 --out synth/ --workers 4
  screener synth --structures cifs/ --out synth/ --spacing 0.1 --digits 6
""",
)
@click.option(
    "--structures",
    "structures_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder of POSCAR*/CONTCAR*/*.cif/*.vasp files; writes OUT/<file stem>/CHGCAR for each.",
)
@click.option("--prototypes", is_flag=True, help="Use built-in prototype structures (rocksalt, perovskite, ...).")
@click.option("--count", type=int, default=None, help="Number of prototype structures (with --prototypes).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the prototype element draw.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path), help="Output folder.")
@click.option("--spacing", type=float, default=None, help="Grid spacing in Å (default: SynthConfig.spacing, 0.07).")
@click.option("--digits", type=click.IntRange(1, 16), default=None, help="Significant digits per value (default 11).")
@click.option("--workers", type=click.IntRange(1, None), default=1, show_default=True, help="Worker processes.")
@click.option("--gzip", "compress", is_flag=True, help="Write CHGCAR.gz (gzip level 1, about 3x smaller).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def synth(
    structures_dir: Path | None,
    prototypes: bool,
    count: int | None,
    seed: int,
    out_dir: Path,
    spacing: float | None,
    digits: int | None,
    workers: int,
    compress: bool,
    as_json: bool,
    quiet: bool,
) -> None:
    """Write procrystal charge densities (superposed atomic valence densities) as VASP CHGCARs.

    Densities are computed in reciprocal space on a VASP-like FFT grid (about SPACING Å between
    points, FFT-friendly even sizes), integrate to the Materials Project default valence electron
    count, and read back with pymatgen's Chgcar.from_file.
    """
    import dataclasses

    from ..config import SynthConfig

    if prototypes == (structures_dir is not None):
        raise click.UsageError("give exactly one of --structures DIR or --prototypes")
    if prototypes and count is None:
        raise click.UsageError("--prototypes needs --count N")
    if not prototypes and count is not None:
        raise click.UsageError("--count only applies to --prototypes")
    if count is not None and count < 1:
        raise click.BadParameter("must be at least 1", param_hint="--count")
    if spacing is not None and not spacing > 0:
        raise click.BadParameter("must be a positive number of Å", param_hint="--spacing")
    if structures_dir is not None and not structures_dir.is_dir():
        raise click.ClickException(f"structures folder not found: {structures_dir}")

    config = SynthConfig()
    changes = {}
    if spacing is not None:
        changes["spacing"] = spacing
    if digits is not None:
        changes["significant_digits"] = digits
    if compress:
        changes["compress"] = True
    if changes:
        config = dataclasses.replace(config, **changes)

    from tqdm import tqdm

    from ..synth.driver import synthesize_prototypes, synthesize_structures

    bar = None

    def progress(done: int, total: int, name: str) -> None:
        nonlocal bar
        if quiet:
            return
        if bar is None:
            bar = tqdm(total=total, unit="file", desc="synth", leave=True)
        bar.set_postfix_str(name[-30:], refresh=False)
        bar.update(done - bar.n)

    from ..errors import ScreenerError

    try:
        if prototypes:
            summary = synthesize_prototypes(out_dir, count=int(count), seed=seed, config=config, workers=workers, progress=progress)
        else:
            summary = synthesize_structures(structures_dir, out_dir, config=config, workers=workers, progress=progress)
    except ScreenerError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        if bar is not None:
            bar.close()

    if as_json:
        click.echo(json.dumps(summary.as_dict(), indent=2))
    else:
        click.echo(f"wrote {len(summary.written)} CHGCAR file(s) to {out_dir} in {summary.seconds:.1f} s")
        for name, reason in summary.failed:
            click.echo(f"failed: {name}: {reason}", err=True)
    if summary.failed and not summary.written:
        raise click.ClickException(f"no CHGCAR written ({len(summary.failed)} input(s) failed)")
