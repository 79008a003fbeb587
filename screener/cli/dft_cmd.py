"""``screener dft``: self-consistent PBE valence densities with GPAW, one Ray task per structure.

Only click is imported at module level; GPAW, Ray and pymatgen load when the command runs.
"""

from __future__ import annotations

import csv
import signal
import sys
from pathlib import Path

import click


@click.command(
    "dft",
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog="""\b
Examples:
  screener dft --structures my_poscars/ --out dft/
  screener dft --structures POSCAR --out dft/ --ecut 500
  screener dft --structures mp-binary-pbe-elasticity-2025.1.json.gz --out dft/ --cpus 2 \\
               --exclude-like held_out_chgcars/ --limit 100
  screener dft --structures labels.json.gz --out dft/ --address 127.0.0.1:6379
  screener run --input dft/densities --output screen/     # screen what it computed
\b
Output:
  OUT/densities/part-*.parquet  one row per structure: density (rho*V, C order), labels,
                                energy, settings, or the error that stopped it
  OUT/chgcar/<id>.CHGCAR.gz     each density as a VASP 5 CHGCAR (unless --no-chgcar)
  OUT/excluded.csv              inputs left out by --exclude-like, with the file they match
""",
)
@click.option("--structures", "structures", multiple=True, required=True, type=click.Path(exists=True, path_type=Path),
              help="Folder of POSCAR*/CONTCAR*/*.cif/*.vasp files, one such file, or a labels file with structures "
                   "(JSON records, pandas split JSON, CSV or Parquet with id and structure columns; .gz ok). Repeatable; "
                   "an id in several files is computed once and keeps the labels of all.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Output folder; rerunning into it skips ids already recorded.")
@click.option("--ecut", type=float, default=None, help="Plane-wave cutoff for every structure, eV [default: 350, or 500 for cells with B, C, N, O or F].")
@click.option("--kpoint-density", type=float, default=None, help="k-points per Å⁻¹ (ASE 'density', Γ-centred) [default: 2.0].")
@click.option("--smearing", type=float, default=None, help="Fermi-Dirac width in eV [default: 0.1].")
@click.option("--spin", type=click.Choice(["auto", "on", "off"]), default="auto", show_default=True,
              help="Spin polarization: auto = on when a magnetic element (V-Ni, Ce-Yb) is present, starting ferromagnetic.")
@click.option("--max-atoms", type=click.IntRange(min=1), default=None, help="Refuse cells with more atoms after reduction [default: 24].")
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=1), default=None, help="Seconds per structure before it is recorded as a timeout [default: 1800].")
@click.option("--max-iterations", type=click.IntRange(min=1), default=None, help="SCF iterations before 'not converged' [default: 60].")
@click.option("--cpus", type=click.IntRange(min=1), default=None, help="Structures at once on a local Ray instance, one CPU each [default: all cores].")
@click.option("--address", default=None, help="Ray cluster to join ('auto' or HOST:PORT); default: start a local instance.")
@click.option("--engine", type=click.Choice(["ray", "local"]), default="ray", show_default=True,
              help="ray: one task per structure and CPU; local: one after another in this process (no Ray).")
@click.option("--exclude-like", "exclude_like", multiple=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Folder of density files (CHGCAR, LOCPOT, cube, ...) held out for testing: inputs whose structure "
                   "matches one of them are left out and listed in OUT/excluded.csv. Repeatable.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Compute at most N structures (after skipping recorded ones).")
@click.option("--order", type=click.Choice(["cheapest", "smallest", "input"]), default="cheapest", show_default=True,
              help="cheapest: by estimated cost (atoms, x3 spin-polarized, x1.5 at 500 eV), most densities per hour; "
                   "smallest: fewest atoms first; input: file order.")
@click.option("--resume/--no-resume", default=True, show_default=True, help="Skip ids already recorded in OUT.")
@click.option("--retry-errors", is_flag=True, help="Compute again the ids an earlier run recorded as failed.")
@click.option("--chgcar/--no-chgcar", "write_chgcar", default=True, show_default=True, help="Also write OUT/chgcar/<id>.CHGCAR.gz.")
@click.option("--rows-per-part", type=click.IntRange(min=1), default=100, show_default=True, help="Rows per Parquet part.")
@click.option("--flush-minutes", type=click.FloatRange(min=0.1), default=10.0, show_default=True,
              help="Write a part at least this often while rows wait, minutes (less work lost to a crash).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def dft(structures, out_dir, ecut, kpoint_density, smearing, spin, max_atoms, timeout_s, max_iterations, cpus, address,
        engine, exclude_like, limit, order, resume, retry_errors, write_chgcar, rows_per_part, flush_minutes, quiet) -> None:
    """Compute self-consistent PBE valence densities with GPAW (plane waves, PAW).

    Each structure is reduced to its primitive Niggli cell and run once: PBE, Fermi-Dirac smearing,
    Γ-centred k-points, single-threaded, on one CPU. The density written is GPAW's valence pseudo
    density plus compensation charges (what a VASP CHGCAR holds), as rho*V_cell. Every structure ends
    up in OUT/densities as computed or with its error (not converged, element without a setup, too
    large, timeout, GPAW's message). Needs the dft extra: pip install 'screener[dft]' (README).
    """
    import dataclasses

    from tqdm import tqdm

    from ..config import DftConfig, DftRunConfig
    from ..dft import find_exclusions, held_out_structures, iter_inputs, run_dft

    overrides = {"ecut_ev": ecut, "kpoint_density": kpoint_density, "smearing_ev": smearing, "max_atoms": max_atoms,
                 "timeout_s": timeout_s, "max_iterations": max_iterations}  # fmt: skip
    config = dataclasses.replace(DftConfig(spin=spin), **{k: v for k, v in overrides.items() if v is not None})
    if ecut is not None:  # one cutoff for every structure
        config = dataclasses.replace(config, hard_ecut_ev=ecut)
    run = DftRunConfig(cpus=cpus, address=address, engine=engine, resume=resume, retry_errors=retry_errors,
                       write_chgcar=write_chgcar, rows_per_part=rows_per_part, flush_seconds=60.0 * flush_minutes, limit=limit)  # fmt: skip
    click.echo(f"reading structures from {', '.join(map(str, structures))} ...", err=True)
    items = list(iter_inputs(list(structures)))
    if exclude_like:
        references = [ref for folder in exclude_like for ref in held_out_structures(folder)]
        excluded = find_exclusions(items, references)
        _record_exclusions(out_dir / "excluded.csv", [(e.id, e.formula, e.matches) for e in excluded])
        left_out = {e.id for e in excluded}
        items = [it for it in items if it.id not in left_out]
        click.echo(f"left out {len(left_out)} inputs matching {len(references)} held-out files (list: {out_dir / 'excluded.csv'})", err=True)
    bar = tqdm(total=None, unit="structure", disable=quiet, dynamic_ncols=True, smoothing=0.05)
    received: list[int] = []

    def _interrupt(signum, frame) -> None:
        received.append(signum)
        raise KeyboardInterrupt

    # SIGINT and SIGTERM both stop the run after saving the finished rows (a background job
    # started without job control ignores SIGINT unless the handler is set again).
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        summary = run_dft(items, out_dir, config=config, run=run, order=order, progress=bar)
    except KeyboardInterrupt:
        bar.close()
        click.echo("interrupted: finished structures were saved; rerun the same command to continue", err=True)
        sys.exit(143 if received and received[-1] == signal.SIGTERM else 130)
    bar.close()
    failed = ", ".join(f"{kind} {n}" for kind, n in sorted(summary.failed.items())) or "none"
    click.echo(f"{summary.inputs} structures: {summary.computed} computed, {summary.n_failed} failed ({failed}), "
               f"{summary.skipped} already recorded, in {summary.seconds:.0f} s; table in {out_dir / 'densities'}")  # fmt: skip
    for material_id, message in summary.first_errors[:5]:
        click.echo(f"  {material_id}: {message}")


def _record_exclusions(path: Path, rows: list[tuple[str, str, str]]) -> None:
    """Add ``rows`` (id, formula, matching file) to the exclusion list at ``path``, keeping what earlier
    runs into the same folder recorded (one row per id; this run's wins), sorted by id."""
    merged: dict[str, tuple[str, str, str]] = {}
    if path.exists():
        with open(path, newline="") as handle:
            for row in csv.DictReader(handle):
                merged[row["id"]] = (row["id"], row["formula"], row["matches"])
    merged.update({row[0]: row for row in rows})
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "formula", "matches"])
        writer.writerows(merged[key] for key in sorted(merged))
    tmp.replace(path)
