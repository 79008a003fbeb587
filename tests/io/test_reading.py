"""Reading CHGCAR-family and cube files: real files, every variant, and a corpus of broken inputs."""

from __future__ import annotations

import bz2
import gzip
import lzma
import shutil
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from screener.config import BOHR_TO_ANGSTROM, ReadLimits
from screener.errors import InputError
from screener.io.naming import record_name
from screener.io.reading import read_density

from ..conftest import CHGCAR_DIR, write_tiny_chgcar

DENSITY_FILES = sorted(
    p.name for p in CHGCAR_DIR.glob("*") if CHGCAR_DIR.exists() and "LOCPOT" not in p.name and "ELFCAR" not in p.name
)
NOT_DENSITY_FILES = sorted(
    p.name for p in CHGCAR_DIR.glob("*") if CHGCAR_DIR.exists() and ("LOCPOT" in p.name or "ELFCAR" in p.name)
)


# --- real files -------------------------------------------------------------------------------


@pytest.mark.parametrize("filename", DENSITY_FILES or ["(no shared data)"])
def test_real_file_electron_count_matches_pymatgen(chgcar_dir: Path, filename: str) -> None:
    """n_electrons equals ∫ρ dV of the file's total density, computed independently by pymatgen."""
    from pymatgen.io.common import VolumetricData
    from pymatgen.io.vasp import Chgcar

    path = chgcar_dir / filename
    record = read_density(path)
    if ".cube" in filename:
        reference = VolumetricData.from_cube(str(path))
        # pymatgen keeps the cube's e/bohr³ values: integral = mean · V_bohr
        # (pymatgen's bohr constant differs from CODATA 2018 in the 7th digit)
        expected = reference.data["total"].mean() * reference.structure.volume / BOHR_TO_ANGSTROM**3
        tolerance = 1e-6
    else:
        reference = Chgcar.from_file(str(path))
        expected = reference.data["total"].mean()
        tolerance = 1e-9
        keys = set(reference.data)
        assert record.spin == ("noncollinear" if "diff_x" in keys else "collinear" if "diff" in keys else "none")
    assert record.n_electrons == pytest.approx(expected, rel=tolerance)
    # ρ is in e/Å³: its mean times the cell volume is the electron count
    assert float(record.rho.astype(np.float64).mean()) * record.volume == pytest.approx(record.n_electrons, rel=1e-6)
    assert record.rho.dtype == np.float32 and record.rho.shape == record.grid


def test_real_files_known_counts_and_formats(chgcar_dir: Path) -> None:
    """Spot checks against ../shared/data/SOURCES.md: valence counts, formats, spin and grids."""
    cases = {
        "pymatgen_chargemol_NaCl_CHGCAR.gz": ("chgcar", "none", (56, 56, 56), 8.0),
        "atomate_Si_static_CHG.gz": ("chg", "collinear", (60, 60, 60), 8.0),
        "atomate_YMgPO4_AECCAR2.gz": ("aeccar2", "none", (70, 70, 42), 96.38),
        "pydefect_NaMgF3_CHG": ("chg", "none", (40, 56, 40), 96.0),
        "pymatgen_CHGCAR.nospin.recompressed.bz2": ("chgcar", "none", (32, 32, 32), 1.0),
        "baderkit_Ca2N_CHGCAR.cube": ("cube", "none", (60, 60, 60), 25.0),
        "pymatgen_bader_cp2k_elec.cube.gz": ("cube", "none", (23, 23, 24), 89.21),
    }
    for filename, (fmt, spin, grid, electrons) in cases.items():
        record = read_density(chgcar_dir / filename)
        assert (record.format, record.spin, record.grid) == (fmt, spin, grid), filename
        assert record.n_electrons == pytest.approx(electrons, abs=0.01), filename


def test_spin_polarized_file_has_magnetization(chgcar_dir: Path) -> None:
    record = read_density(chgcar_dir / "pyiron_Fe_bcc_CHGCAR_spin")
    assert record.magnetization is not None and record.magnetization.shape == record.grid
    moment = float(record.magnetization.astype(np.float64).mean()) * record.volume
    assert moment == pytest.approx(2.27, abs=0.05)  # μB per bcc Fe atom, SOURCES.md


@pytest.mark.parametrize("filename", NOT_DENSITY_FILES or ["(no shared data)"])
def test_locpot_and_elfcar_are_refused(chgcar_dir: Path, filename: str) -> None:
    with pytest.raises(InputError, match="not a charge density"):
        read_density(chgcar_dir / filename)


def test_vasp64_header_with_potcar_hashes(chgcar_dir: Path, tmp_path: Path) -> None:
    """A VASP 6.4 element line ("Mg_pv/f474ac0d  Si/79d9987ad87") parses to the right species."""
    text = gzip.open(chgcar_dir / "pymatgen_LOCPOT.vasp642.gz", "rt").read().splitlines()
    grid_index = next(i for i, line in enumerate(text) if line.split() == ["2", "2", "5"])
    header = "\n".join(text[: grid_index + 1])
    values = np.linspace(1.0, 2.0, 20)
    body = "\n".join(" ".join(f"{v:.11E}" for v in values[i : i + 5]) for i in range(0, 20, 5))
    path = tmp_path / "calc" / "CHGCAR"
    path.parent.mkdir()
    path.write_text(header + "\n" + body + "\n")
    record = read_density(path)
    assert record.structure.composition.reduced_formula == "MgSi2"
    assert record.n_electrons == pytest.approx(1.5)
    assert record.name == "calc"


# --- variants ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "suffix,compress",
    [(".gz", gzip.compress), (".bz2", bz2.compress), (".xz", lzma.compress), (".lzma", lambda b: lzma.compress(b, format=lzma.FORMAT_ALONE))],
)
def test_compressed_variants_read_identically(tmp_path: Path, suffix: str, compress) -> None:
    plain = tmp_path / "CHGCAR"
    raw = write_tiny_chgcar(plain, spin=True)
    packed = tmp_path / f"CHGCAR{suffix}"
    packed.write_bytes(compress(plain.read_bytes()))
    a, b = read_density(plain), read_density(packed)
    np.testing.assert_array_equal(a.rho, b.rho)
    np.testing.assert_array_equal(a.magnetization, b.magnetization)
    assert b.compression == {".gz": "gzip", ".bz2": "bzip2", ".xz": "xz", ".lzma": "lzma"}[suffix]
    assert a.sha256 != b.sha256  # the id is the hash of the bytes as stored
    assert a.n_electrons == pytest.approx(raw.mean(), rel=1e-10)
    assert a.spin == "collinear"


def test_noncollinear_four_blocks(tmp_path: Path) -> None:
    """Total + m_x, m_y, m_z: the magnetization is (3, nx, ny, nz)."""
    from ..conftest import tiny_structure
    from pymatgen.io.vasp import Poscar

    grid = (4, 4, 6)
    rng = np.random.default_rng(1)
    blocks = [rng.random(grid) + 1.0] + [rng.normal(size=grid) for _ in range(3)]
    lines = [Poscar(tiny_structure()).get_str(), ""]
    for block in blocks:
        lines.append(" ".join(map(str, grid)))
        flat = block.ravel(order="F")
        lines += [" ".join(f"{v:.11E}" for v in flat[i : i + 5]) for i in range(0, flat.size, 5)]
        lines.append("augmentation occupancies   1   2")
        lines.append(" 0.1E+00 0.2E+00")
    path = tmp_path / "CHGCAR"
    path.write_text("\n".join(lines) + "\n")
    record = read_density(path)
    assert record.spin == "noncollinear"
    assert record.magnetization.shape == (3, *grid)
    np.testing.assert_allclose(record.magnetization[2] * record.volume, blocks[3], rtol=1e-6)


def test_value_order_is_x_fastest(tmp_path: Path) -> None:
    raw = write_tiny_chgcar(tmp_path / "CHGCAR", grid=(3, 4, 5))
    record = read_density(tmp_path / "CHGCAR")
    np.testing.assert_allclose(record.rho * record.volume, raw, rtol=1e-6)


def test_record_names(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    nested = root / "mp-1" / "static"
    nested.mkdir(parents=True)
    assert record_name(nested / "CHGCAR.gz", root) == "mp-1/static"
    assert record_name(nested / "AECCAR2", root) == "mp-1/static"
    assert record_name(root / "CHGCAR", root) == "runs"
    assert record_name(root / "NaCl_CHGCAR.bz2", root) == "NaCl_CHGCAR"
    assert record_name(root / "elec.cube.gz", root) == "elec.cube"


# --- bad inputs -------------------------------------------------------------------------------


def _valid_text(tmp_path: Path) -> str:
    write_tiny_chgcar(tmp_path / "valid", grid=(4, 4, 4))
    return (tmp_path / "valid").read_text()


def _replace_first_value(text: str, token: str) -> str:
    lines = text.splitlines()
    index = next(i for i, line in enumerate(lines) if line.split() == ["4", "4", "4"]) + 1
    values = lines[index].split()
    values[2] = token
    lines[index] = " ".join(values)
    return "\n".join(lines) + "\n"


def _data_start(text: str) -> int:
    lines = text.splitlines()
    return next(i for i, line in enumerate(lines) if line.split() == ["4", "4", "4"])


BAD_CASES = {
    "empty": (lambda t: "", "empty file"),
    "whitespace only": (lambda t: "\n  \n", "empty file"),
    "truncated block": (lambda t: "\n".join(t.splitlines()[: _data_start(t) + 6]) + "\n", "truncated data block"),
    "too many values (extra line)": (lambda t: t.rstrip("\n") + "\n 0.1E+01 0.2E+01 0.3E+01 0.4E+01 0.5E+01\n", "too many values"),
    "too many values (same line)": (lambda t: t.rstrip("\n") + " 0.5E+01\n", "too many values"),
    "non-numeric token": (lambda t: _replace_first_value(t, "abc"), "non-numeric token"),
    "nan value": (lambda t: _replace_first_value(t, "NaN"), "NaN or inf"),
    "inf value": (lambda t: _replace_first_value(t, "inf"), "NaN or inf"),
    "zero grid": (lambda t: t.replace("\n   4   4   4\n", "\n   4   0   4\n", 1), "must be positive"),
    "negative grid": (lambda t: t.replace("\n   4   4   4\n", "\n   4   -4   4\n", 1), "must be positive"),
    "grid not integers": (lambda t: t.replace("\n   4   4   4\n", "\n   4   x   4\n", 1), "not three integers"),
    "no grid": (lambda t: "\n".join(t.splitlines()[: _data_start(t) - 1]) + "\n", "no grid"),
    "singular lattice": (lambda t: _singular(t), "singular lattice"),
    "garbage header": (lambda t: "hello\nworld\nthis is not\na chgcar\n\n1 2 3\n", "structure header"),
    "negative electrons": (lambda t: _negate(t), "not positive"),
}


def _singular(text: str) -> str:
    lines = text.splitlines()
    lines[4] = lines[3]  # third lattice vector equals the second
    return "\n".join(lines) + "\n"


def _negate(text: str) -> str:
    start = _data_start(text) + 1
    lines = text.splitlines()
    for i in range(start, start + 13):
        lines[i] = " ".join("-" + v for v in lines[i].split())
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_input_is_refused_with_reason(tmp_path: Path, case: str) -> None:
    make, reason = BAD_CASES[case]
    path = tmp_path / "bad" / "CHGCAR"
    path.parent.mkdir()
    path.write_text(make(_valid_text(tmp_path)))
    with pytest.raises(InputError, match=reason) as info:
        read_density(path)
    assert str(path) in str(info.value)


def test_binary_garbage_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "CHGCAR"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(InputError, match="binary data|corrupt"):
        read_density(path)


def test_corrupt_and_truncated_gzip_are_refused(tmp_path: Path) -> None:
    write_tiny_chgcar(tmp_path / "CHGCAR", grid=(16, 16, 16))
    packed = gzip.compress((tmp_path / "CHGCAR").read_bytes())
    truncated = tmp_path / "a" / "CHGCAR.gz"
    truncated.parent.mkdir()
    truncated.write_bytes(packed[: len(packed) // 2])
    with pytest.raises(InputError, match="truncated gzip|truncated data block"):
        read_density(truncated)
    corrupt = tmp_path / "b" / "CHGCAR.gz"
    corrupt.parent.mkdir()
    middle = len(packed) // 2
    corrupt.write_bytes(packed[:20] + bytes(b ^ 0xFF for b in packed[20:middle]) + packed[middle:])
    with pytest.raises(InputError, match="corrupt gzip"):
        read_density(corrupt)


def test_huge_declared_grid_fails_fast_without_allocating(tmp_path: Path) -> None:
    from ..conftest import tiny_structure
    from pymatgen.io.vasp import Poscar

    path = tmp_path / "CHGCAR"
    path.write_text(Poscar(tiny_structure()).get_str() + "\n100000 100000 100000\n0.1 0.2 0.3\n")
    assert path.stat().st_size < 400
    tracemalloc.start()
    start = time.perf_counter()
    with pytest.raises(InputError, match="exceeds the limit"):
        read_density(path)
    elapsed = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert elapsed < 0.2, f"took {elapsed:.3f} s"
    assert peak < 5_000_000, f"allocated {peak:,} bytes"


def test_declared_grid_larger_than_file_can_hold(tmp_path: Path) -> None:
    text = _valid_text(tmp_path).replace("\n   4   4   4\n", "\n   400   400   400\n", 1)
    path = tmp_path / "x" / "CHGCAR"
    path.parent.mkdir()
    path.write_text(text)
    with pytest.raises(InputError, match="cannot fit"):
        read_density(path)
    with pytest.raises(InputError, match="exceeds the limit"):
        read_density(path, limits=ReadLimits(max_grid_points=1000))


def test_unreadable_path(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read"):
        read_density(tmp_path / "missing" / "CHGCAR")


def test_copied_real_file_keeps_hash_and_name_rule(chgcar_dir: Path, tmp_path: Path) -> None:
    target = tmp_path / "runs" / "Si-static" / "CHGCAR.gz"
    target.parent.mkdir(parents=True)
    shutil.copy(chgcar_dir / "atomate_Si_static_CHGCAR.gz", target)
    a = read_density(chgcar_dir / "atomate_Si_static_CHGCAR.gz")
    b = read_density(target, root=tmp_path / "runs")
    assert a.sha256 == b.sha256 and b.name == "Si-static"


def test_multi_member_gzip_reads_like_gzip_does(tmp_path: Path) -> None:
    """`cat a.gz b.gz` (or bgzip) is one valid gzip file."""
    write_tiny_chgcar(tmp_path / "CHGCAR", grid=(6, 6, 6))
    text = (tmp_path / "CHGCAR").read_bytes()
    middle = len(text) // 2
    packed = tmp_path / "two" / "CHGCAR.gz"
    packed.parent.mkdir()
    packed.write_bytes(gzip.compress(text[:middle]) + gzip.compress(text[middle:]))
    np.testing.assert_array_equal(read_density(packed).rho, read_density(tmp_path / "CHGCAR").rho)


CUBE_HEADER = "cube\ncomment\n    2    0.0    0.0    0.0\n    4    1.0    0.0    0.0\n    4    0.0    1.0    0.0\n    4    0.0    0.0    1.0\n"


@pytest.mark.parametrize(
    "text,reason",
    [
        ("cube\ncomment\n    2    0.0\n", "line 3"),
        (CUBE_HEADER.replace("    4    0.0    1.0    0.0", "    4    0.0"), "line 5"),
        (CUBE_HEADER + "   11   0.0   0.0 0.0 0.0\n   17  0.0\n" + "1.0 " * 64, "atom line 2"),
        (CUBE_HEADER.replace("    4    1.0", "    2097152    1.0") + "   11   0.0   0.0 0.0 0.0\n   17 0.0 0.5 0.5 0.5\n1.0\n", "exceeds the limit|cannot fit"),
        (CUBE_HEADER.replace("    2    0.0", "   -2    0.0"), "molecular-orbital"),
    ],
)
def test_bad_cube_headers_are_refused(tmp_path: Path, text: str, reason: str) -> None:
    path = tmp_path / "bad.cube"
    path.write_text(text)
    with pytest.raises(InputError, match=reason):
        read_density(path)


def test_cube_round_trip_units(tmp_path: Path) -> None:
    """A cube of constant ρ = 0.01 e/bohr³ in a 4×4×4 bohr cell holds 0.64 electrons."""
    path = tmp_path / "const.cube"
    path.write_text(CUBE_HEADER + "   11   0.0   0.0 0.0 0.0\n   17 0.0 2.0 2.0 2.0\n" + " 0.01" * 64 + "\n")
    record = read_density(path)
    assert record.n_electrons == pytest.approx(0.64)
    assert record.rho.mean() == pytest.approx(0.01 / BOHR_TO_ANGSTROM**3, rel=1e-6)
    assert record.structure.composition.reduced_formula == "NaCl"


def test_augmentation_count_cannot_force_an_allocation(tmp_path: Path) -> None:
    write_tiny_chgcar(tmp_path / "CHGCAR", grid=(4, 4, 4))
    path = tmp_path / "x" / "CHGCAR"
    path.parent.mkdir()
    path.write_text((tmp_path / "CHGCAR").read_text() + "augmentation occupancies   1  999999999999\n 0.1\n")
    with pytest.raises(InputError, match="augmentation"):
        read_density(path)


def test_reusable_read_buffer_gives_each_file_its_own_bytes(tmp_path: Path) -> None:
    """Files read one after another (large, small, large) parse to their own densities and hashes,
    streamed from disk as from bytes in memory, and a view kept from an earlier read of the per-thread
    buffer is never resized under it."""
    import hashlib

    from screener.io.buffers import read_bytes_reusing

    big, small = tmp_path / "big" / "CHGCAR", tmp_path / "small" / "CHGCAR"
    for path, grid in ((big, (12, 12, 12)), (small, (4, 4, 4))):
        path.parent.mkdir()
        write_tiny_chgcar(path, grid=grid)
    kept = read_bytes_reusing(small)  # an exported view: the buffer must not be resized in place
    assert bytes(kept) == small.read_bytes()
    for path in (big, small, big, small):
        record = read_density(path)
        assert record.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
        assert record.grid == ((12, 12, 12) if path == big else (4, 4, 4))
        reference = read_density(path, raw=path.read_bytes())  # the plain-bytes path
        np.testing.assert_array_equal(record.rho, reference.rho)
        assert record.n_electrons == reference.n_electrons


def test_buffer_stream_reads_like_bytesio() -> None:
    import io

    from screener.io.buffers import _BufferStream

    data = b"line one\n\n  2.5 3.5\n" + b"x" * 700 + b"\nlast line without newline"  # a line longer than a search window
    buffer = bytearray(data + b"garbage beyond the view")
    stream, reference = _BufferStream(memoryview(buffer)[: len(data)]), io.BytesIO(data)
    for step in ("readline", "readline", "read5", "tell", "readline", "readline", "readline", "seek3", "read-1", "read4"):
        if step == "tell":
            assert stream.tell() == reference.tell()
        elif step.startswith("seek"):
            assert stream.seek(int(step[4:])) == reference.seek(int(step[4:]))
        elif step.startswith("read") and step != "readline":
            assert stream.read(int(step[4:])) == reference.read(int(step[4:]))
        else:
            assert stream.readline() == reference.readline()
