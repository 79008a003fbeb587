"""SIGINT and SIGTERM during a run: stop feeding work and unwind to a clean, resumable state.

While :class:`StopOnSignals` is active, the first SIGINT or SIGTERM raises :class:`SignalStop`
in the main thread (wherever the driver is waiting on the stream), so the engine can write the
finished rows it still buffers, mark the run interrupted in the manifest and shut Ray down. Later
signals are ignored while that happens, and a watchdog ends the process after ``deadline_s``
whatever is still running, so that an interrupted run always exits promptly with 130 or 143.
"""

from __future__ import annotations

import os
import signal
import sys
import threading

from ..errors import Interrupted

#: seconds from the first signal to a forced exit, whatever cleanup is still running.
DEADLINE_S = 9.0


class SignalStop(KeyboardInterrupt):
    """Raised by the handler wherever the main thread is. A ``KeyboardInterrupt`` (not an
    ``Exception``), so that library code on the way (Ray Data logs every ``Exception`` with its
    stack trace) lets it through untouched; :class:`StopOnSignals` turns it into :class:`Interrupted`.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


class StopOnSignals:
    """Context manager turning SIGINT/SIGTERM into :class:`SignalStop` in the main thread (and, if
    it reaches the end of the block, into :class:`Interrupted`).

    Wrap the whole run, cleanup included: on leaving, the deadline watchdog is cancelled and the
    previous handlers come back. ``ray.init`` installs its own SIGTERM handler, so call
    :meth:`rearm` once Ray is up. Outside the main thread it does nothing.
    """

    _SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, *, deadline_s: float = DEADLINE_S) -> None:
        self.deadline_s = deadline_s
        self.fired: int | None = None
        self._previous: dict[int, object] = {}
        self._timer: threading.Timer | None = None
        self._active = False

    def __enter__(self) -> "StopOnSignals":
        self._active = threading.current_thread() is threading.main_thread()
        if self._active:
            self._previous = {sig: signal.getsignal(sig) for sig in self._SIGNALS}
            self.rearm()
        return self

    def rearm(self) -> None:
        """Install the handlers again (after a library replaced them); no-op once a signal arrived."""
        if self._active and self.fired is None:
            for sig in self._SIGNALS:
                signal.signal(sig, self._handler)

    def _handler(self, signum: int, frame) -> None:
        if self.fired is not None:
            return
        self.fired = signum
        for sig in self._SIGNALS:  # one interruption is enough: the next signals wait for the cleanup
            signal.signal(sig, signal.SIG_IGN)
        self._timer = threading.Timer(self.deadline_s, _force_exit, args=(128 + signum, self.deadline_s))
        self._timer.daemon = True
        self._timer.start()
        raise SignalStop(signum)

    def __exit__(self, exc_type, exc, traceback) -> None:
        if self._active:
            if self._timer is not None:
                self._timer.cancel()
            for sig, old in self._previous.items():
                signal.signal(sig, old if old is not None else signal.SIG_DFL)
        if isinstance(exc, SignalStop):  # stopped before anything was saved
            raise Interrupted(exc.signum) from None


def _force_exit(code: int, deadline_s: float) -> None:
    sys.stderr.write(f"interrupted: cleanup took more than {deadline_s:g} s, exiting; rerun with --resume to continue\n")
    sys.stderr.flush()
    os._exit(code)
