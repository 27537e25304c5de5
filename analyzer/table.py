"""Rows of results as people and programs read them: a text table, JSON lines, CSV and Parquet.

The files carry every field of :class:`~analyzer.scan.ScanRow` with its unit in a column of its own;
the text table shows the figures with their units, latencies in ms, long names shortened in the
middle so that a line stays readable.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from analyzer.scan import COLUMNS, ScanRow
from powerlog.cli_support import atomic_output, json_safe

__all__ = [
    "MAX_CELL_CHARS",
    "TextColumn",
    "cell_text",
    "json_lines",
    "render_text",
    "result_label",
    "sort_rows",
    "write_csv",
    "write_parquet",
]

MAX_CELL_CHARS = 32
MAX_BENCHMARK_CHARS = 24  # in the text table (the files keep it whole): room for the per-token column of LLMs
MAX_PATH_CHARS = 48  # a folder name is kept whole up to this: it is what tells results apart
_FLOAT_COLUMNS = tuple(f.name for f in fields(ScanRow) if str(f.type).startswith("float"))
_PARQUET_TYPES: dict[str, pa.DataType] = {
    **dict.fromkeys(_FLOAT_COLUMNS, pa.float64()),
    **{f.name: pa.int64() for f in fields(ScanRow) if str(f.type).startswith("int")},
    **{f.name: pa.bool_() for f in fields(ScanRow) if str(f.type).startswith("bool")},
    "error_rules": pa.list_(pa.string()),
}
_PARQUET_SCHEMA = pa.schema([(name, _PARQUET_TYPES.get(name, pa.string())) for name in COLUMNS])


def sort_rows(rows: Sequence[ScanRow], key: str | None) -> list[ScanRow]:
    """Rows sorted by a column (``-column``: descending); rows without a value go last either way."""
    if not key:
        return list(rows)
    descending = key.startswith("-")
    name = key.lstrip("-+")
    if name not in COLUMNS:
        raise ValueError(f"cannot sort by {name!r}: choose one of {', '.join(COLUMNS)}")
    present = [r for r in rows if getattr(r, name) not in (None, ())]
    absent = [r for r in rows if getattr(r, name) in (None, ())]
    present.sort(key=lambda r: _sort_key(getattr(r, name)), reverse=descending)
    return present + absent


def _sort_key(value: Any) -> Any:
    return tuple(value) if isinstance(value, tuple) else value


def _short(text: str, limit: int = MAX_CELL_CHARS) -> str:
    """``text`` cut in the middle to ``limit`` characters (both ends of a long name are the telling parts)."""
    if len(text) <= limit:
        return text
    head = (limit - 1) // 2
    return f"{text[:head]}…{text[len(text) - (limit - 1 - head) :]}"


def _number(value: float | None, unit: str | None, digits: int = 2) -> str:
    """A figure with thousands separators and ``digits`` decimals (4 significant digits below 1)."""
    if value is None:
        return "n/a"
    text = f"{value:.4g}" if 0 < abs(value) < 1 else f"{value:,.{digits}f}"
    return f"{text} {unit or ''}".strip()


def _performance(row: ScanRow) -> str:
    return _number(row.performance, row.performance_unit, 3 if row.performance_unit == "ms" else 1)


def result_label(row: ScanRow) -> str:
    """What names a result in a table: submitter/system in a submission tree, else its folder."""
    if row.submitter and row.system:
        return _short(f"{row.submitter}/{row.system}")
    return _short_path(row.path.removesuffix("/performance") if row.path != "performance" else row.path)


def _short_path(path: str, limit: int = MAX_PATH_CHARS) -> str:
    """The last components of a relative path that fit ``limit`` (the leading ones name the tree)."""
    if len(path) <= limit:
        return path
    parts = path.split("/")
    while len(parts) > 1 and len("…/" + "/".join(parts)) > limit:
        parts.pop(0)
    return "…/" + "/".join(parts)


TextColumn = tuple[str, Callable[[ScanRow], str]]

_CELLS: dict[str, TextColumn] = {
    "result": ("result", result_label),
    "path": ("path", lambda r: _short_path(r.path.removesuffix("/performance"))),
    "round": ("round", lambda r: r.round or ""),
    "benchmark": ("benchmark", lambda r: _short(r.benchmark or "", MAX_BENCHMARK_CHARS)),
    "scenario": ("scenario", lambda r: r.scenario or ""),
    "power_metric": ("power metric", lambda r: _number(r.power_metric, r.power_unit)),
    "performance": ("performance", _performance),
    "efficiency": ("efficiency", lambda r: _number(r.efficiency, r.efficiency_unit)),
    "j_per_token": ("J/token", lambda r: _number(r.j_per_token, None)),
    "tokens_per_j": ("tokens/J", lambda r: _number(r.tokens_per_j, None)),
    "gpu_j_per_token": ("GPU J/token", lambda r: _number(r.gpu_j_per_token, None)),
    "uncertainty_pct": ("±(k=2)", lambda r: "n/a" if r.uncertainty_pct is None else f"{r.uncertainty_pct:.2f} %"),
    "window_s": ("window", lambda r: _number(r.window_s, "s", 1)),
    "gpu_share_pct": ("GPU share", lambda r: "n/a" if r.gpu_share_pct is None else f"{r.gpu_share_pct:.1f} %"),
    "official_verdict": ("official", lambda r: (r.official_verdict or "").upper()),
    "mlpower_verdict": ("mlpower", lambda r: (r.mlpower_verdict or "").upper()),
    "error_rules": ("errors", lambda r: r.error if r.error else " ".join(r.error_rules)),
    "state": ("state", lambda r: r.state or ""),
    "simulated": ("", lambda r: "SIMULATED" if r.simulated else ""),
    "tier": ("tier", lambda r: r.tier or ""),
    "nodes": ("nodes", lambda r: "" if r.nodes is None else str(r.nodes)),
    "system_power_w": (
        "system",
        lambda r: (
            ""
            if r.system_power_w is None
            else _number(r.system_power_w, "W") + ("" if r.system_complete else " INCOMPLETE")
        ),
    ),
}


_UNCUT = {"error_rules", "path", "result"}  # shortened their own way (or, the errors, never)


def cell_text(row: ScanRow, column: str) -> str:
    """How the text table shows ``column`` of ``row`` (figures with units, latencies in ms)."""
    return _CELLS[column][1](row)


def render_text(rows: Sequence[ScanRow], columns: Sequence[str]) -> str:
    """A plain table of ``columns`` (keys of the cell formats above); the errors column is never cut."""
    if not rows:
        return "no power result found"
    wanted = [_CELLS[c] for c in columns]
    header = [title for title, _ in wanted]
    body = [
        [cell(r) if key in _UNCUT else _short(cell(r)) for key, (_, cell) in zip(columns, wanted, strict=True)]
        for r in rows
    ]
    table = [header, *body]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    numeric = {i for i, c in enumerate(columns) if c in _FLOAT_COLUMNS}
    lines = []
    for line in table:
        cells = [
            cell.rjust(w) if i in numeric else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(line, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def json_lines(rows: Sequence[ScanRow]) -> str:
    """One JSON object per line (NaN and infinities as null, which JSON has no other way to say)."""
    return "".join(json.dumps(json_safe(r.to_dict()), allow_nan=False) + "\n" for r in rows)


def write_csv(rows: Sequence[ScanRow], path: Path) -> None:
    """CSV with a header of the row's field names; the error rules space-separated in one cell."""
    with atomic_output(path, "--csv") as partial, partial.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(COLUMNS))
        writer.writeheader()
        for r in rows:
            d = json_safe(r.to_dict())
            d["error_rules"] = " ".join(r.error_rules)
            writer.writerow(d)


def write_parquet(rows: Sequence[ScanRow], path: Path) -> None:
    """Parquet with a fixed schema (floats stay floats even in a column with no value at all)."""
    table = pa.Table.from_pylist([json_safe(r.to_dict()) for r in rows], schema=_PARQUET_SCHEMA)
    with atomic_output(path, "--parquet") as partial:
        pq.write_table(table, partial)
