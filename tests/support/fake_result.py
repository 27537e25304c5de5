"""A stand-in for the analyzer where a test exercises the director, not the analysis: a result that says so."""

from __future__ import annotations

from pathlib import Path

from powerlog.result_record import CheckRecord, ReportRecord, ResultJson


def unanalyzed(
    folder: Path, scenario: str | None = None, verdict: str = "not analyzed", official_verdict: str = "not analyzed"
) -> ResultJson:
    return ResultJson(
        report=ReportRecord(folder=str(folder), scenario=scenario),
        check=CheckRecord(folder=str(folder), verdict=verdict, official_verdict=official_verdict),
    )
