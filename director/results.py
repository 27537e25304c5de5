"""result.json: the analyzer's report and rule check of a finished run folder."""

from __future__ import annotations

from pathlib import Path

from analyzer.result import open_result
from powerlog.result_record import ResultJson

__all__ = ["analyze_run_folder"]


def analyze_run_folder(folder: Path, round_name: str | None = None) -> ResultJson:
    """Report and check of a closed run folder (and its report.html); ``round_name`` None detects the round."""
    result = open_result(folder, round_name)  # one load for report, check and page
    (folder / "report.html").write_text(result.html(), encoding="utf-8")
    return result.result_json()
