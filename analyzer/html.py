"""report.html: one self-contained, offline page that leads with the verdict.

In order: the official verdict and mlpower's (with round, benchmark, scenario, and SIMULATED when
the sources were), the errors, the warnings, the result table (clock correction included), the
power trace per phase, then the rules that passed or were skipped and the official checks that
passed. Plotly draws the plot; its JavaScript is embedded, so the file opens without a network.
Each phase shows wall power (and per channel, per GPU) over time, the LoadGen window shaded and
bounded by two annotated lines, the samples outside it dimmed.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from analyzer.checks import verdict
from analyzer.components import ComponentSeries
from analyzer.findings import Evidence, Finding, Official, Severity, Status
from analyzer.gpu import GpuSeries
from analyzer.nameplate import design_power_text
from analyzer.official import OfficialCheck, OfficialOutcome, official_verdict
from analyzer.render import (
    budget_text,
    calibrated_rows,
    gap_text,
    static_active_rows,
    token_rows,
    why_no_metric,
    with_error_bar,
)
from analyzer.report import METRIC_RULE
from analyzer.run import RunData
from analyzer.time_join import WallSeries
from powerlog.result_record import (
    MeterSummary,
    NodeEnergyRecord,
    NodeSensorsRecord,
    PrefillDecodeRecord,
    ReportRecord,
    SystemEnergyRecord,
    WindowRecord,
)
from powerlog.tiers import INFORMATIVE_TIERS, MeasurementTier, tier_description

__all__ = ["WINDOW_OPACITY", "render_html"]

WINDOW_OPACITY = 0.22  # the LoadGen window's shading: visible on white, the traces still read through it
_WINDOW_COLOR = "#2da44e"
_NS_PER_MS = 1_000_000
_PHASES = ("ranging", "testing")
_SERIES_COLORS = ("#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
_EVIDENCE_SHOWN = 5  # places per finding; `mlpower-analyzer check --json` lists them all

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 80em; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
td, th { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
code { font-size: 0.9em; }
.verdicts { display: flex; gap: 1em; flex-wrap: wrap; margin: 1em 0; }
.verdict { border: 2px solid; border-radius: 8px; padding: 0.6em 1.2em; min-width: 16em; }
.verdict h2 { margin: 0; font-size: 1em; text-transform: uppercase; letter-spacing: 0.05em; }
.verdict .word { margin: 0.1em 0; font-size: 2.6em; font-weight: bold; }
.verdict .why { margin: 0; font-size: 0.9em; }
.verdict.pass { border-color: #1a7f37; background: #dafbe1; color: #1a7f37; }
.verdict.fail { border-color: #cf222e; background: #ffebe9; color: #cf222e; }
.verdict.unknown { border-color: #888; background: #f3f3f3; color: #555; }
.what { font-size: 1.2em; margin: 0.2em 0; }
.folder { color: #666; font-size: 0.9em; overflow-wrap: anywhere; }
.simulated { display: inline-block; color: white; background: #b00; font-weight: bold; font-size: 1.2em;
             padding: 0.2em 0.6em; border-radius: 4px; }
tr.error { background: #fde2e2; } tr.warning { background: #fff4d6; } tr.skipped { color: #777; }
"""


def _fmt(value: Any, digits: int = 2, unit: str = "") -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.{digits}f} {unit}".rstrip()
    if isinstance(value, int):
        return f"{value:,} {unit}".rstrip()
    return f"{value} {unit}".rstrip()


def _ms(t_ns: int | None, signed: bool = True) -> str:
    if t_ns is None:
        return "n/a"
    return f"{t_ns / _NS_PER_MS:{'+' if signed else ''},.3f} ms"


def _utc(t_utc_ns: int) -> str:
    """ISO 8601 UTC to the millisecond (plotly reads the same form on its date axis)."""
    return str(np.datetime64(int(t_utc_ns), "ns"))[:23]


def _esc(value: object) -> str:
    return html.escape(str(value))


# the verdicts ----------------------------------------------------------------------------


def _verdict_box(box_id: str, title: str, word: str, why: str) -> str:
    css = word.lower() if word in ("PASS", "FAIL") else "unknown"
    return (
        f'<div id="{box_id}" class="verdict {css}"><h2>{_esc(title)}</h2>'
        f'<p class="word">{_esc(word)}</p><p class="why">{_esc(why)}</p></div>'
    )


def _verdicts(report: ReportRecord, findings: Sequence[Finding], official: Sequence[OfficialCheck] | None) -> str:
    if official is None:
        official_box = _verdict_box(
            "official-verdict", "Official verdict", "NOT CHECKED", "the run was loaded without file checksums"
        )
    else:
        warnings = sum(c.outcome is OfficialOutcome.WARNING for c in official)
        failures = sum(c.outcome is OfficialOutcome.FAIL for c in official)
        why = f"{failures} failed, {warnings} warning(s): the official power checker of {report.round}, as reproduced"
        official_box = _verdict_box("official-verdict", "Official verdict", official_verdict(official).upper(), why)
    if findings:
        errors = sum(f.is_error for f in findings)
        warnings = sum(_is_warning(f) for f in findings)
        why = f"{errors} error(s), {warnings} warning(s): the stricter audit"
        mlpower_box = _verdict_box("mlpower-verdict", "mlpower verdict", verdict(findings).value.upper(), why)
    else:
        mlpower_box = _verdict_box("mlpower-verdict", "mlpower verdict", "NOT CHECKED", "no rule findings given")
    return f'<section class="verdicts">{official_box}{mlpower_box}</section>'


def _what(report: ReportRecord) -> str:
    inferred = f", inferred from LoadGen's {report.loadgen_scenario} run" if report.inferred else ""
    parts = [
        f"round {report.round} ({report.round_source})",
        report.benchmark or "benchmark unknown",
        f"{report.scenario or 'scenario unknown'} (LoadGen {report.loadgen_validity or 'validity unknown'}{inferred})",
    ]
    banner = (
        '<p><span class="simulated">SIMULATED</span> sources: not a real measurement.</p>' if report.simulated else ""
    )
    tier = report.tier or MeasurementTier.PTDAEMON
    badge = '<span class="simulated">INFORMATIVE</span> ' if tier in INFORMATIVE_TIERS else ""
    tier_line = f'<p class="tier">{badge}Tier <b>{_esc(tier.value)}</b>: {_esc(tier_description(tier))}</p>'
    return (
        f'<p class="what">{_esc(" · ".join(parts))}</p><p class="folder">{_esc(report.folder)}</p>{banner}{tier_line}'
    )


# errors, warnings, and the rest ----------------------------------------------------------


def _is_warning(f: Finding) -> bool:
    return f.status is Status.FAIL and f.severity is Severity.WARNING


def _where(evidence: Iterable[Evidence]) -> str:
    places = [f"{e.file}:{e.line}" if e.line is not None else e.file for e in evidence if e.file]
    shown = "<br>".join(f"<code>{_esc(p)}</code>" for p in places[:_EVIDENCE_SHOWN])
    more = len(places) - _EVIDENCE_SHOWN
    return f"{shown}<br>and {more} more" if more > 0 else shown


def _relation(official: Official | None) -> str:
    return official.value if official else ""


def _finding_row(f: Finding, outcome: str) -> str:
    return (
        f'<tr class="{outcome}"><td><code>{_esc(f.rule)}</code></td><td>{_esc(outcome)}</td>'
        f"<td>{_esc(f.title)}: {_esc(f.message)}</td><td>{_where(f.evidence)}</td>"
        f"<td>{_esc(_relation(f.official))}</td></tr>"
    )


def _official_row(c: OfficialCheck, outcome: str) -> str:
    return (
        f'<tr class="{outcome}"><td><code>official {_esc(c.check)}</code></td><td>{_esc(outcome)}</td>'
        f"<td>{_esc(c.title)}: {_esc(c.message)}</td><td></td><td>the official checker</td></tr>"
    )


def _problem_table(heading: str, table_id: str, rows: Sequence[str]) -> str:
    if not rows:
        return f'<h2>{heading}</h2><p id="{table_id}">none</p>'
    head = "<tr><th>rule</th><th>outcome</th><th>finding</th><th>evidence</th><th>official relation</th></tr>"
    return f'<h2>{heading} ({len(rows)})</h2><table id="{table_id}">{head}{"".join(rows)}</table>'


def _problems(findings: Sequence[Finding], official: Sequence[OfficialCheck]) -> str:
    errors = [_official_row(c, "error") for c in official if c.outcome is OfficialOutcome.FAIL]
    errors += [_finding_row(f, "error") for f in findings if f.is_error]
    warnings = [_official_row(c, "warning") for c in official if c.outcome is OfficialOutcome.WARNING]
    warnings += [_finding_row(f, "warning") for f in findings if _is_warning(f)]
    return _problem_table("Errors", "errors", errors) + _problem_table("Warnings", "warnings", warnings)


def _remaining_rules(findings: Sequence[Finding], official: Sequence[OfficialCheck]) -> str:
    rows = [
        f'<tr class="{f.status.value}"><td><code>{_esc(f.rule)}</code></td><td>{f.status.value}</td>'
        f"<td>{_esc(_relation(f.official))}</td><td>{_esc(f.title)}: {_esc(f.message)}</td></tr>"
        for f in findings
        if f.status is not Status.FAIL
    ]
    rows += [
        f'<tr class="{"pass" if c.outcome is OfficialOutcome.PASS else "skipped"}">'
        f"<td><code>official {_esc(c.check)}</code></td><td>{_esc(c.outcome.value.replace('_', ' '))}</td>"
        f"<td>the official checker</td><td>{_esc(c.title)}: {_esc(c.message)}</td></tr>"
        for c in official
        if c.outcome in (OfficialOutcome.PASS, OfficialOutcome.NOT_REPRODUCED)
    ]
    if not rows:
        return ""
    head = "<tr><th>rule</th><th>status</th><th>official relation</th><th>finding</th></tr>"
    return f'<h2>Rules that passed or were skipped</h2><table id="rules">{head}{"".join(rows)}</table>'


# the result ------------------------------------------------------------------------------


def _clock_rows(report: ReportRecord, run: RunData) -> list[tuple[str, str]]:
    clock = run.testing.clock  # the record's clock correction, with the count of measurements behind it
    if clock is None:
        return [("Clock correction", "not measured: LoadGen's times are used as written (no clock offset recorded)")]
    rows = [
        ("Clock offset", f"{_ms(clock.offset_ns)} (director minus SUT, at the middle of LoadGen's window)"),
        ("Clock offset bound", f"±{_ms(clock.bound_ns, signed=False)} over the window"),
        ("Clock change", f"{_ms(clock.change_ns)} over the phase ({clock.measurements} measurements)"),
    ]
    raw = report.uncorrected
    if raw is not None:
        raw_metric = raw.power_metric
        metric = _fmt(raw_metric.value, 2, raw_metric.unit) if raw_metric else "n/a"
        rows.append(("Without the correction", f"{metric}, {_fmt(raw.samples_in_window)} samples in window"))
    return rows


def _window_rows(t: WindowRecord, report: ReportRecord) -> list[tuple[str, str]]:
    rows = [
        (
            "LoadGen window",
            f"{_fmt(t.window_s, 3, 's')} ({_utc(t.power_begin_utc_ns)} to {_utc(t.power_end_utc_ns)} UTC)",
        ),
        ("Samples in window", f"{_fmt(t.samples_in_window)} > 0 W (of {_fmt(t.all_samples_in_window)})"),
        ("Energy in window", with_error_bar(t.energy_j, report.energy_uncertainty, 1, "J")),
        ("Average power", with_error_bar(t.avg_power_w, report.avg_power_uncertainty, 2, "W")),
        ("Min / max power", f"{_fmt(t.min_power_w, 2, 'W')} / {_fmt(t.max_power_w, 2, 'W')}"),
        ("Longest sample gap", _fmt(t.max_sample_gap_s, 3, "s")),
    ]
    for c in report.channels or t.channels or ():
        share = f" ({c.share_pct:.1f} %)" if c.share_pct is not None else ""
        rows.append((f"Channel {c.channel}", f"{with_error_bar(c.avg_power_w, c.uncertainty, 2, 'W')}{share}"))
    return rows


def _result_rows(report: ReportRecord, run: RunData) -> list[tuple[str, str]]:
    metric, perf, eff = report.power_metric, report.performance, report.efficiency
    rows = [
        (
            "Power metric",
            with_error_bar(metric.value, metric.uncertainty, 2, metric.unit)
            if metric
            else f"n/a: {why_no_metric(report)}",
        ),
    ]
    if metric is not None and metric.uncertainty is not None:
        rows.append(("Uncertainty", budget_text(metric.uncertainty)))
    rows.append(("Performance", f"{_fmt(perf.value, 1, perf.unit)} ({perf.key})" if perf else "n/a"))
    digits = 4 if eff is not None and eff.value < 10 else 2
    rows.append(("Efficiency", with_error_bar(eff.value, eff.uncertainty, digits, eff.unit) if eff else "n/a"))
    if report.testing is not None:
        rows += _window_rows(report.testing, report)
    rows += _clock_rows(report, run)
    gpus = report.gpus
    if gpus:
        energy, share = _fmt(gpus.total_energy_j, 1, "J"), _fmt(gpus.share_of_wall_pct, 1)
        rest = _fmt(gpus.rest_of_system_w, 2, "W")
        sim = " (SIMULATED)" if gpus.simulated else ""
        rows.append(("GPUs", f"{energy}, {share} % of wall; rest of system {rest}{sim}"))
    if report.tokens is not None:  # a token-based result: energy per output token and per query, TTFT, TPOT
        rows += [(name.strip(), text) for name, text in token_rows(report.tokens)]
    for c in report.components.per_component if report.components else ():
        sim = " (SIMULATED)" if c.simulated else ""
        power, share = _fmt(c.mean_power_w, 2, "W"), _fmt(c.share_of_wall_pct, 1)
        rows.append((c.name, f"{power}, {_fmt(c.energy_j, 1, 'J')}, {share} % of wall{sim}"))
    if report.ranging is not None:
        change = _fmt(report.power_change_pct, 2, "%")
        rows.append(("Ranging power", f"{_fmt(report.ranging.avg_power_w, 2, 'W')} (testing vs ranging {change})"))
    if report.design_power is not None:
        rows.append(("Design power", design_power_text(report.design_power)))
    if report.calibrated is not None:
        rows += calibrated_rows(report.calibrated)
    if report.static_active is not None:  # static power (the idle phase) and active energy, or why not
        rows += [(name.strip(), text) for name, text in static_active_rows(report.static_active)]
    meter = report.meter or MeterSummary()
    sim = " (SIMULATED)" if meter.simulated else ""
    rows.append(("Meter", f"{meter.model or 'unknown'} (PTDaemon {meter.ptd_version or '?'}){sim}"))
    return rows


def _rows(pairs: Sequence[tuple[str, str]]) -> str:
    return "".join(f"<tr><th>{_esc(k)}</th><td>{_esc(v)}</td></tr>" for k, v in pairs)


def _phase_table(report: ReportRecord) -> str:
    head = (
        "<tr><th></th><th>average power</th><th>min</th><th>max</th><th>window</th><th>samples</th><th>energy</th></tr>"
    )
    rows = "".join(
        f"<tr><th>{name}</th><td>{_fmt(s.avg_power_w, 2, 'W')}</td><td>{_fmt(s.min_power_w, 2, 'W')}</td>"
        f"<td>{_fmt(s.max_power_w, 2, 'W')}</td><td>{_fmt(s.window_s, 1, 's')}</td>"
        f"<td>{_fmt(s.samples_in_window)}</td><td>{_fmt(s.energy_j, 1, 'J')}</td></tr>"
        for name, s in (("ranging", report.ranging), ("testing", report.testing))
        if s is not None
    )
    return f'<table id="phases">{head}{rows}</table>' if rows else ""


def _node_table(nodes: Sequence[NodeSensorsRecord]) -> str:
    """Per node agent: each GPU and component over the testing window, then its gaps."""
    head = "<tr><th>node</th><th>source</th><th>average power</th><th>energy</th><th>readings</th></tr>"
    rows = []
    for n in nodes:
        sim = " (SIMULATED)" if n.simulated else ""
        sources: list[tuple[str, float | None, float | None, int | None]]
        sources = [(f"GPU {g.gpu}", g.mean_power_w, g.energy_j, g.power_readings) for g in n.gpus]
        sources += [("GPUs, all", n.gpu_avg_power_w, n.gpu_energy_j, None)] if n.gpus else []
        sources += [(c.name, c.mean_power_w, c.energy_j, c.power_readings) for c in n.components]
        rows += [
            f"<tr><th>{_esc(n.node + sim)}</th><td>{_esc(name)}</td><td>{_fmt(w, 2, 'W')}</td>"
            f"<td>{_fmt(j, 1, 'J')}</td><td>{_fmt(count)}</td></tr>"
            for name, w, j, count in sources
        ]
        rows += [f'<tr><th>{_esc(n.node)}</th><td colspan="4">gap: {_esc(gap_text(g))}</td></tr>' for g in n.gaps]
    return f'<h3>Nodes</h3><table id="nodes">{head}{"".join(rows)}</table>' if nodes else ""


def _source_names(node: NodeEnergyRecord) -> str:
    return ", ".join(s.name + (" (SIMULATED)" if s.simulated else "") for s in node.sources)


def _system_table(system: SystemEnergyRecord | None) -> str:
    """Per node of a described system: its wall power and energy joined by time, per query, its GPUs' share,
    complete or not; the interconnect (estimated said so); the total."""
    if system is None:
        return ""
    head = ("<tr><th>node</th><th>average power</th><th>energy</th><th>energy/query</th><th>GPU (component) share</th>"
            "<th>sources</th><th>complete</th></tr>")  # fmt: skip
    rows = [
        f"<tr><th>{_esc(n.node)}</th><td>{_fmt(n.avg_power_w, 2, 'W')}</td>"
        f"<td>{with_error_bar(n.energy_j, n.uncertainty, 1, 'J')}</td>"
        f"<td>{_fmt(n.energy_per_query_j, 4, 'J')}</td><td>{_fmt(n.gpu_share_pct, 1, '%')}"
        f"{''.join(f'<br>{_esc(name)} {pct:.1f} %' for name, pct in n.component_share_pct.items())}</td>"
        f"<td>{_esc(_source_names(n))}</td><td>{'yes' if n.complete else 'NO'}</td></tr>"
        for n in system.nodes
    ]
    link = system.interconnect
    if link is not None:
        how = "ESTIMATED" if link.estimated else "measured"
        rows.append(f"<tr><th>{_esc(link.name)}</th><td>{_fmt(link.avg_power_w, 2, 'W')}</td>"
                    f'<td>{_fmt(link.energy_j, 1, "J")}</td><td colspan="4">{how}</td></tr>')  # fmt: skip
    energy = with_error_bar(system.energy_j, system.uncertainty, 1, "J")
    rows.append(f"<tr><th>system</th><td>{_fmt(system.avg_power_w, 2, 'W')}</td><td>{energy}"
                f"</td><td>{_fmt(system.energy_per_query_j, 4, 'J')}</td><td></td><td></td>"
                f"<td>{'yes' if system.complete else 'NO'}</td></tr>")  # fmt: skip
    return f'<h3>System, joined by time</h3><table id="system">{head}{"".join(rows)}</table>'


def _prefill_decode_table(split: PrefillDecodeRecord | None) -> str:
    """The testing window split into prefill, decode and idle (LLM runs), with what the split cannot tell."""
    if split is None:
        return ""
    if not split.available:
        return f'<h3>Prefill and decode</h3><p id="prefill-decode">n/a: {_esc(split.reason)}</p>'
    head = ("<tr><th>part</th><th>time</th><th>stretches</th><th>energy</th><th>average power</th><th>GPUs</th>"
            "<th>tokens</th><th>energy/token</th></tr>")  # fmt: skip
    rows = "".join(
        f"<tr><th>{_esc(p.part)}</th><td>{_fmt(p.duration_s, 3, 's')} ({_fmt(p.share_of_window_pct, 1, '%')})</td>"
        f"<td>{p.intervals}</td><td>{_fmt(p.energy_j, 1, 'J')}</td><td>{_fmt(p.avg_power_w, 2, 'W')}</td>"
        f"<td>{_fmt(p.gpu_energy_j, 1, 'J')}</td><td>{_fmt(p.tokens, 0)}</td>"
        f"<td>{_fmt(p.energy_per_token_j, 4, 'J')}</td></tr>"
        for p in split.parts
    )
    resolved = " NOT resolved by the wall samples." if split.resolved is False else ""
    what = f"{split.queries_in_window} queries in the window ({split.file}), split by time.{resolved}"
    return (f'<h3>Prefill and decode</h3><p>{_esc(what)}</p><table id="prefill-decode">{head}{rows}</table>'
            f'<p>{_esc(split.note)}</p>')  # fmt: skip


def _result(report: ReportRecord, run: RunData) -> str:
    notes = "".join(
        f'<p class="{p.severity}">{p.severity.upper()}: {_esc(p.message)}</p>'
        for p in report.problems
        if p.rule == METRIC_RULE
    )
    nodes = _system_table(report.system_energy) + _node_table(report.node_sensors or ())
    nodes += _prefill_decode_table(report.prefill_decode)
    result = _rows(_result_rows(report, run))
    return f'<h2>Result</h2><table id="result">{result}</table>{notes}{_phase_table(report)}{nodes}'


# the plot --------------------------------------------------------------------------------


def _times(t_utc_ns: np.ndarray) -> np.ndarray:
    return t_utc_ns.astype("datetime64[ns]")


def _color(index: int) -> str:
    """The same colour for a channel (or a GPU) in every phase's plot."""
    return _SERIES_COLORS[index % len(_SERIES_COLORS)]


def _mark_window(fig: go.Figure, row: int, window_utc_ns: tuple[int, int]) -> None:
    """Shade LoadGen's window and draw its ends: the lines keep a window that is a sliver of the x range, or
    nearly all of it, visible. Added after the traces (plotly leaves shapes off subplots without data)."""
    begin, end = _utc(window_utc_ns[0]), _utc(window_utc_ns[1])
    fig.add_shape(type="rect", x0=begin, x1=end, y0=0, y1=1, yref="y domain", fillcolor=_WINDOW_COLOR,
                  opacity=WINDOW_OPACITY, line_width=0, layer="below", name="loadgen window",
                  row=row, col=1)  # fmt: skip
    for x, label, anchor in ((begin, "power_begin", "right"), (end, "power_end", "left")):
        fig.add_shape(type="line", x0=x, x1=x, y0=0, y1=1, yref="y domain", line={"color": "#1a7f37", "width": 2},
                      name=label, row=row, col=1)  # fmt: skip
        fig.add_annotation(x=x, y=1, yref="y domain", text=label, showarrow=False, xanchor=anchor, yanchor="bottom",
                           font={"color": "#1a7f37"}, row=row, col=1)  # fmt: skip


def _phase_traces(fig: go.Figure, run: RunData, name: str, row: int) -> None:
    phase = run.phases[name]
    log = phase.spl
    assert log is not None
    window = phase.meter_window_utc_ns
    inside = np.ones(len(log), dtype=bool)
    if window is not None:
        inside = (log.t_utc_ns > window[0]) & (log.t_utc_ns < window[1])
    t = _times(log.t_utc_ns)
    show = row == 1
    fig.add_scatter(x=t[inside], y=log.power_w[inside], mode="lines+markers", name="wall (in window)",
                    line={"color": "#1f77b4"}, marker={"size": 3}, legendgroup="wall", showlegend=show,
                    row=row, col=1)  # fmt: skip
    fig.add_scatter(x=t[~inside], y=log.power_w[~inside], mode="markers", name="wall (outside window)",
                    marker={"color": "#1f77b4", "size": 3}, opacity=0.3, legendgroup="wall-out",
                    showlegend=show, row=row, col=1)  # fmt: skip
    for i, channel in enumerate(log.channels, start=1):
        fig.add_scatter(x=t, y=channel.power_w, mode="lines", name=f"channel {i}", legendgroup=f"ch{i}",
                        showlegend=show, line={"width": 1, "color": _color(i - 1)}, row=row, col=1)  # fmt: skip
    if window is not None:
        # the SUT's readings over the wall samples' span; with none (no wall meter: none://), over the window
        first, last = (int(log.t_utc_ns.min()), int(log.t_utc_ns.max())) if len(log) else window
        sut: list[tuple[GpuSeries | ComponentSeries, str, str, str, int]]
        sut = [(g, f"GPU {g.gpu_index}", f"gpu{g.gpu_index}", "dot", g.gpu_index) for g in run.gpus]
        sut += [(c, c.name, f"component-{c.name}", "dash", len(run.gpus) + i) for i, c in enumerate(run.components)]
        for series, label, group, dash, color in sut:
            keep = (series.power_t_ns >= first) & (series.power_t_ns <= last)
            fig.add_scatter(x=_times(series.power_t_ns[keep]), y=series.power_w[keep], mode="lines", name=label,
                            legendgroup=group, showlegend=show, line={"width": 1, "dash": dash, "color": _color(color)},
                            row=row, col=1)  # fmt: skip
        _mark_window(fig, row, window)
    fig.update_yaxes(title_text="W", row=row, col=1)
    fig.update_xaxes(title_text="UTC", row=row, col=1)


def _system_traces(fig: go.Figure, run: RunData, row: int) -> None:
    """A multi-node run's testing phase: every wall source's power stacked, node by node (each source at its
    own instants; the plot fills between them for the stack, the figures never do), the estimated
    interconnect as a band over the window."""
    wall, window = run.system_wall, run.testing.meter_window_utc_ns
    assert wall is not None
    for i, source in enumerate(wall.sources):
        t, p = source.valid()
        fig.add_scatter(x=_times(t), y=p, mode="lines", name=f"{source.node} ({source.name})", stackgroup="system",
                        stackgaps="interpolate", legendgroup=f"node-{source.node}", line={"color": _color(i)},
                        row=row, col=1)  # fmt: skip
    link = wall.interconnect
    if link is not None and window is not None:
        t, p = (link.valid() if isinstance(link, WallSeries) else
                (np.array(window, dtype=np.int64), np.full(2, link.power_w)))  # fmt: skip
        fig.add_scatter(x=_times(t), y=p, mode="lines", name=link.name, stackgroup="system", stackgaps="interpolate",
                        line={"color": "#7f7f7f", "dash": "dot"}, row=row, col=1)  # fmt: skip
    if window is not None:
        _mark_window(fig, row, window)
    fig.update_yaxes(title_text="W (stacked)", row=row, col=1)
    fig.update_xaxes(title_text="UTC", row=row, col=1)


def _figure(run: RunData) -> go.Figure:
    phases = [p for p in _PHASES if run.phases[p].spl is not None]
    titles = [f"{p} (LoadGen window shaded)" for p in phases] or ["no samples"]
    system = run.system_wall is not None and bool(run.system_wall.sources)
    if system:
        titles.append("testing, every node's wall power stacked (system.json)")
    rows = max(1, len(phases)) + system
    fig = make_subplots(rows=rows, cols=1, subplot_titles=titles, vertical_spacing=0.14 if rows < 3 else 0.08)
    for row, name in enumerate(phases, start=1):
        _phase_traces(fig, run, name, row)
    if system:
        _system_traces(fig, run, rows)
    fig.update_layout(height=400 * rows, margin={"l": 60, "r": 20, "t": 50, "b": 40})
    return fig


# the page --------------------------------------------------------------------------------


def render_html(
    report: ReportRecord,
    run: RunData,
    findings: Sequence[Finding] = (),
    official: Sequence[OfficialCheck] | None = None,
) -> str:
    """The page (:meth:`analyzer.result.Result.html` gives it for a result). ``official``: the official
    checks; None says they were not run."""
    plot = _figure(run).to_html(full_html=False, include_plotlyjs=True, div_id="power-plot")
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>mlpower report: {_esc(report.folder)}</title><style>{_STYLE}</style></head><body>"
        "<h1>mlpower report</h1>"
        f"{_verdicts(report, findings, official)}{_what(report)}"
        f"{_problems(findings, official or ())}"
        f"{_result(report, run)}"
        f"<h2>Power over time</h2>{plot}"
        f"{_remaining_rules(findings, official or ())}"
        "</body></html>"
    )
