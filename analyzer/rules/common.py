"""What the rule modules share: the check type, a file's path in the run folder, a timestamp as logs write it."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from analyzer.findings import Finding
from analyzer.rounds import Round
from analyzer.run import RunData
from powerlog.layout import PHASE_DIRS
from powerlog.timestamps import format_ptd_timestamp

__all__ = ["Check", "log_time", "phase_file"]

Check = Callable[[RunData, Round], Iterable[Finding]]


def phase_file(run: RunData, phase: str, name: str) -> str:
    """A phase's file as the run folder names it (``run_1/spl.txt`` for testing)."""
    return f"{PHASE_DIRS[phase]}/{name}"


def log_time(t_utc_ns: int) -> str:
    """A time as PTDaemon and power-dev's logs write it, for messages a reader compares with those logs."""
    return format_ptd_timestamp(t_utc_ns)
