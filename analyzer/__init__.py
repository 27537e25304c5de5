"""analyzer: energy per query, average power, perf/W and the power rules, as pure functions.

``load_run`` is the only I/O; ``build_report`` and ``check_run`` work on what it read.
"""

from analyzer.checks import check_run, verdict
from analyzer.errors import AnalyzerError, UnknownRoundError, UnreadableRunError
from analyzer.findings import Evidence, Finding, Severity, Status
from analyzer.metrics import Performance, Quantity, Scenario, WindowStats, efficiency, power_metric, window_stats
from analyzer.report import Report, build_report
from analyzer.rounds import DEFAULT_ROUND, ROUNDS, Round, get_round
from analyzer.run import RunData, load_run

__all__ = [
    "DEFAULT_ROUND",
    "ROUNDS",
    "AnalyzerError",
    "Evidence",
    "Finding",
    "Performance",
    "Quantity",
    "Report",
    "Round",
    "RunData",
    "Scenario",
    "Severity",
    "Status",
    "UnknownRoundError",
    "UnreadableRunError",
    "WindowStats",
    "build_report",
    "check_run",
    "efficiency",
    "get_round",
    "load_run",
    "power_metric",
    "verdict",
    "window_stats",
]
