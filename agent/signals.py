"""SIGINT, SIGTERM and SIGHUP taken alike: as an interruption that aborts the session.

A process manager stops the agent with SIGTERM, a closed terminal or SSH connection sends SIGHUP; both
killed the agent at once (Python's default), leaving its session holding the meter and its benchmark
running. Inside :func:`forwarded_signals` they raise :class:`Signalled`, a ``KeyboardInterrupt``, so every
``except KeyboardInterrupt`` and ``finally`` on the way out runs: the session is aborted with the signal's
name as the reason and the workload's process group is taken down (:mod:`agent.workload`). SIGINT goes the
same way (Python's own handler would raise a plain ``KeyboardInterrupt`` at any point): a step that must not
be cut in the middle, such as starting the workload (a group started but not yet named could not be stopped),
runs inside :func:`held_signals`, and a signal that arrives then is raised as soon as it is done.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

__all__ = ["FORWARDED_SIGNALS", "Signalled", "exit_status", "forwarded_signals", "held_signals"]

FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Signalled(KeyboardInterrupt):
    """The agent received a stopping signal; ``signal_name`` is ``SIGTERM``, ``SIGHUP`` (or ``SIGINT``)."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.signal_name = signal.Signals(signum).name
        super().__init__(f"received {self.signal_name}")


def exit_status(error: KeyboardInterrupt) -> int:
    """The shell's status for a process a signal stopped: 128 + the signal's number (SIGINT, Ctrl-C: 130)."""
    return 128 + getattr(error, "signum", signal.SIGINT)


class _Gate:
    """Whether a stopping signal may be raised now, and the one held back. One per process, as signal handlers
    are; only the main thread, where handlers run, touches it."""

    def __init__(self) -> None:
        self.depth = 0  # held_signals blocks open: one inside another (a power-limit restore) holds until the outer
        self.pending: int | None = None

    @property
    def holding(self) -> bool:
        return self.depth > 0


_GATE = _Gate()


@contextmanager
def held_signals() -> Iterator[None]:
    """A stopping signal that arrives inside is raised as :class:`Signalled` when the block is done, not in the
    middle of it (unless the block raises an error of its own, which then goes first). Inside another such block,
    the signal waits for the outer one."""
    _GATE.depth += 1
    try:
        yield
    finally:
        _GATE.depth -= 1
        signum = None
        if _GATE.depth == 0:
            signum, _GATE.pending = _GATE.pending, None
    if signum is not None:
        raise Signalled(signum)


@contextmanager
def forwarded_signals() -> Iterator[None]:
    """While inside, SIGINT, SIGTERM and SIGHUP (unless ignored on entry) raise :class:`Signalled` in the main
    thread (inside :func:`held_signals`: once it is done); the previous handlers are
    put back on the way out. Only the first signal raises: a second one (a process manager repeating itself)
    must not cut short the abort the first one started. Elsewhere than the main thread this does nothing (only
    the main thread can set handlers)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    raised = False

    def handler(signum: int, _frame: FrameType | None) -> None:
        nonlocal raised
        if raised:
            return
        raised = True
        if _GATE.holding:
            _GATE.pending = signum
        else:
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
