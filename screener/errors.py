"""The project's exception types.

Every problem with a user's file is a :class:`InputError` that names the file and the reason,
so the CLI and the pipeline can report it (one line, one errors-table row) instead of a traceback.
"""

from __future__ import annotations

from pathlib import Path


class ScreenerError(Exception):
    """Base class of every error screener raises on purpose."""


class InputError(ScreenerError):
    """A file that cannot be used as a charge density.

    Attributes:
        path: the offending file.
        reason: a short human explanation (no traceback).
        stage: which stage refused it (``read``, ``validate``, ``regrid``, ...).
    """

    def __init__(self, path: str | Path, reason: str, *, stage: str = "read") -> None:
        self.path = str(path)
        self.reason = reason
        self.stage = stage
        super().__init__(f"{self.path}: {reason}")


class BundleError(ScreenerError):
    """A model bundle that is missing, altered, or incompatible with this version or grid."""


class LabelError(ScreenerError):
    """A labels file that cannot be used (missing id column, no known target column, ...)."""


class ConfigError(ScreenerError):
    """An option or parameter that makes no sense (unknown query parameter, too many GPUs, ...)."""


class Interrupted(ScreenerError):
    """A run stopped by SIGINT or SIGTERM (after saving what it had finished).

    Attributes:
        signum: the signal.
        saved: inputs this run wrote to the output before stopping (set by the engine).
        exit_code: 128 + the signal number (130 for SIGINT, 143 for SIGTERM), as shells report it.
    """

    def __init__(self, signum: int, saved: int = 0) -> None:
        self.signum = signum
        self.saved = saved
        super().__init__(f"interrupted: {saved} saved, rerun with --resume to continue")

    @property
    def exit_code(self) -> int:
        return 128 + self.signum
