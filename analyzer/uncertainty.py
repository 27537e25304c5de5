"""The uncertainty budget of a figure: its named components, combined and expanded (k = 2): pure functions.

The measurand of the wall figures is the system's true mean power over LoadGen's true window ``[b, e]``
(length ``T``), and ``T`` times it for the energy; mJ/query and efficiency follow from the mean power by
exact factors (LoadGen counts queries and times the window on one clock), so their relative uncertainty is the
mean power's. Each component is a standard uncertainty ``u_i`` (GUM: a limit ``a`` of a rectangular
distribution gives ``a / sqrt(3)``); they are independent, so ``u_c = sqrt(sum u_i^2)`` and the reported
expanded uncertainty is ``U = k u_c`` with ``k = 2`` (about 95 % coverage). For the mean power ``P`` of ``N``
samples ``p_1..p_N`` strictly inside the window:

- **accuracy** (or **calibration** for a BMC, PDU or sensor): the instrument's error limit at the mean reading,
  ``a = r P + g R`` (``r``, ``g``: reading and range fractions of the specification, ``R`` the range in W), the
  same for every sample, so it does not shrink with ``N``: ``u = a / sqrt(3)``. A meter of several channels
  (elements) is the root sum of squares of each channel's ``u`` (independent elements).
- **sampling**: an analyzer's readings (PTDaemon's, the direct driver's) are means over its update interval,
  read once each, so they tile the time from one interval before the first reading to the last; only the window's
  edges are partly covered: each edge's known mismatch ``m`` times how far the power there may be from the mean
  (the larger of the readings on either side) gives ``u = (m_b d_b + m_e d_e) / (sqrt(3) T)`` (added: a step in
  the load often puts both edges at their limits with one sign). Instants (a BMC's,
  NVML's) estimate the time average with the variance of a systematic sample, from successive differences
  (Wolter, *Introduction to Variance Estimation*, 2nd ed., 2007, ch. 8): ``u^2 = sum (p_{i+1} - p_i)^2 /
  (2 N (N - 1))``; white noise gives ``s^2 / N``, a smooth load far less.
- **clock**: the window is placed on the meter's clock within ``+-beta`` (the clock map's bound, or the round's
  checkpoint tolerance where no offset was measured). Moving both edges by ``delta`` changes the mean by
  ``delta (p_e - p_b) / T``, where ``p_b`` and ``p_e`` are the powers the move brings in and takes out at the two
  edges (the samples within ``w = max(beta, 2 x interval)`` of each edge, on the side the move exposes); with
  ``delta`` rectangular on ``+-beta``: ``u = beta S / (sqrt(3) T)``, ``S`` the larger of the two sides' ``|p_e - p_b|``.
- **gaps**: a stretch without samples (an interval over twice the median interval, the window edges included)
  is filled by the others; each stretch ``L`` (beyond one interval) weighs ``L / T`` times how far a mean over
  ``L`` of this load may be from the rest: the standard deviation of the means of consecutive ``L``-long blocks
  of the samples (the range over sqrt(3) with fewer than three blocks). The stretches' terms are added (not in
  quadrature: one load may drift through all of them).

The energy's components are ``T`` times the power's (the clock term ``beta S / sqrt(3)``), its accuracy
relative as the power's. A sum of sources (a system's nodes) adds its sources' components in quadrature.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from powerlog.accuracy import AccuracySpec
from powerlog.timestamps import NS_PER_S

__all__ = [
    "COVERAGE_FACTOR",
    "GAP_FACTOR",
    "Budget",
    "ClockBound",
    "Term",
    "accuracy_term",
    "combine",
    "energy_budget",
    "gap_share",
    "gaps_standard_w",
    "sampling_standard_w",
    "series_budget",
]

COVERAGE_FACTOR = 2.0
_SQRT3 = math.sqrt(3.0)
GAP_FACTOR = 2.0  # an interval over this many median intervals is a gap


@dataclass(frozen=True)
class Term:
    """One named component: a standard uncertainty in the figure's unit, and where it comes from."""

    name: str
    standard: float
    note: str


@dataclass(frozen=True)
class Budget:
    """A figure with its uncertainty components; ``expanded`` = ``k`` x their root sum of squares."""

    value: float
    unit: str
    terms: tuple[Term, ...]
    k: float = COVERAGE_FACTOR

    @property
    def standard(self) -> float:
        return math.sqrt(sum(t.standard**2 for t in self.terms))

    @property
    def expanded(self) -> float:
        return self.k * self.standard

    @property
    def relative_pct(self) -> float | None:
        return 100.0 * self.expanded / abs(self.value) if self.value else None

    @property
    def dominant(self) -> str | None:
        """The name of the largest component (None when all are zero)."""
        largest = max(self.terms, key=lambda t: t.standard, default=None)
        return largest.name if largest is not None and largest.standard > 0 else None

    def carried(self, value: float, unit: str) -> Budget:
        """The budget of a figure that is this one times or over exact factors (mJ/query, samples/s/W): the same
        relative components."""
        factor = abs(value / self.value) if self.value else 0.0
        return Budget(value, unit, tuple(replace(t, standard=factor * t.standard) for t in self.terms), self.k)

    def text(self, digits: int = 2) -> str:
        """``287.96 W ± 0.62 W (k=2)``."""
        return f"{self.value:.{digits}f} {self.unit} ± {self.expanded:.{digits}f} {self.unit} (k={self.k:g})"


@dataclass(frozen=True)
class ClockBound:
    """How far LoadGen's window may be off on the meter's clock (a limit), and why that much."""

    bound_ns: int
    source: str


def combine(value: float, unit: str, budgets: Sequence[Budget], extra: Sequence[Term] = ()) -> Budget:
    """The budget of a sum: each component name's standard uncertainties added in quadrature over the parts."""
    by_name: dict[str, list[Term]] = {}
    for term in [t for b in budgets for t in b.terms] + list(extra):
        by_name.setdefault(term.name, []).append(term)
    terms = tuple(
        Term(name, math.sqrt(sum(t.standard**2 for t in parts)), parts[0].note if len(parts) == 1 else f"{len(parts)} "
             f"parts in quadrature: {parts[0].note}")
        for name, parts in by_name.items()
    )  # fmt: skip
    return Budget(value, unit, terms)


def sampling_standard_w(power_w: npt.NDArray[np.float64]) -> float:
    """The systematic-sample standard uncertainty of the mean of ``power_w`` (in time order), by successive
    differences; a single sample says nothing of the variation: its whole value."""
    n = int(power_w.shape[0])
    if n < 2:
        return float(abs(power_w[0])) / _SQRT3 if n else 0.0
    return math.sqrt(float(np.sum(np.diff(power_w) ** 2)) / (2.0 * n * (n - 1)))


def _median_interval_s(t_ns: npt.NDArray[np.int64]) -> float:
    return float(np.median(np.diff(t_ns))) / NS_PER_S if t_ns.shape[0] > 1 else 0.0


def gap_share(t_ns: npt.NDArray[np.int64], begin_ns: int, end_ns: int, interval_s: float | None = None) -> float:
    """The share of the window that intervals over :data:`GAP_FACTOR` x the median interval leave unsampled (each
    beyond one interval), the stretches from the window's edges to the first and last samples included."""
    window_s = (end_ns - begin_ns) / NS_PER_S
    interval = interval_s if interval_s is not None else _median_interval_s(t_ns)
    if window_s <= 0 or interval <= 0:
        return 0.0 if t_ns.shape[0] else 1.0
    edges = np.concatenate(([begin_ns], np.sort(t_ns), [end_ns])).astype(np.int64)
    spans_s = np.diff(edges) / NS_PER_S
    missing_s = float(np.sum(np.where(spans_s > GAP_FACTOR * interval, spans_s - interval, 0.0)))
    return min(1.0, missing_s / window_s)


def _block_spread_w(
    t_ns: npt.NDArray[np.int64], power_w: npt.NDArray[np.float64], begin_ns: int, length_ns: int
) -> float:
    """The standard deviation of the means of consecutive blocks ``length_ns`` long (``t_ns`` ascending: each block
    is a run of samples, found in one pass); with fewer than three blocks the samples' range over sqrt(3) instead
    (nothing better is known)."""
    blocks = (t_ns - begin_ns) // max(length_ns, 1)
    first = np.concatenate(([0], np.flatnonzero(np.diff(blocks)) + 1))
    if power_w.shape[0] == 0 or first.shape[0] < 3:
        return float(power_w.max() - power_w.min()) / _SQRT3 if power_w.shape[0] else 0.0
    counts = np.diff(np.concatenate((first, [power_w.shape[0]])))
    means = np.add.reduceat(power_w, first) / counts
    return float(means.std(ddof=1))


def gaps_standard_w(
    t_ns: npt.NDArray[np.int64], power_w: npt.NDArray[np.float64], begin_ns: int, end_ns: int, interval_s: float
) -> float:
    """What the stretches without samples may cost the mean: each stretch ``L`` beyond one interval (over
    :data:`GAP_FACTOR` intervals, the window's edges included) weighs ``L / T`` times how far the mean of ``L``
    of this load may be from the rest (the spread of the means of ``L``-long blocks of the samples), added up.
    Stretches of one length share one spread: a million samples with 300 gaps took 6.3 s, one sort per gap."""
    window_ns = end_ns - begin_ns
    if window_ns <= 0 or interval_s <= 0 or t_ns.shape[0] == 0:
        return 0.0
    if np.any(np.diff(t_ns) < 0):
        order = np.argsort(t_ns, kind="stable")
        t_ns, power_w = t_ns[order], power_w[order]
    edges = np.concatenate(([begin_ns], t_ns, [end_ns])).astype(np.int64)
    missing_ns = np.diff(edges) - int(interval_s * NS_PER_S)
    lengths, repeats = np.unique(missing_ns[np.diff(edges) > GAP_FACTOR * interval_s * NS_PER_S], return_counts=True)
    return sum(
        int(n) * float(g) / window_ns * _block_spread_w(t_ns, power_w, begin_ns, int(g))
        for g, n in zip(lengths, repeats, strict=True)
    )


def _edge_sensitivity_w(
    t_ns: npt.NDArray[np.int64], power_w: npt.NDArray[np.float64], begin_ns: int, end_ns: int, reach_ns: int
) -> float:
    """``S``: the larger change of the mean power's numerator per second of window shift, either way (see the
    module docstring); samples within ``reach_ns`` of each edge, the nearest sample where there are none."""

    def near(edge_ns: int, after: bool) -> float | None:
        lo, hi = (edge_ns, edge_ns + reach_ns) if after else (edge_ns - reach_ns, edge_ns)
        chosen = power_w[(t_ns > lo) & (t_ns <= hi)] if after else power_w[(t_ns >= lo) & (t_ns < hi)]
        if chosen.shape[0]:
            return float(chosen.mean())
        if power_w.shape[0] == 0:
            return None
        return float(power_w[int(np.argmin(np.abs(t_ns - edge_ns)))])

    sides = []
    for after in (True, False):
        p_begin, p_end = near(begin_ns, after), near(end_ns, after)
        if p_begin is not None and p_end is not None:
            sides.append(abs(p_end - p_begin))
    return max(sides, default=0.0)


def series_budget(
    t_ns: npt.NDArray[np.int64],
    power_w: npt.NDArray[np.float64],
    begin_ns: int,
    end_ns: int,
    accuracy: Term,
    clock: ClockBound,
    averaging: bool = False,
) -> Budget:
    """The mean power budget of one series' valid samples in time order (all of them: those around the window
    give the edge term; the mean and the rest use those strictly inside). ``accuracy``: its standard uncertainty
    in W at the mean, already evaluated (see :func:`accuracy_term`). ``averaging``: each reading is the mean over
    the interval before it (an analyzer's update interval, read once each), so the readings tile the time and
    only the window's edges are sampled partly; else readings are instants (a BMC's, NVML's)."""
    inside = (t_ns > begin_ns) & (t_ns < end_ns)
    used_t, used_p = t_ns[inside], power_w[inside]
    mean_w = float(used_p.mean()) if used_p.shape[0] else 0.0
    window_s = (end_ns - begin_ns) / NS_PER_S
    interval_s = _median_interval_s(used_t) if used_t.shape[0] > 1 else _median_interval_s(t_ns)
    reach_ns = max(clock.bound_ns, int(2 * interval_s * NS_PER_S))
    sensitivity_w = _edge_sensitivity_w(t_ns, power_w, begin_ns, end_ns, reach_ns)
    clock_s = clock.bound_ns / NS_PER_S
    share = gap_share(used_t, begin_ns, end_ns, interval_s or None)
    if averaging:
        sampling = Term("sampling", _partial_edges_standard_w(t_ns, power_w, begin_ns, end_ns, interval_s, mean_w),
                        f"{used_p.shape[0]} interval means tiling the window: its partly covered edges")  # fmt: skip
    else:
        sampling = Term("sampling", sampling_standard_w(used_p), f"{used_p.shape[0]} instants, successive differences")
    terms = (
        accuracy,
        sampling,
        Term(
            "clock",
            clock_s * sensitivity_w / (_SQRT3 * window_s) if window_s > 0 else 0.0,
            f"window within ±{clock_s * 1e3:g} ms ({clock.source}); {sensitivity_w:.3g} W change at the edges",
        ),
        Term(
            "gaps",
            gaps_standard_w(used_t, used_p, begin_ns, end_ns, interval_s),
            f"{100 * share:.2f} % of the window unsampled, weighed by the spread of block means as long as each gap",
        ),
    )
    return Budget(mean_w, "W", terms)


def _partial_edges_standard_w(
    t_ns: npt.NDArray[np.int64],
    power_w: npt.NDArray[np.float64],
    begin_ns: int,
    end_ns: int,
    interval_s: float,
    mean_w: float,
) -> float:
    """Interval means tiling the time cover ``[t_1 - interval, t_N]`` (the first and last readings strictly
    inside), not the window: the first reaches up to an interval before it, and the time after the last is not
    covered. Each edge's mismatch ``m`` (known) times how far the power there may be from the mean (the larger of
    the readings on either side of the edge), over ``T``, as a limit: ``sum (m d) / (sqrt(3) T)``."""
    window_ns = end_ns - begin_ns
    inside = np.flatnonzero((t_ns > begin_ns) & (t_ns < end_ns))
    if inside.shape[0] == 0 or window_ns <= 0:
        return 0.0
    first, last = int(inside[0]), int(inside[-1])
    before_ns = max(0, begin_ns - (int(t_ns[first]) - int(interval_s * NS_PER_S)))
    after_ns = max(0, end_ns - int(t_ns[last]))

    def far_w(*indices: int) -> float:
        return max(abs(float(power_w[i]) - mean_w) for i in indices if 0 <= i < power_w.shape[0])

    # added, not in quadrature: a step in the load puts both edges at their limits, often with one sign
    return (before_ns * far_w(first - 1, first) + after_ns * far_w(last, last + 1)) / (_SQRT3 * window_ns)


def accuracy_term(
    spec: AccuracySpec, channel_means_w: Sequence[float], range_w: float | None, name: str = "accuracy"
) -> Term:
    """The instrument's error limit at each channel's mean reading, as a standard uncertainty (rectangular), the
    channels in quadrature."""
    standards = [spec.limit_w(p, range_w) / _SQRT3 for p in channel_means_w]
    note = spec.source + (f"; {len(standards)} channels in quadrature" if len(standards) > 1 else "")
    if range_w is not None and spec.range_fraction:
        note += f"; range {range_w:g} W"
    return Term(name, math.sqrt(sum(s * s for s in standards)), note)


def energy_budget(power: Budget, energy_j: float, window_s: float) -> Budget:
    """The window energy's budget from the mean power's: every component times the window length."""
    terms = tuple(replace(t, standard=t.standard * window_s) for t in power.terms)
    return Budget(energy_j, "J", terms, power.k)
