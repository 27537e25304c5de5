"""report.html: one self-contained, offline page with the result, the rule findings and the power trace.

Plotly draws the interactive plot; its JavaScript is embedded in the page, so the file opens
without a network. Each phase shows wall power (and per channel, per GPU) over time, the LoadGen
window shaded and the samples outside it dimmed.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from analyzer.findings import Finding, Status
from analyzer.report import Report
from analyzer.run import RunData

__all__ = ["render_html"]

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
td, th { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
.fail.error { background: #fde2e2; } .fail.warning { background: #fff4d6; } .skipped { color: #777; }
.simulated { color: #b00; font-weight: bold; }
"""


def _fmt(value: Any, digits: int = 2, unit: str = "") -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.{digits}f} {unit}".rstrip()
    return f"{value} {unit}".rstrip()


def _times(t_utc_ns: np.ndarray) -> np.ndarray:
    return t_utc_ns.astype("datetime64[ns]")


def _figure(run: RunData) -> go.Figure:
    phases = [p for p in ("ranging", "testing") if run.phases[p].spl is not None]
    fig = make_subplots(
        rows=max(1, len(phases)), cols=1, subplot_titles=phases or ["no samples"], vertical_spacing=0.12
    )
    for row, name in enumerate(phases, start=1):
        phase = run.phases[name]
        log = phase.spl
        assert log is not None
        window = phase.meter_window_utc_ns
        inside = np.ones(len(log), dtype=bool)
        if window is not None:
            inside = (log.t_utc_ns > window[0]) & (log.t_utc_ns < window[1])
            fig.add_vrect(
                x0=_times(np.array([window[0]]))[0], x1=_times(np.array([window[1]]))[0],
                fillcolor="green", opacity=0.08, line_width=0, row=row, col=1,
            )  # fmt: skip
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
                            showlegend=show, line={"width": 1}, row=row, col=1)  # fmt: skip
        if window is not None:
            for series in run.gpus:
                keep = (series.power_t_ns >= log.t_utc_ns.min()) & (series.power_t_ns <= log.t_utc_ns.max())
                fig.add_scatter(x=_times(series.power_t_ns[keep]), y=series.power_w[keep], mode="lines",
                                name=f"GPU {series.gpu_index}", legendgroup=f"gpu{series.gpu_index}",
                                showlegend=show, line={"width": 1, "dash": "dot"}, row=row, col=1)  # fmt: skip
        fig.update_yaxes(title_text="W", row=row, col=1)
    fig.update_layout(height=380 * max(1, len(phases)), margin={"l": 60, "r": 20, "t": 40, "b": 40})
    return fig


def _rows(pairs: Sequence[tuple[str, str]]) -> str:
    return "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in pairs)


def render_html(report: Report, run: RunData, findings: Sequence[Finding] = ()) -> str:
    d = report.to_dict()
    metric = d.get("power_metric") or {}
    perf = d.get("performance") or {}
    eff = d.get("efficiency") or {}
    simulated = d.get("simulated") or (d.get("meter") or {}).get("simulated")
    summary = [
        ("Scenario", f"{d.get('scenario')} (LoadGen {d.get('loadgen_validity')})"),
        ("Power metric", _fmt(metric.get("value"), 2, metric.get("unit", ""))),
        ("Performance", _fmt(perf.get("value"), 1, perf.get("unit", ""))),
        ("Efficiency", _fmt(eff.get("value"), 2, eff.get("unit", ""))),
        ("Window", f"{_fmt(d.get('window_s'), 3, 's')}, {d.get('samples_in_window')} samples"),
        ("Energy in window", _fmt(d.get("energy_j"), 1, "J")),
        ("Longest sample gap", _fmt(d.get("max_sample_gap_s"), 3, "s")),
        ("Meter", f"{(d.get('meter') or {}).get('model')} (PTDaemon {(d.get('meter') or {}).get('ptd_version')})"),
    ]
    gpus = d.get("gpus")
    if gpus:
        energy = _fmt(gpus.get("total_energy_j"), 1, "J")
        share = _fmt(gpus.get("share_of_wall_pct"), 1)
        rest = _fmt(gpus.get("rest_of_system_w"), 2, "W")
        summary.append(("GPUs", f"{energy}, {share} % of wall; rest of system {rest}"))
    phases = d.get("phases") or {}
    compare = "".join(
        f"<tr><th>{name}</th><td>{_fmt(p.get('avg_power_w'), 2, 'W')}</td><td>{_fmt(p.get('window_s'), 1, 's')}</td>"
        f"<td>{p.get('samples_in_window')}</td><td>{_fmt(p.get('energy_j'), 1, 'J')}</td></tr>"
        for name, p in phases.items()
        if p
    )
    finding_rows = "".join(
        f'<tr class="{f.status.value} {f.severity.value}"><td>{html.escape(f.rule)}</td>'
        f"<td>{f.status.value if f.status is not Status.FAIL else f.severity.value}</td>"
        f"<td>{html.escape(f.title)}</td><td>{html.escape(f.message)}</td></tr>"
        for f in findings
    )
    plot = _figure(run).to_html(full_html=False, include_plotlyjs=True)
    banner = '<p class="simulated">SIMULATED sources: not a real measurement.</p>' if simulated else ""
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>mlpower report: {html.escape(str(d.get('folder')))}</title><style>{_STYLE}</style></head><body>"
        f"<h1>mlpower report</h1><p>{html.escape(str(d.get('folder')))} (rules of round {d.get('round')})</p>"
        f"{banner}<h2>Result</h2><table>{_rows(summary)}</table>"
        "<h2>Ranging and testing</h2><table><tr><th></th><th>average power</th><th>window</th><th>samples</th>"
        f"<th>energy</th></tr>{compare}</table>"
        f"<p>Testing vs ranging: {_fmt(d.get('power_change_pct'), 2, '%')}</p>"
        f"<h2>Power over time</h2>{plot}"
        + (
            f"<h2>Rule findings</h2><table><tr><th>rule</th><th>outcome</th><th>rule</th><th>finding</th></tr>"
            f"{finding_rows}</table>"
            if findings
            else ""
        )
        + "</body></html>"
    )
