"""The density table: real DFT densities in Parquet, one row per material (the format of ``data/densities``).

It follows LeMat-Rho's convention where it fits: the density is a flattened array of ρ·V_cell
(electrons, as in a CHGCAR) in C order of the grid (index i along a fastest-varying last: ``[i, j, k]``
with k fastest), with the grid shape in its own column. ``screener dft`` writes it (every structure it
tried, failures included, with ``density`` null and ``error`` set); ``screener run``, ``train`` and
``inspect`` read every row with a density as one input.

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
    parts = [p for p in folder.iterdir() if PART_PATTERN.match(p.name)]
    return sorted(parts, key=lambda p: int(PART_PATTERN.match(p.name).group(1)))


def is_density_table(path: str | Path) -> bool:
    """True for a Parquet file (or a folder of part files) with the density table's columns."""
    import pyarrow.parquet as pq

    path = Path(path)
    files = part_files(path) if path.is_dir() else [path]
    if not files or not str(files[0]).endswith((".parquet", ".pq")):
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
