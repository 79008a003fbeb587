"""File-name conventions: which files are densities, what a record is called, how it is compressed.

VASP writes one folder per calculation and fixed file names (CHGCAR, CHG, AECCAR0/1/2, PARCHG),
so such a file is named after its folder (relative to the input root); any other file is named
after itself, without its compression suffix. Labels and outputs key on that name.
"""

from __future__ import annotations

import re
from pathlib import Path

#: compression suffix -> codec name.
COMPRESSION_SUFFIXES: dict[str, str] = {".gz": "gzip", ".bz2": "bzip2", ".xz": "xz", ".lzma": "lzma"}

_VASP_DENSITY_NAMES = r"(CHGCAR|CHG|AECCAR[012]|PARCHG)"
_VASP_OUTPUT_NAME = re.compile(rf"^{_VASP_DENSITY_NAMES}$")
_NOT_DENSITY = re.compile(r"(LOCPOT|ELFCAR)", re.IGNORECASE)
#: a VASP density name as a whole token of a file name (``CHGCAR``, ``Si_CHG``, ``CHGCAR.spin``,
#: ``PARCHG.0125.ALLK``), upper case as VASP writes it; ``chgsum.pl`` or ``CHGNET.json`` do not match.
_DENSITY_TOKEN = re.compile(rf"(?:^|[._-]){_VASP_DENSITY_NAMES}(?:$|[._-])")


def strip_compression(filename: str) -> tuple[str, str | None]:
    """Split ``CHGCAR.gz`` into (``CHGCAR``, ``gzip``); files without a known suffix give (name, None)."""
    for suffix, codec in COMPRESSION_SUFFIXES.items():
        if filename.lower().endswith(suffix):
            return filename[: -len(suffix)], codec
    return filename, None


def is_vasp_output_name(filename: str) -> bool:
    """True for CHGCAR, CHG, AECCAR0/1/2 and PARCHG, with or without a compression suffix."""
    return bool(_VASP_OUTPUT_NAME.match(strip_compression(filename)[0]))


def not_density_kind(filename: str) -> str | None:
    """``LOCPOT`` or ``ELFCAR`` when the file name says it is volumetric data that is not a density."""
    match = _NOT_DENSITY.search(strip_compression(filename)[0])
    return match.group(1).upper() if match else None


def looks_like_density(filename: str) -> bool:
    """Whether directory discovery should pick this file up (CHGCAR-family names and cube files)."""
    stem = strip_compression(filename)[0]
    if not_density_kind(filename):
        return False
    return bool(_DENSITY_TOKEN.search(stem)) or stem.lower().endswith(".cube")


def is_cube_name(filename: str) -> bool:
    """Gaussian cube files are recognized by their ``.cube`` suffix (before compression)."""
    return strip_compression(filename)[0].lower().endswith(".cube")


def vasp_kind_from_name(filename: str) -> str | None:
    """``aeccar0``/``aeccar1``/``aeccar2``/``parchg``/``chgcar``/``chg`` from a file name, or None."""
    stem = strip_compression(filename)[0].upper()
    for token in ("AECCAR0", "AECCAR1", "AECCAR2", "PARCHG", "CHGCAR"):
        if token in stem:
            return token.lower()
    if re.search(r"(^|[^A-Z])CHG([^A-Z]|$)", stem):
        return "chg"
    return None


def record_name(path: str | Path, root: str | Path | None = None) -> str:
    """The name a density is known by in labels and outputs.

    Args:
        path: the file.
        root: the input root the file was discovered under (default: the file's folder).

    Returns:
        For a VASP output name, the parent folder relative to ``root`` (POSIX separators; the
        folder's own name when the file sits directly in ``root``); otherwise the file name
        without its compression suffix.
    """
    path = Path(path)
    if not is_vasp_output_name(path.name):
        return strip_compression(path.name)[0]
    parent = path.parent.resolve()
    if root is not None:
        try:
            relative = parent.relative_to(Path(root).resolve())
        except ValueError:
            relative = Path(parent.name)
        if str(relative) not in ("", "."):
            return relative.as_posix()
    return parent.name or path.name
