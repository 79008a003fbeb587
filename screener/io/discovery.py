"""Finding input files: directories (recursive), single files, and text files listing paths."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from . import density_table
from .filetype import is_regular_file
from .naming import looks_like_density, not_density_kind

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class InputFile:
    """One discovered input: its path, the root its record name is relative to, and for a
    density-table row the material id it holds (None for files: their name comes from the path)."""

    path: str
    root: str
    name: str | None = None


def _is_parquet(path: Path) -> bool:
    return path.suffix.lower() in (".parquet", ".pq")


def _is_path_list(path: Path) -> bool:
    """A text file whose first non-empty line names an existing file is a list of inputs."""
    if looks_like_density(path.name) or not_density_kind(path.name) or _is_parquet(path):
        return False
    try:
        with open(path, "rb") as handle:
            head = handle.read(4096)
    except OSError:
        return False
    if b"\x00" in head:
        return False
    for line in head.decode("utf-8", errors="replace").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            candidate = Path(line) if Path(line).is_absolute() else path.parent / line
            return candidate.is_file()
    return False


def _walk(directory: Path) -> Iterable[Path]:
    for folder, subfolders, files in os.walk(directory, followlinks=False):
        subfolders.sort()
        for name in sorted(files):
            yield Path(folder) / name


def discover(inputs: Iterable[str | Path], *, skipped: list[str] | None = None) -> list[InputFile]:
    """Expand the user's inputs into density files, in a stable order, without duplicates.

    Args:
        inputs: directories (searched recursively for CHGCAR, CHG, AECCAR*, PARCHG and ``.cube``
            files, compressed or not), single files (taken as they are, whatever their name, so a
            LOCPOT given explicitly is refused later with a reason), or text files listing paths
            (one per line, ``#`` comments, relative to the list's folder).
        skipped: if given, receives the paths of volumetric files a directory scan passed over
            (LOCPOT, ELFCAR) and of density-table rows without a density (failed DFT).

    Density tables (``screener dft``'s Parquet, a file or a folder of ``part-*.parquet``) are
    expanded into one input per row, named ``<file>::row=<index>``; in a folder of parts the last
    row of each id wins.

    Raises:
        FileNotFoundError: an input that does not exist.
    """
    found: list[InputFile] = []
    seen: set[str] = set()

    def add(path: Path, root: Path, name: str | None = None) -> None:
        # Keyed by the path as given (absolute), not the resolved target: a symlink is a second
        # input with the same bytes, which the pipeline records as a duplicate rather than dropping.
        key = os.path.abspath(path)
        if key not in seen:
            seen.add(key)
            found.append(InputFile(key, os.path.abspath(root), name))

    def add_table(table: Path, root: Path) -> None:
        for row_input, error, material_id in density_table.list_rows(table):
            if error is None:
                add(Path(row_input), root, material_id)
            elif skipped is not None:
                skipped.append(row_input)

    for item in inputs:
        item = Path(item)
        if item.is_dir():
            tables: list[Path] = []
            for path in _walk(item):
                if looks_like_density(path.name):
                    add(path, item)
                elif _is_parquet(path) and is_regular_file(path):  # never open a FIFO named *.parquet
                    folder = path.parent
                    part = density_table.PART_PATTERN.match(path.name)
                    if part and (folder in tables or density_table.is_density_table(folder)):
                        if folder not in tables:  # a folder of parts is one table (its schema read once)
                            tables.append(folder)
                    elif density_table.is_density_table(path):
                        tables.append(path)
                elif not_density_kind(path.name) and skipped is not None:
                    skipped.append(str(path))
            for table in tables:
                add_table(table, item)
        elif item.is_file() and _is_parquet(item) and density_table.is_density_table(item):
            add_table(item, item.parent)
        elif item.is_file() and _is_path_list(item):
            for line in item.read_text(errors="replace").splitlines():
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                listed = Path(line) if Path(line).is_absolute() else item.parent / line
                add(listed, listed.parent)
        elif item.exists():
            add(item, item.parent)
        else:
            raise FileNotFoundError(f"input not found: {item}")
    if skipped:
        log.info("skipped %d non-density inputs (LOCPOT/ELFCAR, table rows without a density)", len(skipped))
    return found
