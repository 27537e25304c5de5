"""The error bar on each figure of a report: :mod:`analyzer.uncertainty`'s budgets evaluated on a run's data.

What each budget needs and where it is read: the wall analyzer's model (server.json's Identify reply or
session.json) and the testing ranges (PTDaemon's ``Volt range set to``/``Amp range set to`` lines before the
testing ``Go``, or session.json ``phases.testing.ranges``); the clock bound (the clock map's bound over LoadGen's
window, or the round's checkpoint tolerance where no offset was measured: rule 7 fails a run beyond it); the
tier (an informative tier's accuracy is its calibration residual or the stated default). GPUs: NVML's stated
+-5 W per board (a calibration replaces it once applied).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from analyzer.context import ResultContext, meter_identity
from analyzer.gpu import GpuSeries
from analyzer.metrics import WindowStats
from analyzer.run import RunData
from analyzer.time_join import EstimatedInterconnect, WallSeries
from analyzer.uncertainty import (
    Budget,
    ClockBound,
    Term,
    accuracy_term,
    combine,
    energy_budget,
    series_budget,
)
from powerlog.accuracy import NVML_POWER_LIMIT_W, AccuracySpec, wall_spec
from powerlog.ptdlog import PtdEventKind
from powerlog.result_record import ErrorBarRecord, UncertaintyTermRecord
from powerlog.spl import PowerLog
from powerlog.tiers import INFORMATIVE_TIERS, MeasurementTier
from powerlog.timestamps import NS_PER_MS, NS_PER_S

__all__ = [
    "WallBudgets",
    "budget_of",
    "clock_bound",
    "error_bar",
    "gpu_energy_budget",
    "log_budgets",
    "range_of_testing_w",
    "system_energy_budgets",
    "wall_budgets",
]

# "Volt range set to 300.000000V"; PTDaemon 1.11: "Voltage range for channel 2, physical channel 2, set to 300.000000A"
_RANGE = re.compile(r"^(Volt|Voltage|Amp|Ampere) range (?:for channel (\d+)\b.*?)?set to (Auto|[0-9.]+)")
_SQRT3 = math.sqrt(3.0)


def error_bar(budget: Budget) -> ErrorBarRecord:
    """The result record of a budget."""
    return ErrorBarRecord(
        expanded=budget.expanded,
        unit=budget.unit,
        k=budget.k,
        standard=budget.standard,
        relative_pct=budget.relative_pct,
        dominant=budget.dominant,
        terms=[UncertaintyTermRecord(name=t.name, standard=t.standard, note=t.note) for t in budget.terms],
    )


def budget_of(record: ErrorBarRecord, value: float) -> Budget:
    """The budget behind a report's error bar (its named standard components): :func:`error_bar` undone."""
    return Budget(value, record.unit, tuple(Term(t.name, t.standard, t.note) for t in record.terms), record.k)


def range_of_testing_w(run: RunData) -> float | None:
    """The power range of the testing phase per element (V range x A range; the largest where channels differ),
    None where Auto or not recorded: session.json's ranges, else PTDaemon's last settings before testing's Go."""
    record = run.mlpower_session
    testing = record.phases.get("testing") if record is not None else None
    if testing is not None and testing.ranges is not None:
        volts, amps = testing.ranges.volts_v, testing.ranges.amps_a
        return volts * amps if volts and amps else None
    if run.ptd_log is None:
        return None
    ranges: dict[tuple[str, int], float | None] = {}  # (V or A, channel; 0 for all) -> range
    for event in run.ptd_log.events:
        if event.kind is PtdEventKind.GO and event.phase == "testing":
            break
        match = _RANGE.match(event.message) if event.kind is PtdEventKind.INFO else None
        if match is not None:
            quantity, channel = match.group(1)[0], int(match.group(2) or 0)
            if channel == 0:
                ranges = {key: value for key, value in ranges.items() if key[0] != quantity}
            ranges[(quantity, channel)] = None if match.group(3) == "Auto" else float(match.group(3))
    channels = {channel for _, channel in ranges} - {0} or {0}  # per channel where PTDaemon says so
    products = [
        (ranges.get(("V", c)) or ranges.get(("V", 0)), ranges.get(("A", c)) or ranges.get(("A", 0))) for c in channels
    ]
    known = [v * a for v, a in products if v and a]
    return max(known) if known and len(known) == len(products) else None


def clock_bound(run: RunData, context: ResultContext) -> ClockBound:
    """How far the testing window may be off on the meter's clock."""
    clock = run.testing.clock
    if clock is not None:
        return ClockBound(clock.bound_ns, "the clock map's bound over LoadGen's window")
    tolerance_ms = context.round.checkpoint_tolerance_ms
    return ClockBound(
        int(tolerance_ms * NS_PER_MS), f"no offset measured: rule 7's {tolerance_ms:g} ms checkpoint tolerance"
    )


@dataclass(frozen=True)
class WallBudgets:
    power: Budget
    energy: Budget | None
    channels: tuple[Budget, ...]


def wall_budgets(run: RunData, context: ResultContext, tier: MeasurementTier | None) -> WallBudgets | None:
    """The testing window's mean wall power, energy and per-channel budgets; None without samples in it."""
    stats, log, window = run.testing.stats, run.testing.spl, run.testing.meter_window_utc_ns
    if stats is None or log is None or window is None or stats.avg_power_w is None or not stats.samples_in_window:
        return None
    range_w = range_of_testing_w(run)
    spec = wall_spec(meter_identity(run).model, tier, range_w is not None)
    return log_budgets(log, stats, window, spec, range_w, clock_bound(run, context), tier in INFORMATIVE_TIERS)


def log_budgets(
    log: PowerLog,
    stats: WindowStats,
    window: tuple[int, int],
    spec: AccuracySpec,
    range_w: float | None,
    clock: ClockBound,
    informative: bool,
) -> WallBudgets:
    """The budgets of one power log's window figures (``stats``: :func:`analyzer.metrics.window_stats` of it):
    the samples the official metric uses (valid, > 0), the total's and each channel's."""
    name = "calibration" if informative else "accuracy"
    valid = ~log.implausible() & (log.power_w > 0)
    t_ns = log.t_utc_ns[valid]
    channel_means = stats.channel_avg_power_w or ((stats.avg_power_w or 0.0),)
    averaging = not informative  # an analyzer's readings are means over its update interval; a BMC's, unknown
    terms = accuracy_term(spec, channel_means, range_w, name)
    power = series_budget(t_ns, log.power_w[valid], *window, terms, clock, averaging)
    channels = tuple(
        series_budget(t_ns, ch.power_w[valid], *window, accuracy_term(spec, [mean_w], range_w, name), clock, averaging)
        for ch, mean_w in zip(log.channels, stats.channel_avg_power_w, strict=False)
    )
    energy = energy_budget(power, stats.energy_j, stats.window_s) if stats.energy_j is not None else None
    return WallBudgets(power, energy, channels)


def gpu_energy_budget(series: GpuSeries, begin_ns: int, end_ns: int, energy_j: float, clock: ClockBound) -> Budget:
    """A GPU's window energy: NVML's stated +-5 W for the board (rectangular) over the window, and the power's
    sampling, clock and gap terms from its power readings."""
    window_s = (end_ns - begin_ns) / NS_PER_S
    valid = np.isfinite(series.power_w) & (series.power_w >= 0)
    accuracy = Term(
        "accuracy", NVML_POWER_LIMIT_W / _SQRT3, "nvidia-smi: board power accurate to within +-5 W (uncalibrated)"
    )
    power = series_budget(series.power_t_ns[valid], series.power_w[valid], begin_ns, end_ns, accuracy, clock)
    return energy_budget(power, energy_j, window_s)


def _source_budget(source: WallSeries, begin_ns: int, end_ns: int, clock: ClockBound) -> Budget:
    valid = np.isfinite(source.power_w) & (source.power_w >= 0)
    t_ns, power_w = source.t_utc_ns[valid], source.power_w[valid]
    inside = (t_ns > begin_ns) & (t_ns < end_ns)
    mean_w = float(power_w[inside].mean()) if inside.any() else 0.0
    spec = wall_spec(None, source.tier, False)
    name = "calibration" if source.tier in INFORMATIVE_TIERS else "accuracy"
    power = series_budget(t_ns, power_w, begin_ns, end_ns, accuracy_term(spec, [mean_w], None, name), clock)
    window_s = (end_ns - begin_ns) / NS_PER_S
    return energy_budget(power, mean_w * window_s, window_s)


def system_energy_budgets(
    sources: tuple[WallSeries, ...],
    interconnect: WallSeries | EstimatedInterconnect | None,
    begin_ns: int,
    end_ns: int,
    clock: ClockBound,
) -> tuple[dict[str, Budget], Budget]:
    """Each node's wall energy budget (its sources in quadrature) and the system's (every source's, and the
    interconnect's: measured like a source, or estimated, its estimate taken as an upper limit: ``E / sqrt(3)``)."""
    window_s = (end_ns - begin_ns) / NS_PER_S
    by_source = {s.name: _source_budget(s, begin_ns, end_ns, clock) for s in sources}
    nodes: dict[str, Budget] = {}
    for node in dict.fromkeys(s.node for s in sources):
        parts = [by_source[s.name] for s in sources if s.node == node]
        nodes[node] = combine(sum(b.value for b in parts), "J", parts)
    parts = list(by_source.values())
    extra: list[Term] = []
    estimate_j = 0.0
    if isinstance(interconnect, WallSeries):
        parts.append(_source_budget(interconnect, begin_ns, end_ns, clock))
    elif interconnect is not None:
        estimate_j = interconnect.max_power_w * interconnect.share * window_s
        extra.append(Term("interconnect", estimate_j / _SQRT3, "estimated: max specified power x share, an upper "
                          "limit of what it drew"))  # fmt: skip
    total = sum(b.value for b in parts) + estimate_j
    return nodes, combine(total, "J", parts, extra)
