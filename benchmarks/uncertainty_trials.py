"""Simulated measurements with a known true energy, for checking the error bars (bench_uncertainty.py, a test).

One trial draws a true power signal on a 10 ms grid (an idle level outside the run, a load level inside with
steps near the window edges, correlated noise and periodic bursts), measures it the way one tier does (its
rate, averaging or instantaneous readings, its instrument's errors drawn within the stated specification,
gaps, a skewed clock within the stated bound), and computes the figure and its error bar with the analyzer's
own code (:func:`analyzer.metrics.window_stats`, :func:`analyzer.error_bars.log_budgets`,
:func:`analyzer.error_bars.gpu_energy_budget`). The trial reports the estimate, the truth and the half-width.

Tiers: ``ptdaemon`` (a Yokogawa WT310E at 1 s, ranges known, 1 or 3 channels), ``direct`` (the same analyzer at
10 Hz), ``bmc`` (a BMC's instantaneous 1 Hz readings, its gain off by up to the stated 5 %), ``gpu`` (NVML
power every 100 ms, off by up to the stated +-5 W; the window energy integrated from it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from analyzer.error_bars import gpu_energy_budget, log_budgets
from analyzer.gpu import GpuSeries
from analyzer.metrics import trapezoid_energy_j, window_stats
from analyzer.uncertainty import ClockBound
from powerlog.accuracy import NVML_POWER_LIMIT_W, UNCALIBRATED_SENSOR, analyzer_spec
from powerlog.spl_records import ChannelReadings, PowerLog

__all__ = ["TIERS", "Trial", "run_trial"]

TIERS = ("ptdaemon", "direct", "bmc", "gpu")
GRID_S = 0.01
MARGIN_S = 20.0
NS = 1_000_000_000
RANGES_W = (75.0, 150.0, 300.0, 600.0, 1500.0, 3000.0, 6000.0, 12000.0)  # V range x A range choices


@dataclass(frozen=True)
class Trial:
    tier: str
    estimate: float
    truth: float
    half_width: float
    unit: str
    dominant: str | None

    @property
    def error(self) -> float:
        return self.estimate - self.truth

    @property
    def covered(self) -> bool:
        return abs(self.error) <= self.half_width


def _true_signal(rng: np.random.Generator, window_s: float) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Times (s, from the true window's begin) and true watts on the grid."""
    t = np.arange(-MARGIN_S, window_s + MARGIN_S, GRID_S)
    load_w = rng.uniform(20.0, 8000.0)
    idle_w = load_w * rng.uniform(0.2, 0.8)
    start_s, stop_s = rng.uniform(-2.0, 2.0), window_s + rng.uniform(-2.0, 2.0)
    level = np.where((t >= start_s) & (t < stop_s), load_w, idle_w)
    tau_s, sigma = rng.uniform(0.05, 5.0), rng.uniform(0.0, 0.08)
    phi = math.exp(-GRID_S / tau_s)
    shocks = rng.normal(0.0, sigma * math.sqrt(1 - phi * phi), t.shape[0])
    noise = np.empty_like(shocks)
    noise[0] = rng.normal(0.0, sigma)
    for i in range(1, shocks.shape[0]):  # AR(1): correlated load noise
        noise[i] = phi * noise[i - 1] + shocks[i]
    period_s, depth = rng.uniform(0.3, 7.0), rng.uniform(0.0, 0.15)
    bursts = depth * (np.sin(2 * math.pi * t / period_s + rng.uniform(0, 2 * math.pi)) > 0)
    return t, np.maximum(level * (1.0 + noise + bursts - depth / 2), 0.0)


def _truth(t: npt.NDArray[np.float64], p: npt.NDArray[np.float64], window_s: float) -> tuple[float, float]:
    inside = (t >= 0) & (t < window_s)
    return float(p[inside].mean()), float(p[inside].sum() * GRID_S)


def _readings(
    first: int, t: npt.NDArray[np.float64], p: npt.NDArray[np.float64], interval_s: float, averaging: bool
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Reading instants (s) and values, from grid point ``first`` on: each the mean over the interval before it,
    or the value at it."""
    step = round(interval_s / GRID_S)
    ends = np.arange(first, p.shape[0], step)
    if averaging:
        sums = np.concatenate(([0.0], np.cumsum(p)))
        values = (sums[ends] - sums[ends - step]) / step
    else:
        values = p[ends - 1]
    return t[ends - 1] + GRID_S, values


def _gapped(rng: np.random.Generator, times_s: npt.NDArray[np.float64], window_s: float) -> npt.NDArray[np.bool_]:
    keep = np.ones(times_s.shape[0], dtype=bool)
    if rng.random() < 0.3:
        length_s = rng.uniform(2.0, min(10.0, window_s / 3))
        begin_s = rng.uniform(0.0, window_s - length_s)
        keep &= ~((times_s > begin_s) & (times_s < begin_s + length_s))
    return keep


def _log(
    times_ns: npt.NDArray[np.int64], total_w: npt.NDArray[np.float64], channels: list[npt.NDArray[np.float64]]
) -> PowerLog:
    n = times_ns.shape[0]
    return PowerLog(
        path="<simulated>", t_utc_ns=times_ns, power_w=total_w, volts_v=None, amps_a=None, pf=None,
        mark_index=np.zeros(n, dtype=np.int32), marks=(),
        channels=tuple(ChannelReadings(power_w=c, volts_v=None, amps_a=None, pf=None) for c in channels)
        if len(channels) > 1 else (),
        line_number=np.arange(1, n + 1, dtype=np.int64),
    )  # fmt: skip


def run_trial(tier: str, seed: int) -> Trial:
    rng = np.random.default_rng(seed)
    window_s = float(rng.uniform(20.0, 120.0))
    t, p = _true_signal(rng, window_s)
    true_mean_w, true_energy_j = _truth(t, p, window_s)
    bound_s = float(rng.choice([0.001, 0.05, 0.5, 1.0])) * rng.uniform(0.2, 1.0)
    skew_s = rng.uniform(-bound_s, bound_s)  # where the window lands on the meter's clock, within the bound
    clock = ClockBound(int(bound_s * NS), "simulated")
    begin_ns, end_ns = int(skew_s * NS), int((window_s + skew_s) * NS)
    if tier == "gpu":
        return _gpu_trial(rng, t, p, window_s, (begin_ns, end_ns), clock, true_energy_j)
    interval_s, averaging = {"ptdaemon": (1.0, True), "direct": (0.1, True), "bmc": (1.0, False)}[tier]
    first = int(rng.integers(round(interval_s / GRID_S), 2 * round(interval_s / GRID_S)))
    times_s, _ = _readings(first, t, p, interval_s, averaging)
    keep = _gapped(rng, times_s, window_s)
    n_channels = 1 if tier == "bmc" else int(rng.choice([1, 3]))
    shares = rng.dirichlet(np.ones(n_channels)) if n_channels > 1 else np.ones(1)
    spec = UNCALIBRATED_SENSOR if tier == "bmc" else analyzer_spec("YokogawaWT310E")
    assert spec is not None
    peak_w = float(p.max())
    range_w = next((r for r in RANGES_W if r >= 1.2 * peak_w / n_channels), RANGES_W[-1]) if tier != "bmc" else None
    channels = []
    for share in shares:
        _, true_ch = _readings(first, t, p * share, interval_s, averaging)
        # the instrument's error within its specification: a gain error and a range (offset) error, fixed
        gain, offset = rng.uniform(-1, 1) * spec.reading_fraction, rng.uniform(-1, 1) * spec.range_fraction
        channels.append(true_ch * (1 + gain) + offset * (range_w or 0.0))
    total = np.sum(channels, axis=0)
    times_ns = np.round(times_s * NS).astype(np.int64)
    log = _log(times_ns[keep], total[keep], [c[keep] for c in channels])
    stats = window_stats(log, begin_ns, end_ns)
    budgets = log_budgets(log, stats, (begin_ns, end_ns), spec, range_w, clock, tier == "bmc")
    assert stats.avg_power_w is not None
    return Trial(tier, stats.avg_power_w, true_mean_w, budgets.power.expanded, "W", budgets.power.dominant)


def _gpu_trial(
    rng: np.random.Generator,
    t: npt.NDArray[np.float64],
    p: npt.NDArray[np.float64],
    window_s: float,
    window_ns: tuple[int, int],
    clock: ClockBound,
    true_energy_j: float,
) -> Trial:
    gpu_p = p * 700.0 / max(float(p.max()), 1.0)  # a board of up to 700 W following the load
    true_gpu_j = float(gpu_p[(t >= 0) & (t < window_s)].sum() * GRID_S)
    times_s, values = _readings(int(rng.integers(10, 20)), t, gpu_p, 0.1, averaging=False)
    keep = _gapped(rng, times_s, window_s)
    values = values + rng.uniform(-1, 1) * NVML_POWER_LIMIT_W  # the stated +-5 W
    times_ns = np.round(times_s[keep] * NS).astype(np.int64)
    power_w = values[keep]
    energy_j = trapezoid_energy_j(times_ns, power_w, *window_ns)
    series = GpuSeries(
        gpu_index=0, power_t_ns=times_ns, power_w=power_w,
        energy_t_ns=np.zeros(0, dtype=np.int64), energy_j=np.zeros(0, dtype=np.float64),
    )  # fmt: skip
    budget = gpu_energy_budget(series, *window_ns, energy_j, clock)
    del true_energy_j
    return Trial("gpu", energy_j, true_gpu_j, budget.expanded, "J", budget.dominant)
