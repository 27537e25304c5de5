"""Reading a started meter for a while, as the director's read loop does, and checking every update came once."""

from __future__ import annotations

import time

import numpy as np

from director.meters.base import Meter
from powerlog.spl import PowerSample

__all__ = ["assert_every_update_once", "read_for"]


def read_for(meter: Meter, seconds: float, every_s: float = 0.5) -> list[PowerSample]:
    """read_new() every ``every_s`` for ``seconds``, then stop and take what is left."""
    samples: list[PowerSample] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        time.sleep(every_s)
        samples += meter.read_new()
    meter.stop()
    return samples + meter.read_new()


def assert_every_update_once(samples: list[PowerSample], expected: int, interval_ns: int) -> None:
    """``expected`` +/- 2 samples, none read twice, none missed (no gap of 1.5 intervals)."""
    t = np.array([s.t_utc_ns for s in samples])
    assert expected - 2 <= len(samples) <= expected + 2, len(samples)
    assert len(set(t.tolist())) == len(t)  # no update read twice
    assert np.diff(t).max() < 1.5 * interval_ns  # no update missed
