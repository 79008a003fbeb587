"""Peak memory of reading hostile files, against a well-formed file of the same declared grid.

Each case is read by ``screener.io.reading.read_density`` in a fresh Python process that first
imports everything and reads a tiny plain and a tiny gzip file (the fixed overhead: Python, numpy,
pymatgen, pyarrow); its peak
resident memory (``VmHWM``, reset through ``/proc/self/clear_refs``) is then reported above the
resident size before the read. Linux only.

    python benchmarks/hostile_bench.py --grid 128 --bomb-mb 256

Cases: a well-formed CHGCAR (plain and gzip); one newline-free line of ``0.0 `` far beyond the
grid (gzip, bzip2, xz: a few MB compressed); the same gzip with a trailer claiming 4 GiB; the
same endless line as a plain file, and as a gzip of stored (uncompressed) blocks (as large as the
plain file, and just under the size up to which a compressed file was read whole before every
compressed file was streamed); a symlink to /dev/zero.
"""

from __future__ import annotations

import argparse
import bz2
import gzip
import json
import lzma
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from screener.config import ReadLimits

CHILD = r"""
import json, sys, time
from screener.io.reading import read_density
from screener.errors import InputError

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1])

for warm_up in sys.argv[2:]:  # a tiny plain and gzip file: imports (pyarrow's ~25 MB too), parser, buffers
    read_density(warm_up)
with open("/proc/self/clear_refs", "w") as handle:
    handle.write("5")  # reset the peak (VmHWM) to the current resident size
base = status("VmRSS:")
start = time.perf_counter()
try:
    read_density(sys.argv[1]); outcome = "read"
except InputError as exc:
    outcome = exc.reason
print(json.dumps({"base_kb": base, "peak_kb": status("VmHWM:"), "seconds": time.perf_counter() - start, "outcome": outcome}))
"""


def _write_valid(path: Path, n: int) -> None:
    import numpy as np
    from pymatgen.core import Lattice, Structure
    from pymatgen.io.vasp import Chgcar, Poscar

    structure = Structure(Lattice.cubic(5.6), ["Na", "Cl"] * 4, np.random.default_rng(0).random((8, 3)))
    data = np.random.default_rng(1).random((n, n, n)) + 0.1
    Chgcar(Poscar(structure), {"total": data * 64 / data.mean()}).write_file(str(path))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--grid", type=int, default=128, help="declared grid points per axis")
    parser.add_argument("--bomb-mb", type=int, default=256, help="MB of the endless line (decompressed)")
    args = parser.parse_args()
    n = args.grid
    limits = ReadLimits()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        valid = tmp / "valid" / "CHGCAR"
        valid.parent.mkdir()
        _write_valid(valid, n)
        text = valid.read_bytes()
        header = text[: text.index(f"{n}   {n}   {n}".encode()) + len(f"{n}   {n}   {n}\n")]
        tiny = tmp / "tiny" / "CHGCAR"
        tiny.parent.mkdir()
        _write_valid(tiny, 4)
        tiny_gz = tmp / "tiny-gz" / "CHGCAR.gz"
        tiny_gz.parent.mkdir()
        tiny_gz.write_bytes(gzip.compress(tiny.read_bytes()))
        cases: dict[str, Path] = {"well-formed, plain": valid}
        gz = tmp / "valid.gz" / "CHGCAR.gz"
        gz.parent.mkdir()
        gz.write_bytes(gzip.compress(text, 6))
        cases["well-formed, gzip"] = gz
        line = b"0.0 " * (1 << 18)  # 1 MiB
        for codec, suffix, opener in (("gzip", "gz", gzip.open), ("bzip2", "bz2", bz2.open), ("xz", "xz", lzma.open)):
            path = tmp / f"bomb-{codec}" / f"CHGCAR.{suffix}"
            path.parent.mkdir()
            with opener(path, "wb") as handle:
                handle.write(header)
                for _ in range(args.bomb_mb):
                    handle.write(line)
            cases[f"endless line, {args.bomb_mb} MB as {codec} ({path.stat().st_size / 1e6:.1f} MB)"] = path
        liar = tmp / "liar" / "CHGCAR.gz"
        liar.parent.mkdir()
        packed = bytearray((tmp / "bomb-gzip" / "CHGCAR.gz").read_bytes())
        packed[-4:] = (0xFFFFFFF0).to_bytes(4, "little")
        liar.write_bytes(bytes(packed))
        cases["endless line, gzip trailer claiming 4 GiB"] = liar
        plain = tmp / "plain-line" / "CHGCAR"
        plain.parent.mkdir()
        with open(plain, "wb") as handle:
            handle.write(header)
            for _ in range(min(args.bomb_mb, 256)):
                handle.write(line)
        cases[f"endless line, plain ({plain.stat().st_size / 1e6:.0f} MB)"] = plain
        stored = tmp / "stored-gzip" / "CHGCAR.gz"
        stored.parent.mkdir()
        with gzip.open(stored, "wb", compresslevel=0) as handle:  # stored blocks: as large as the text
            handle.write(header)
            for _ in range(min(args.bomb_mb, 256)):
                handle.write(line)
        cases[f"endless line, gzip of stored blocks ({stored.stat().st_size / 1e6:.0f} MB)"] = stored
        # the largest compressed file read whole before every compressed file was streamed (issue 11):
        # half of one block's text
        whole = (n**3 * limits.max_bytes_per_value + limits.header_bytes // 8) // 2 - len(header) - (1 << 20)
        near = tmp / "stored-gzip-whole" / "CHGCAR.gz"
        near.parent.mkdir()
        with gzip.open(near, "wb", compresslevel=0) as handle:
            handle.write(header)
            for _ in range(whole >> 20):
                handle.write(line)
        cases[f"endless line, gzip of stored blocks ({near.stat().st_size / 1e6:.0f} MB, formerly read whole)"] = near
        zero = tmp / "zero" / "CHGCAR"
        zero.parent.mkdir()
        zero.symlink_to("/dev/zero")
        cases["symlink to /dev/zero"] = zero

        grid_mb = 8 * n**3 / 1e6
        print(f"declared grid {n}³: float64 grid {grid_mb:.1f} MB; peak = extra resident memory of the read")
        print(f"| case | extra peak (MB) | × float64 grid | seconds | outcome |\n|---|---:|---:|---:|---|")
        for name, path in cases.items():
            result = subprocess.run([sys.executable, "-c", CHILD, str(path), str(tiny), str(tiny_gz)], capture_output=True, text=True,
                                    env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=600)  # fmt: skip
            if result.returncode:
                print(f"| {name} | failed: {result.stderr[-300:]} |")
                continue
            row = json.loads(result.stdout.strip().splitlines()[-1])
            extra = (row["peak_kb"] - row["base_kb"]) * 1024 / 1e6
            print(f"| {name} | {extra:.1f} | {extra / grid_mb:.2f} | {row['seconds']:.2f} | {row['outcome'][:70]} |")


if __name__ == "__main__":
    main()
