"""1. The run folder's files and LoadGen's windows."""

from __future__ import annotations

from collections.abc import Iterable

from analyzer.findings import Evidence, Finding, Severity
from analyzer.rounds import Round
from analyzer.rules.common import log_time, phase_file
from analyzer.run import RunData
from powerlog.layout import REQUIRED_FILES
from powerlog.timestamps import NS_PER_S

__all__ = ["check_files", "check_windows"]

# 1. layout and windows ---------------------------------------------------------------


def check_files(run: RunData, round_: Round) -> Iterable[Finding]:
    title = "Result folder holds every required file"
    missing = run.folder.missing_files()
    if missing:
        yield Finding.failed(
            "1.files",
            title,
            Severity.ERROR,
            f"missing: {', '.join(missing)}",
            *(Evidence(file=name) for name in missing),
        )
    else:
        yield Finding.passed("1.files", title, f"all {len(REQUIRED_FILES)} files present")


def check_windows(run: RunData, round_: Round) -> Iterable[Finding]:
    title = "Each mode has power_begin < power_end"
    for phase_name, phase in run.phases.items():
        file = phase_file(run, phase_name, "mlperf_log_detail.txt")
        if phase.window_utc_ns is None:
            yield Finding.failed(
                "1.window",
                title,
                Severity.ERROR,
                f"{file}: no usable power_begin/power_end, so the {phase_name} window is unknown",
                Evidence(file=file),
            )
            continue
        begin, end = phase.window_utc_ns
        ev = Evidence(file=file, values={"power_begin": log_time(begin), "power_end": log_time(end)})
        if begin < end:
            yield Finding.passed("1.window", title, f"{phase_name}: {(end - begin) / NS_PER_S:.3f} s window", ev)
        else:
            yield Finding.failed(
                "1.window", title, Severity.ERROR, f"{phase_name}: power_begin is not before power_end", ev
            )
