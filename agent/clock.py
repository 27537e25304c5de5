"""Clock offset to the director: the four-timestamp exchange (as NTP does it).

t1 agent sends, t2 director receives, t3 director replies, t4 agent receives; the offset theta is
director minus agent. The request takes u > 0 and the reply v > 0, unknown and unequal, so

    t2 = t1 + theta + u   and   t4 = t3 - theta + v,   hence   t3 - t4 < theta < t2 - t1.

Each round is an interval that holds the truth, whatever the two legs' delays: its midpoint is the
classic offset ((t2 - t1) + (t3 - t4)) / 2 and its half-width half the delay (t4 - t1) - (t3 - t2).
The truth lies in every round's interval, so in their intersection,

    max(t3 - t4) = theta - min(v)  <  theta  <  theta + min(u) = min(t2 - t1),

and the estimate is the intersection's midpoint, its half-width the bound. Its error is
(min(u) - min(v)) / 2, at most the bound (min(u) + min(v)) / 2, which is at most half the fastest round
trip: a slow or stalled round widens nothing, and a leg that was fast once tightens its side for good.
The intersection is empty only if a clock stepped during the exchange (or rounds are misordered); then
the fastest round alone is used, as it is the one a step disturbs least.
"""

from __future__ import annotations

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


def estimate_offset(rounds: list[ClockRound]) -> ClockMeasurement:
    """The offset and its bound from the intersection of the rounds' intervals (pure; see the module)."""
    if not rounds:
        raise ValueError("no clock rounds to estimate from")
    best = min(rounds, key=lambda r: r.delay_ns)
    low_ns = max(r.t3_director_ns - r.t4_agent_ns for r in rounds)
    high_ns = min(r.t2_director_ns - r.t1_agent_ns for r in rounds)
    if low_ns > high_ns:  # a clock stepped mid-exchange: the fastest round's own interval
        low_ns, high_ns, kept = best.t3_director_ns - best.t4_agent_ns, best.t2_director_ns - best.t1_agent_ns, 1
    else:
        kept = len(rounds)
    return ClockMeasurement(
        offset_ns=(low_ns + high_ns) // 2,
        bound_ns=(high_ns - low_ns + 1) // 2,
        delay_ns=best.delay_ns,
        rounds=len(rounds),
        kept=kept,
        agent_utc_ns=best.t4_agent_ns,
    )


def measure_offset(
    ask_time: Callable[[], TimeReply], clock_ns: Callable[[], int], rounds: int = MIN_ROUNDS
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
    return estimate_offset(samples)
