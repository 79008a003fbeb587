"""Hostile inputs: special files, decompression and tokenizer bombs, cut-short values, lying headers.

Each case must end in an ``InputError`` naming the file, in milliseconds to seconds, with memory
bounded by the declared grid (tracemalloc sees numpy, zlib/bz2/lzma output and Python objects).
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import socket
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from screener.config import ReadLimits
from screener.errors import InputError
from screener.io.discovery import discover
from screener.io.reading import electron_count_warning, read_density

from ..conftest import tiny_structure, write_tiny_chgcar

GRID = (32, 32, 32)  # declared by the bombs: 32768 points, 256 KiB as float64


def _header(grid=GRID) -> bytes:
    from pymatgen.io.vasp import Poscar

    return (Poscar(tiny_structure()).get_str() + "\n" + " ".join(map(str, grid)) + "\n").encode()


def _measure(path: Path, **kwargs) -> tuple[InputError, float, int]:
    tracemalloc.start()
    start = time.perf_counter()
    with pytest.raises(InputError) as info:
        read_density(path, **kwargs)
    elapsed = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert str(path) in str(info.value)
    return info.value, elapsed, peak


# --- only regular files -----------------------------------------------------------------------


def _special_files(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    fifo = tmp_path / "fifo" / "CHGCAR"
    fifo.parent.mkdir()
    os.mkfifo(fifo)
    zero = tmp_path / "zero" / "CHGCAR"
    zero.parent.mkdir()
    zero.symlink_to("/dev/zero")
    urandom = tmp_path / "urandom" / "CHGCAR.gz"
    urandom.parent.mkdir()
    urandom.symlink_to("/dev/urandom")
    folder = tmp_path / "folder" / "CHGCAR"
    folder.mkdir(parents=True)
    sock_path = tmp_path / "sock" / "CHGCAR"
    sock_path.parent.mkdir()
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(sock_path))
    return {
        "fifo": (fifo, "FIFO"),
        "/dev/zero": (zero, "character device"),
        "/dev/urandom": (urandom, "character device"),
        "directory": (folder, "directory"),
        "socket": (sock_path, "socket"),
    }


def test_special_files_are_refused_at_once(tmp_path: Path) -> None:
    for case, (path, kind) in _special_files(tmp_path).items():
        start = time.perf_counter()
        with pytest.raises(InputError, match=f"not a regular file: {kind}") as info:
            read_density(path)
        assert time.perf_counter() - start < 0.5, case
        assert str(path) in str(info.value)


def test_discovery_never_opens_a_fifo(tmp_path: Path) -> None:
    """A FIFO given as an input (which could be a path list) or found in a folder never blocks."""
    specials = _special_files(tmp_path)
    start = time.perf_counter()
    found = discover([tmp_path, specials["fifo"][0]])
    assert time.perf_counter() - start < 1
    assert str(specials["fifo"][0]) in {f.path for f in found}  # listed, then refused by the reader


# --- bombs ------------------------------------------------------------------------------------


def _endless_line(megabytes: int) -> bytes:
    return _header() + b"0.0 " * (megabytes * (1 << 18))


@pytest.mark.parametrize("codec", ["gzip", "bzip2", "xz"])
def test_compressed_bombs_stop_within_the_declared_grid(tmp_path: Path, codec: str) -> None:
    """16 MB of one newline-free line of zeros under a 32³ grid, compressed to a few dozen KB."""
    compress = {"gzip": gzip.compress, "bzip2": bz2.compress, "xz": lzma.compress}[codec]
    path = tmp_path / f"CHGCAR.{ {'gzip': 'gz', 'bzip2': 'bz2', 'xz': 'xz'}[codec] }"
    path.write_bytes(compress(_endless_line(16)))
    assert path.stat().st_size < 1_000_000
    error, elapsed, peak = _measure(path)
    assert "too many values" in error.reason or "decompresses to more than" in error.reason
    assert peak < 3 * 8 * np.prod(GRID) + 24_000_000, f"peak {peak:,} bytes"
    assert elapsed < 5


def test_gzip_trailer_cannot_buy_a_large_buffer(tmp_path: Path) -> None:
    """A gzip whose trailer claims 4 GiB (ISIZE) is streamed, not inflated into a buffer of that size."""
    packed = bytearray(gzip.compress(_endless_line(16)))
    packed[-4:] = (0xFFFFFFF0).to_bytes(4, "little")
    path = tmp_path / "CHGCAR.gz"
    path.write_bytes(bytes(packed))
    _, _, peak = _measure(path)
    assert peak < 24_000_000


#: the bound of issue 11: 3× the declared grid's float64 values plus a fixed overhead (buffers of
#: a few MiB: the value parser's 1 MiB reads, the hash's 1 MiB chunks, an inflate window), bytes.
BOUND = 3 * 8 * int(np.prod(GRID)) + 8_000_000


def test_plain_endless_line_is_streamed_not_held(tmp_path: Path) -> None:
    """24 MB of one endless line under a 32³ grid (well within what the grid allows a plain file):
    streamed and hashed in chunks, so it costs the declared grid, not its bytes, and is never split
    into tokens."""
    path = tmp_path / "CHGCAR"
    path.write_bytes(_endless_line(24))
    assert path.stat().st_size > 2 * BOUND
    error, elapsed, peak = _measure(path, limits=ReadLimits())
    assert "too many values" in error.reason
    assert peak < BOUND and elapsed < 2, f"peak {peak:,} bytes"


def test_stored_gzip_endless_line_is_streamed_from_disk(tmp_path: Path) -> None:
    """The same line as a gzip of stored (uncompressed) blocks: as large as the plain file, so it is
    inflated from disk as a stream rather than read into memory first."""
    path = tmp_path / "CHGCAR.gz"
    path.write_bytes(gzip.compress(_endless_line(24), compresslevel=0))
    assert path.stat().st_size > 2 * BOUND
    error, _, peak = _measure(path)
    assert "too many values" in error.reason or "decompresses to more than" in error.reason
    assert peak < BOUND, f"peak {peak:,} bytes"


_PEAK_CHILD = r"""
import json, sys
from screener.io.reading import read_density

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) * 1024

for warm_up in sys.argv[2:]:  # imports, first-read allocations
    read_density(warm_up)
with open("/proc/self/clear_refs", "w") as handle:
    handle.write("5")  # reset the peak resident size (VmHWM) to the current one
base = status("VmRSS:")
record = read_density(sys.argv[1])
print(json.dumps({"extra": status("VmHWM:") - base, "shape": list(record.rho.shape)}))
"""


@pytest.mark.skipif(not os.access("/proc/self/clear_refs", os.W_OK), reason="needs Linux's /proc/self/clear_refs")
def test_well_formed_gzip_costs_its_grid_not_its_text(tmp_path: Path) -> None:
    """A well-formed gzip CHGCAR of a 96³ grid (16 MB of text, 7 MB as float64) is inflated as a
    stream, not held whole: its peak resident memory (everything, also what tracemalloc does not
    see, such as a native inflate buffer) stays within 3× its float64 grid plus a few MB. Holding
    its text whole (the former one-call gzip inflate) cost about 5×."""
    import json
    import subprocess
    import sys

    grid = (96, 96, 96)
    plain = tmp_path / "plain" / "CHGCAR"
    plain.parent.mkdir()
    write_tiny_chgcar(plain, grid=grid)
    packed = tmp_path / "CHGCAR.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes(), compresslevel=6))
    text_bytes = plain.stat().st_size
    tiny = tmp_path / "tiny" / "CHGCAR"
    tiny.parent.mkdir()
    write_tiny_chgcar(tiny)
    tiny_gz = tmp_path / "tiny" / "CHGCAR.gz"
    tiny_gz.write_bytes(gzip.compress(tiny.read_bytes()))
    result = subprocess.run(
        [sys.executable, "-c", _PEAK_CHILD, str(packed), str(tiny), str(tiny_gz)],
        capture_output=True, text=True, timeout=120, check=True,
    )
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    assert measured["shape"] == list(grid)
    float64_grid = 8 * int(np.prod(grid))
    bound = 3 * float64_grid + 8_000_000
    held_whole = packed.stat().st_size + text_bytes + float64_grid * 3 // 2  # bytes, text, float64, float32
    assert held_whole > bound  # what the former one-call inflate held would not fit
    assert measured["extra"] < bound, f"peak {measured['extra']:,} bytes, bound {bound:,}"


def test_screening_stage_streams_a_plain_bomb_into_one_error_row(tmp_path: Path, monkeypatch) -> None:
    """Through the screening stage: one error row naming the problem, the file's id hashed in
    chunks, and the same bounded memory (no whole-file read for the id either)."""
    import hashlib
    import threading

    from screener.io import buffers
    from screener.screening.stages import read_one

    monkeypatch.setattr(buffers, "_reusable", threading.local())  # no read buffer left by an earlier test
    path = tmp_path / "bomb" / "CHGCAR"
    path.parent.mkdir()
    path.write_bytes(_endless_line(24))
    expected_id = hashlib.sha256(path.read_bytes()).hexdigest()
    for resuming in (frozenset(), frozenset({"0" * 64})):
        tracemalloc.start()
        row = read_one(str(path), str(tmp_path), limits=ReadLimits(), skip_ids=resuming)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert row["status"] == "error" and "too many values" in row["message"] and row["path"] == str(path)
        assert row["id"] == expected_id
        assert peak < BOUND, f"peak {peak:,} bytes"


def test_a_file_that_grows_or_changes_while_it_is_streamed_is_refused(tmp_path: Path) -> None:
    from screener.io.buffers import RegularFile

    path = tmp_path / "CHGCAR"
    path.write_bytes(b"0.5 " * 1000)
    with RegularFile(path) as file:
        with pytest.raises(InputError, match="grew beyond 100 bytes"):
            file.stream(max_bytes=100).read(1000)
        file.check_unchanged()
        with open(path, "ab") as handle:
            handle.write(b"0.5 ")
        with pytest.raises(InputError, match="changed while it was read"):
            file.check_unchanged()


def test_file_larger_than_its_declared_grid_can_need(tmp_path: Path) -> None:
    path = tmp_path / "CHGCAR"
    limits = ReadLimits(header_bytes=1 << 16)
    path.write_bytes(_header((4, 4, 4)) + b" 0.1" * (1 << 16))
    error, _, _ = _measure(path, limits=limits)
    assert "larger than its declared grid" in error.reason


def test_file_larger_than_any_density_is_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "CHGCAR"
    with open(path, "wb") as handle:  # sparse: costs no disk
        handle.truncate(10 * 1024**3)
    limits = ReadLimits(max_grid_points=64**3)
    error, elapsed, peak = _measure(path, limits=limits)
    assert "larger than any accepted density" in error.reason and elapsed < 0.5 and peak < 1_000_000


# --- honest small things ----------------------------------------------------------------------


def test_cut_short_last_value_is_a_truncation(tmp_path: Path) -> None:
    write_tiny_chgcar(tmp_path / "CHGCAR", grid=(4, 4, 4))
    text = (tmp_path / "CHGCAR").read_text()
    body_end = text.index("augmentation") if "augmentation" in text else len(text)
    values = text[:body_end].rstrip()
    last = values.split()[-1]
    cut = tmp_path / "cut" / "CHGCAR"
    cut.parent.mkdir()
    cut.write_text(values[: -len(last)] + last[:4] + "\n")
    with pytest.raises(InputError, match="cut short"):
        read_density(cut)
    read_density(tmp_path / "CHGCAR")  # the whole file is fine


def test_header_counting_more_atoms_than_it_lists(tmp_path: Path) -> None:
    from pymatgen.io.vasp import Poscar

    lines = Poscar(tiny_structure()).get_str().splitlines()
    counts = next(i for i, line in enumerate(lines) if line.split() == ["1", "1"])
    lines[counts] = "1 10000000"
    path = tmp_path / "CHGCAR"
    path.write_text("\n".join(lines) + "\n\n2 2 2\n" + " 0.1" * 8 + "\n")
    with pytest.raises(InputError, match="counts 10,000,001 atoms but lists 2 coordinate lines"):
        read_density(path)


def test_header_longer_than_the_first_read_is_read(tmp_path: Path, monkeypatch) -> None:
    """A header longer than the first bytes read (1 MiB: a cell of about 20,000 atoms; 4 KiB here, to
    keep the test fast) is read with a longer head, not reported as a file that ends inside it."""
    from pymatgen.core import Lattice, Structure
    from pymatgen.io.vasp import Poscar

    from screener.io import reading

    monkeypatch.setattr(reading, "_HEADER_BYTES", 4096)
    rng = np.random.default_rng(0)
    structure = Structure(Lattice.cubic(20.0), ["H"] * 200, rng.random((200, 3)))
    header = Poscar(structure).get_str()
    assert len(header) > 4096
    path = tmp_path / "CHGCAR"
    path.write_text(header + "\n2 2 2\n" + " 0.25000000000E+04" * 8 + "\n")
    record = read_density(path)
    assert len(record.structure) == 200 and record.grid == (2, 2, 2)


def test_non_integer_valence_count_is_a_warning(tmp_path: Path) -> None:
    write_tiny_chgcar(tmp_path / "CHGCAR", electrons=8.0)
    assert electron_count_warning(read_density(tmp_path / "CHGCAR")) is None
    (tmp_path / "b").mkdir()
    write_tiny_chgcar(tmp_path / "b" / "CHGCAR", electrons=5.9964)
    warning = electron_count_warning(read_density(tmp_path / "b" / "CHGCAR"))
    assert warning and "5.996400" in warning
