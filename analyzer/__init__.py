"""analyzer: energy per query, average power, perf/W and the power rules, as pure functions.

``load_run`` is the only I/O; ``build_report`` and ``check_run`` work on what it read. ``open_result``, the
one analysis entry point (the director's close and every command start there), reads a folder and gives a
:class:`Result`: its samples as pandas DataFrames, its report (a :class:`Report`, result.json's typed
report), its checks, result.json and report.html (docs/python-api.md).
"""

from analyzer.checks import check_run, verdict
from analyzer.errors import AnalyzerError, UnknownPhaseError, UnknownRoundError, UnreadableRunError
from analyzer.findings import Evidence, Finding, Severity, Status
from analyzer.metrics import Performance, Quantity, Scenario, WindowStats, efficiency, power_metric, window_stats
from analyzer.report import Report, build_report
from analyzer.result import Result, open_result
from analyzer.rounds import DEFAULT_ROUND, ROUNDS, Round, get_round
from analyzer.run import RunData, load_run
from analyzer.scan import ScanResult, ScanRow, find_results, scan_results

__all__ = [
    "DEFAULT_ROUND",
    "ROUNDS",
    "AnalyzerError",
    "Evidence",
    "Finding",
    "Performance",
    "Quantity",
    "Report",
    "Result",
    "Round",
    "RunData",
    "ScanResult",
    "ScanRow",
    "Scenario",
    "Severity",
    "Status",
    "UnknownPhaseError",
    "UnknownRoundError",
    "UnreadableRunError",
    "WindowStats",
    "build_report",
    "check_run",
    "efficiency",
    "find_results",
    "get_round",
    "load_run",
    "open_result",
    "power_metric",
    "scan_results",
    "verdict",
    "window_stats",
]
