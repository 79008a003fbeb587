"""How well do synthetic procrystal densities match real VASP charge densities?

For every volumetric density file in ``shared/data/chgcar`` this computes model densities of the file's
own structure on the file's own grid and reports their Pearson correlation with the file's total
density over all grid points:

* ``r pseudo``: :func:`screener.synth.procrystal_density`, the band-limited pseudo-valence model that
  ``screener synth`` writes (meant for CHGCAR/CHG files);
* ``r all-electron``: :func:`screener.synth.allelectron_density`, point-sampled LDA-atom densities
  (valence for AECCAR1/AECCAR2, core for AECCAR0, core + valence for the Fe3O4 reference).

Valence densities are scaled to the file's own electron count, with valences chosen by
:func:`screener.synth.valence.match_valence` (the runs did not all use the Materials Project POTCARs).
The model meant for each kind of file is marked in bold in the table. It also times CHGCAR writing.

Usage::

    python benchmarks/procrystal_correlation.py                 # table to stdout
    python benchmarks/procrystal_correlation.py --markdown out.md --json out.json
    python benchmarks/procrystal_correlation.py --data /path/to/chgcar
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "chgcar"
BOHR = 0.529177210903


@dataclass
class Row:
    file: str
    group: str
    formula: str
    grid: str
    file_electrons: float
    mp_default_electrons: float
    valence_used: str
    r_pseudo: float | None
    r_allelectron: float | None
    model: str
    note: str = ""

    @property
    def r(self) -> float | None:
        """r of the model meant for this kind of file."""
        return self.r_pseudo if self.model == "pseudo" else self.r_allelectron


def classify(name: str) -> tuple[str, str, str]:
    """(group, model, note) of a data file from its name; model is pseudo, ae-valence, ae-core or ae-total."""
    low = name.lower()
    if "locpot" in low or "elfcar" in low:
        return "not a density", "", "potential / electron localization function: refused, not compared"
    if "aeccar0" in low:
        return "all-electron core", "ae-core", "AECCAR0: core density"
    if "fe3o4_ref" in low:
        return "all-electron total", "ae-total", "pymatgen Bader reference: all-electron sum (395 e), not a valence CHGCAR"
    if "cp2k" in low:
        return "other code", "pseudo", "CP2K GPW cube (GTH pseudopotentials, Cr q14, O q6)"
    if "aeccar2" in low:
        return "all-electron valence", "ae-valence", "AECCAR2: all-electron valence density"
    if "aeccar1" in low:
        return "all-electron valence", "ae-valence", "AECCAR1: superposed atomic all-electron valence densities"
    return "pseudo", "pseudo", ""


def load(path: Path):
    """(structure, rho in e/Å³) of a VASP volumetric file or a Gaussian cube file."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if ".cube" in path.name:
            from pymatgen.io.common import VolumetricData

            vol = VolumetricData.from_cube(str(path))
            return vol.structure, np.asarray(vol.data["total"], dtype=np.float64) / BOHR**3
        from pymatgen.io.vasp import Chgcar

        chg = Chgcar.from_file(str(path))
        return chg.structure, np.asarray(chg.data["total"], dtype=np.float64) / chg.structure.lattice.volume


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    a = a.ravel() - a.mean()
    b = b.ravel() - b.mean()
    return float(a @ b / np.sqrt((a @ a) * (b @ b)))


def correlate(path: Path) -> Row:
    from screener.synth.procrystal import allelectron_density, procrystal_density
    from screener.synth.valence import default_valence, match_valence

    group, model, note = classify(path.name)
    structure, rho = load(path)
    counts: dict[str, float] = {}
    for site in structure:
        counts[site.specie.symbol] = counts.get(site.specie.symbol, 0) + 1
    n_file = float(rho.mean() * structure.lattice.volume)
    mp_default = sum(n * default_valence(el) for el, n in counts.items())
    if model in ("ae-core", "ae-total"):
        # grid means of core densities overestimate wildly (sampled 1s cusps): keep MP default valences
        valence = {el: default_valence(el) for el in counts}
        n_scale = None
    else:
        valence = match_valence(counts, n_file)
        n_scale = n_file
    pseudo = procrystal_density(structure, rho.shape, n_electrons=n_scale, valence=valence)
    part = {"ae-core": "core", "ae-total": "total"}.get(model, "valence")
    allel = allelectron_density(structure, rho.shape, part=part, n_electrons=n_scale, valence=valence)
    return Row(
        file=path.name,
        group=group,
        formula=structure.composition.formula.replace(" ", ""),
        grid="x".join(str(n) for n in rho.shape),
        file_electrons=round(n_file, 3),
        mp_default_electrons=round(mp_default, 3),
        valence_used=" ".join(f"{el}:{z:g}" for el, z in sorted(valence.items())),
        r_pseudo=round(pearson(pseudo, rho), 4),
        r_allelectron=round(pearson(allel, rho), 4),
        model=model,
        note=note,
    )


def write_speed(*, values: int = 1_000_000, digits: int = 11) -> dict[str, float]:
    """Seconds per million values: formatting alone, and a whole CHGCAR (100³ grid) written to disk."""
    from pymatgen.core import Lattice, Structure

    from screener.io.chgcar_writer import format_fortran_e, write_chgcar
    from screener.synth.procrystal import procrystal_density

    rng = np.random.default_rng(0)
    data = rng.lognormal(-3.0, 2.0, values) * rng.choice([-1.0, 1.0], values, p=[0.05, 0.95])
    format_fortran_e(data[:1000], significant_digits=digits)
    t0 = time.perf_counter()
    for _ in range(3):
        format_fortran_e(data, significant_digits=digits)
    fmt = (time.perf_counter() - t0) / 3 * 1e6 / values
    structure = Structure(Lattice.cubic(7.0), ["Si"] * 8, [[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0], [0.25] * 3, [0.25, 0.75, 0.75], [0.75, 0.25, 0.75], [0.75, 0.75, 0.25]])
    grid = (100, 100, 100)
    t0 = time.perf_counter()
    rho = procrystal_density(structure, grid)
    density_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        write_chgcar(Path(tmp) / "CHGCAR", structure, rho, significant_digits=digits)
        write_s = time.perf_counter() - t0
    return {
        "format_s_per_million": round(fmt, 4),
        "write_chgcar_100cubed_s": round(write_s, 4),
        "write_s_per_million": round(write_s / rho.size * 1e6, 4),
        "density_100cubed_8_atoms_s": round(density_s, 4),
    }


GROUPS = ("pseudo", "all-electron valence", "all-electron core", "all-electron total", "other code", "not a density")


def markdown(rows: list[Row], speed: dict[str, float], command: str) -> str:
    out = [f"Command: `{command}`", ""]
    for group in GROUPS:
        sub = [r for r in rows if r.group == group]
        if not sub:
            continue
        out += [f"### {group}", ""]
        if group == "not a density":
            out += [f"- {r.file}: {r.note}" for r in sub] + [""]
            continue
        out += [
            "| file | formula | grid | file e⁻ | MP-default e⁻ | valences used | r pseudo | r all-electron | note |",
            "|---|---|---|---:|---:|---|---:|---:|---|",
        ]
        for r in sub:
            cells = []
            for value, kind in ((r.r_pseudo, r.model == "pseudo"), (r.r_allelectron, r.model != "pseudo")):
                text = "—" if value is None else f"{value:.3f}"
                cells.append(f"**{text}**" if kind else text)
            out.append(
                f"| {r.file} | {r.formula} | {r.grid} | {r.file_electrons:g} | {r.mp_default_electrons:g} | {r.valence_used} | {cells[0]} | {cells[1]} | {r.note} |"
            )
        vals = [r.r for r in sub if r.r is not None]
        if vals:
            out += ["", f"min r (bold column) = {min(vals):.3f}, median = {float(np.median(vals)):.3f} over {len(vals)} files", ""]
    if speed:
        out += ["### write speed", "", "| measure | value |", "|---|---:|"]
        out += [f"| {k} | {v} |" for k, v in speed.items()]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of real density files")
    parser.add_argument("--markdown", type=Path, help="write the tables here")
    parser.add_argument("--json", type=Path, help="write rows and timings here")
    parser.add_argument("--no-speed", action="store_true", help="skip the write-speed measurement")
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        print(f"data folder not found: {args.data}", file=sys.stderr)
        return 2
    rows = []
    for path in sorted(p for p in args.data.iterdir() if p.is_file()):
        group, model, note = classify(path.name)
        if not model:
            rows.append(Row(path.name, group, "", "", float("nan"), float("nan"), "", None, None, model, note))
            continue
        t0 = time.perf_counter()
        row = correlate(path)
        rows.append(row)
        print(
            f"{row.group:21s} {row.file:42s} {row.formula:11s} {row.grid:9s} e={row.file_electrons:8.2f} "
            f"mp={row.mp_default_electrons:6.1f} r_pseudo={row.r_pseudo:6.3f} r_ae={row.r_allelectron:6.3f} "
            f"[{row.model}] ({time.perf_counter() - t0:.1f} s)"
        )
    speed = {} if args.no_speed else write_speed()
    if speed:
        print(json.dumps(speed, indent=2))
    command = "python benchmarks/procrystal_correlation.py " + " ".join(sys.argv[1:] if argv is None else argv)
    if args.markdown:
        args.markdown.write_text(markdown(rows, speed, command.strip()))
    if args.json:
        args.json.write_text(json.dumps({"rows": [asdict(r) | {"r": r.r} for r in rows], "speed": speed}, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
