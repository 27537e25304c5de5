"""``compare`` and ``scan`` tables: which columns each shows (the rows themselves come from
:mod:`analyzer.scan`, the formatting from :mod:`analyzer.table`)."""

from __future__ import annotations

from collections.abc import Sequence

from analyzer.scan import ScanRow
from analyzer.table import render_text

__all__ = ["COMPARE_COLUMNS", "SCAN_COLUMNS", "render_comparison", "render_scan"]

SCAN_COLUMNS = (
    "result", "round", "benchmark", "scenario", "power_metric", "performance", "efficiency", "uncertainty_pct",
    "j_per_token", "official_verdict", "mlpower_verdict", "error_rules",
)  # fmt: skip
COMPARE_COLUMNS = (
    "path", "scenario", "power_metric", "performance", "efficiency", "uncertainty_pct", "j_per_token", "tokens_per_j",
    "gpu_j_per_token", "window_s", "gpu_share_pct",
    "nodes", "system_power_w", "official_verdict", "mlpower_verdict", "tier", "state", "simulated",
)  # fmt: skip


def _with_optional(rows: Sequence[ScanRow], columns: Sequence[str]) -> list[str]:
    """The columns, less state and SIMULATED when no row has one (most published results)."""
    present = {
        "state": any(r.state for r in rows),
        "simulated": any(r.simulated for r in rows),
        "tier": any(r.tier != "ptdaemon" for r in rows),  # shown where some result is not the MLPerf way
        "nodes": any(r.nodes is not None for r in rows),  # multi-node runs: node count and the whole system
        "system_power_w": any(r.system_power_w is not None for r in rows),
        # token-based results (LLMs): shown where one is
        **{c: any(getattr(r, c) is not None for r in rows) for c in ("j_per_token", "tokens_per_j", "gpu_j_per_token")},
    }
    return [c for c in columns if present.get(c, True)]


def render_scan(rows: Sequence[ScanRow]) -> str:
    return render_text(rows, _with_optional(rows, (*SCAN_COLUMNS, "nodes", "system_power_w", "tier", "state",
                                                   "simulated")))  # fmt: skip


def render_comparison(rows: Sequence[ScanRow]) -> str:
    return render_text(rows, _with_optional(rows, COMPARE_COLUMNS))
