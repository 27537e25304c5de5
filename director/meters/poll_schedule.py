"""When to poll a device that refreshes its readings on its own cycle (a Redfish BMC or PDU): pure, no clock of its own.

The device refreshes every ``T_d`` seconds on its own clock; the director polls it every ``T_p`` (normally ``T_p =
T_d``) and keeps a reading only when it is new (its ``ReadingTime``, ETag or value changed). Polls on a fixed
schedule from the phase start go wrong in two ways:

1. **Bursts.** A rack's meters all start at the phase start, so their polls come in step: 72 BMCs' replies reached
   the director in one burst a second, and the poller threads' turns at the interpreter held up its event loop 100
   to 250 ms each time. So the first poll comes at a random point of the first interval: ``start + U(0, T_p)``.
2. **Aliasing.** With ``T_p = T_d`` every poll lands at one point of the device's cycle. Where that point lies
   within the polls' jitter of the device's refresh, poll ``k`` may see update ``n`` (just after it), poll ``k+1``
   update ``n`` again (just before the next) and poll ``k+2`` update ``n+2``: update ``n+1`` is never read.

The rule: polls follow each other every ``T_p`` from the previous *scheduled* time (a late poll skips a turn, it
never bunches two). A poll that finds nothing new when an update is due (``0.9 T_d`` since the last new reading,
``T_d`` the median of the last 20 intervals between new readings, ``T_p`` until there are any) is followed by one
more, ``T_p / 4`` later (``min_step_s`` at least); one, not a chain, so a stuck sensor costs two polls an interval,
not four. When that one finds the update, the schedule restarts from it: from then on each poll comes within
``T_p / 4`` after the device's refresh, and jitter smaller than that no longer straddles it. Before the first new
reading after the start (for at most ``2 T_p``), every empty poll is followed by one ``T_p / 4`` later, so that the
random start costs the phase at most a quarter interval of samples: the first comes by ``u + T_p / 4`` after the
start, ``u`` the device's first refresh, where a fixed schedule could take ``2 T_p``.
"""

from __future__ import annotations

import statistics
from collections import deque

__all__ = ["PollSchedule"]

DUE_FRACTION = 0.9  # an update is due this fraction of the device's interval after the last one (jitter)
CATCH_UP_FRACTION = 0.25  # a poll that found nothing new when an update was due: the next, this much later
FIRST_READING_INTERVALS = 2  # before the first new reading, every empty poll is followed up, this many intervals


class PollSchedule:
    """One measurement's polls: call :meth:`polled` after each; :attr:`next_s` is when to poll next (the caller's
    monotonic clock, seconds)."""

    def __init__(self, interval_s: float, started_s: float, first_after_s: float, min_step_s: float) -> None:
        """``first_after_s``: the first poll's delay after ``started_s``, drawn by the caller in ``[0, interval_s)``."""
        self.interval_s = interval_s
        self.min_step_s = min_step_s
        self.next_s = started_s + first_after_s
        self._last_new_s = started_s  # the start's baseline reading
        self._seen_new = False
        self._catching_up = False
        self._intervals_s: deque[float] = deque(maxlen=20)

    @property
    def update_interval_s(self) -> float | None:
        """The device's own update interval as seen so far (the median between new readings); None before two."""
        return statistics.median(self._intervals_s) if self._intervals_s else None

    def polled(self, polled_s: float, new: bool) -> None:
        """A poll made at ``polled_s`` found a new reading (``new``) or not (nothing new, or no usable reply)."""
        self.next_s = max(self.next_s + self.interval_s, polled_s)
        if new:
            if self._seen_new:
                self._intervals_s.append(polled_s - self._last_new_s)
            if self._catching_up:
                self.next_s = polled_s + self.interval_s  # in step with the device's refresh from here
            self._last_new_s, self._seen_new, self._catching_up = polled_s, True, False
            return
        self._catching_up = self._catch_up(polled_s)
        if self._catching_up:
            self.next_s = min(self.next_s, polled_s + max(self.interval_s * CATCH_UP_FRACTION, self.min_step_s))

    def _catch_up(self, polled_s: float) -> bool:
        since_s = polled_s - self._last_new_s
        if not self._seen_new:
            return since_s < FIRST_READING_INTERVALS * self.interval_s
        return not self._catching_up and since_s >= DUE_FRACTION * (self.update_interval_s or self.interval_s)
