"""Where the read stage spends its time per file: parsing, the canonical frame, the rest of the row.

For each file: ``read_density`` (parse), ``canonical_transform`` alone (spglib, the origin search and
the tie-breaking probes of frame version 2) and ``density_row`` (descriptors, partition move and the
canonical transform together), medians of ``--repeats`` passes. A 128³ procrystal of Si (0.04 Å
spacing, written as a CHGCAR) is always included, since VASP grids of that size are common.

    python benchmarks/frame_cost.py [FILES ...] [--repeats 5] [--work /tmp/frame-cost]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path


def _median_seconds(action, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def silicon_128(work: Path) -> Path:
    from pymatgen.core import Lattice, Structure

    from screener.io.chgcar_writer import write_chgcar
    from screener.synth.procrystal import procrystal_density

    path = work / "Si_128" / "CHGCAR"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        a = 5.468
        structure = Structure(Lattice([[0, a / 2, a / 2], [a / 2, 0, a / 2], [a / 2, a / 2, 0]]), ["Si", "Si"], [[0, 0, 0], [0.25, 0.25, 0.25]])
        write_chgcar(path, structure, procrystal_density(structure, (128, 128, 128)))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="*", help="density files (CHGCAR, CHG, cube, gzip)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--work", default="/tmp/frame-cost")
    args = parser.parse_args()

    from screener.grid.canonical import FRAME_VERSION, canonical_transform
    from screener.io.reading import read_density
    from screener.screening.stages import density_row

    work = Path(args.work)
    files = [silicon_128(work), *map(Path, args.files)]
    print(f"canonical frame version {FRAME_VERSION}; medians of {args.repeats} passes, seconds\n")
    print("| file | grid | parse | canonical frame | whole row (descriptors, partition, frame) | frame share of parse + row |")
    print("|---|---|---:|---:|---:|---:|")
    for path in files:
        record = read_density(str(path))
        parse = _median_seconds(lambda: read_density(str(path)), args.repeats)
        frame = _median_seconds(lambda: canonical_transform(record.structure, record.rho), args.repeats)
        row = _median_seconds(
            lambda: density_row(record.structure, record.rho, name=record.name, path=str(path), file_id=record.sha256,
                                n_electrons=record.n_electrons, volume=record.volume),
            args.repeats,
        )  # fmt: skip
        shape = "×".join(map(str, record.rho.shape))
        print(f"| {path.parent.name}/{path.name} | {shape} | {parse:.3f} | {frame:.3f} | {row:.3f} | {frame / (parse + row):.0%} |")


if __name__ == "__main__":
    main()
