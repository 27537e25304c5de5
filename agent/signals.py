"""SIGTERM and SIGHUP taken the way Ctrl-C is: as an interruption that aborts the session.

A process manager stops the agent with SIGTERM, a closed terminal or SSH connection sends SIGHUP; both
killed the agent at once (Python's default), leaving its session holding the meter and its benchmark
running. Inside :func:`forwarded_signals` they raise :class:`Signalled`, a ``KeyboardInterrupt``, so every
``except KeyboardInterrupt`` and ``finally`` on the way out runs: the session is aborted with the signal's
name as the reason and the workload's process group is taken down (:mod:`agent.workload`).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

__all__ = ["FORWARDED_SIGNALS", "Signalled", "exit_status", "forwarded_signals"]

FORWARDED_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


class Signalled(KeyboardInterrupt):
    """The agent received a stopping signal; ``signal_name`` is ``SIGTERM``, ``SIGHUP`` (or ``SIGINT``)."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.signal_name = signal.Signals(signum).name
        super().__init__(f"received {self.signal_name}")


def exit_status(error: KeyboardInterrupt) -> int:
    """The shell's status for a process a signal stopped: 128 + the signal's number (SIGINT, Ctrl-C: 130)."""
    return 128 + getattr(error, "signum", signal.SIGINT)


@contextmanager
def forwarded_signals() -> Iterator[None]:
    """While inside, SIGTERM and SIGHUP (unless ignored on entry) raise :class:`Signalled` in the main thread; the
    previous handlers are
    put back on the way out. Only the first signal raises: a second one (a process manager repeating itself)
    must not cut short the abort the first one started. Elsewhere than the main thread this does nothing (only
    the main thread can set handlers)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    raised = False

    def handler(signum: int, _frame: FrameType | None) -> None:
        nonlocal raised
        if not raised:
            raised = True
            raise Signalled(signum)

    # a signal ignored on entry stays ignored, as Python leaves SIGINT: `nohup` (SIGHUP) and a shell's background
    # job (SIGINT) ask for exactly that
    taken = [signum for signum in FORWARDED_SIGNALS if signal.getsignal(signum) is not signal.SIG_IGN]
    previous = {signum: signal.signal(signum, handler) for signum in taken}
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)
