"""How late the director's event loop runs: every request, batch and meter reading waits behind whatever holds it.

A timer asks to wake every ``interval_s``; how much later than asked it wakes is the loop's lag at that moment (a
full garbage collection, a long handler, a thread holding the GIL, the process waiting for a CPU). ``GET /metrics``
shows the lags as the histogram ``mlpower_director_loop_lag_seconds``: a rack's node agents measure their POSTs'
round trips, and this says how much of a slow one was the director (bench_rack reads both).
"""

from __future__ import annotations

import asyncio
import bisect
import time
from collections.abc import Callable

from prometheus_client.core import HistogramMetricFamily

__all__ = ["LAG_BUCKETS_S", "LoopLag"]

LAG_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
INTERVAL_S = 0.05


class LoopLag:
    """The event loop's lags since start, in :data:`LAG_BUCKETS_S` (each count is of lags at most that long)."""

    def __init__(self, interval_s: float = INTERVAL_S, clock_s: Callable[[], float] = time.monotonic) -> None:
        self.interval_s = interval_s
        self._clock_s = clock_s
        self.counts = [0] * (len(LAG_BUCKETS_S) + 1)  # the last: longer than every bucket
        self.total_s = 0.0
        self.max_s = 0.0

    @property
    def checks(self) -> int:
        return sum(self.counts)

    def record(self, lag_s: float) -> None:
        lag_s = max(0.0, lag_s)
        self.counts[bisect.bisect_left(LAG_BUCKETS_S, lag_s)] += 1
        self.total_s += lag_s
        self.max_s = max(self.max_s, lag_s)

    async def run(self) -> None:
        """Measure until cancelled."""
        while True:
            asked_s = self._clock_s()
            await asyncio.sleep(self.interval_s)
            self.record(self._clock_s() - asked_s - self.interval_s)

    def metric(self) -> HistogramMetricFamily:
        buckets, running = [], 0
        for bound_s, count in zip((*LAG_BUCKETS_S, float("inf")), self.counts, strict=True):
            running += count
            buckets.append(("+Inf" if bound_s == float("inf") else f"{bound_s:g}", running))
        return HistogramMetricFamily(
            "mlpower_director_loop_lag_seconds",
            f"how much later than asked the event loop woke a timer set every {self.interval_s:g} s (since start)",
            buckets=buckets,
            sum_value=self.total_s,
        )
