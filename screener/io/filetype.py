"""Opening only regular files, without ever blocking on a FIFO, socket or device.

``open()`` on a FIFO waits for a writer forever, and a character device such as ``/dev/zero`` or
``/dev/urandom`` never ends; a symlink can point at either. So every input is checked with
``stat`` first (following symlinks), opened with ``O_NONBLOCK`` (which cannot wait), and checked
again with ``fstat`` on the open descriptor (the name may have been swapped in between).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ..errors import InputError

_KINDS = (
    (stat.S_ISDIR, "directory"),
    (stat.S_ISFIFO, "FIFO (named pipe)"),
    (stat.S_ISSOCK, "socket"),
    (stat.S_ISCHR, "character device"),
    (stat.S_ISBLK, "block device"),
)


def file_kind(mode: int) -> str:
    """``regular file``, ``directory``, ``FIFO (named pipe)``, ``socket``, ``character device``, ... for a ``st_mode``."""
    if stat.S_ISREG(mode):
        return "regular file"
    for test, name in _KINDS:
        if test(mode):
            return name
    return "special file"


def _refuse(path: str, mode: int) -> InputError:
    return InputError(path, f"not a regular file: {file_kind(mode)}")


def open_regular(path: str | Path) -> int:
    """Open a regular file for reading and return its descriptor (the caller closes it).

    Raises:
        InputError: the path is missing or unreadable, or is not a regular file (directly or
            behind symlinks), in milliseconds and without reading from it.
    """
    name = str(path)
    try:
        before = os.stat(path)
    except OSError as exc:
        raise InputError(name, f"cannot read file ({exc.strerror or exc})") from None
    if not stat.S_ISREG(before.st_mode):
        raise _refuse(name, before.st_mode)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise InputError(name, f"cannot read file ({exc.strerror or exc})") from None
    try:
        after = os.fstat(fd)
        if not stat.S_ISREG(after.st_mode):  # swapped for something else after the stat
            raise _refuse(name, after.st_mode)
        os.set_blocking(fd, True)  # regular files never block; plain reads from here on
    except BaseException:
        os.close(fd)
        raise
    return fd


def is_regular_file(path: str | Path) -> bool:
    """True for a regular file (following symlinks); never opens it."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False
