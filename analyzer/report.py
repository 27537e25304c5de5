"""The report: the official metric and the breakdown behind it, as plain data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from analyzer.components import component_window
from analyzer.context import MeterIdentity, ResultContext, as_context, meter_identity
from analyzer.findings import Evidence, Finding, Severity
from analyzer.gpu import GpuWindow, ReadingsWindow, gpu_window
from analyzer.metrics import (
    Performance,
    Quantity,
    Scenario,
    WindowStats,
    efficiency,
    performance,
    power_metric,
)
from analyzer.rounds import Round
from analyzer.rules.samples import implausible_readings, sample_hole
from analyzer.run import PhaseClock, RunData
from analyzer.tier import measurement_tier
from powerlog.mllog import DetailLog
from powerlog.tiers import INFORMATIVE_TIERS, MeasurementTier
from powerlog.timestamps import format_ptd_timestamp

__all__ = ["METRIC_RULE", "MeterIdentity", "Report", "build_report", "meter_identity"]

METRIC_RULE = "0.metric"


@dataclass(frozen=True)
class Report:
    folder: str
    round: str
    scenario: str | None
    loadgen_validity: str | None
    testing: WindowStats | None
    ranging: WindowStats | None
    power_metric: Quantity | None
    performance: Performance | None
    efficiency: Quantity | None
    query_count: int | None
    power_change_pct: float | None
    meter: MeterIdentity
    problems: tuple[Finding, ...]
    clock: PhaseClock | None = None
    raw_testing: WindowStats | None = None
    raw_power_metric: Quantity | None = None
    simulated: bool = False
    gpus: dict[str, dict[str, Any]] | None = None  # per phase: GPU energy, share of wall power, rest of system
    components: dict[str, dict[str, Any]] | None = None  # per phase: each component's energy and share of the wall
    round_source: str = "given"
    benchmark: str | None = None
    loadgen_scenario: str | None = None
    scenario_source: str = "LoadGen's effective_scenario"
    inferred: bool = False
    tier: MeasurementTier = MeasurementTier.PTDAEMON  # what the wall power was measured with

    @property
    def no_wall_meter(self) -> bool:
        """Component counters only and no wall sample in the testing window: nothing measured the whole system."""
        return _no_wall_meter(self.tier, self.testing)

    @property
    def avg_power_w(self) -> float | None:
        return self.testing.avg_power_w if self.testing else None

    def to_dict(self) -> dict[str, Any]:
        t = self.testing
        d: dict[str, Any] = {
            "folder": self.folder,
            "round": self.round,
            "round_source": self.round_source,
            "benchmark": self.benchmark,
            "scenario": self.scenario,
            "scenario_source": self.scenario_source,
            "loadgen_scenario": self.loadgen_scenario,
            "inferred": self.inferred,
            "loadgen_validity": self.loadgen_validity,
            "avg_power_w": self.avg_power_w,
            "ranging_avg_power_w": self.ranging.avg_power_w if self.ranging else None,
            "window_s": t.window_s if t else None,
            "samples_in_window": t.samples_in_window if t else None,
            "power_metric": _quantity(self.power_metric),
            "performance": (
                {
                    "value": self.performance.value,
                    "unit": self.performance.unit,
                    "key": self.performance.key,
                    "inferred": self.performance.inferred,
                }
                if self.performance
                else None
            ),
            "efficiency": _quantity(self.efficiency),
            "energy_j": t.energy_j if t else None,
            "max_sample_gap_s": t.max_sample_gap_s if t else None,
            "result_query_count": self.query_count,
            "power_change_pct": self.power_change_pct,
            "phases": {"testing": _window(t), "ranging": _window(self.ranging)},
            "meter": {
                "model": self.meter.model,
                "ptd_version": self.meter.ptd_version,
                "simulated": self.meter.simulated,
            },
            "simulated": self.simulated or self.meter.simulated,
            "tier": self.tier.value,
            "informative": self.tier in INFORMATIVE_TIERS,
            "problems": [p.to_dict() for p in self.problems],
        }
        for key, per_phase in (("gpus", self.gpus), ("components", self.components)):
            if per_phase:
                d[key] = per_phase.get("testing")
                for phase, summary in per_phase.items():
                    if d["phases"].get(phase) is not None:
                        d["phases"][phase][key] = summary
        if self.clock is not None:
            raw = self.raw_testing
            d["clock_correction"] = {
                "offset_ns": self.clock.offset_ns,
                "bound_ns": self.clock.bound_ns,
                "change_ns": self.clock.change_ns,
                "note": "LoadGen's window (SUT clock) was shifted by offset_ns onto the meter's clock",
            }
            d["uncorrected"] = {
                "avg_power_w": raw.avg_power_w if raw else None,
                "samples_in_window": raw.samples_in_window if raw else None,
                "energy_j": raw.energy_j if raw else None,
                "power_metric": _quantity(self.raw_power_metric),
            }
        if t is not None and t.channel_avg_power_w:
            d["channels"] = _channels(t)
        return d


def _quantity(q: Quantity | None) -> dict[str, Any] | None:
    return {"value": q.value, "unit": q.unit} if q else None


def _channels(stats: WindowStats) -> list[dict[str, Any]]:
    total = sum(stats.channel_avg_power_w)
    return [
        {"channel": i, "avg_power_w": w, "share_pct": 100.0 * w / total if total > 0 else None}
        for i, w in enumerate(stats.channel_avg_power_w, start=1)
    ]


def _window(stats: WindowStats | None) -> dict[str, Any] | None:
    if stats is None:
        return None
    d: dict[str, Any] = {
        "power_begin": format_ptd_timestamp(stats.begin_utc_ns),
        "power_end": format_ptd_timestamp(stats.end_utc_ns),
        "power_begin_utc_ns": stats.begin_utc_ns,
        "power_end_utc_ns": stats.end_utc_ns,
        "window_s": stats.window_s,
        "samples_in_window": stats.samples_in_window,
        "all_samples_in_window": stats.all_samples_in_window,
        "avg_power_w": stats.avg_power_w,
        "min_power_w": stats.min_power_w,
        "max_power_w": stats.max_power_w,
        "std_power_w": stats.std_power_w,
        "energy_j": stats.energy_j,
        "max_sample_gap_s": stats.max_sample_gap_s,
    }
    if stats.channel_avg_power_w:
        d["channels"] = _channels(stats)
    return d


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


def _no_wall_meter(tier: MeasurementTier, testing: WindowStats | None) -> bool:
    return tier is MeasurementTier.COMPONENTS and (testing is None or testing.all_samples_in_window == 0)


def build_report(run: RunData, round_: Round | ResultContext | str | None = None) -> Report:
    """The official metric and its breakdown. ``round_``: a :class:`Round`, a round's name, a
    :class:`ResultContext` (round, benchmark and scenario decided by the caller), or None to detect."""
    context = as_context(run, round_)
    round_ = context.round
    testing = run.testing
    scenario, loadgen_scenario = context.scenario, context.loadgen_scenario
    stats = testing.stats
    detail = testing.detail
    query_count = detail.value("result_query_count") if detail else None
    query_count = query_count if isinstance(query_count, int) and not isinstance(query_count, bool) else None
    metric = perf = eff = None
    problems = list(run.problems)
    detail_file = "run_1/mlperf_log_detail.txt"
    if detail is None:
        problems.append(_metric_problem(f"{detail_file} is missing or unreadable: no LoadGen window", detail_file))
    elif scenario is None:
        problems.append(
            _metric_problem(
                f"{detail_file}: effective_scenario {detail.value('effective_scenario')!r} is no known scenario",
                detail_file,
            )
        )
    if scenario is not None and detail is not None and loadgen_scenario is not None:
        keys = round_.accepted_performance_keys(context.benchmark, loadgen_scenario.value)
        key = next((k for k in keys if detail.event(k) is not None), keys[0] if keys else None)
        perf = performance(scenario, detail, key, loadgen_scenario)
        if perf is None:
            problems.append(
                _metric_problem(
                    f"{detail_file} has no usable {key!r}{_found(detail, key)}, the performance of "
                    f"{context.benchmark or 'this benchmark'} {scenario.value} in {round_.name}: no efficiency",
                    detail_file,
                    key=key,
                )
            )
    if scenario is Scenario.INTERACTIVE and not round_.interactive_power:
        problems.append(
            _metric_problem(
                f"the official checker of {round_.name} computes no power metric for Interactive results "
                "(from v6.0 it reports W as for Server); mlpower reports W",
                severity=Severity.WARNING,
            )
        )
    tier = measurement_tier(run)
    if _no_wall_meter(tier, stats):
        problems.append(
            _metric_problem(
                "no wall meter (component counters only): no power metric; each component's and GPU's energy in "
                "the window is given on its own (they overlap, and leave the rest of the system out)",
                "run_1/spl.txt",
            )
        )
    elif detail is not None and testing.window_utc_ns is not None and stats is not None and stats.avg_power_w is None:
        problems.append(
            _metric_problem(
                f"run_1/spl.txt: no sample with Watts > 0 strictly inside the LoadGen window "
                f"{format_ptd_timestamp(stats.begin_utc_ns)} .. {format_ptd_timestamp(stats.end_utc_ns)}",
                "run_1/spl.txt",
            )
        )
    bad = implausible_readings(stats) if stats is not None else None
    if bad is not None:
        problems.append(
            Finding.failed(
                "3.plausible",
                "Every reading inside the window is one an analyzer can measure",
                Severity.ERROR,
                f"run_1/spl.txt: {bad}",
                Evidence(file="run_1/spl.txt"),
            )
        )
    hole = sample_hole(stats) if stats is not None else None
    if hole is not None:
        problems.append(
            Finding.failed(
                "3.sample_gap",
                "No stretch without samples inside the window",
                Severity.WARNING,
                f"run_1/spl.txt: {hole}",
                Evidence(file="run_1/spl.txt"),
            )
        )
    has_power = scenario is not None and detail is not None and stats is not None and stats.avg_power_w is not None
    if has_power and scenario.energy_per_query and not query_count:  # type: ignore[union-attr]
        problems.append(
            _metric_problem(f"{detail_file} has no result_query_count > 0, so mJ/query is undefined", detail_file)
        )
    if has_power and (query_count or not scenario.energy_per_query):  # type: ignore[union-attr]
        metric = power_metric(scenario, stats.avg_power_w, stats.window_s, query_count, loadgen_scenario)  # type: ignore[arg-type, union-attr]
        eff = efficiency(scenario, perf, metric)  # type: ignore[arg-type]
    raw_metric = None
    raw = testing.raw_stats
    if has_power and raw is not None and raw.avg_power_w is not None and (query_count or not scenario.energy_per_query):  # type: ignore[union-attr]
        raw_metric = power_metric(scenario, raw.avg_power_w, raw.window_s, query_count, loadgen_scenario)  # type: ignore[arg-type]
    ranging = run.ranging.stats
    change = None
    if stats and ranging and stats.avg_power_w and ranging.avg_power_w:
        change = 100.0 * (stats.avg_power_w / ranging.avg_power_w - 1.0)
    return Report(
        folder=str(run.folder.root),
        round=round_.name,
        scenario=scenario.value if scenario else (detail.value("effective_scenario") if detail else None),
        loadgen_validity=detail.value("result_validity") if detail else None,
        testing=stats,
        ranging=ranging,
        power_metric=metric,
        performance=perf,
        efficiency=eff,
        query_count=query_count,
        power_change_pct=change,
        meter=meter_identity(run),
        problems=tuple(problems),
        clock=testing.clock,
        raw_testing=raw if testing.clock is not None else None,
        raw_power_metric=raw_metric if testing.clock is not None else None,
        simulated=bool(run.mlpower_session and run.mlpower_session.simulated),
        gpus=_gpu_summaries(run, scenario, perf, query_count),
        components=_component_summaries(run, scenario, perf, query_count),
        round_source=context.round_source,
        benchmark=context.benchmark,
        loadgen_scenario=loadgen_scenario.value if loadgen_scenario else None,
        scenario_source=context.scenario_source,
        inferred=context.inferred,
        tier=tier,
    )


def _gpu_summaries(
    run: RunData, scenario: Scenario | None, perf: Performance | None, query_count: int | None
) -> dict[str, dict[str, Any]] | None:
    if not run.gpus:
        return None
    simulated = run.mlpower_session is not None and "sut_samples" in run.mlpower_session.simulated_sources
    out = {}
    for phase_name, phase in run.phases.items():
        window = phase.meter_window_utc_ns
        if window is None or phase.stats is None:
            continue
        windows = [gpu_window(series, *window) for series in run.gpus]
        out[phase_name] = _gpu_phase(windows, phase.stats, scenario, perf, query_count, simulated)
    return out


def _gpu_phase(
    windows: list[GpuWindow],
    wall: WindowStats,
    scenario: Scenario | None,
    perf: Performance | None,
    query_count: int | None,
    simulated: bool,
) -> dict[str, Any]:
    energies = [w.energy_j for w in windows]
    total = sum(e for e in energies if e is not None) if all(e is not None for e in energies) else None
    per_gpu = [{"gpu": w.gpu_index, **_window_entry(w, wall, scenario, perf, query_count)} for w in windows]
    rest_j = wall.energy_j - total if total is not None and wall.energy_j is not None else None
    return {
        "simulated": simulated,
        "per_gpu": per_gpu,
        "total_energy_j": total,
        "total_mean_power_w": total / wall.window_s if total is not None and wall.window_s > 0 else None,
        "share_of_wall_pct": _share_of_wall_pct(total, wall),
        "rest_of_system_energy_j": rest_j,
        "rest_of_system_w": rest_j / wall.window_s if rest_j is not None and wall.window_s > 0 else None,
    }


def _share_of_wall_pct(energy_j: float | None, wall: WindowStats) -> float | None:
    """A part's share of the wall energy in the window (GPUs, components alike)."""
    return 100.0 * energy_j / wall.energy_j if energy_j is not None and wall.energy_j else None


def _window_entry(
    w: ReadingsWindow, wall: WindowStats, scenario: Scenario | None, perf: Performance | None, query_count: int | None
) -> dict[str, Any]:
    """One source's figures in a window, as the report gives them for a GPU and a component alike."""
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
) -> dict[str, dict[str, Any]] | None:
    """Per phase, each component source's figures in LoadGen's window; never added up (they overlap)."""
    if not run.components:
        return None
    record = run.mlpower_session
    described: dict[str, dict[str, Any]] = {}
    if record is not None and record.agent is not None:
        described = {str(c.get("name")): c for c in record.agent.components}
    any_simulated = record is not None and "components" in record.simulated_sources
    out = {}
    for phase_name, phase in run.phases.items():
        window = phase.meter_window_utc_ns
        if window is None or phase.stats is None:
            continue
        per_component = []
        for series in run.components:
            w = component_window(series, *window)
            about = described.get(series.name, {})
            simulated = bool(about.get("simulated", any_simulated))
            per_component.append(
                {
                    "name": w.name,
                    "family": w.family,
                    "parent": about.get("parent"),
                    "simulated": simulated,
                    **_window_entry(w.figures, phase.stats, scenario, perf, query_count),
                }
            )
        out[phase_name] = {
            "simulated": any(c["simulated"] for c in per_component),
            "per_component": per_component,
        }
    return out
