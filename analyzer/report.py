"""The report: the official metric and the breakdown behind it, as the result record's typed report.

:func:`build_report` fills :class:`powerlog.result_record.ReportRecord` directly: result.json,
``report --json``, the text and HTML reports, ``scan`` and the Python API all read that one record.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from analyzer.calibrated import calibrated_figures
from analyzer.components import component_window
from analyzer.context import ResultContext, ResultMeter, as_context, meter_identity
from analyzer.error_bars import (
    WallBudgets,
    clock_bound,
    error_bar,
    gpu_energy_budget,
    system_energy_budgets,
    wall_budgets,
)
from analyzer.findings import Evidence, Finding, Severity
from analyzer.gpu import GpuSeries, GpuWindow, ReadingsWindow, gpu_record_fields, gpu_window
from analyzer.metrics import (
    Performance,
    Quantity,
    Scenario,
    WindowStats,
    efficiency,
    performance,
    power_metric,
)
from analyzer.nameplate import design_power_record
from analyzer.node_sensors import node_sensors
from analyzer.prefill_decode import prefill_decode_record
from analyzer.rounds import Round
from analyzer.rules.samples import implausible_readings, sample_hole
from analyzer.run import PhaseClock, RunData
from analyzer.static_active import static_active
from analyzer.tier import measurement_tier
from analyzer.time_join import join_by_time
from analyzer.tokens import token_figures
from analyzer.uncertainty import Budget, ClockBound
from powerlog.layout import RANGING, TESTING
from powerlog.mllog import DetailLog
from powerlog.result_record import (
    ChannelShare,
    ClockCorrection,
    ComponentPhaseSummary,
    ComponentRecord,
    GpuPhaseSummary,
    GpuRecord,
    MeterSummary,
    NodeSensorsRecord,
    PerformanceRecord,
    QuantityRecord,
    ReportRecord,
    SystemEnergyRecord,
    UncorrectedFigures,
    WindowRecord,
)
from powerlog.tiers import INFORMATIVE_TIERS, MeasurementTier
from powerlog.timestamps import format_ptd_timestamp

__all__ = ["METRIC_RULE", "Report", "ResultMeter", "build_report", "meter_identity"]

METRIC_RULE = "0.metric"


Report = ReportRecord  # the analyzer's report is the result record's report (powerlog.result_record)


def _quantity(q: Quantity | None, wall: Budget | None = None) -> QuantityRecord | None:
    """A figure's record; with the mean wall power's budget, its error bar (a figure proportional to that power or
    inversely so carries its relative uncertainty)."""
    if q is None:
        return None
    if wall is None:
        return QuantityRecord(value=q.value, unit=q.unit)
    return QuantityRecord(value=q.value, unit=q.unit, uncertainty=error_bar(wall.carried(q.value, q.unit)))


def _performance_record(p: Performance | None) -> PerformanceRecord | None:
    return PerformanceRecord(value=p.value, unit=p.unit, key=p.key, inferred=p.inferred) if p else None


def _channels(stats: WindowStats, budgets: Sequence[Budget] = ()) -> list[ChannelShare]:
    total = sum(stats.channel_avg_power_w)
    bars = [error_bar(b) for b in budgets]
    return [
        ChannelShare(
            channel=i,
            avg_power_w=w,
            share_pct=100.0 * w / total if total > 0 else None,
            **({"uncertainty": bars[i - 1]} if i <= len(bars) else {}),
        )
        for i, w in enumerate(stats.channel_avg_power_w, start=1)
    ]


def _window(
    stats: WindowStats | None, gpus: GpuPhaseSummary | None, components: ComponentPhaseSummary | None
) -> WindowRecord | None:
    """A phase's window record; its channels, GPUs and components only when it has them."""
    if stats is None:
        return None
    optional: dict[str, Any] = {}
    if stats.channel_avg_power_w:
        optional["channels"] = _channels(stats)
    if gpus is not None:
        optional["gpus"] = gpus
    if components is not None:
        optional["components"] = components
    return WindowRecord(
        power_begin=format_ptd_timestamp(stats.begin_utc_ns),
        power_end=format_ptd_timestamp(stats.end_utc_ns),
        power_begin_utc_ns=stats.begin_utc_ns,
        power_end_utc_ns=stats.end_utc_ns,
        window_s=stats.window_s,
        samples_in_window=stats.samples_in_window,
        all_samples_in_window=stats.all_samples_in_window,
        avg_power_w=stats.avg_power_w,
        min_power_w=stats.min_power_w,
        max_power_w=stats.max_power_w,
        std_power_w=stats.std_power_w,
        energy_j=stats.energy_j,
        max_sample_gap_s=stats.max_sample_gap_s,
        **optional,
    )


def _metric_problem(
    message: str, file: str | None = None, severity: Severity = Severity.ERROR, **values: Any
) -> Finding:
    return Finding.failed(
        METRIC_RULE, "The power metric can be computed", severity, message, Evidence(file=file, values=values)
    )


def _found(detail: DetailLog, key: str | None) -> str:
    """What the detail log holds under ``key`` when it is there but is no figure (NaN, 1e400, text)."""
    event = detail.event(key) if key else None
    return "" if event is None else f" (line {event.line_number}: {str(event.value)[:40]}, not a finite number >= 0)"


@dataclass(frozen=True)
class _Figures:
    """The headline figures, with the clock correction and without it."""

    performance: Performance | None = None
    power_metric: Quantity | None = None
    efficiency: Quantity | None = None
    raw_power_metric: Quantity | None = None


_DETAIL_FILE = "run_1/mlperf_log_detail.txt"
_SPL_FILE = "run_1/spl.txt"


def _query_count(detail: DetailLog | None) -> int | None:
    value = detail.value("result_query_count") if detail else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _performance(context: ResultContext, detail: DetailLog | None, problems: list[Finding]) -> Performance | None:
    """The performance the round reads for the benchmark and scenario; a finding when it cannot be read."""
    scenario, loadgen_scenario, round_ = context.scenario, context.loadgen_scenario, context.round
    if detail is None:
        problems.append(_metric_problem(f"{_DETAIL_FILE} is missing or unreadable: no LoadGen window", _DETAIL_FILE))
        return None
    if scenario is None:
        problems.append(
            _metric_problem(
                f"{_DETAIL_FILE}: effective_scenario {detail.value('effective_scenario')!r} is no known scenario",
                _DETAIL_FILE,
            )
        )
        return None
    if loadgen_scenario is None:
        return None
    keys = round_.accepted_performance_keys(context.benchmark, loadgen_scenario.value)
    key = next((k for k in keys if detail.event(k) is not None), keys[0] if keys else None)
    perf = performance(scenario, detail, key, loadgen_scenario)
    if perf is None:
        problems.append(
            _metric_problem(
                f"{_DETAIL_FILE} has no usable {key!r}{_found(detail, key)}, the performance of "
                f"{context.benchmark or 'this benchmark'} {scenario.value} in {round_.name}: no efficiency",
                _DETAIL_FILE,
                key=key,
            )
        )
    return perf


def _window_problems(run: RunData, context: ResultContext, tier: MeasurementTier) -> list[Finding]:
    """What keeps the testing window's samples from giving the metric, or makes them doubtful."""
    problems: list[Finding] = []
    testing, stats = run.testing, run.testing.stats
    if context.scenario is Scenario.INTERACTIVE and not context.round.interactive_power:
        problems.append(
            _metric_problem(
                f"the official checker of {context.round.name} computes no power metric for Interactive results "
                "(from v6.0 it reports W as for Server); mlpower reports W",
                severity=Severity.WARNING,
            )
        )
    if tier is MeasurementTier.COMPONENTS and (stats is None or stats.all_samples_in_window == 0):
        problems.append(
            _metric_problem(
                "no wall meter (component counters only): no power metric; each component's and GPU's energy in "
                "the window is given on its own (they overlap, and leave the rest of the system out)",
                _SPL_FILE,
            )
        )
    elif (
        testing.detail is not None
        and testing.window_utc_ns is not None
        and stats is not None
        and stats.avg_power_w is None
    ):
        problems.append(
            _metric_problem(
                f"{_SPL_FILE}: no sample with Watts > 0 strictly inside the LoadGen window "
                f"{format_ptd_timestamp(stats.begin_utc_ns)} .. {format_ptd_timestamp(stats.end_utc_ns)}",
                _SPL_FILE,
            )
        )
    bad = implausible_readings(stats) if stats is not None else None
    if bad is not None:
        problems.append(
            Finding.failed(
                "3.plausible",
                "Every reading inside the window is one an analyzer can measure",
                Severity.ERROR,
                f"{_SPL_FILE}: {bad}",
                Evidence(file=_SPL_FILE),
            )
        )
    hole = sample_hole(stats) if stats is not None else None
    if hole is not None:
        problems.append(
            Finding.failed(
                "3.sample_gap",
                "No stretch without samples inside the window",
                Severity.WARNING,
                f"{_SPL_FILE}: {hole}",
                Evidence(file=_SPL_FILE),
            )
        )
    return problems


def _figures(
    run: RunData, context: ResultContext, perf: Performance | None, query_count: int | None, problems: list[Finding]
) -> _Figures:
    """The power metric and efficiency, corrected and not, where the window's samples and LoadGen allow."""
    scenario, loadgen_scenario = context.scenario, context.loadgen_scenario
    stats, raw = run.testing.stats, run.testing.raw_stats
    if scenario is None or run.testing.detail is None or stats is None or stats.avg_power_w is None:
        return _Figures(performance=perf)
    if scenario.energy_per_query and not query_count:
        problems.append(
            _metric_problem(f"{_DETAIL_FILE} has no result_query_count > 0, so mJ/query is undefined", _DETAIL_FILE)
        )
        return _Figures(performance=perf)
    metric = power_metric(scenario, stats.avg_power_w, stats.window_s, query_count, loadgen_scenario)
    raw_metric = None
    if run.testing.clock is not None and raw is not None and raw.avg_power_w is not None:
        raw_metric = power_metric(scenario, raw.avg_power_w, raw.window_s, query_count, loadgen_scenario)
    return _Figures(perf, metric, efficiency(scenario, perf, metric), raw_metric)


def build_report(run: RunData, round_: Round | ResultContext | str | None = None) -> ReportRecord:
    """The official metric and its breakdown. ``round_``: a :class:`Round`, a round's name, a
    :class:`ResultContext` (round, benchmark and scenario decided by the caller), or None to detect."""
    context = as_context(run, round_)
    detail = run.testing.detail
    query_count = _query_count(detail)
    tier = measurement_tier(run)
    problems = list(run.problems)
    perf = _performance(context, detail, problems)
    problems += _window_problems(run, context, tier)
    figures = _figures(run, context, perf, query_count, problems)
    return _record(run, context, figures, query_count, tier, problems)


def _wall_fields(budgets: WallBudgets | None, figures: _Figures) -> dict[str, Any]:
    """The headline figures' records with their error bars (none where the window has no wall samples)."""
    power = budgets.power if budgets is not None else None
    out: dict[str, Any] = {
        "power_metric": _quantity(figures.power_metric, power),
        "efficiency": _quantity(figures.efficiency, power),
    }
    if budgets is not None:
        out["avg_power_uncertainty"] = error_bar(budgets.power)
        if budgets.energy is not None:
            out["energy_uncertainty"] = error_bar(budgets.energy)
    return out


def _system_energy(
    run: RunData,
    query_count: int | None,
    gpus: GpuPhaseSummary | None,
    components: ComponentPhaseSummary | None,
    nodes: Sequence[NodeSensorsRecord],
    clock: ClockBound,
) -> SystemEnergyRecord | None:
    """A described system's wall sources joined by time over the testing window (None without system.json or
    a window), each node with its GPUs' and components' shares of its wall energy: the LoadGen node's from its
    agent, every other node's from its node agent."""
    wall, window = run.system_wall, run.testing.meter_window_utc_ns
    if wall is None or run.system is None or window is None or window[1] <= window[0]:
        return None
    joined = join_by_time(wall.sources, window[0], window[1], wall.interconnect, query_count)
    node_budgets, system_budget = system_energy_budgets(wall.sources, wall.interconnect, *window, clock)
    gpu_j = {n.node: n.gpu_energy_j for n in nodes}
    gpu_j[run.system.loadgen_node] = gpus.total_energy_j if gpus is not None else None
    parts = {n.node: n.components for n in nodes}
    parts[run.system.loadgen_node] = components.per_component if components is not None else []
    with_shares = []
    for node in joined.nodes:
        wall_j, energy_j = node.energy_j, gpu_j.get(node.node)
        share = 100.0 * energy_j / wall_j if energy_j is not None and wall_j else None
        by_part = {
            c.name: 100.0 * c.energy_j / wall_j for c in parts.get(node.node, []) if c.energy_j is not None and wall_j
        }
        bar = error_bar(node_budgets[node.node]) if node.node in node_budgets else None
        with_shares.append(node.model_copy(update={"gpu_energy_j": energy_j, "gpu_share_pct": share,
                                                   "component_share_pct": by_part, "uncertainty": bar}))  # fmt: skip
    return joined.model_copy(update={"nodes": with_shares, "uncertainty": error_bar(system_budget)})


def _record(
    run: RunData,
    context: ResultContext,
    figures: _Figures,
    query_count: int | None,
    tier: MeasurementTier,
    problems: Sequence[Finding],
) -> ReportRecord:
    """The report record; the sections a run has no data for (GPUs, components, clock, channels) left unset."""
    detail, t, ranging, clock = run.testing.detail, run.testing.stats, run.ranging.stats, run.testing.clock
    scenario = context.scenario
    budgets = wall_budgets(run, context, tier)
    bound = clock_bound(run, context)
    gpus = _gpu_summaries(run, scenario, figures.performance, query_count, bound) or {}
    components = _component_summaries(run, scenario, figures.performance, query_count) or {}
    optional: dict[str, Any] = {}
    if gpus:
        optional["gpus"] = gpus.get(TESTING)
    if components:
        optional["components"] = components.get(TESTING)
    power = budgets.power if budgets is not None else None
    tokens = token_figures(detail, context.loadgen_scenario, t.window_s if t else None, t.avg_power_w if t else None,
                           power, optional.get("gpus"))  # fmt: skip
    if tokens is not None:
        optional["tokens"] = tokens
    if clock is not None:
        optional.update(_clock_sections(clock, run.testing.raw_stats, figures.raw_power_metric))
    if t is not None and t.channel_avg_power_w:
        optional["channels"] = _channels(t, budgets.channels if budgets is not None else ())
    if run.design_power is not None:
        optional["design_power"] = design_power_record(run.design_power, t.avg_power_w if t else None)
    if run.calibration is not None:
        calibrated = calibrated_figures(run, run.calibration, run.calibration_file, bound)
        if calibrated is not None:
            optional["calibrated"] = calibrated
    split = prefill_decode_record(run, figures.performance)
    if split is not None:
        optional["prefill_decode"] = split
    nodes = node_sensors(run)
    if nodes is not None:
        optional["node_sensors"] = nodes
    per_query = query_count if scenario is not None and scenario.energy_per_query else None  # SingleStream, MultiStream
    system = _system_energy(run, per_query, optional.get("gpus"), optional.get("components"), nodes or [], bound)
    if system is not None:
        optional["system_energy"] = system
    if run.mlpower_session is not None:  # mlpower's runs: the split, or why it cannot be made (no idle phase)
        energy = budgets.energy if budgets is not None else None
        optional["static_active"] = static_active(run, tier, energy, optional.get("gpus"), system, bound)
    change = None
    if t and ranging and t.avg_power_w and ranging.avg_power_w:
        change = 100.0 * (t.avg_power_w / ranging.avg_power_w - 1.0)
    meter = meter_identity(run)
    return ReportRecord(
        folder=str(run.folder.root),
        round=context.round.name,
        round_source=context.round_source,
        benchmark=context.benchmark,
        scenario=scenario.value if scenario else (detail.value("effective_scenario") if detail else None),
        scenario_source=context.scenario_source,
        loadgen_scenario=context.loadgen_scenario.value if context.loadgen_scenario else None,
        inferred=context.inferred,
        loadgen_validity=detail.value("result_validity") if detail else None,
        avg_power_w=t.avg_power_w if t else None,
        ranging_avg_power_w=ranging.avg_power_w if ranging else None,
        window_s=t.window_s if t else None,
        samples_in_window=t.samples_in_window if t else None,
        performance=_performance_record(figures.performance),
        energy_j=t.energy_j if t else None,
        max_sample_gap_s=t.max_sample_gap_s if t else None,
        result_query_count=query_count,
        power_change_pct=change,
        phases={
            TESTING: _window(t, gpus.get(TESTING), components.get(TESTING)),
            RANGING: _window(ranging, gpus.get(RANGING), components.get(RANGING)),
        },
        meter=MeterSummary(model=meter.model, ptd_version=meter.ptd_version, simulated=meter.simulated),
        simulated=bool(run.mlpower_session and run.mlpower_session.simulated) or meter.simulated,
        tier=tier,
        informative=tier in INFORMATIVE_TIERS,
        problems=[p.to_record() for p in problems],
        **_wall_fields(budgets, figures),
        **optional,
    )


def _clock_sections(clock: PhaseClock, raw: WindowStats | None, raw_metric: Quantity | None) -> dict[str, Any]:
    """The clock correction applied to LoadGen's window, and the figures without it."""
    return {
        "clock_correction": ClockCorrection(
            offset_ns=clock.offset_ns,
            bound_ns=clock.bound_ns,
            change_ns=clock.change_ns,
            note="LoadGen's window (SUT clock) was shifted by offset_ns onto the meter's clock",
        ),
        "uncorrected": UncorrectedFigures(
            avg_power_w=raw.avg_power_w if raw else None,
            samples_in_window=raw.samples_in_window if raw else None,
            energy_j=raw.energy_j if raw else None,
            power_metric=_quantity(raw_metric),
        ),
    }


def _gpu_summaries(
    run: RunData, scenario: Scenario | None, perf: Performance | None, query_count: int | None, clock: ClockBound
) -> dict[str, GpuPhaseSummary] | None:
    if not run.gpus:
        return None
    simulated = run.mlpower_session is not None and "sut_samples" in run.mlpower_session.simulated_sources
    out = {}
    for phase_name, phase in run.phases.items():
        window = phase.meter_window_utc_ns
        if window is None or phase.stats is None:
            continue
        windows = [gpu_window(series, *window) for series in run.gpus]
        summary = _gpu_phase(windows, phase.stats, scenario, perf, query_count, simulated)
        out[phase_name] = _with_gpu_error_bars(summary, run.gpus, window, clock)
    return out


def _gpu_phase(
    windows: list[GpuWindow],
    wall: WindowStats,
    scenario: Scenario | None,
    perf: Performance | None,
    query_count: int | None,
    simulated: bool,
) -> GpuPhaseSummary:
    energies = [w.energy_j for w in windows]
    total = sum(e for e in energies if e is not None) if all(e is not None for e in energies) else None
    per_gpu = [
        GpuRecord(gpu=w.gpu_index, **gpu_record_fields(w), **_window_entry(w, wall, scenario, perf, query_count))
        for w in windows
    ]
    rest_j = wall.energy_j - total if total is not None and wall.energy_j is not None else None
    return GpuPhaseSummary(
        simulated=simulated,
        per_gpu=per_gpu,
        total_energy_j=total,
        total_mean_power_w=total / wall.window_s if total is not None and wall.window_s > 0 else None,
        share_of_wall_pct=_share_of_wall_pct(total, wall),
        rest_of_system_energy_j=rest_j,
        rest_of_system_w=rest_j / wall.window_s if rest_j is not None and wall.window_s > 0 else None,
    )


def _with_gpu_error_bars(
    summary: GpuPhaseSummary, series: Sequence[GpuSeries], window: tuple[int, int], clock: ClockBound
) -> GpuPhaseSummary:
    """Each GPU's record with the error bar of its window energy."""
    per_gpu = []
    for record, readings in zip(summary.per_gpu, series, strict=True):
        if record.energy_j is None:
            per_gpu.append(record)
            continue
        budget = gpu_energy_budget(readings, *window, record.energy_j, clock)
        per_gpu.append(record.model_copy(update={"uncertainty": error_bar(budget)}))
    return summary.model_copy(update={"per_gpu": per_gpu})


def _share_of_wall_pct(energy_j: float | None, wall: WindowStats) -> float | None:
    """A part's share of the wall energy in the window (GPUs, components alike)."""
    return 100.0 * energy_j / wall.energy_j if energy_j is not None and wall.energy_j else None


def _window_entry(
    w: ReadingsWindow, wall: WindowStats, scenario: Scenario | None, perf: Performance | None, query_count: int | None
) -> dict[str, Any]:
    """One source's figures in a window, the fields a GPU's and a component's record share."""
    entry: dict[str, Any] = {
        "energy_j": w.energy_j,
        "counter_energy_j": w.counter_energy_j,
        "integrated_energy_j": w.integrated_energy_j,
        "counter_vs_integrated_pct": w.disagreement_pct,
        "mean_power_w": w.mean_power_w,
        "power_readings": w.power_readings,
        "median_update_ms": w.median_update_ms,
        "share_of_wall_pct": _share_of_wall_pct(w.energy_j, wall),
        "warnings": list(w.warnings),
    }
    samples = perf.value * wall.window_s if perf is not None and perf.unit == "samples/s" else None
    if w.energy_j is not None and scenario is not None and scenario.energy_per_query and query_count:
        entry["energy_per_query_j"] = w.energy_j / query_count
    if w.energy_j is not None and samples:
        entry["energy_per_sample_j"] = w.energy_j / samples
    return entry


def _component_summaries(
    run: RunData, scenario: Scenario | None, perf: Performance | None, query_count: int | None
) -> dict[str, ComponentPhaseSummary] | None:
    """Per phase, each component source's figures in LoadGen's window; never added up (they overlap)."""
    if not run.components:
        return None
    record = run.mlpower_session
    described = {c.name: c for c in record.agent.components} if record is not None and record.agent else {}
    any_simulated = record is not None and "components" in record.simulated_sources
    out = {}
    for phase_name, phase in run.phases.items():
        window = phase.meter_window_utc_ns
        if window is None or phase.stats is None:
            continue
        per_component = []
        for series in run.components:
            w = component_window(series, *window)
            about = described.get(series.name)
            per_component.append(
                ComponentRecord(
                    name=w.name,
                    family=w.family,
                    parent=about.parent if about else None,
                    # an older agent said nothing: then as the session record says of components
                    simulated=about.simulated if about and "simulated" in about.model_fields_set else any_simulated,
                    **_window_entry(w.figures, phase.stats, scenario, perf, query_count),
                )
            )
        out[phase_name] = ComponentPhaseSummary(
            simulated=any(c.simulated for c in per_component), per_component=per_component
        )
    return out
