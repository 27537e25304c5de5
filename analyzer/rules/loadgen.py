"""2. LoadGen's result: scenario, validity, duration."""

from __future__ import annotations

from collections.abc import Iterable

from analyzer.context import scenario_of
from analyzer.findings import Evidence, Finding, Severity
from analyzer.rounds import Round
from analyzer.rules.common import phase_file
from analyzer.run import RunData
from powerlog.layout import TESTING

__all__ = ["check_loadgen"]

# 2. LoadGen result -------------------------------------------------------------------


def check_loadgen(run: RunData, round_: Round) -> Iterable[Finding]:
    detail = run.testing.detail
    file = phase_file(run, TESTING, "mlperf_log_detail.txt")
    if detail is None:
        yield Finding.skipped("2.validity", "Testing run is VALID", f"{file} could not be read")
        return

    def missing(key: str) -> str:
        return f"{file} has no {key} entry (what of it could be read: see 0.readable)"

    scenario = detail.value("effective_scenario")
    if detail.event("effective_scenario") is None:
        yield Finding.skipped("2.scenario", "Known scenario", missing("effective_scenario"))
    elif scenario_of(run.testing) is None:
        yield Finding.failed(
            "2.scenario",
            "Known scenario",
            Severity.ERROR,
            f"effective_scenario {scenario!r} is not Offline, Server, SingleStream or MultiStream",
            Evidence(file=file),
        )
    else:
        yield Finding.passed("2.scenario", "Known scenario", str(scenario), Evidence(file=file))
    validity = detail.value("result_validity")
    event = detail.event("result_validity")
    ev = Evidence(file=file, line=event.line_number if event else None, values={"result_validity": validity})
    if event is None:
        yield Finding.skipped("2.validity", "Testing run is VALID", missing("result_validity"))
    elif validity == "VALID":
        yield Finding.passed("2.validity", "Testing run is VALID", "LoadGen reports the testing run VALID", ev)
    else:
        yield Finding.failed(
            "2.validity", "Testing run is VALID", Severity.ERROR, f"LoadGen reports the testing run {validity!r}", ev
        )
    duration = detail.value("effective_min_duration_ms")
    event = detail.event("effective_min_duration_ms")
    ev = Evidence(
        file=file,
        line=event.line_number if event else None,
        values={"effective_min_duration_ms": duration, "required_ms": round_.min_duration_ms},
    )
    title = f"Minimum duration is at least {round_.min_duration_ms // 1000} s"
    if event is None:
        yield Finding.skipped("2.min_duration", title, missing("effective_min_duration_ms"))
    elif isinstance(duration, int | float) and duration >= round_.min_duration_ms:
        yield Finding.passed("2.min_duration", title, f"effective_min_duration_ms = {duration}", ev)
    else:
        yield Finding.failed(
            "2.min_duration",
            title,
            Severity.ERROR,
            f"effective_min_duration_ms = {duration}, below the required {round_.min_duration_ms}: "
            "a shorter run (a demo, a test) can never be a submission",
            ev,
        )
