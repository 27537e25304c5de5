"""The one mapping from the SUT's clock onto the director's (the meter's) clock, with its error bound.

The agent measures ``offset = director clock - SUT clock`` several times in a session (the session
measurement, then before and after each phase; session.json ``clock``), each at a known SUT time
``s_i`` with a bound ``b_i`` (half the best round trip): the true offset at ``s_i`` lies in
``[o_i - b_i, o_i + b_i]``.

Between two neighbouring measurements ``i < j`` the SUT clock is taken to run at a steady rate
(crystal drift: tens of ppm), so the offset is linear in SUT time and, at ``s = s_i + f (s_j - s_i)``
with ``0 <= f <= 1``::

    offset(s) = (1 - f) o_i + f o_j          bound(s) = (1 - f) b_i + f b_j

The bound holds because the true offset at ``s`` is the same convex combination of the true offsets
at ``s_i`` and ``s_j``, each within its own bound. Before the first and after the last measurement
the nearest one is held (no extrapolation). A step of the SUT clock between two measurements breaks
the steady-rate assumption; the analyzer's ``7.clock_step`` rule reports such a change.

Every consumer places SUT times with this one object: the LoadGen window of the wall-power
figures, the GPU series, and the director's live markers; SUT times are stored as the SUT wrote them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from powerlog.run_record import ClockEntry

__all__ = ["ClockPoint", "SutClockMap"]


@dataclass(frozen=True)
class ClockPoint:
    """One measurement: at SUT time ``sut_utc_ns`` the offset was ``offset_ns`` +- ``bound_ns``."""

    sut_utc_ns: int
    offset_ns: int
    bound_ns: int


@dataclass(frozen=True)
class SutClockMap:
    """SUT time -> director time, piecewise linear through the measurements (sorted by SUT time)."""

    points: tuple[ClockPoint, ...]

    @classmethod
    def from_points(cls, points: Iterable[ClockPoint]) -> SutClockMap:
        return cls(tuple(sorted(points, key=lambda p: p.sut_utc_ns)))

    @classmethod
    def from_reports(cls, reports: Iterable[Mapping[str, Any]]) -> SutClockMap:
        """From session.json ``clock`` entries (``offset_ns``, ``bound_ns``, ``agent_utc_ns``); entries that lack
        them are left out, and an entry without its SUT time counts as taken at the start."""
        points = []
        for r in reports:
            try:
                points.append(ClockPoint(int(r.get("agent_utc_ns", 0)), int(r["offset_ns"]), int(r["bound_ns"])))
            except (KeyError, TypeError, ValueError):
                continue
        return cls.from_points(points)

    @classmethod
    def from_entries(cls, entries: Iterable[ClockEntry]) -> SutClockMap:
        """From a typed session record's ``clock``."""
        return cls.from_points(ClockPoint(e.agent_utc_ns, e.offset_ns, e.bound_ns) for e in entries)

    @property
    def known(self) -> bool:
        """Whether any measurement exists (without one, SUT times are taken as director times, bound unknown)."""
        return bool(self.points)

    def _at(self, sut_utc_ns: int) -> tuple[float, float]:
        p = self.points
        if not p:
            return 0.0, 0.0
        if sut_utc_ns <= p[0].sut_utc_ns:
            return float(p[0].offset_ns), float(p[0].bound_ns)
        if sut_utc_ns >= p[-1].sut_utc_ns:
            return float(p[-1].offset_ns), float(p[-1].bound_ns)
        j = next(k for k in range(1, len(p)) if p[k].sut_utc_ns >= sut_utc_ns)
        i = j - 1
        span = p[j].sut_utc_ns - p[i].sut_utc_ns
        f = (sut_utc_ns - p[i].sut_utc_ns) / span if span else 1.0
        return (1 - f) * p[i].offset_ns + f * p[j].offset_ns, (1 - f) * p[i].bound_ns + f * p[j].bound_ns

    def offset_ns(self, sut_utc_ns: int) -> int:
        return round(self._at(sut_utc_ns)[0])

    def bound_ns(self, sut_utc_ns: int) -> int | None:
        """The error bound of :meth:`to_director_ns` at that time; None when nothing was measured."""
        return round(self._at(sut_utc_ns)[1]) if self.points else None

    def to_director_ns(self, sut_utc_ns: int) -> int:
        return int(sut_utc_ns) + self.offset_ns(int(sut_utc_ns))

    def to_director_array(self, sut_utc_ns: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """The same mapping for many times at once (the offsets, small numbers, are interpolated in float64;
        the times stay int64)."""
        times = np.asarray(sut_utc_ns, dtype=np.int64)
        if not self.points:
            return times.copy()
        xs = np.array([p.sut_utc_ns for p in self.points], dtype=np.float64)
        offsets = np.array([p.offset_ns for p in self.points], dtype=np.float64)
        return times + np.rint(np.interp(times.astype(np.float64), xs, offsets)).astype(np.int64)
