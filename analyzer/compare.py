"""``compare``: the headline figures of several runs side by side (pure, from their reports)."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from analyzer.report import Report

__all__ = ["comparison_rows", "render_comparison", "render_comparison_html"]

COLUMNS = ("run", "scenario", "power metric", "performance", "efficiency", "window", "GPU share", "simulated")


def _num(value: float | None, digits: int) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def comparison_rows(reports: Sequence[Report]) -> list[dict[str, Any]]:
    rows = []
    for r in reports:
        d = r.to_dict()
        metric, perf, eff = d.get("power_metric") or {}, d.get("performance") or {}, d.get("efficiency") or {}
        gpus = d.get("gpus") or {}
        rows.append(
            {
                "run": d["folder"],
                "scenario": d.get("scenario"),
                "power_metric": metric.get("value"),
                "power_unit": metric.get("unit"),
                "performance": perf.get("value"),
                "performance_unit": perf.get("unit"),
                "efficiency": eff.get("value"),
                "efficiency_unit": eff.get("unit"),
                "window_s": d.get("window_s"),
                "gpu_share_pct": gpus.get("share_of_wall_pct"),
                "simulated": bool(d.get("simulated")),
            }
        )
    return rows


def _cells(row: dict[str, Any]) -> list[str]:
    return [
        str(row["run"]),
        str(row["scenario"]),
        f"{_num(row['power_metric'], 2)} {row['power_unit'] or ''}".strip(),
        f"{_num(row['performance'], 1)} {row['performance_unit'] or ''}".strip(),
        f"{_num(row['efficiency'], 2)} {row['efficiency_unit'] or ''}".strip(),
        f"{_num(row['window_s'], 1)} s",
        "n/a" if row["gpu_share_pct"] is None else f"{row['gpu_share_pct']:.1f} %",
        "SIMULATED" if row["simulated"] else "",
    ]


def render_comparison(rows: Sequence[dict[str, Any]]) -> str:
    table = [list(COLUMNS), *(_cells(r) for r in rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(COLUMNS))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip() for line in table)


def render_comparison_html(rows: Sequence[dict[str, Any]]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in COLUMNS)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in _cells(r)) + "</tr>" for r in rows)
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>mlpower comparison</title>"
        "<style>body{font-family:system-ui,sans-serif;margin:2em}td,th{border:1px solid #ccc;padding:.3em .6em}"
        "table{border-collapse:collapse}th{background:#f3f3f3}</style></head><body><h1>mlpower comparison</h1>"
        f"<table><tr>{head}</tr>{body}</table></body></html>"
    )
