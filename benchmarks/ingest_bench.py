"""Ingest benchmark: read + normalize + regrid of a 128³ CHGCAR against pymatgen's parse alone.

Usage::

    python benchmarks/ingest_bench.py [--grid 128] [--repeats 7] [--target 32]

Writes one 128³ CHGCAR (plain and .gz) with pymatgen's own writer into a temporary folder, then
times, interleaved in one process, per repeat:

* ``pymatgen``: ``Chgcar.from_file`` (parse only);
* ``screener``: ``read_density`` (read, hash, parse, validate, ÷V) + ``regrid`` to the model grid.

Prints medians and the ratios. Goals (issue 2): plain ≤ 1.5× pymatgen; .gz ≥ 2× faster than
pymatgen's own gzip path.
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np


def make_file(folder: Path, n: int) -> Path:
    from pymatgen.core import Lattice, Structure
    from pymatgen.io.vasp import Chgcar, Poscar

    structure = Structure(Lattice.cubic(5.64), ["Na"] * 4 + ["Cl"] * 4,
                          [[0, 0, 0], [0, .5, .5], [.5, 0, .5], [.5, .5, 0],
                           [.5, .5, .5], [.5, 0, 0], [0, .5, 0], [0, 0, .5]])
    axis = np.arange(n) / n
    x, y, z = np.meshgrid(axis, axis, axis, indexing="ij")
    values = 1.0 + 0.5 * np.cos(2 * np.pi * 2 * x) * np.cos(2 * np.pi * 2 * y) * np.cos(2 * np.pi * 2 * z)
    values *= 32.0 / values.mean()
    path = folder / "CHGCAR"
    Chgcar(Poscar(structure), {"total": values}).write_file(str(path))
    (folder / "CHGCAR.gz").write_bytes(gzip.compress(path.read_bytes(), compresslevel=6))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--grid", type=int, default=128)
    parser.add_argument("--target", type=int, default=32, help="model grid to regrid to")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()

    import torch
    from pymatgen.io.vasp import Chgcar

    from screener.config import RegridConfig
    from screener.grid.resample import regrid
    from screener.io.reading import read_density

    torch.set_num_threads(max(1, torch.get_num_threads()))
    with tempfile.TemporaryDirectory() as tmp:
        plain = make_file(Path(tmp), args.grid)
        packed = plain.with_name("CHGCAR.gz")
        print(f"file: {args.grid}³ CHGCAR, plain {plain.stat().st_size / 1e6:.1f} MB, gz {packed.stat().st_size / 1e6:.1f} MB")
        configs = {f"regrid→{args.target}": RegridConfig(grid=args.target), f"regrid→{args.grid}": RegridConfig(grid=args.grid)}
        timings: dict[str, list[float]] = {}

        def timed(label: str, fn) -> None:
            start = time.perf_counter()
            fn()
            timings.setdefault(label, []).append(time.perf_counter() - start)

        # warm-up (imports, allocator)
        Chgcar.from_file(str(plain))
        read_density(plain)
        for _ in range(args.repeats):
            for path, kind in ((plain, "plain"), (packed, "gz")):
                timed(f"{kind} pymatgen Chgcar.from_file", lambda p=path: Chgcar.from_file(str(p)))
                timed(f"{kind} screener read_density", lambda p=path: read_density(p))
                for name, config in configs.items():
                    timed(f"{kind} screener read_density+{name}",
                          lambda p=path, c=config: regrid(read_density(p).rho, config=c))
        medians = {label: statistics.median(values) for label, values in timings.items()}
        for label, value in medians.items():
            print(f"{label:50s} median {value * 1000:8.1f} ms  (n={len(timings[label])})")
        for kind in ("plain", "gz"):
            base = medians[f"{kind} pymatgen Chgcar.from_file"]
            for label, value in medians.items():
                if label.startswith(kind) and "screener" in label:
                    print(f"ratio {label} / pymatgen {kind}: {value / base:.2f}")


if __name__ == "__main__":
    main()
