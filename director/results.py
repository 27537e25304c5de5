"""result.json: the analyzer's report and rule check of a finished run folder."""

from __future__ import annotations

from pathlib import Path

from analyzer.checks import check_run, check_summary
from analyzer.context import result_context
from analyzer.html import render_html
from analyzer.official import official_checks
from analyzer.report import build_report
from analyzer.run import load_run
from powerlog.result_record import ResultJson, parse_result_json
from powerlog.spl import SPL_FIELDS

__all__ = ["analyze_run_folder"]


def analyze_run_folder(folder: Path, round_name: str | None = None) -> ResultJson:
    """Report and check of a closed run folder; ``round_name`` None detects the round."""
    full = load_run(folder, spl_fields=SPL_FIELDS, hash_files=True, marks=True)
    context = result_context(full, round_name)
    report = build_report(full, context)  # one load for report, check and page
    findings = check_run(full, context)
    official = official_checks(full, context.round)
    (folder / "report.html").write_text(render_html(report, full, findings, official), encoding="utf-8")
    result = {"report": report.to_dict(), "check": check_summary(full, context, findings, official)}
    return parse_result_json(result, str(folder / "result.json"))
