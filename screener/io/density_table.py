"""The density table: real DFT densities in Parquet, one row per material (the format of ``data/densities``).

It follows LeMat-Rho's convention where it fits: the density is a flattened array of ρ·V_cell
(electrons, as in a CHGCAR) in C order of the grid (index i along a fastest-varying last: ``[i, j, k]``
with k fastest), with the grid shape in its own column. ``screener dft`` writes it (every structure it
tried, failures included, with ``density`` null and ``error`` set); ``screener run``, ``train`` and
``inspect`` read every row with a density as one input (``<file>::row=<index>``), with the same
accounting as density files: the row's id is the SHA-256 of its structure and density bytes.

Columns (units in brackets):

- ``id``, ``source`` (label file and record, or structure file), ``formula`` (reduced), ``n_atoms``
- ``structure``: pymatgen Structure JSON of the cell the density is on
- ``bulk_modulus``, ``shear_modulus`` [GPa], ``formation_energy`` [eV/atom]: labels, null when absent
- ``grid_shape`` (3 ints), ``density`` (float32 or float16 list, ρ·V_cell [e]), ``n_electrons`` [e]
- ``valence_json``: valence electrons per element of the PAW setups, JSON
- ``energy_ev`` [eV], ``converged``, ``iterations``, ``seconds`` [s], ``kpoints_ibz``, ``ecut_ev`` [eV],
  ``spin_polarized``, ``magnetic_moment`` [μB], ``settings_json`` (the DftConfig), ``code`` (``gpaw x.y``)
- ``error_kind``, ``error``: null for a computed density

Part files are written atomically (temporary name, then rename) and numbered; when an id appears in
several parts the last row wins (a retried failure supersedes its error row).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

PART_PATTERN = re.compile(r"^part-(\d{5,})\.parquet$")
LABEL_COLUMNS = ("bulk_modulus", "shear_modulus", "formation_energy")


def schema():
    """The Arrow schema of a density table."""
    import pyarrow as pa

    return pa.schema(
        [
            ("id", pa.string()),
            ("source", pa.string()),
            ("formula", pa.string()),
            ("n_atoms", pa.int32()),
            ("structure", pa.string()),
            *[(name, pa.float64()) for name in LABEL_COLUMNS],
            ("grid_shape", pa.list_(pa.int32(), 3)),
            ("density", pa.list_(pa.float32())),
            ("n_electrons", pa.float64()),
            ("valence_json", pa.string()),
            ("energy_ev", pa.float64()),
            ("converged", pa.bool_()),
            ("iterations", pa.int32()),
            ("seconds", pa.float64()),
            ("kpoints_ibz", pa.int32()),
            ("ecut_ev", pa.float64()),
            ("spin_polarized", pa.bool_()),
            ("magnetic_moment", pa.float64()),
            ("settings_json", pa.string()),
            ("code", pa.string()),
            ("error_kind", pa.string()),
            ("error", pa.string()),
        ]
    )


def empty_row() -> dict[str, Any]:
    """A row with every column null."""
    return {name: None for name in schema().names}


def part_files(folder: str | Path) -> list[Path]:
    """The part files of a density table folder, in write order."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    from .filetype import is_regular_file

    parts = [p for p in folder.iterdir() if PART_PATTERN.match(p.name) and is_regular_file(p)]  # never a FIFO
    return sorted(parts, key=lambda p: int(PART_PATTERN.match(p.name).group(1)))


def is_density_table(path: str | Path) -> bool:
    """True for a Parquet file (or a folder of part files) with the density table's columns."""
    import pyarrow.parquet as pq

    from .filetype import is_regular_file

    path = Path(path)
    files = part_files(path) if path.is_dir() else [path]
    if not files or not str(files[0]).endswith((".parquet", ".pq")) or not is_regular_file(files[0]):
        return False
    try:
        names = set(pq.read_schema(files[0]).names)
    except Exception:  # not Parquet, unreadable: not a density table
        return False
    return {"id", "grid_shape", "density", "structure"} <= names


def write_part(folder: str | Path, rows: Sequence[dict[str, Any]]) -> Path:
    """Write ``rows`` as the next part file of ``folder``, atomically; returns its path."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    existing = part_files(folder)
    index = int(PART_PATTERN.match(existing[-1].name).group(1)) + 1 if existing else 0
    path = folder / f"part-{index:05d}.parquet"
    table = pa.Table.from_pylist(list(rows), schema=schema())
    fd, tmp = tempfile.mkstemp(prefix=".part-", suffix=".tmp", dir=folder)
    os.close(fd)
    try:
        pq.write_table(
            table,
            tmp,
            compression="zstd",
            compression_level=9,
            use_byte_stream_split=["density"],
            row_group_size=64,
        )
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def recorded(folder: str | Path) -> dict[str, str | None]:
    """id → error (None when its density was computed) of every id in a table folder; last row wins."""
    import pyarrow.parquet as pq

    status: dict[str, str | None] = {}
    for path in part_files(folder):
        table = pq.read_table(path, columns=["id", "error"])
        for material_id, error in zip(table.column("id").to_pylist(), table.column("error").to_pylist()):
            status[material_id] = error
    return status


@dataclass(frozen=True)
class DensityRow:
    """One computed density read back from a table.

    Attributes:
        id: material id.
        source: the table file and row (``path#row``).
        structure: pymatgen Structure of the cell.
        rho: density, e/Å³, shape ``grid_shape``, float64, C order.
        labels: target name → value (GPa, eV/atom).
    """

    id: str
    source: str
    structure: Any
    rho: np.ndarray
    labels: dict[str, float]


def _files(path: Path) -> list[Path]:
    return part_files(path) if path.is_dir() else [path]


def iter_rows(path: str | Path, *, columns: Sequence[str] | None = None) -> Iterator[tuple[Path, int, dict[str, Any]]]:
    """(file, row index, row dict) of every row of a table file or folder, one row group at a time.

    Rows superseded by a later row with the same id are skipped, so a folder reads as its final state.
    """
    import pyarrow.parquet as pq

    files = _files(Path(path))
    last: dict[str, tuple[int, int]] = {}
    for f_index, file in enumerate(files):
        ids = pq.read_table(file, columns=["id"]).column("id").to_pylist()
        for r_index, material_id in enumerate(ids):
            last[material_id] = (f_index, r_index)
    for f_index, file in enumerate(files):
        parquet = pq.ParquetFile(file)
        offset = 0
        for group in range(parquet.num_row_groups):
            table = parquet.read_row_group(group, columns=list(columns) if columns else None)
            for r_local, row in enumerate(table.to_pylist()):
                r_index = offset + r_local
                if last.get(row["id"]) == (f_index, r_index):
                    yield file, r_index, row
            offset += table.num_rows


def row_density(row: dict[str, Any], *, volume: float) -> np.ndarray:
    """ρ (e/Å³, float64, C order) of a table row; raises ValueError when its size and shape disagree."""
    shape = tuple(int(n) for n in row["grid_shape"])
    values = np.asarray(row["density"], dtype=np.float64)
    if len(shape) != 3 or values.size != int(np.prod(shape)):
        raise ValueError(f"density has {values.size} values but grid_shape is {shape}")
    return values.reshape(shape) / volume


def read_density_rows(path: str | Path) -> Iterator[DensityRow]:
    """Every computed density of a table file or folder (rows with an error are skipped)."""
    from pymatgen.core import Structure

    for file, index, row in iter_rows(path):
        if row["density"] is None:
            continue
        structure = Structure.from_dict(json.loads(row["structure"]))
        rho = row_density(row, volume=structure.lattice.volume)
        labels = {name: float(row[name]) for name in LABEL_COLUMNS if row.get(name) is not None}
        yield DensityRow(row["id"], f"{file}#{index}", structure, rho, labels)


# ------------------------------------------------------------------------- rows as inputs
#: A table row as an input path: ``<file>::row=<index>`` (index within that part file).
ROW_MARK = "::row="


def row_path(file: str | Path, index: int) -> str:
    """The input path naming row ``index`` of table file ``file``."""
    return f"{file}{ROW_MARK}{index}"


def split_row_path(path: str | Path) -> tuple[Path, int] | None:
    """(file, row index) of a row input path, or None for an ordinary file path."""
    text = str(path)
    head, mark, tail = text.rpartition(ROW_MARK)
    if not mark or not tail.isdigit() or not head.endswith((".parquet", ".pq")):
        return None
    return Path(head), int(tail)


def list_rows(path: str | Path) -> list[tuple[str, str | None, str]]:
    """(row input path, error or None, material id) of the final row of every id in a table file or folder."""
    return [(row_path(file, index), row["error"], row["id"]) for file, index, row in iter_rows(path, columns=["id", "error"])]


_GROUP_CACHE: dict[str, Any] = {}


def _row_group(file: Path, index: int) -> tuple[list[dict[str, Any]], int]:
    """(rows of the row group holding ``index``, offset of that group); the last group read is cached."""
    import pyarrow.parquet as pq

    key = str(file)
    cached = _GROUP_CACHE.get("key")
    if cached is not None and cached[0] == key and cached[2] <= index < cached[2] + len(cached[1]):
        return cached[1], cached[2]
    parquet = pq.ParquetFile(file)
    offset = 0
    for group in range(parquet.num_row_groups):
        size = parquet.metadata.row_group(group).num_rows
        if index < offset + size:
            rows = parquet.read_row_group(group).to_pylist()
            _GROUP_CACHE["key"] = (key, rows, offset)
            return rows, offset
        offset += size
    raise IndexError(f"{file} has {offset} rows; row {index} does not exist")


def read_row(path: str | Path) -> dict[str, Any]:
    """The row a row input path names (raises ValueError for a path that names no row)."""
    parsed = split_row_path(path)
    if parsed is None:
        raise ValueError(f"{path} does not name a table row (<file>.parquet{ROW_MARK}N)")
    file, index = parsed
    rows, offset = _row_group(file, index)
    return rows[index - offset]


def row_bytes(row: dict[str, Any]) -> bytes:
    """The bytes that identify a row's density: its structure JSON, grid shape and float32 values.

    Their SHA-256 is the row's input id, as a file's bytes are a file's: the same density in two
    tables (or rows) is one input, whatever its material id or labels.
    """
    if row.get("density") is None:  # a failed row: identified by what it holds, read as an error
        return f"{row.get('id')}\0{row.get('structure')}\0{row.get('error')}".encode()
    shape = np.asarray(row["grid_shape"], dtype=np.int32).tobytes()
    values = np.asarray(row["density"], dtype=np.float32).tobytes()
    return row["structure"].encode() + b"\0" + shape + values


def read_row_record(path: str | Path, *, sha256: str | None = None):
    """A table row as a :class:`~screener.io.reading.DensityRecord` (ρ in e/Å³, x-fastest memory order).

    Raises:
        InputError: the row holds no density (its DFT failed) or a malformed one.
    """
    import hashlib

    from pymatgen.core import Structure

    from ..errors import InputError
    from .reading import DensityRecord

    try:
        row = read_row(path)
    except (OSError, ValueError, IndexError) as exc:
        raise InputError(str(path), f"cannot read the table row ({exc})") from None
    if row.get("density") is None:
        raise InputError(str(path), f"no density in this row (its DFT failed: {row.get('error')})")
    try:
        structure = Structure.from_dict(json.loads(row["structure"]))
        rho = row_density(row, volume=structure.lattice.volume)
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(str(path), f"malformed table row ({exc})") from None
    n_electrons = float(rho.mean(dtype=np.float64) * structure.lattice.volume)
    return DensityRecord(
        name=str(row["id"]),
        structure=structure,
        rho=np.asfortranarray(rho, dtype=np.float32),
        magnetization=None,
        grid=tuple(int(n) for n in rho.shape),
        n_electrons=n_electrons,
        path=str(path),
        sha256=sha256 or hashlib.sha256(row_bytes(row)).hexdigest(),
        format="table",
        spin="none",
        compression=None,
    )


def labels_table(path: str | Path) -> dict[str, dict[str, float]]:
    """id → {target: value} of the labels a table file or folder holds (ids without labels are left out)."""
    labels: dict[str, dict[str, float]] = {}
    for _, _, row in iter_rows(path, columns=["id", *LABEL_COLUMNS]):
        values = {name: float(row[name]) for name in LABEL_COLUMNS if row.get(name) is not None}
        if values:
            labels[row["id"]] = values
    return labels


def summarize(path: str | Path) -> dict[str, Any]:
    """What a table file or folder holds: rows, computed and failed (by kind), labels, elements, grids, bytes."""
    from collections import Counter

    path = Path(path)
    files = _files(path)
    columns = ["id", "formula", "n_atoms", "grid_shape", "error_kind", "seconds", *LABEL_COLUMNS]
    rows = [row for _, _, row in iter_rows(path, columns=columns)]
    done = [r for r in rows if r["error_kind"] is None]
    grid_points = [int(np.prod(r["grid_shape"])) for r in done if r["grid_shape"]]
    return {
        "path": str(path),
        "format": "density table",
        "parts": len(files),
        "bytes": sum(f.stat().st_size for f in files),
        "rows": len(rows),
        "computed": len(done),
        "failed": dict(Counter(r["error_kind"] for r in rows if r["error_kind"] is not None)),
        "labelled": {name: sum(1 for r in done if r[name] is not None) for name in LABEL_COLUMNS},
        "atoms_median": float(np.median([r["n_atoms"] for r in done])) if done else None,
        "grid_points_median": float(np.median(grid_points)) if grid_points else None,
        "dft_seconds_total": float(sum(r["seconds"] or 0.0 for r in rows)),
    }
