"""Clock offset to the director: the four-timestamp exchange (as NTP does it).

t1 agent sends, t2 director receives, t3 director replies, t4 agent receives.
offset = ((t2 - t1) + (t3 - t4)) / 2 is director minus agent; delay = (t4 - t1) - (t3 - t2).
The rounds with the lowest delay are kept (queueing only ever adds delay), their
median offset is reported, and half the smallest delay bounds the error: the true
offset lies within offset +/- bound when the two legs' delays are unequal at worst.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass

from powerlog.wire import ClockMeasurement, TimeReply

__all__ = ["MIN_ROUNDS", "ClockRound", "estimate_offset", "measure_offset"]

MIN_ROUNDS = 8


@dataclass(frozen=True)
class ClockRound:
    t1_agent_ns: int
    t2_director_ns: int
    t3_director_ns: int
    t4_agent_ns: int

    @property
    def offset_ns(self) -> float:
        return ((self.t2_director_ns - self.t1_agent_ns) + (self.t3_director_ns - self.t4_agent_ns)) / 2

    @property
    def delay_ns(self) -> int:
        return max(0, (self.t4_agent_ns - self.t1_agent_ns) - (self.t3_director_ns - self.t2_director_ns))


def estimate_offset(rounds: list[ClockRound], keep: int = 3) -> ClockMeasurement:
    """The offset from the ``keep`` lowest-delay rounds (pure)."""
    if not rounds:
        raise ValueError("no clock rounds to estimate from")
    best = sorted(rounds, key=lambda r: r.delay_ns)[: max(1, keep)]
    return ClockMeasurement(
        offset_ns=round(statistics.median(r.offset_ns for r in best)),
        bound_ns=(best[0].delay_ns + 1) // 2,
        delay_ns=best[0].delay_ns,
        rounds=len(rounds),
        kept=len(best),
        agent_utc_ns=best[0].t4_agent_ns,
    )


def measure_offset(
    ask_time: Callable[[], TimeReply], clock_ns: Callable[[], int], rounds: int = MIN_ROUNDS, keep: int = 3
) -> ClockMeasurement:
    """Run ``rounds`` exchanges through ``ask_time`` (one GET /v1/time each) timed with ``clock_ns``."""
    if rounds < 1:
        raise ValueError("at least one round")
    samples = []
    for _ in range(rounds):
        t1 = clock_ns()
        reply = ask_time()
        t4 = clock_ns()
        samples.append(ClockRound(t1, reply.receive_utc_ns, reply.send_utc_ns, t4))
    return estimate_offset(samples, keep)
