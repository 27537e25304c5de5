"""Text for people: the report as a short table, the findings as a checklist."""

from __future__ import annotations

from collections.abc import Sequence

from analyzer.context import ResultContext
from analyzer.findings import Finding, Official, Severity, Status
from analyzer.nameplate import design_power_text
from analyzer.official import OfficialCheck, OfficialOutcome, official_verdict
from powerlog.result_record import (
    CalibratedRecord,
    ComponentRecord,
    ErrorBarRecord,
    GpuPhaseSummary,
    GpuRecord,
    MeterSummary,
    NodeGapRecord,
    NodeSensorsRecord,
    PrefillDecodeRecord,
    ReportRecord,
    StaticActiveRecord,
    SystemEnergyRecord,
    TokenFiguresRecord,
    TokenLatencyRecord,
)
from powerlog.tiers import INFORMATIVE_TIERS, MeasurementTier, tier_description

__all__ = [
    "budget_text",
    "calibrated_rows",
    "gap_text",
    "node_rows",
    "prefill_decode_rows",
    "render_findings",
    "render_report",
    "static_active_rows",
    "system_rows",
    "token_rows",
    "why_no_metric",
    "with_error_bar",
]


def _num(value: float | None, digits: int = 2, unit: str = "") -> str:
    if value is None:
        return "n/a"
    text = f"{value:,.{digits}f}"
    return f"{text} {unit}".rstrip()


def with_error_bar(value: float | None, bar: ErrorBarRecord | None, digits: int = 2, unit: str = "") -> str:
    """``287.96 W ± 0.62 W (k=2)``, or the figure alone where it has no error bar."""
    if value is None or bar is None:
        return _num(value, digits, unit)
    return f"{_num(value, digits, unit)} ± {_num(bar.expanded, digits, unit)} (k={bar.k:g})"


def budget_text(bar: ErrorBarRecord) -> str:
    """The components of an error bar, largest first, as standard uncertainties in the figure's unit."""
    terms = sorted(bar.terms, key=lambda t: -t.standard)
    parts = ", ".join(f"{t.name} {t.standard:.3g}" for t in terms)
    relative = f"±{bar.relative_pct:.2f} % (k={bar.k:g}); " if bar.relative_pct is not None else ""
    return f"{relative}u in {bar.unit}: {parts}; dominated by {bar.dominant or 'nothing'}"


def render_report(report: ReportRecord) -> str:
    t = report.testing
    rows: list[tuple[str, str]] = [("Folder", report.folder)]
    validity = report.loadgen_validity or "unknown"
    rows.append(("Round", f"{report.round}   ({report.round_source})"))
    if report.benchmark:
        rows.append(("Benchmark", report.benchmark))
    inferred = f", inferred from LoadGen's {report.loadgen_scenario} run" if report.inferred else ""
    rows.append(("Scenario", f"{report.scenario or 'unknown'}   (LoadGen: {validity}{inferred})"))
    if report.power_metric is not None:
        metric = report.power_metric
        rows.append(("Power metric", with_error_bar(metric.value, metric.uncertainty, 2, metric.unit)))
        if metric.uncertainty is not None:
            rows.append(("  uncertainty", budget_text(metric.uncertainty)))
    else:
        rows.append(("Power metric", f"n/a: {why_no_metric(report)}"))
    if report.performance is not None:
        perf = report.performance
        value = f"{perf.value:,.0f}" if perf.value.is_integer() else f"{perf.value:,.6g}"
        rows.append(("Performance", f"{value} {perf.unit}   ({perf.key}{', inferred' if perf.inferred else ''})"))
    if report.efficiency is not None:
        eff = report.efficiency
        rows.append(("Efficiency", with_error_bar(eff.value, eff.uncertainty, 4 if eff.value < 10 else 2, eff.unit)))
    if t is not None:
        rows.append(
            (
                "Testing window",
                f"{t.window_s:,.3f} s, {t.samples_in_window} samples > 0 W (of {t.all_samples_in_window}), "
                f"longest gap {t.max_sample_gap_s:.3f} s",
            )
        )
        if t.avg_power_w is not None:
            rows.append(
                (
                    "Wall power",
                    f"avg {with_error_bar(t.avg_power_w, report.avg_power_uncertainty, 2, 'W')}, "
                    f"min {_num(t.min_power_w, 2)}, max {_num(t.max_power_w, 2)}, "
                    f"std {_num(t.std_power_w, 2)}",
                )
            )
            rows.append(
                ("Energy in window", f"{with_error_bar(t.energy_j, report.energy_uncertainty, 1, 'J')} (trapezoidal)")
            )
        for ch in report.channels or t.channels or ():
            share = f" ({ch.share_pct:.1f} %)" if ch.share_pct is not None else ""
            rows.append((f"  Channel {ch.channel}", f"{with_error_bar(ch.avg_power_w, ch.uncertainty, 2, 'W')}{share}"))
    rows += _gpu_rows(report.gpus)
    if report.tokens is not None:
        rows += token_rows(report.tokens)
    components = report.components
    if components:
        sim = "   SIMULATED" if components.simulated else ""
        rows.append(("Components", f"{len(components.per_component)}, each on its own (they overlap){sim}"))
        for c in components.per_component:
            rows.append(
                (
                    f"  {c.name}",
                    f"{_num(c.mean_power_w, 2, 'W')}, {_num(c.energy_j, 1, 'J')}, "
                    f"{_num(c.share_of_wall_pct, 1)} % of wall{_per_query(c)}",
                )
            )
    if report.system_energy is not None:
        rows += system_rows(report.system_energy)
    for node in report.node_sensors or ():
        rows += node_rows(node)
    if report.calibrated is not None:
        rows += calibrated_rows(report.calibrated)
    if report.static_active is not None:
        rows += static_active_rows(report.static_active)
    if report.prefill_decode is not None:
        rows += prefill_decode_rows(report.prefill_decode)
    if report.ranging is not None:
        change = f"   (testing {report.power_change_pct:+.2f} %)" if report.power_change_pct is not None else ""
        rows.append(("Ranging power", f"{_num(report.ranging.avg_power_w, 2, 'W')}{change}"))
    if report.design_power is not None:
        rows.append(("Design power", design_power_text(report.design_power)))
    meter = report.meter or MeterSummary()
    if meter.model:
        sim = "   SIMULATED" if meter.simulated else ""
        ptd = f"PTDaemon {meter.ptd_version}" if meter.ptd_version else "read by mlpower's driver"
        rows.append(("Meter", f"{meter.model}, {ptd}{sim}"))
    tier = report.tier or MeasurementTier.PTDAEMON
    informative = "   INFORMATIVE" if tier in INFORMATIVE_TIERS else ""
    rows.append(("Tier", f"{tier.value}{informative}   ({tier_description(tier)})"))
    width = max(len(k) for k, _ in rows)
    lines = [f"{k.ljust(width)}  {v}" for k, v in rows]
    for p in report.problems:
        lines.append(f"{p.severity.upper()}: {p.message}")
    return "\n".join(lines)


def calibrated_rows(calibrated: CalibratedRecord) -> list[tuple[str, str]]:
    """The sensors corrected by a calibration: which file, how old, and each source's wall estimate (CORRECTED)
    beside its raw reading."""
    use = calibrated.calibration
    age = f", {use.age_s / 86400:.1f} days old" if use.age_s is not None else ""
    reference = f" against {use.reference_model or 'a wall meter'}{' (SIMULATED)' if use.reference_simulated else ''}"
    rows = [("Calibration", f"{use.file}{reference}{age}")]
    for s in calibrated.sources:
        verdict = f"qualifies within {s.threshold_pct:g} %" if s.qualifies else f"NOT within {s.threshold_pct:g} %"
        rows.append((
            f"  {s.source}",
            f"CORRECTED {with_error_bar(s.avg_power_w, s.uncertainty, 2, 'W')} (raw {_num(s.raw_avg_power_w, 2, 'W')}; "
            f"gain {s.gain:.4g}, offset {s.offset_w:.4g} W, lag {s.lag_s:.3g} s; {verdict})"
            f"{'   SIMULATED' if s.simulated else ''}",
        ))  # fmt: skip
    if calibrated.not_applied:
        rows.append(("  not applied", f"{', '.join(calibrated.not_applied)}: no readings of them in this run"))
    return rows


def prefill_decode_rows(split: PrefillDecodeRecord) -> list[tuple[str, str]]:
    """The testing window split into prefill, decode and idle: each part's time, energy, power and energy per token,
    and what the split cannot tell; or why there is none."""
    if not split.available:
        return [("Prefill/decode", f"n/a: {split.reason}")]
    resolved = "; NOT resolved by the wall samples" if split.resolved is False else ""
    what = f"{split.queries_in_window} queries in the window ({split.file}), split by time{resolved}"
    rows = [("Prefill/decode", what)]
    for p in split.parts:
        tokens = f"; {p.tokens:,.0f} tokens, {_num(p.energy_per_token_j, 4, 'J')}/token" if p.tokens is not None else ""
        gpus = f"; GPUs {_num(p.gpu_energy_j, 1, 'J')}" if p.gpu_energy_j is not None else ""
        rows.append((
            f"  {p.part}",
            f"{p.duration_s:,.3f} s ({p.share_of_window_pct:.1f} %, {p.intervals} stretches): "
            f"{_num(p.energy_j, 1, 'J')}, {_num(p.avg_power_w, 2, 'W')}{gpus}{tokens}",
        ))  # fmt: skip
    rows.append(("  note", split.note))
    return rows


def _per_token(figures: TokenFiguresRecord, prefix: str) -> str:
    """An energy's per-token, per-joule and per-query figures, 4 significant digits, each with its error bar."""
    texts = []
    for name in ("energy_per_output_token_joules", "output_tokens_per_joule", "energy_per_query_joules"):
        q = getattr(figures, prefix + name)
        if q is not None:
            bar = f" ± {q.uncertainty.expanded:.2g}" if q.uncertainty is not None else ""
            texts.append(f"{q.value:.4g} {q.unit}{bar}")
    return ", ".join(texts) + " (k=2)" if texts else "n/a"


def _latency_text(latency: TokenLatencyRecord) -> str:
    """``p50 204.7 ms, p99 519.3 ms; limit 2,000 ms at p99: met``."""
    shown = [f"p{float(p):g} {ns / 1e6:,.1f} ms" for p, ns in latency.percentiles_ns.items() if p in _SHOWN_PCT]
    text = ", ".join(shown) or (f"mean {latency.mean_ns / 1e6:,.1f} ms" if latency.mean_ns is not None else "n/a")
    if latency.limit_ns is not None:
        at = f" at p{latency.limit_percentile:g}" if latency.limit_percentile is not None else ""
        met = {True: ": met", False: ": EXCEEDED", None: ""}[latency.within_limit]
        text += f"; limit {latency.limit_ns / 1e6:,.1f} ms{at}{met}"
    return text


_SHOWN_PCT = ("50.00", "90.00", "99.00", "99.90")


def token_rows(tokens: TokenFiguresRecord) -> list[tuple[str, str]]:
    """A token-based result's per-token figures (see metrics-and-rules.md, Energy per token)."""
    rows = [
        (
            "Output tokens",
            f"{tokens.output_token_count:,} in {tokens.query_count:,} queries   ({tokens.token_rate_key} "
            f"{tokens.output_tokens_per_second:,.6g} x LoadGen's {tokens.loadgen_duration_s:,.3f} s)",
        ),
        ("  wall per token", _per_token(tokens, "")),
    ]
    if tokens.gpu_energy_joules is not None:
        rows.append((f"  GPUs ({tokens.accelerator_count}) per token", _per_token(tokens, "gpu_")))
    for name, latency in (("TTFT", tokens.ttft), ("TPOT", tokens.tpot)):
        if latency is not None:
            rows.append((f"  {name}", _latency_text(latency)))
    return rows


def _gpu_rows(gpus: GpuPhaseSummary | None) -> list[tuple[str, str]]:
    """The GPUs' energy in the testing window, each GPU's with its error bar and source, the rest of the system."""
    rows: list[tuple[str, str]] = []
    if not gpus:
        return rows
    sim = "   SIMULATED" if gpus.simulated else ""
    rows.append(
        (
            "GPUs",
            f"{_num(gpus.total_energy_j, 1, 'J')}, {_num(gpus.total_mean_power_w, 2, 'W')}, "
            f"{_num(gpus.share_of_wall_pct, 1)} % of wall{sim}",
        )
    )
    for g in gpus.per_gpu:
        rows.append(
            (
                f"  GPU {g.gpu}",
                f"{with_error_bar(g.energy_j, g.uncertainty, 1, 'J')}, {_num(g.mean_power_w, 2, 'W')}"
                f"{_gpu_how(g)}{_per_query(g)}",
            )
        )
    rows.append(("Rest of system", _num(gpus.rest_of_system_w, 2, "W")))
    return rows


def _gpu_how(gpu: GpuRecord) -> str:
    """Where a GPU's energy came from, what it covers and what went wrong, as far as the record says."""
    about = [f"from its {gpu.energy_from}" if gpu.energy_from else "", f"{gpu.scope} scope" if gpu.scope else ""]
    about.append(f"{gpu.power_reading_kind} power" if gpu.power_reading_kind else "")
    text = f" ({', '.join(a for a in about if a)})" if any(about) else ""
    return text + (f"   FAULTS: {', '.join(gpu.faults)}" if gpu.faults else "")


def _per_query(entry: GpuRecord | ComponentRecord) -> str:
    """A GPU's or a component's energy per query (SingleStream, MultiStream), where the report has it."""
    per_query_j = entry.energy_per_query_j
    return f", {per_query_j * 1e3:.3f} mJ/query" if per_query_j is not None else ""


def gap_text(gap: NodeGapRecord) -> str:
    """A node's gap in words: what, in which phase, how long, how much of the testing window."""
    span = f"{gap.length_s:.1f} s" if gap.length_s is not None else "until the session ended"
    return (
        f"{gap.reason} ({gap.phase or 'between phases'}), {span}, {gap.in_testing_window_s:.1f} s in the testing window"
    )


def system_rows(system: SystemEnergyRecord) -> list[tuple[str, str]]:
    """The system joined by time: its total, then each node (wall power, energy, per query, GPU share, its
    sources) and the interconnect, estimated parts said so, incomplete ones named."""
    incomplete = [n.node for n in system.nodes if not n.complete]
    flag = f"   INCOMPLETE: {', '.join(incomplete)}" if incomplete else ""
    estimated = f"   ESTIMATED part: {', '.join(system.estimated)}" if system.estimated else ""
    rows = [(
        "System",
        f"{len(system.nodes)} node(s) joined by time over {system.window_s:.1f} s: "
        f"{_num(system.avg_power_w, 2, 'W')}, {with_error_bar(system.energy_j, system.uncertainty, 1, 'J')}"
        f"{_per_query_j(system.energy_per_query_j)}"
        f"{flag}{estimated}",
    )]  # fmt: skip
    for node in system.nodes:
        share = f", GPUs {_num(node.gpu_share_pct, 1)} %" if node.gpu_share_pct is not None else ""
        share += "".join(f", {name} {pct:.1f} %" for name, pct in node.component_share_pct.items())
        missing = "" if node.complete else "   INCOMPLETE"
        energy = with_error_bar(node.energy_j, node.uncertainty, 1, "J")
        rows.append((f"  {node.node}", f"{_num(node.avg_power_w, 2, 'W')}, {energy}"
                     f"{_per_query_j(node.energy_per_query_j)}{share}{missing}"))  # fmt: skip
        for source in node.sources:
            gaps = "; ".join(f"{g.kind} {g.length_s:.1f} s" for g in source.gaps)
            sim = "   SIMULATED" if source.simulated else ""
            rows.append((f"    {source.name}", f"{_num(source.avg_power_w, 2, 'W')}, {source.samples_in_window} "
                         f"samples every {source.interval_s:g} s{'; gaps: ' + gaps if gaps else ''}{sim}"))  # fmt: skip
    link = system.interconnect
    if link is not None:
        how = f"ESTIMATED ({link.max_power_w:g} W x {link.share:g})" if link.estimated else "measured"
        rows.append((f"  {link.name}", f"{_num(link.avg_power_w, 2, 'W')}, {_num(link.energy_j, 1, 'J')}, {how}"))
    return rows


def static_active_rows(split: StaticActiveRecord) -> list[tuple[str, str]]:
    """Static power (the idle phase's) and the testing window's active energy, per GPU and node; or why not."""
    if not split.split:
        return [("Static/active", f"cannot split: {split.reason}")]
    rows = [
        ("Static power", f"{with_error_bar(split.static_power_w, split.static_power_uncertainty, 2, 'W')} idle "
         f"({split.idle_samples} samples over {_num(split.idle_window_s, 1, 's')}; assumed unchanged under load)"),
        ("Active energy", f"{with_error_bar(split.active_energy_j, split.active_energy_uncertainty, 1, 'J')} "
         f"({_num(split.active_share_pct, 1)} % of {_num(split.energy_j, 1, 'J')}; static "
         f"{_num(split.static_energy_j, 1, 'J')}; active power {_num(split.active_power_w, 2, 'W')})"),
    ]  # fmt: skip
    for part in [*split.per_gpu, *split.nodes]:
        if part.active_energy_j is None:
            rows.append((f"  {part.name}", f"cannot split: {part.idle_readings} idle readings, or no window energy"))
            continue
        idle = with_error_bar(part.idle_power_w, part.idle_power_uncertainty, 2, "W")
        active = with_error_bar(part.active_energy_j, part.active_energy_uncertainty, 1, "J")
        rows.append((f"  {part.name}", f"idle {idle}, active {active} of {_num(part.energy_j, 1, 'J')}"))
    return rows


def _per_query_j(energy_j: float | None) -> str:
    return f", {energy_j:,.4f} J/query" if energy_j is not None else ""


def node_rows(node: NodeSensorsRecord) -> list[tuple[str, str]]:
    """A node agent's rows: its GPUs (with their sum), its components (each on its own), its gaps."""
    sim = "   SIMULATED" if node.simulated else ""
    head = f"{len(node.gpus)} GPU(s) {_num(node.gpu_energy_j, 1, 'J')}, {_num(node.gpu_avg_power_w, 2, 'W')}; "
    rows = [(f"Node {node.node}", f"{head}{len(node.components)} component(s); {len(node.gaps)} gap(s){sim}")]
    rows += [
        (f"  GPU {g.gpu}", f"{with_error_bar(g.energy_j, g.uncertainty, 1, 'J')}, {_num(g.mean_power_w, 2, 'W')}")
        for g in node.gpus
    ]
    rows += [(f"  {c.name}", f"{_num(c.mean_power_w, 2, 'W')}, {_num(c.energy_j, 1, 'J')}") for c in node.components]
    rows += [("  gap", gap_text(g)) for g in node.gaps]
    return rows


def why_no_metric(report: ReportRecord) -> str:
    t = report.testing
    if report.no_wall_meter:
        return "no wall meter: component counters only (see Components and GPUs)"
    if t is None:
        return "the testing window or samples could not be read (see below)"
    if t.samples_in_window == 0:
        return "no sample with Watts > 0 strictly inside the testing window"
    if report.scenario is None:
        return "unknown scenario"
    return "result_query_count is missing"


_MARK = {Status.PASS: "ok  ", Status.SKIPPED: "skip", Status.FAIL: "FAIL"}


_OFFICIAL_TAG = {
    Official.SAME: "",
    Official.STRICTER: " [stricter than official]",
    Official.DIFFERS: " [differs from official]",
    Official.MLPOWER: " [mlpower only]",
}


def render_findings(
    findings: Sequence[Finding],
    verdict: Status,
    folder: str,
    context: ResultContext,
    official: Sequence[OfficialCheck] = (),
) -> str:
    lines = [
        f"{folder}",
        f"round {context.round.name} ({context.round_source}); "
        f"{context.benchmark or 'benchmark unknown'} {context.scenario.value if context.scenario else '?'}"
        + (
            f", inferred from LoadGen's {context.loadgen_scenario.value} run"
            if context.inferred and context.loadgen_scenario
            else ""
        ),
    ]
    for f in findings:
        mark = _MARK[f.status] if f.status is not Status.FAIL else ("FAIL" if f.severity is Severity.ERROR else "warn")
        tag = _OFFICIAL_TAG[f.official] if f.official else ""
        lines.append(f"[{mark}] {f.rule:<22} {f.title}{tag}: {f.message}")
        if f.status is Status.FAIL:
            for e in f.evidence[:3]:
                where = f"{e.file}:{e.line}" if e.file and e.line else (e.file or "")
                if where:
                    lines.append(f"{'':30}at {where}")
    errors = sum(1 for f in findings if f.is_error)
    warnings = sum(1 for f in findings if f.status is Status.FAIL and f.severity is Severity.WARNING)
    for c in official:
        if c.outcome is not OfficialOutcome.PASS:
            lines.append(f"official {c.outcome.value}: {c.title}: {c.message}")
    lines.append(
        f"mlpower verdict: {verdict.value.upper()} ({errors} error(s), {warnings} warning(s); the stricter audit)"
    )
    if official:
        lines.append(
            f"official verdict: {official_verdict(official).upper()} (the official power checker of "
            f"{context.round.name}, "
            "as reproduced by mlpower)"
        )
    return "\n".join(lines)
