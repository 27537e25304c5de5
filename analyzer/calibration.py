"""Calibration of an informative power source against the reference wall meter: its lag, gain and offset, its
residual error, and whether it qualifies (pure: arrays in, a fit out).

The reference is the wall meter (an accepted analyzer); the source is a reading that is not one: the sum of a
node's NVML GPUs, a BMC or a PDU, a RAPL domain. Both are series of (t_utc_ns, W) on the director's clock. The
model of the source is linear and delayed::

    wall(t) = offset_w + gain * source(t + lag_s)

``lag_s`` > 0 when the source reports late (NVML's one-second average trails the wall). For the GPU sum,
``offset_w`` is the fitted rest of the system (CPU, memory, fans, supply losses) and ``gain`` what the GPUs'
own sensor misses; for a BMC or PDU, gain 1 and offset 0 would be a perfect meter.

**Lag.** For a candidate lag L the source is read at every wall instant t_i (linear interpolation between its
samples; an instant whose two neighbouring source samples are further apart than :data:`GAP_FACTOR` x the
source's median period is left out), the least-squares line of the wall on those values is fitted, and the
cost is its mean squared residual. The cost is evaluated on a grid of step half the source's median sample
period over ``[-max_lag_s, max_lag_s]`` (narrowed to the lags at which the source meets the span at all), and
the best grid point is refined by golden-section search between its two neighbours. A lag at which fewer than
half the span's wall samples (:data:`MIN_SHARE_USED`) fall between source samples is not considered (a few
samples at the span's edge could fit by chance), nor one that leaves a window without a source sample.
Minimising the residual of the best line is maximising the correlation of wall and shifted source. The lag is
fitted on every wall sample from the first window's start to the last window's end, level changes included:
they are what the lag is seen in (within a level the power is flat and any lag fits).

**Gain and offset.** Ordinary least squares of the wall samples inside the windows on the source read at
t_i + lag: ``gain = S_xy / S_xx``, ``offset_w = mean(wall) - gain * mean(x)``. A source constant over the
windows (S_xx = 0) has no gain and is refused. The source's own noise biases the gain towards zero by
var(noise) / var(source), negligible when the levels are far apart compared with the noise.

**Residual.** Over the window samples, r_i = offset_w + gain * x_i - wall_i: ``residual_rms_pct`` =
100 * sqrt(mean(r^2)) / mean(wall), ``residual_max_pct`` = 100 * max(|r_i| / wall_i).

**Qualification.** The MLPerf Training power rules (training_policies, power_measurement.adoc, "Target 5%
Accuracy") hold a meter that is not an accepted analyzer to x % accuracy when, against an accepted one on the
same system at 1 Hz, under different loads (idle and two benchmarks), the Olympic scores of the two meters over
five non-overlapping 1-minute windows are within x % of each other; their target is 5 %
(:data:`DEFAULT_THRESHOLD_PCT`). Here each meter's mean power per window is the mean of its samples in it (the
source's own samples, shifted by the lag, not the source read at the wall's instants), and a level's Olympic
score (:func:`olympic_mean`) is the mean of its window means with the highest and the lowest dropped. Per
level, ``error_pct`` = 100 * (score(corrected source) - score(wall)) / score(wall), the corrected source being
offset_w + gain * source; ``raw_error_pct`` the same for the source as read. The source ``qualifies`` when
every level's ``|error_pct|`` is at most the threshold (corrected: what a later session that applies the fit
may claim), and ``qualifies_raw`` when every ``|raw_error_pct|`` is (the meter as it reads, the rules' own
test). The fit and the scores use the same windows, so the corrected errors are in-sample: with three levels
and two parameters they test the source's linearity and its stability from window to window.

**Applying a fit.** :func:`corrected` maps a source's series onto the wall: each sample (t, p) becomes
(t - lag_s, offset_w + gain * p). Nothing is interpolated, and the raw series is left as it was.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from analyzer.errors import CalibrationError

__all__ = [
    "DEFAULT_MAX_LAG_S",
    "DEFAULT_THRESHOLD_PCT",
    "GAP_FACTOR",
    "MIN_SAMPLES",
    "MIN_SHARE_USED",
    "MIN_WINDOWS_PER_LEVEL",
    "Correction",
    "Level",
    "LevelScore",
    "PowerSeries",
    "SourceFit",
    "Window",
    "corrected",
    "fit_source",
    "olympic_mean",
    "sum_series",
]

DEFAULT_THRESHOLD_PCT = 5.0  # the MLPerf Training power rules' accuracy target
DEFAULT_MAX_LAG_S = 5.0
MIN_WINDOWS_PER_LEVEL = 3  # Olympic scoring drops two
MIN_SAMPLES = 10
GAP_FACTOR = 5.0
MIN_SHARE_USED = 0.5  # of the span's wall samples, that a candidate lag must compare
NS_PER_S = 1_000_000_000
_GOLDEN = (math.sqrt(5) - 1) / 2
_REFINE_STEPS = 40

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class PowerSeries:
    """Samples of one power reading: times (UTC ns, director's clock) and watts, sorted by time."""

    t_utc_ns: npt.NDArray[np.int64]
    power_w: FloatArray

    @classmethod
    def of(cls, t_utc_ns: Sequence[int] | npt.ArrayLike, power_w: Sequence[float] | npt.ArrayLike) -> PowerSeries:
        """A series from any sequences, sorted by time; equal lengths and finite watts are checked by the fit."""
        t = np.asarray(t_utc_ns, dtype=np.int64)
        p = np.asarray(power_w, dtype=np.float64)
        if t.shape != p.shape or t.ndim != 1:
            raise CalibrationError(f"a series needs as many times as watts, got {t.shape} and {p.shape}")
        order = np.argsort(t, kind="stable")
        return cls(t[order], p[order])

    def __len__(self) -> int:
        return len(self.t_utc_ns)


@dataclass(frozen=True)
class Window:
    start_utc_ns: int
    end_utc_ns: int

    @property
    def duration_s(self) -> float:
        return (self.end_utc_ns - self.start_utc_ns) / NS_PER_S


@dataclass(frozen=True)
class Level:
    """One load level (idle, load 1, load 2) and its measurement windows."""

    name: str
    windows: tuple[Window, ...]


@dataclass(frozen=True)
class LevelScore:
    """One level's Olympic scores: the wall's, the corrected source's, the source's as read; errors in %."""

    level: str
    wall_w: float
    source_w: float
    raw_w: float
    error_pct: float
    raw_error_pct: float


class Correction(Protocol):
    """What applying a fit needs (a :class:`SourceFit`, or a calibration file's source record)."""

    @property
    def gain(self) -> float: ...

    @property
    def offset_w(self) -> float: ...

    @property
    def lag_s(self) -> float: ...


@dataclass(frozen=True)
class SourceFit:
    name: str
    gain: float
    offset_w: float
    lag_s: float
    residual_rms_pct: float
    residual_max_pct: float
    levels: tuple[LevelScore, ...]
    qualifies: bool
    qualifies_raw: bool
    threshold_pct: float
    samples_used: int  # wall samples in the windows that the fit used
    sample_period_s: float  # the source's median sample period

    @property
    def error_pct(self) -> float:
        """The largest level error of the corrected source (signed)."""
        return max((s.error_pct for s in self.levels), key=abs)

    @property
    def raw_error_pct(self) -> float:
        return max((s.raw_error_pct for s in self.levels), key=abs)


def olympic_mean(values: Sequence[float] | FloatArray) -> float:
    """The mean without the highest and the lowest value (one of each): MLPerf's Olympic scoring."""
    ordered = np.sort(np.asarray(values, dtype=np.float64))
    if len(ordered) < MIN_WINDOWS_PER_LEVEL:
        raise CalibrationError(f"Olympic scoring needs at least {MIN_WINDOWS_PER_LEVEL} values, got {len(ordered)}")
    return float(np.mean(ordered[1:-1]))


def corrected(source: PowerSeries, correction: Correction) -> PowerSeries:
    """The source as the wall would read it: (t - lag_s, offset_w + gain * p) per sample (see the module)."""
    shift_ns = round(correction.lag_s * NS_PER_S)
    return PowerSeries(source.t_utc_ns - shift_ns, correction.offset_w + correction.gain * source.power_w)


def sum_series(parts: Sequence[PowerSeries]) -> PowerSeries:
    """Several sources as one (the GPUs of a node): each read by linear interpolation at the instants of the one
    with most samples, over the span they all cover."""
    if not parts:
        raise CalibrationError("nothing to add up: no series given")
    for i, part in enumerate(parts):
        if len(part) < 2:
            raise CalibrationError(f"series {i} to add up has {len(part)} sample(s); at least 2 are needed")
    base = max(parts, key=len)
    start = max(int(p.t_utc_ns[0]) for p in parts)
    end = min(int(p.t_utc_ns[-1]) for p in parts)
    t = base.t_utc_ns[(base.t_utc_ns >= start) & (base.t_utc_ns <= end)]
    if len(t) == 0:
        raise CalibrationError("the series to add up share no span of time")
    t0 = int(t[0])
    x = (t - t0).astype(np.float64)
    total = np.zeros(len(t), dtype=np.float64)
    for part in parts:
        total += np.interp(x, (part.t_utc_ns - t0).astype(np.float64), part.power_w)
    return PowerSeries(t, total)


def fit_source(
    wall: PowerSeries,
    source: PowerSeries,
    levels: Sequence[Level],
    *,
    name: str = "source",
    threshold_pct: float = DEFAULT_THRESHOLD_PCT,
    max_lag_s: float = DEFAULT_MAX_LAG_S,
) -> SourceFit:
    """Lag, gain, offset, residual and qualification of ``source`` against ``wall`` (see the module)."""
    if not (math.isfinite(threshold_pct) and threshold_pct > 0):
        raise CalibrationError(f"the qualification threshold must be a positive percentage, got {threshold_pct!r}")
    if not (math.isfinite(max_lag_s) and max_lag_s >= 0):
        raise CalibrationError(f"the largest lag searched must be a non-negative number of seconds, got {max_lag_s!r}")
    _check_series("the wall meter", wall)
    _check_series(name, source)
    windows = _check_levels(levels)
    if float(np.ptp(source.power_w)) == 0.0:
        raise CalibrationError(_constant(name, float(source.power_w[0])))
    aligner = _Aligner(wall, source, windows, name)
    span = (windows[0].start_utc_ns, windows[-1].end_utc_ns)
    lag_s = aligner.best_lag_s((span[1] - span[0]) / NS_PER_S, max_lag_s)
    in_windows = _in_windows(wall.t_utc_ns, windows)
    x, y = aligner.at_lag(lag_s, in_windows)
    if len(x) < MIN_SAMPLES:
        raise CalibrationError(
            f"{name}: only {len(x)} wall sample(s) inside the windows can be compared with it "
            f"(at least {MIN_SAMPLES}); make the windows longer or the meter faster"
        )
    line = _line(x, y)
    if line is None:
        raise CalibrationError(_constant(name, float(x[0])))
    offset_w, gain = line
    residual = offset_w + gain * x - y
    if np.any(y <= 0):
        raise CalibrationError("the wall meter reads 0 W or less inside a window: the reference is not measuring")
    scores = tuple(_level_score(level, wall, source, gain, offset_w, lag_s, name) for level in levels)
    worst = max(abs(s.error_pct) for s in scores)
    worst_raw = max(abs(s.raw_error_pct) for s in scores)
    return SourceFit(
        name=name,
        gain=gain,
        offset_w=offset_w,
        lag_s=lag_s,
        residual_rms_pct=100.0 * float(np.sqrt(np.mean(residual**2))) / float(np.mean(y)),
        residual_max_pct=100.0 * float(np.max(np.abs(residual) / y)),
        levels=scores,
        qualifies=worst <= threshold_pct,
        qualifies_raw=worst_raw <= threshold_pct,
        threshold_pct=threshold_pct,
        samples_used=len(x),
        sample_period_s=aligner.period_s,
    )


def _constant(name: str, watts: float) -> str:
    return (
        f"{name}: its readings do not change over the windows ({watts:g} W throughout): no gain can be fitted; is "
        "the sensor stuck, or did the load levels not load what it measures?"
    )


def _check_series(what: str, series: PowerSeries) -> None:
    if len(series.t_utc_ns) != len(series.power_w):
        raise CalibrationError(f"{what}: {len(series.t_utc_ns)} times but {len(series.power_w)} readings")
    if len(series) < MIN_SAMPLES:
        raise CalibrationError(f"{what}: {len(series)} sample(s); a calibration needs at least {MIN_SAMPLES}")
    if not np.all(np.isfinite(series.power_w)):
        bad = int(np.argmin(np.isfinite(series.power_w)))
        raise CalibrationError(f"{what}: sample {bad} is not a number ({series.power_w[bad]!r} W)")
    if np.any(np.diff(series.t_utc_ns) < 0):
        raise CalibrationError(f"{what}: the samples are not in time order (build the series with PowerSeries.of)")


def _check_levels(levels: Sequence[Level]) -> list[Window]:
    """Every window, in time order; refused when a level has too few, one is empty or two overlap."""
    if not levels:
        raise CalibrationError("no load levels: a calibration measures idle and two loads, each in windows")
    names = [level.name for level in levels]
    if len(set(names)) != len(names):
        raise CalibrationError(f"level names repeat: {', '.join(names)}")
    for level in levels:
        if len(level.windows) < MIN_WINDOWS_PER_LEVEL:
            raise CalibrationError(
                f"level {level.name!r} has {len(level.windows)} window(s): Olympic scoring drops the best and the "
                f"worst, so each level needs at least {MIN_WINDOWS_PER_LEVEL} (the rules ask for 5)"
            )
        for i, w in enumerate(level.windows):
            if w.end_utc_ns <= w.start_utc_ns:
                raise CalibrationError(f"level {level.name!r}, window {i}: it ends before it starts")
    tagged = sorted(((w, level.name, i) for level in levels for i, w in enumerate(level.windows)),
                    key=lambda item: item[0].start_utc_ns)  # fmt: skip
    for (a, la, ia), (b, lb, ib) in itertools.pairwise(tagged):
        if b.start_utc_ns < a.end_utc_ns:
            raise CalibrationError(f"windows overlap: level {la!r} window {ia} and level {lb!r} window {ib}")
    return [w for w, _, _ in tagged]


def _in_windows(t_utc_ns: npt.NDArray[np.int64], windows: Sequence[Window]) -> npt.NDArray[np.bool_]:
    mask = np.zeros(len(t_utc_ns), dtype=bool)
    for w in windows:
        mask |= (t_utc_ns >= w.start_utc_ns) & (t_utc_ns <= w.end_utc_ns)
    return mask


def _line(x: FloatArray, y: FloatArray) -> tuple[float, float] | None:
    """(offset, gain) of the least-squares line of y on x; None when x does not vary."""
    xm, ym = float(np.mean(x)), float(np.mean(y))
    dx = x - xm
    sxx = float(np.dot(dx, dx))
    if sxx <= 1e-12 * max(1.0, xm * xm) * len(x):
        return None
    gain = float(np.dot(dx, y - ym)) / sxx
    return ym - gain * xm, gain


class _Aligner:
    """The source read at the wall's instants shifted by a lag, and the lag that fits best."""

    def __init__(self, wall: PowerSeries, source: PowerSeries, windows: Sequence[Window], name: str) -> None:
        self.name = name
        t0_ns = windows[0].start_utc_ns
        self.window_starts_s = np.array([(w.start_utc_ns - t0_ns) / NS_PER_S for w in windows])
        self.window_ends_s = np.array([(w.end_utc_ns - t0_ns) / NS_PER_S for w in windows])
        self.wall_t_s = (wall.t_utc_ns - t0_ns).astype(np.float64) / NS_PER_S
        self.wall_w = wall.power_w
        self.src_t_s = (source.t_utc_ns - t0_ns).astype(np.float64) / NS_PER_S
        self.src_w = source.power_w
        steps = np.diff(self.src_t_s)
        steps = steps[steps > 0]
        if len(steps) == 0:
            raise CalibrationError(f"{name}: all its samples carry the same time")
        self.period_s = float(np.median(steps))
        self.max_gap_s = GAP_FACTOR * self.period_s
        self._min_used = MIN_SAMPLES

    def at_lag(self, lag_s: float, mask: npt.NDArray[np.bool_]) -> tuple[FloatArray, FloatArray]:
        """(source at t + lag, wall at t) for the masked wall instants the source covers without a gap."""
        t = self.wall_t_s[mask] + lag_s
        j = np.searchsorted(self.src_t_s, t)
        inside = (j > 0) & (j < len(self.src_t_s))
        exact = np.isin(t, self.src_t_s)
        jj = np.clip(j, 1, len(self.src_t_s) - 1)
        gap_free = (self.src_t_s[jj] - self.src_t_s[jj - 1]) <= self.max_gap_s
        keep = (inside & gap_free) | exact
        return np.interp(t[keep], self.src_t_s, self.src_w), self.wall_w[mask][keep]

    def covers_windows(self, lag_s: float) -> bool:
        """Whether every window holds a source sample once the source is shifted by the lag."""
        first = np.searchsorted(self.src_t_s, self.window_starts_s + lag_s, side="left")
        after = np.searchsorted(self.src_t_s, self.window_ends_s + lag_s, side="right")
        return bool(np.all(after > first))

    def cost(self, lag_s: float, mask: npt.NDArray[np.bool_]) -> float:
        if not self.covers_windows(lag_s):
            return math.inf
        x, y = self.at_lag(lag_s, mask)
        if len(x) < self._min_used:
            return math.inf
        line = _line(x, y)
        if line is None:
            return math.inf
        offset, gain = line
        return float(np.mean((y - offset - gain * x) ** 2))

    def best_lag_s(self, end_s: float, max_lag_s: float) -> float:
        """The best lag for the wall samples from 0 (the first window's start, t0) to ``end_s``."""
        start_s = 0.0
        low = max(-max_lag_s, float(self.src_t_s[0]) - end_s)
        high = min(max_lag_s, float(self.src_t_s[-1]) - start_s)
        if low > high:
            raise CalibrationError(
                f"{self.name}: its samples ({self.src_t_s[0]:+.1f} s to {self.src_t_s[-1]:+.1f} s from the first "
                f"window) do not meet the windows (0 s to {end_s:.1f} s) within a lag of {max_lag_s:g} s"
            )
        mask = (self.wall_t_s >= start_s) & (self.wall_t_s <= end_s)
        self._min_used = max(MIN_SAMPLES, math.ceil(MIN_SHARE_USED * int(np.count_nonzero(mask))))
        step = self.period_s / 2
        grid = np.append(np.arange(low, high, step), high) if high > low else np.array([low])
        costs = np.array([self.cost(float(g), mask) for g in grid])
        if not np.any(np.isfinite(costs)):
            raise CalibrationError(
                f"{self.name}: at no lag within {max_lag_s:g} s do its samples fall in every window and meet at "
                f"least half the wall samples (and {MIN_SAMPLES}) with readings that vary; is the sensor stuck, or "
                "are its samples far apart?"
            )
        k = int(np.argmin(costs))
        a, b = float(grid[max(0, k - 1)]), float(grid[min(len(grid) - 1, k + 1)])
        return self._refine(a, b, mask, float(grid[k]), float(costs[k]))

    def _refine(self, a: float, b: float, mask: npt.NDArray[np.bool_], best: float, best_cost: float) -> float:
        """Golden-section search of the cost on [a, b]; the grid's best point if nothing beats it."""
        c, d = b - _GOLDEN * (b - a), a + _GOLDEN * (b - a)
        fc, fd = self.cost(c, mask), self.cost(d, mask)
        for _ in range(_REFINE_STEPS):
            if b - a < 1e-6:
                break
            if fc <= fd:
                b, d, fd = d, c, fc
                c = b - _GOLDEN * (b - a)
                fc = self.cost(c, mask)
            else:
                a, c, fc = c, d, fd
                d = a + _GOLDEN * (b - a)
                fd = self.cost(d, mask)
        found, found_cost = (c, fc) if fc <= fd else (d, fd)
        return found if found_cost <= best_cost else best


def _window_mean(t_utc_ns: npt.NDArray[np.int64], power_w: FloatArray, w: Window) -> float | None:
    inside = (t_utc_ns >= w.start_utc_ns) & (t_utc_ns <= w.end_utc_ns)
    return float(np.mean(power_w[inside])) if np.any(inside) else None


def _level_score(
    level: Level, wall: PowerSeries, source: PowerSeries, gain: float, offset_w: float, lag_s: float, name: str
) -> LevelScore:
    shifted = source.t_utc_ns - round(lag_s * NS_PER_S)
    wall_means: list[float] = []
    raw_means: list[float] = []
    for i, w in enumerate(level.windows):
        wall_mean = _window_mean(wall.t_utc_ns, wall.power_w, w)
        raw_mean = _window_mean(shifted, source.power_w, w)
        for what, value in (("the wall meter", wall_mean), (name, raw_mean)):
            if value is None:
                raise CalibrationError(f"level {level.name!r}, window {i}: no sample of {what} in it")
        assert wall_mean is not None and raw_mean is not None
        wall_means.append(wall_mean)
        raw_means.append(raw_mean)
    wall_w = olympic_mean(wall_means)
    raw_w = olympic_mean(raw_means)
    source_w = olympic_mean([offset_w + gain * m for m in raw_means])
    return LevelScore(
        level=level.name,
        wall_w=wall_w,
        source_w=source_w,
        raw_w=raw_w,
        error_pct=100.0 * (source_w - wall_w) / wall_w,
        raw_error_pct=100.0 * (raw_w - wall_w) / wall_w,
    )
