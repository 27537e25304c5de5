"""A session's settings and its checkpoint times."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Clock", "PhaseTimes", "SessionConfig"]

Clock = Callable[[], int]  # UTC ns


@dataclass(frozen=True)
class SessionConfig:
    runs_dir: Path
    settle_s: float = 10.0
    current_factor: float = 1.1
    interval_ms: int = 1000
    ptd_log: Path | None = None  # PTDaemon's own log file, copied into power/ptd_logs.txt at close
    min_free_bytes: int = 100_000_000  # a phase does not start with less free space in the run folder
    reconnect_first_delay_s: float = 0.5  # a lost meter: the first retry, doubled each time up to the max
    reconnect_max_delay_s: float = 10.0
    phase_start_meter_wait_s: float = 20.0  # within the agent's patience for a phase start (its request timeout)
    lease_s: float = 20.0  # an HTTP session whose agent is silent this long is aborted and the meter freed


@dataclass
class PhaseTimes:
    """The four checkpoints of a phase, on both clocks (wall UTC ns) and the director's monotonic clock."""

    director_utc_ns: list[int] = field(default_factory=list)
    director_monotonic_s: list[float] = field(default_factory=list)
    agent_utc_ns: list[int] = field(default_factory=list)

    def mark(self, utc_ns: int, monotonic_s: float) -> None:
        self.director_utc_ns.append(utc_ns)
        self.director_monotonic_s.append(monotonic_s)
