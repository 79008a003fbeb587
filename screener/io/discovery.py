"""Finding input files: directories (recursive), single files, and text files listing paths."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from .naming import looks_like_density, not_density_kind

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class InputFile:
    """One discovered input: its path and the root its record name is relative to."""

    path: str
    root: str


def _is_path_list(path: Path) -> bool:
    """A text file whose first non-empty line names an existing file is a list of inputs."""
    if looks_like_density(path.name) or not_density_kind(path.name):
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
            (LOCPOT, ELFCAR).

    Raises:
        FileNotFoundError: an input that does not exist.
    """
    found: list[InputFile] = []
    seen: set[str] = set()

    def add(path: Path, root: Path) -> None:
        # Keyed by the path as given (absolute), not the resolved target: a symlink is a second
        # input with the same bytes, which the pipeline records as a duplicate rather than dropping.
        key = os.path.abspath(path)
        if key not in seen:
            seen.add(key)
            found.append(InputFile(key, os.path.abspath(root)))

    for item in inputs:
        item = Path(item)
        if item.is_dir():
            for path in _walk(item):
                if looks_like_density(path.name):
                    add(path, item)
                elif not_density_kind(path.name) and skipped is not None:
                    skipped.append(str(path))
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
        log.info("skipped %d non-density volumetric files (LOCPOT/ELFCAR)", len(skipped))
    return found
