"""The leaderboard: one offline HTML page of many results (``scan --html``, ``compare --html``).

It opens with the counts of official and mlpower verdicts, then one scatter per benchmark and
scenario (efficiency against performance, coloured by the official verdict; a latency scenario's
performance axis is its latency, lower is better), then every result in a table sortable by any
column (click a header), with a link to each result's ``report.html`` where one exists. Plotly's
script is embedded once, so the page needs no network.
"""

from __future__ import annotations

import html
import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import plotly.graph_objects as go

from analyzer.scan import ScanRow
from analyzer.table import cell_text, result_label

__all__ = ["render_leaderboard"]

_PLOT_WIDTH_PX = 640  # fixed: a plot sized to its grid cell at load time overflowed it in Chromium
_VERDICT_COLOURS = {"pass": "#1a7f37", "fail": "#cf222e", None: "#8c959f"}
_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2em;max-width:110em}"
    "table{border-collapse:collapse;font-size:.9em}td,th{border:1px solid #d0d7de;padding:.25em .5em}"
    "th{background:#f6f8fa;cursor:pointer;user-select:none;white-space:nowrap}th.sorted-asc::after{content:' ▲'}"
    "th.sorted-desc::after{content:' ▼'}td.num{text-align:right;font-variant-numeric:tabular-nums}"
    ".pass{color:#1a7f37;font-weight:600}.fail{color:#cf222e;font-weight:600}.err{color:#cf222e}"
    ".simulated{background:#fff8c5}.counts span{margin-right:1.5em;font-size:1.1em}"
    f".plots{{display:grid;grid-template-columns:repeat(auto-fill,{_PLOT_WIDTH_PX}px);gap:1em}}"
)
# sorts the table by the clicked header: numbers by value (data-v), text alphabetically, empty cells last
_SORT_SCRIPT = """
document.querySelectorAll('table.results th').forEach((th, col) => th.addEventListener('click', () => {
  const table = th.closest('table'), body = table.tBodies[0];
  const asc = !th.classList.contains('sorted-asc');
  table.querySelectorAll('th').forEach(h => h.classList.remove('sorted-asc', 'sorted-desc'));
  th.classList.add(asc ? 'sorted-asc' : 'sorted-desc');
  const key = tr => { const td = tr.cells[col]; return td.dataset.v !== undefined ? td.dataset.v : td.textContent; };
  const rows = Array.from(body.rows);
  rows.sort((a, b) => {
    const x = key(a), y = key(b);
    if (x === '' || y === '') return (x === '') - (y === '');
    const nx = Number(x), ny = Number(y);
    const c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
    return asc ? c : -c;
  });
  rows.forEach(r => body.appendChild(r));
}));
"""


def _cell(text: str, value: float | int | str | None = None, css: str = "") -> str:
    data = "" if value is None else f' data-v="{html.escape(str(value))}"'
    klass = f' class="{css}"' if css else ""
    return f"<td{klass}{data}>{html.escape(text)}</td>"


def _figure(group: Sequence[ScanRow], title: str) -> go.Figure:
    fig = go.Figure()
    for verdict in ("pass", "fail"):
        rows = [r for r in group if r.official_verdict == verdict and r.performance and r.efficiency is not None]
        if not rows:
            continue
        fig.add_trace(
            go.Scatter(
                x=[r.performance for r in rows],
                y=[r.efficiency for r in rows],
                mode="markers",
                name=f"official {verdict} (open diamond: mlpower fail)",
                marker={
                    "color": _VERDICT_COLOURS[verdict],
                    "size": 11,
                    "symbol": ["circle" if r.mlpower_verdict == "pass" else "diamond-open" for r in rows],
                },
                text=[f"{result_label(r)}<br>{r.round} · mlpower {r.mlpower_verdict}" for r in rows],
                hovertemplate="%{text}<br>%{x:,.4g} performance<br>%{y:,.4g} efficiency<extra></extra>",
            )
        )
    first = group[0]
    latency = first.performance_unit == "ms"
    x_title = f"latency ({first.performance_unit}), lower is better" if latency else f"{first.performance_unit}"
    fig.update_layout(
        title=title,
        xaxis_title=x_title,
        yaxis_title=f"efficiency ({first.efficiency_unit})",
        width=_PLOT_WIDTH_PX,
        height=400,
        margin={"l": 60, "r": 20, "t": 50, "b": 50},
        showlegend=True,
        legend={"orientation": "h", "y": -0.25},
    )
    return fig


def _plots(rows: Sequence[ScanRow]) -> str:
    groups: dict[tuple[str, str], list[ScanRow]] = {}
    for r in rows:
        if r.error is None and r.performance is not None and r.efficiency is not None:
            groups.setdefault((r.benchmark or "unknown benchmark", r.scenario or "?"), []).append(r)
    parts = []
    for i, ((benchmark, scenario), group) in enumerate(sorted(groups.items())):
        fig = _figure(group, f"{benchmark} {scenario} ({len(group)})")
        plot = fig.to_html(full_html=False, include_plotlyjs=i == 0, default_width="100%", config={"responsive": True})
        parts.append(f"<div>{plot}</div>")
    if not parts:
        return "<p>No result has both a performance and an efficiency: nothing to plot.</p>"
    return f'<div class="plots">{"".join(parts)}</div>'


def _href(row: ScanRow, page_dir: Path | None) -> str | None:
    if row.report_html is None:
        return None
    if page_dir is None:
        return Path(row.report_html).as_uri()
    return Path(os.path.relpath(row.report_html, page_dir)).as_posix()


def _table(rows: Sequence[ScanRow], page_dir: Path | None) -> str:
    head = (
        "result", "round", "benchmark", "scenario", "power metric", "performance", "efficiency",
        "official", "mlpower", "errors", "samples", "report",
    )  # fmt: skip
    body = []
    for r in rows:
        href = _href(r, page_dir)
        link = f'<a href="{html.escape(href)}">report</a>' if href else ""
        errors = r.error or " ".join(r.error_rules)
        cells = [
            f'<td title="{html.escape(r.path)}">{html.escape(result_label(r))}</td>',
            _cell(r.round or ""),
            _cell(r.benchmark or ""),
            _cell(r.scenario or ""),
            _cell(cell_text(r, "power_metric"), r.power_metric, "num"),
            _cell(cell_text(r, "performance"), r.performance, "num"),
            _cell(cell_text(r, "efficiency"), r.efficiency, "num"),
            _cell((r.official_verdict or "n/a").upper(), r.official_verdict or "", r.official_verdict or ""),
            _cell((r.mlpower_verdict or "n/a").upper(), r.mlpower_verdict or "", r.mlpower_verdict or ""),
            _cell(errors, errors, "err" if r.error else ""),
            _cell("" if r.samples_in_window is None else f"{r.samples_in_window:,}", r.samples_in_window, "num"),
            f"<td>{link}</td>",
        ]
        css = ' class="simulated"' if r.simulated else ""
        body.append(f"<tr{css}>{''.join(cells)}</tr>")
    header = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    return f'<table class="results"><thead><tr>{header}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def _counts(label: str, verdicts: Counter[str | None]) -> str:
    passed, failed = verdicts["pass"], verdicts["fail"]
    return f'<span>{label}: <b class="pass">{passed} pass</b>, <b class="fail">{failed} fail</b></span>'


def render_leaderboard(
    rows: Sequence[ScanRow], notes: Sequence[str] = (), *, title: str = "mlpower results", page_dir: Path | None = None
) -> str:
    """The page as a string; links to reports are relative to ``page_dir`` (where the page will be
    written), absolute ``file:`` links when it is None."""
    official = Counter(r.official_verdict for r in rows if r.error is None)
    mlpower = Counter(r.mlpower_verdict for r in rows if r.error is None)
    unreadable = sum(1 for r in rows if r.error is not None)
    simulated = sum(1 for r in rows if r.simulated)
    counts = (
        f"<span>{len(rows)} results</span>"
        + _counts("official", official)
        + _counts("mlpower", mlpower)
        + (f'<span class="err">{unreadable} could not be analyzed</span>' if unreadable else "")
        + (f'<span class="simulated">{simulated} SIMULATED</span>' if simulated else "")
    )
    note_list = "".join(f"<li>{html.escape(n)}</li>" for n in notes)
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>"
        f'<h1>{html.escape(title)}</h1><p class="counts">{counts}</p>'
        + (f"<ul>{note_list}</ul>" if note_list else "")
        + f"<h2>Efficiency against performance</h2>{_plots(rows)}"
        "<h2>Results</h2><p>Click a column header to sort. Official: the round's official power checker's "
        "verdict; mlpower: its stricter audit (any error fails).</p>"
        f"{_table(rows, page_dir)}<script>{_SORT_SCRIPT}</script></body></html>"
    )
