"""Path names as they are stored: any bytes a file system allows, kept losslessly.

Python represents a name that is not valid UTF-8 with lone surrogates (``os.fsdecode``), which
Arrow, Parquet and JSON refuse. So an output row carries ``path``, a readable UTF-8 string with
the undecodable bytes escaped as ``\\xNN``, and ``path_bytes``, the raw bytes, set only when the
name is not valid UTF-8 (null otherwise). :func:`from_columns` gives back the exact name.
"""

from __future__ import annotations

import os


def display_path(path: str | bytes) -> str:
    """A valid UTF-8 rendering of ``path``: unchanged when it is valid UTF-8, else with ``\\xNN`` escapes."""
    raw = os.fsencode(path)
    return raw.decode("utf-8", errors="backslashreplace")


def raw_path_bytes(path: str | bytes) -> bytes | None:
    """The raw bytes of a name that is not valid UTF-8; None for a valid one (its string says it all)."""
    raw = os.fsencode(path)
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw
    return None


def from_columns(path: str, raw: bytes | None) -> str:
    """The exact name (as ``os.fsdecode`` gives it) from a row's ``path`` and ``path_bytes``."""
    return os.fsdecode(bytes(raw)) if raw else path


def safe_text(text: str) -> str:
    """``text`` made encodable as UTF-8 (a message that quotes an undecodable name, for example)."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", errors="surrogateescape" if _escapable(text) else "surrogatepass").decode(
            "utf-8", errors="backslashreplace"
        )


def _escapable(text: str) -> bool:
    return all(not 0xD800 <= ord(c) <= 0xDFFF or 0xDC80 <= ord(c) <= 0xDCFF for c in text)
