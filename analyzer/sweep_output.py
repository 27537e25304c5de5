"""A power-limit sweep's files beside sweep.json: sweep.parquet (one row per setting) and sweep.html (the frontier).

sweep.html is one offline page: the efficiency frontier plotted by Plotly (its JavaScript embedded, as in
report.html), wall power across, performance up, with error bars where the results give them; the frontier's
points joined by a line, the best valid setting marked; each point, and each row of the table under it,
links to its run's report.html (relative to the page where it can be).
"""

from __future__ import annotations

import html
import os
from collections.abc import Sequence
from pathlib import Path

import plotly.graph_objects as go
import pyarrow as pa
import pyarrow.parquet as pq

from analyzer.sweep import SweepAnswer, SweepPoint, frontier

__all__ = ["render_sweep_html", "write_parquet", "write_sweep_outputs"]

PARQUET_FILE = "sweep.parquet"
HTML_FILE = "sweep.html"


def write_parquet(path: Path, points: Sequence[SweepPoint], result: SweepAnswer) -> None:
    """One row per setting, every :class:`SweepPoint` field, plus ``on_frontier`` and ``best``."""
    rows = [p.to_obj() for p in sorted(points, key=lambda p: p.limit_w)]
    for row in rows:
        row["on_frontier"] = row["limit_w"] in result.frontier_limits_w
        row["best"] = row["limit_w"] == result.best_limit_w
    table = pa.Table.from_pylist(rows) if rows else pa.table({"limit_w": pa.array([], pa.float64())})
    pq.write_table(table, path)


def _link(target: str, page_dir: Path) -> str:
    """``target`` relative to the page's folder when both are on this machine's tree, else a file URI."""
    if not target:
        return ""
    try:
        return Path(os.path.relpath(target, page_dir)).as_posix()
    except ValueError:  # another drive (Windows)
        return Path(target).resolve().as_uri()


def _figure(points: Sequence[SweepPoint], result: SweepAnswer, page_dir: Path) -> go.Figure:
    known = sorted((p for p in points if p.wall_power_w is not None and p.performance is not None),
                   key=lambda p: p.limit_w)  # fmt: skip
    fig = go.Figure()
    colors = ["#2da44e" if p.valid else "#cf222e" for p in known]
    fig.add_trace(go.Scatter(
        x=[p.wall_power_w for p in known], y=[p.performance for p in known], mode="markers+text",
        text=[f"{p.limit_w:g} W" for p in known], textposition="top center", name="settings",
        marker={"size": [16 if p.limit_w == result.best_limit_w else 10 for p in known], "color": colors},
        error_x={"type": "data", "array": [p.wall_power_error_w or 0.0 for p in known], "visible": True},
        customdata=[_link(p.report_html, page_dir) for p in known],
        hovertemplate="%{text}: %{x:.1f} W, %{y:.1f}<extra>click: report.html</extra>",
    ))  # fmt: skip
    front = frontier(points)
    line = {"dash": "dot", "color": "#0969da"}
    xs, ys = [p.wall_power_w for p in front], [p.performance for p in front]
    fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", name="Pareto frontier", line=line))
    unit = next((p.performance_unit for p in known if p.performance_unit), "")
    fig.update_layout(xaxis_title="wall power (W)", yaxis_title=f"performance ({unit})", height=500,
                      margin={"l": 60, "r": 20, "t": 30, "b": 50})  # fmt: skip
    return fig


_CLICK = """<script>
document.getElementById('frontier-plot').on('plotly_click', function (e) {
  var url = e.points[0].customdata; if (url) { window.location.href = url; }
});
</script>"""


def _row(p: SweepPoint, page_dir: Path) -> str:
    link = _link(p.report_html, page_dir)
    run = f"<a href='{html.escape(link)}'>{html.escape(p.session_id or 'report')}</a>" if link else "n/a"
    error = f" ± {p.efficiency_error:.2g}" if p.efficiency_error is not None else ""
    cells = (
        f"{p.limit_w:g} W",
        "n/a" if p.performance is None else f"{p.performance:.1f} {p.performance_unit}",
        "n/a" if p.wall_power_w is None else f"{p.wall_power_w:.2f} ± {p.wall_power_error_w or 0:.2f} W",
        "n/a" if p.efficiency is None else f"{p.efficiency:.4g}{error} {p.efficiency_unit}",
        (p.validity or "n/a") + (f" ({', '.join(p.failed_constraints)})" if p.failed_constraints else ""),
        "" if p.submittable else "not submittable (testing only)",
    )
    return "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + f"<td>{run}</td></tr>"


def render_sweep_html(points: Sequence[SweepPoint], result: SweepAnswer, page_dir: Path, title: str = "") -> str:
    """The page; links are made relative to ``page_dir`` (where the page will be written)."""
    plot = _figure(points, result, page_dir).to_html(full_html=False, include_plotlyjs=True, div_id="frontier-plot")
    rows = "".join(_row(p, page_dir) for p in sorted(points, key=lambda p: p.limit_w))
    simulated = (
        "<p><strong>SIMULATED</strong>: some sources were simulated.</p>" if any(p.simulated for p in points) else ""
    )
    head = "".join(f"<th>{h}</th>" for h in ("limit", "performance", "wall power", "efficiency", "LoadGen", "", "run"))
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>mlpower sweep {html.escape(title)}</title><style>body{{font-family:system-ui,sans-serif;margin:2em}}"
        "td,th{padding:0.2em 0.8em;text-align:left}</style></head><body>"
        f"<h1>mlpower power-limit sweep {html.escape(title)}</h1>{simulated}"
        f"<p>{html.escape(result.sentence(points))}</p>"
        f"{plot}{_CLICK}<table><tr>{head}</tr>{rows}</table></body></html>"
    )


def write_sweep_outputs(out_dir: Path, points: Sequence[SweepPoint], result: SweepAnswer, title: str = "") -> None:
    """sweep.parquet and sweep.html in ``out_dir`` (sweep.json is the agent's, written as the points finish)."""
    write_parquet(out_dir / PARQUET_FILE, points, result)
    (out_dir / HTML_FILE).write_text(render_sweep_html(points, result, out_dir, title), encoding="utf-8")
