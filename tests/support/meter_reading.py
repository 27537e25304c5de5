"""Reading a started meter for a while, as the director's read loop does, and checking every update came once."""

from __future__ import annotations

import time

import numpy as np

from director.meters.base import Meter
from powerlog.spl import PowerSample

__all__ = ["assert_every_update_once", "missed_updates", "read_for"]


def read_for(meter: Meter, seconds: float, every_s: float = 0.5) -> list[PowerSample]:
    """read_new() every ``every_s`` for ``seconds``, then stop and take what is left."""
    samples: list[PowerSample] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        time.sleep(every_s)
        samples += meter.read_new()
    meter.stop()
    return samples + meter.read_new()


def missed_updates(t_utc_ns: np.ndarray, interval_ns: int) -> int:
    """Updates between consecutive samples that were never read: an interval of 1.5 or more counts its rounded
    number of intervals, less one."""
    steps = np.diff(t_utc_ns) / interval_ns
    return int(np.sum(np.round(steps[steps >= 1.5]) - 1))


def assert_every_update_once(samples: list[PowerSample], expected: int, interval_ns: int) -> None:
    """``expected`` +/- 2 samples, none read twice, and missed updates within 1 % of ``expected`` (at least one):
    a poller that reads one update per update loses one only when the machine held it back longer than an
    interval (the suite runs on busy cores; ``bench_ingest`` holds the director to the same 1 %), while a
    poller that reads on its own clock or skips updates loses many."""
    t = np.array([s.t_utc_ns for s in samples])
    assert expected - 2 <= len(samples) <= expected + 2, len(samples)
    assert len(set(t.tolist())) == len(t)  # no update read twice
    missed = missed_updates(t, interval_ns)
    assert missed <= max(1, expected // 100), f"{missed} updates missed of {expected}"
