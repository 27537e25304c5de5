"""result.json: the analyzer's report and rule check of a finished run folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from analyzer.checks import check_run, verdict
from analyzer.html import render_html
from analyzer.report import build_report
from analyzer.rounds import DEFAULT_ROUND, get_round
from analyzer.run import load_run
from powerlog.spl import SPL_FIELDS

__all__ = ["analyze_run_folder"]


def analyze_run_folder(folder: Path, round_name: str = DEFAULT_ROUND) -> dict[str, Any]:
    round_ = get_round(round_name)
    report = build_report(load_run(folder), round_)
    full = load_run(folder, spl_fields=SPL_FIELDS, hash_files=True, marks=True)
    findings = check_run(full, round_)
    (folder / "report.html").write_text(render_html(report, full, findings), encoding="utf-8")
    return {
        "report": report.to_dict(),
        "check": {
            "round": round_.name,
            "verdict": verdict(findings).value,
            "errors": sum(1 for f in findings if f.is_error),
            "findings": [f.to_dict() for f in findings],
        },
    }
