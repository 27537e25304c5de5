"""Exceptions raised by the analyzer.

::

    AnalyzerError              base of everything this package raises
    ├── UnreadableRunError     the folder cannot be analyzed at all (not there, not a run folder)
    ├── UnknownRoundError      --round names a round we do not encode
    ├── UnknownPhaseError      a phase that is neither ranging nor testing (Result.samples, export --phase)
    ├── TimeJoinError          a wall series or window the time join cannot use (analyzer.time_join)
    └── CalibrationError       samples or windows a calibration cannot use (analyzer.calibration)

Problems inside a readable folder are not exceptions: they become findings.
"""

from __future__ import annotations

__all__ = [
    "AnalyzerError",
    "CalibrationError",
    "TimeJoinError",
    "UnknownPhaseError",
    "UnknownRoundError",
    "UnreadableRunError",
]


class AnalyzerError(Exception):
    """Base class for analyzer errors."""


class UnreadableRunError(AnalyzerError):
    """The folder cannot be read as an MLPerf power result folder at all."""


class UnknownRoundError(AnalyzerError, ValueError):
    """A round that is not encoded."""


class UnknownPhaseError(AnalyzerError, ValueError):
    """A phase that a result does not have: the phases are ``ranging`` and ``testing``."""


class TimeJoinError(AnalyzerError, ValueError):
    """A wall series, window or interconnect estimate that the time join cannot use (the message says which)."""


class CalibrationError(AnalyzerError, ValueError):
    """Samples, windows or settings a calibration cannot use: too few samples, a level without windows, windows
    that overlap, a source that does not change or does not cover the windows (the message says which)."""
