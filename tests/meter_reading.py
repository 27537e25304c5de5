"""Reading a started meter for a while, as the director's read loop does, and checking every update came once."""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from director.meters.base import Meter
from powerlog.spl import PowerSample

__all__ = ["HeldBack", "assert_every_update_once", "missed_updates", "read_for"]

WATCH_TICK_S = 0.005


@dataclass
class HeldBack:
    """When this process was held back (not run) for longer than ``threshold_s``, as a thread that ticks every
    5 ms saw it: UTC ns spans. On a machine with more test workers than cores this happens now and then; a
    10 Hz reader held back longer than an interval loses an update through no fault of its own."""

    threshold_s: float
    spans_utc_ns: list[tuple[int, int]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self._stop.is_set():
            before = time.time_ns()
            time.sleep(WATCH_TICK_S)
            after = time.time_ns()
            if (after - before) / 1e9 > WATCH_TICK_S + self.threshold_s:
                self.spans_utc_ns.append((before, after))

    def covers(self, start_ns: int, end_ns: int, margin_ns: int) -> bool:
        return any(a - margin_ns <= end_ns and start_ns <= b + margin_ns for a, b in self.spans_utc_ns)


def read_for(
    meter: Meter, seconds: float, every_s: float = 0.5, held_back: HeldBack | None = None
) -> list[PowerSample]:
    """read_new() every ``every_s`` for ``seconds``, then stop and take what is left; ``held_back`` (if given)
    records meanwhile when the process was not run."""
    watch = threading.Thread(target=held_back.run, daemon=True) if held_back else None
    if watch is not None:
        watch.start()
    samples: list[PowerSample] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        time.sleep(every_s)
        samples += meter.read_new()
    meter.stop()
    if held_back is not None and watch is not None:
        held_back._stop.set()
        watch.join()
    return samples + meter.read_new()


def missed_updates(t_utc_ns: np.ndarray, interval_ns: int) -> int:
    """Updates between consecutive samples that were never read: an interval of 1.5 or more counts its rounded
    number of intervals, less one."""
    steps = np.diff(t_utc_ns) / interval_ns
    return int(np.sum(np.round(steps[steps >= 1.5]) - 1))


def assert_every_update_once(
    samples: list[PowerSample], expected: int, interval_ns: int, held_back: HeldBack | None = None
) -> None:
    """``expected`` +/- 2 samples, none read twice, and missed updates within 1 % of ``expected`` (at least one):
    a poller that reads one update per update loses one only when the machine held it back longer than an
    interval (the suite runs on busy cores; ``bench_ingest`` holds the director to the same 1 %), while a
    poller that reads on its own clock or skips updates loses many. With ``held_back``, a gap that falls in a
    span when the whole process was not run does not count against the poller."""
    t = np.array([s.t_utc_ns for s in samples])
    assert expected - 2 <= len(samples) <= expected + 2, len(samples)
    assert len(set(t.tolist())) == len(t)  # no update read twice
    missed = 0
    held = 0
    for start, end in itertools.pairwise(t):
        lost = missed_updates(np.array([start, end]), interval_ns)
        if lost and held_back is not None and held_back.covers(int(start), int(end), interval_ns):
            held += lost
        else:
            missed += lost
    assert missed <= max(1, expected // 100), f"{missed} updates missed of {expected} ({held} more while held back)"
