"""10, 11. PTDaemon's log: uncertainty and errors (and a directly read analyzer's uncertainty)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from analyzer.findings import Evidence, Finding, Severity
from analyzer.official import ACCEPTED_TESTING_ERRORS, COMMON_RANGING_ERRORS
from analyzer.rounds import Round
from analyzer.rules.common import log_time
from analyzer.rules.ptd_commands import direct_meter_url
from analyzer.run import MAX_EVIDENCE, RunData
from powerlog.layout import RANGING, TESTING
from powerlog.ptdlog import PtdEvent, PtdEventKind
from powerlog.run_record import UncertaintyRecord

__all__ = ["check_ptd_errors", "check_uncertainty"]

# PTDaemon 1.10/1.11 during ranging on Auto: the analyzer's overrange value (9.91E+37) and peak-current
# warnings while it switches ranges; not in the official list (the official scan warns and stops there)
KNOWN_RANGING_OVERRANGE = (
    re.compile(r"Bad (?:watts|volts|amps|pf) reading (?:9\.91e\+?37|99100000000000005\d+(?:\.\d+)?) from "),
    re.compile(r"Current exceeds peak value allowed for range"),
)


# 10, 11. PTDaemon log ----------------------------------------------------------------


def _event_ev(e: PtdEvent) -> Evidence:
    return Evidence(
        file="power/ptd_logs.txt", line=e.line_number, values={"time": log_time(e.t_utc_ns), "message": e.message}
    )


def _driver_uncertainty(run: RunData) -> UncertaintyRecord | None:
    """The testing phase's per-sample uncertainty the director's driver recorded (session.json), if any."""
    testing = run.mlpower_session.phase(TESTING) if run.mlpower_session is not None else None
    return None if testing is None else testing.uncertainty


def _testing_uncertainty_from_driver(run: RunData, round_: Round, driver: UncertaintyRecord) -> Finding:
    limit = round_.uncertainty_limit_pct
    title = f"No testing sample above {limit:g} % uncertainty"
    window = run.testing.meter_window_utc_ns
    above = [(t, u) for t, u in driver.above_limit if u * 100 > limit]
    inside = above if window is None else [(t, u) for t, u in above if window[0] < t < window[1]]
    ev = Evidence(file="session.json", values={"samples": driver.samples, "known": driver.known})
    if inside:
        worst_pct = 100 * max(u for _, u in inside)
        return Finding.failed(
            "10.testing_uncertainty",
            title,
            Severity.ERROR,
            f"{len(inside)} sample(s) inside the testing window above the {limit:g} % limit (worst {worst_pct:.2f} %), "
            "as mlpower's driver evaluated them: the current range is probably too large for the load",
            ev,
        )
    if driver.known == 0:
        return Finding.skipped("10.testing_uncertainty", title, "the driver knew no sample's uncertainty")
    worst = "" if driver.max_fraction is None else f", the largest {100 * driver.max_fraction:.3f} %"
    return Finding.passed(
        "10.testing_uncertainty",
        title,
        f"{driver.known} of {driver.samples} testing samples evaluated by mlpower's driver{worst}",
        ev,
    )


def _no_ptdaemon(run: RunData) -> bool:
    """An analyzer read directly, whose ptd_logs.txt is absent or empty: there is no PTDaemon log to check."""
    return direct_meter_url(run) is not None and (run.ptd_log is None or not run.ptd_log.events)


def check_uncertainty(run: RunData, round_: Round) -> Iterable[Finding]:
    log = run.ptd_log
    title = "Uncertainty checking activated before ranging"
    driver = _driver_uncertainty(run) if log is None or _no_ptdaemon(run) else None
    if driver is not None:  # an analyzer read directly: its driver evaluated every sample
        yield Finding.skipped("10.activated", title, "no PTDaemon: the analyzer was read by mlpower's driver")
        yield _testing_uncertainty_from_driver(run, round_, driver)
        return
    if _no_ptdaemon(run):  # a folder power-dev's client wrote: the driver's evaluation stayed with the director
        yield Finding.skipped("10.activated", title, "no PTDaemon: the analyzer was read by mlpower's driver")
        why = "the driver's evaluation is in the director's session.json, not in this folder"
        yield Finding.skipped("10.testing_uncertainty", "Testing samples within 1 % uncertainty", why)
        return
    if log is None:
        yield Finding.skipped("10.activated", title, "power/ptd_logs.txt could not be read")
        yield Finding.skipped("10.testing_uncertainty", "Testing samples within 1 % uncertainty", "no ptd_logs.txt")
        return
    activated = log.of_kind(PtdEventKind.UNCERTAINTY_ACTIVATED)
    span = log.phase_span_ns(RANGING)
    if not activated:
        yield Finding.failed(
            "10.activated", title, Severity.ERROR, "no 'Uncertainty checking for ... is activated' line"
        )
    elif span is not None and activated[0].t_utc_ns >= span[0]:
        yield Finding.failed(
            "10.activated",
            title,
            Severity.ERROR,
            "uncertainty checking was activated after ranging started",
            _event_ev(activated[0]),
        )
    else:
        yield Finding.passed("10.activated", title, activated[0].message, _event_ev(activated[0]))

    limit = round_.uncertainty_limit_pct
    title = f"No testing sample above {limit:g} % uncertainty"
    window = run.testing.meter_window_utc_ns  # PTDaemon's log is on the meter's clock
    # PTDaemon 1.10+ warns once per logical channel (0 = the sum) for the same sample: one sample, one count
    by_time: dict[int, PtdEvent] = {}
    for e in log.in_phase(TESTING):
        if e.kind is PtdEventKind.WARNING and e.uncertainty_percent is not None and "above" in e.message:
            worst = by_time.get(e.t_utc_ns)
            if worst is None or (e.uncertainty_percent or 0.0) > (worst.uncertainty_percent or 0.0):
                by_time[e.t_utc_ns] = e
    high = sorted(by_time.values(), key=lambda e: e.line_number)
    if window is None:
        inside, outside = [], high
    else:
        inside = [e for e in high if window[0] < e.t_utc_ns < window[1]]
        outside = [e for e in high if not window[0] < e.t_utc_ns < window[1]]
    if inside:
        worst_pct = max(e.uncertainty_percent or 0.0 for e in inside)
        yield Finding.failed(
            "10.testing_uncertainty",
            title,
            Severity.ERROR,
            f"{len(inside)} sample(s) inside the testing window above the {limit:g} % limit (worst {worst_pct:.2f} %): "
            f"the current range is probably too large for the load",
            *(_event_ev(e) for e in inside[:MAX_EVIDENCE]),
        )
    if outside:
        yield Finding.failed(
            "10.testing_uncertainty",
            title,
            Severity.WARNING,
            f"{len(outside)} testing sample(s) outside the LoadGen window above the {limit:g} % limit "
            f"(not part of the result)",
            *(_event_ev(e) for e in outside[:MAX_EVIDENCE]),
        )
    if not inside and not outside:
        yield Finding.passed("10.testing_uncertainty", title, "no uncertainty warning during testing")


def check_ptd_errors(run: RunData, round_: Round) -> Iterable[Finding]:
    log = run.ptd_log
    title = "No PTDaemon errors outside ranging"
    if _no_ptdaemon(run):
        yield Finding.skipped("11.errors", title, "no PTDaemon: the analyzer was read by mlpower's driver")
        return
    if log is None:
        yield Finding.skipped("11.errors", title, "power/ptd_logs.txt could not be read")
        return
    errors = log.of_kind(PtdEventKind.ERROR)
    blocking: list[PtdEvent] = []
    accepted: list[PtdEvent] = []
    ranging_known: list[PtdEvent] = []
    ranging_other: list[PtdEvent] = []
    for e in errors:
        text = e.message.removeprefix("ERROR:").strip()
        if text in ACCEPTED_TESTING_ERRORS:
            accepted.append(e)
        elif e.phase == RANGING:
            known = text.startswith(COMMON_RANGING_ERRORS) or any(p.match(text) for p in KNOWN_RANGING_OVERRANGE)
            (ranging_known if known else ranging_other).append(e)
        else:
            blocking.append(e)
    if blocking:
        yield Finding.failed(
            "11.errors",
            title,
            Severity.ERROR,
            f"{len(blocking)} ERROR line(s) outside ranging, first: {blocking[0].message!r} ({blocking[0].phase})",
            *(_event_ev(e) for e in blocking[:MAX_EVIDENCE]),
        )
    else:
        yield Finding.passed("11.errors", title, "no ERROR line outside the ranging phase")
    if accepted:
        yield Finding.failed(
            "11.errors",
            "Accepted PTDaemon errors",
            Severity.WARNING,
            f"{len(accepted)} accepted error line(s) ({accepted[0].message!r}): accepted, but worth an audit",
            *(_event_ev(e) for e in accepted[:MAX_EVIDENCE]),
        )
    if ranging_other:
        yield Finding.failed(
            "11.errors",
            "Unusual errors during ranging",
            Severity.WARNING,
            f"{len(ranging_other)} ERROR line(s) during ranging that are not the usual ones, first: "
            f"{ranging_other[0].message!r}",
            *(_event_ev(e) for e in ranging_other[:MAX_EVIDENCE]),
        )
    if ranging_known:
        counts: dict[str, int] = {}
        for e in ranging_known:
            key = re.sub(r" from \S+$", "", e.message.removeprefix("ERROR:").strip())
            counts[key] = counts.get(key, 0) + 1
        yield Finding.passed(
            "11.errors",
            "Known ranging errors (accepted)",
            f"{len(ranging_known)} known error line(s) during ranging, accepted by the rules",
            Evidence(file="power/ptd_logs.txt", values={"counts": counts}),
        )
