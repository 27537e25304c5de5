"""A run's optional idle phase (``mlpower-agent run --idle-s``): its wall samples and window, read for static power.

The idle phase is mlpower's own, recorded before ranging: ``idle/spl.txt`` and session.json ``phases.idle``.
Its window is the phase's own checkpoints on the director's (the meter's) clock: from the end of the start (the
analyzer set, settled and measuring) to the stop's arrival, so no clock map is involved. It is not an official
phase: nothing here becomes a finding, and a problem with it only says why the report cannot split static from
active energy.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from analyzer.metrics import WindowStats, window_stats
from analyzer.system_run import SystemWall, system_wall
from powerlog.errors import FormatError
from powerlog.layout import IDLE, IDLE_DIR
from powerlog.run_record import SessionJson
from powerlog.spl import PowerLog, read_spl
from powerlog.system_record import SystemRecord

__all__ = ["IdleData", "load_idle"]


@dataclass(frozen=True)
class IdleData:
    """The idle phase as recorded: ``window_utc_ns`` on the meter's clock; ``problem`` says why it cannot be
    used (its samples unreadable, its window unfinished), None when it can."""

    spl: PowerLog | None
    window_utc_ns: tuple[int, int] | None
    stats: WindowStats | None
    problem: str | None = None
    system_wall: SystemWall | None = None  # a multi-node system's wall sources over the idle phase
    system_problems: tuple[str, ...] = ()  # the sources whose idle samples could not be read


def load_idle(
    root: Path,
    record: SessionJson | None,
    spl_fields: Collection[str] = ("power_w",),
    system: SystemRecord | None = None,
) -> IdleData | None:
    """The idle phase of the run folder ``root`` (with ``system``: every wall source's idle samples as well); None
    when the session had none (or no session.json)."""
    phase = record.phases.get(IDLE) if record is not None else None
    if phase is None:
        return None
    times = phase.director_utc_ns
    window = (times[1], times[2]) if len(times) >= 3 and times[2] > times[1] else None
    path = root / IDLE_DIR / "spl.txt"
    try:
        spl = read_spl(path, spl_fields)
    except (FormatError, OSError) as e:
        return IdleData(None, window, None, f"{IDLE_DIR}/spl.txt cannot be read: {e}")
    if window is None:
        return IdleData(spl, None, None, "the idle phase did not stop (session.json phases.idle has no stop)")
    stats = window_stats(spl, *window)
    if stats.avg_power_w is None:
        return IdleData(spl, window, stats, f"{IDLE_DIR}/spl.txt has no valid sample inside the idle window")
    if system is None:
        return IdleData(spl, window, stats)
    problems: list[str] = []
    wall = system_wall(root, system, spl, lambda p, why: problems.append(f"{p}: {why}"), IDLE, record)
    return IdleData(spl, window, stats, None, wall, tuple(problems))
