"""The join by time: every wall source's energy over a LoadGen window from its own timestamped samples, summed
per node and over the system (nodes plus the interconnect), as typed result records: pure.

Each source (an analyzer or its channel, a BMC, a PDU outlet) keeps its own instants and rate, e.g. a 1 Hz
BMC beside a 10 Hz analyzer; its times must already be on the director's clock. A source's energy is the
trapezoid of its samples over [begin, end] with the window edges interpolated between the samples around
them (:func:`analyzer.metrics.trapezoid_energy_j`, the code of the single-meter figure). Nothing is
resampled and no line is paired with another: a source is never read at another source's instants.

A reading that is no measurement (not finite, or negative as PTDaemon's -1 for a sample it did not get)
is left out; the interval around it is then checked like any other. Gaps, per source: two samples the
integral uses further apart than ``gap_factor`` x the source's nominal interval (:data:`GAP_FACTOR` by
default), and a window edge further than that from the source's nearest sample (the integral holds the nearest
value there; a meter stopped as LoadGen ends leaves up to one interval after its last sample, which is sampling,
not a gap).
A source with a gap is incomplete, and so are its node and the system.

The interconnect is measured (a :class:`WallSeries`, integrated like any source) or estimated
(:class:`EstimatedInterconnect`: its maximum specified power times the share the run uses, over the
window), and then named in the system's ``estimated``. Node and system figures are sums with
:func:`math.fsum`, the system's over every source directly, so the nodes' figures sum to it to rounding.

How far a trapezoid may be from the true energy: :func:`interpolation_error_bound_j`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from analyzer.errors import TimeJoinError
from analyzer.metrics import trapezoid_energy_j
from powerlog.result_record import (
    InterconnectRecord,
    NodeEnergyRecord,
    SampleGapRecord,
    SourceEnergyRecord,
    SystemEnergyRecord,
)
from powerlog.tiers import MeasurementTier
from powerlog.timestamps import NS_PER_S

__all__ = [
    "GAP_FACTOR",
    "EstimatedInterconnect",
    "WallSeries",
    "interpolation_error_bound_j",
    "join_by_time",
    "source_energy",
]

# an interval over 3 nominal ones is a gap: two samples missed in a row, never one late sample of a meter whose
# update jitters (a BMC's 1 s is often 1.2 s)
GAP_FACTOR = 3.0


@dataclass(frozen=True, eq=False)
class WallSeries:
    """One wall source's samples: ``t_utc_ns`` on the director's clock, ``power_w`` at each, its nominal
    sampling interval and its measurement tier. Checked on construction (:class:`TimeJoinError`)."""

    name: str
    node: str
    t_utc_ns: npt.NDArray[np.int64]
    power_w: npt.NDArray[np.float64]
    interval_s: float
    tier: MeasurementTier | None = None
    simulated: bool = False  # read from a simulated meter (its identity said so)

    def __post_init__(self) -> None:
        where = f"wall source {self.name!r} of node {self.node!r}"
        if not self.name or not self.node:
            raise TimeJoinError(f"{where}: a source needs a name and a node; give both")
        t, p = np.asarray(self.t_utc_ns), np.asarray(self.power_w)
        if t.ndim != 1 or p.ndim != 1 or t.shape != p.shape:
            raise TimeJoinError(
                f"{where}: t_utc_ns and power_w must be 1-D arrays of one length, found shapes {t.shape} and "
                f"{p.shape}; pass one time per reading"
            )
        if t.shape[0] and not np.issubdtype(t.dtype, np.integer):
            raise TimeJoinError(f"{where}: t_utc_ns must be integer UTC nanoseconds, found {t.dtype}")
        if not (math.isfinite(self.interval_s) and self.interval_s > 0):
            raise TimeJoinError(f"{where}: the nominal interval must be a positive number of seconds, "
                                f"found {self.interval_s!r}")  # fmt: skip
        object.__setattr__(self, "t_utc_ns", t.astype(np.int64, copy=False))
        object.__setattr__(self, "power_w", p.astype(np.float64, copy=False))

    def valid(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        """The readings that are measurements (finite, >= 0), in time order."""
        with np.errstate(invalid="ignore"):
            keep = np.isfinite(self.power_w) & (self.power_w >= 0)
        t, p = self.t_utc_ns[keep], self.power_w[keep]
        order = np.argsort(t, kind="stable")
        return t[order], p[order]


@dataclass(frozen=True)
class EstimatedInterconnect:
    """An interconnect that is not measured: its maximum specified power times the share of it the run uses."""

    name: str
    max_power_w: float
    share: float

    def __post_init__(self) -> None:
        if not self.name:
            raise TimeJoinError("the estimated interconnect needs a name (the switch it stands for)")
        if not (math.isfinite(self.max_power_w) and self.max_power_w >= 0):
            raise TimeJoinError(f"interconnect {self.name!r}: max_power_w must be a finite number >= 0, "
                                f"found {self.max_power_w!r}")  # fmt: skip
        if not (math.isfinite(self.share) and 0 < self.share <= 1):
            raise TimeJoinError(f"interconnect {self.name!r}: share must be in (0, 1], found {self.share!r}")

    @property
    def power_w(self) -> float:
        return self.max_power_w * self.share


def _used_times(t: npt.NDArray[np.int64], begin_ns: int, end_ns: int) -> npt.NDArray[np.int64]:
    """The instants the integral uses: the last at or before begin, those inside, the first at or after end."""
    before = np.flatnonzero(t <= begin_ns)
    after = np.flatnonzero(t >= end_ns)
    lo = int(before[-1]) if before.shape[0] else 0
    hi = int(after[0]) + 1 if after.shape[0] else t.shape[0]
    used: npt.NDArray[np.int64] = t[lo:hi]
    return used


def _gaps(
    series: WallSeries, t: npt.NDArray[np.int64], begin_ns: int, end_ns: int, factor: float
) -> list[SampleGapRecord]:
    def gap(kind: str, a: int, b: int) -> SampleGapRecord:
        a, b = max(a, begin_ns), min(b, end_ns)
        return SampleGapRecord(kind=kind, begin_utc_ns=a, end_utc_ns=b, length_s=(b - a) / NS_PER_S)

    if t.shape[0] == 0:
        return [gap("no_samples", begin_ns, end_ns)]
    used = _used_times(t, begin_ns, end_ns)
    gaps = []
    limit_ns = factor * series.interval_s * NS_PER_S
    if t[0] - begin_ns > limit_ns:
        gaps.append(gap("window_begin", begin_ns, int(min(t[0], end_ns))))
    for i in np.flatnonzero(np.diff(used) > limit_ns):
        a, b = int(used[i]), int(used[i + 1])
        if a < end_ns and b > begin_ns:
            gaps.append(gap("interval", a, b))
    if end_ns - t[-1] > limit_ns:
        gaps.append(gap("window_end", int(max(t[-1], begin_ns)), end_ns))
    return gaps


def _window(begin_utc_ns: int, end_utc_ns: int) -> float:
    if not end_utc_ns > begin_utc_ns:
        raise TimeJoinError(f"the window must end after it begins, found begin {begin_utc_ns} ns, end {end_utc_ns} ns")
    return (end_utc_ns - begin_utc_ns) / NS_PER_S


def source_energy(
    series: WallSeries, begin_utc_ns: int, end_utc_ns: int, gap_factor: float = GAP_FACTOR
) -> SourceEnergyRecord:
    """One source over [begin, end]: its energy from its own samples, average power, samples, gaps."""
    window_s = _window(begin_utc_ns, end_utc_ns)
    t, p = series.valid()
    gaps = _gaps(series, t, begin_utc_ns, end_utc_ns, gap_factor)
    energy = trapezoid_energy_j(t, p, begin_utc_ns, end_utc_ns) if t.shape[0] else None
    used = _used_times(t, begin_utc_ns, end_utc_ns)
    return SourceEnergyRecord(
        name=series.name,
        node=series.node,
        tier=series.tier,
        simulated=series.simulated,
        interval_s=series.interval_s,
        energy_j=energy,
        avg_power_w=None if energy is None else energy / window_s,
        samples_in_window=int(((t > begin_utc_ns) & (t < end_utc_ns)).sum()),
        max_interval_s=float(np.diff(used).max()) / NS_PER_S if used.shape[0] > 1 else None,
        gaps=gaps,
        complete=not gaps,
    )


def _per_query(energy_j: float | None, query_count: int | None) -> float | None:
    return None if energy_j is None or query_count is None else energy_j / query_count


def _sum(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return math.fsum(known) if known else None


def _interconnect(
    part: WallSeries | EstimatedInterconnect, begin_ns: int, end_ns: int, factor: float
) -> InterconnectRecord:
    window_s = _window(begin_ns, end_ns)
    if isinstance(part, EstimatedInterconnect):
        return InterconnectRecord(name=part.name, estimated=True, energy_j=part.power_w * window_s,
                                  avg_power_w=part.power_w, max_power_w=part.max_power_w, share=part.share)  # fmt: skip
    source = source_energy(part, begin_ns, end_ns, factor)
    return InterconnectRecord(name=part.name, estimated=False, energy_j=source.energy_j,
                              avg_power_w=source.avg_power_w, source=source)  # fmt: skip


def join_by_time(
    sources: Sequence[WallSeries],
    begin_utc_ns: int,
    end_utc_ns: int,
    interconnect: WallSeries | EstimatedInterconnect | None = None,
    query_count: int | None = None,
    gap_factor: float = GAP_FACTOR,
) -> SystemEnergyRecord:
    """Every source over the window, each node's sum and the system's (nodes in the order they first appear).

    ``query_count``: LoadGen's queries in the window, for the energy per query (None: not given).
    """
    window_s = _window(begin_utc_ns, end_utc_ns)
    if query_count is not None and query_count <= 0:
        raise TimeJoinError(f"query_count must be a positive number of queries or None, found {query_count}")
    if not (math.isfinite(gap_factor) and gap_factor >= 1):
        raise TimeJoinError(f"gap_factor must be at least 1 (nominal intervals), found {gap_factor}")
    names = [s.name for s in sources] + ([interconnect.name] if interconnect is not None else [])
    if len(set(names)) != len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise TimeJoinError(f"wall sources named twice: {twice}; give every source (and the interconnect) its own name")
    records = [source_energy(s, begin_utc_ns, end_utc_ns, gap_factor) for s in sources]
    nodes = []
    for node in dict.fromkeys(s.node for s in sources):
        mine = [r for r in records if r.node == node]
        energy = _sum([r.energy_j for r in mine])
        nodes.append(NodeEnergyRecord(
            node=node, sources=mine, energy_j=energy, avg_power_w=None if energy is None else energy / window_s,
            energy_per_query_j=_per_query(energy, query_count), complete=all(r.complete for r in mine),
        ))  # fmt: skip
    link = None if interconnect is None else _interconnect(interconnect, begin_utc_ns, end_utc_ns, gap_factor)
    total = _sum([r.energy_j for r in records] + [link.energy_j if link else None])
    link_complete = link is None or link.estimated or (link.source is not None and link.source.complete)
    return SystemEnergyRecord(
        begin_utc_ns=begin_utc_ns,
        end_utc_ns=end_utc_ns,
        window_s=window_s,
        gap_factor=gap_factor,
        nodes=nodes,
        interconnect=link,
        energy_j=total,
        avg_power_w=None if total is None else total / window_s,
        query_count=query_count,
        energy_per_query_j=_per_query(total, query_count),
        estimated=[link.name] if link is not None and link.estimated else [],
        complete=bool(nodes) and all(n.complete for n in nodes) and link_complete,
    )


def interpolation_error_bound_j(
    t_utc_ns: npt.NDArray[np.int64], begin_utc_ns: int, end_utc_ns: int, max_slope_w_per_s: float
) -> float:
    """How far the trapezoid of samples at ``t_utc_ns`` can be from the true energy of a continuous power
    curve whose slope never exceeds ``max_slope_w_per_s`` in magnitude.

    On an interval of length h between two samples, linear interpolation of such a curve is off by at most
    2 L (t - a)(b - t) / h at t, whose integral is L h^2 / 3; that bounds the part of the interval inside the
    window too (an edge interpolated between the samples around it). Where an edge has no sample beyond it,
    the held value is off by at most L x at a distance x from the sample it holds (L d^2 / 2 over a stretch d
    that starts at the sample). The bound is their sum.
    """
    t = np.sort(np.asarray(t_utc_ns, dtype=np.int64))
    if t.shape[0] == 0:
        raise TimeJoinError("no sample: the energy of a window without samples has no bound")
    used = _used_times(t, begin_utc_ns, end_utc_ns)
    h_s = np.diff(used) / NS_PER_S
    bound = max_slope_w_per_s * float((h_s**2).sum()) / 3.0
    first, last = int(t[0]), int(t[-1])
    if first > begin_utc_ns:  # held back to begin from the first sample: L (first - t) over [begin, first]
        bound += _held_j(max_slope_w_per_s, first - begin_utc_ns, first - min(first, end_utc_ns))
    if last < end_utc_ns:  # held on to end from the last sample: L (t - last) over [last, end]
        bound += _held_j(max_slope_w_per_s, end_utc_ns - last, max(last, begin_utc_ns) - last)
    return bound


def _held_j(slope_w_per_s: float, far_ns: int, near_ns: int) -> float:
    """The integral of L x for x from ``near`` to ``far`` (the distance to the held sample)."""
    return slope_w_per_s * ((far_ns / NS_PER_S) ** 2 - (near_ns / NS_PER_S) ** 2) / 2.0
