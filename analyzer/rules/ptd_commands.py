"""9. PTDaemon commands: Go, ranges, restore (and a directly read analyzer's ranges)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import replace

from analyzer.findings import Evidence, Finding, Severity
from analyzer.rounds import Round
from analyzer.run import MAX_EVIDENCE, RunData
from analyzer.tier import meter_url_of
from powerlog.layout import RANGING, TESTING
from powerlog.ptd_identity import channel_selection
from powerlog.ptd_replies import GO_REPLY, NOTHING_TO_STOP_REPLY, STOP_REPLY
from powerlog.session_record import PtdConfig, SessionMessage
from powerlog.tiers import MeasurementTier, tier_of_meter_url

__all__ = ["check_ptd_commands", "direct_meter_url", "ranging_peaks"]

# 9. PTDaemon commands: Go, ranges, restore -------------------------------------------


def _range_value(cmd: str) -> str:
    return cmd.split(",", 2)[2] if cmd.count(",") >= 2 else ""


def _initial_range(reply: str, auto_index: int) -> str | None:
    """From ``Ranges,<ampAuto>,<amp>,<voltAuto>,<volt>``: the value to restore, 'Auto', or None."""
    fields = reply.split(",")
    try:
        if fields[auto_index] == "0" and float(fields[auto_index + 1]) > 0:
            return fields[auto_index + 1]
    except (IndexError, ValueError):
        return None
    return "Auto"


def _same_range(a: str, b: str) -> bool:
    if a.lower() == "auto" or b.lower() == "auto":
        return a.lower() == b.lower()
    try:
        return math.isclose(float(a), float(b), rel_tol=1e-6, abs_tol=1e-6)
    except ValueError:
        return False


def direct_meter_url(run: RunData) -> str | None:
    """The meter URL of an mlpower run whose wall power did not go through PTDaemon: an analyzer read directly
    (serial, sim) or a BMC or PDU through Redfish (see :func:`analyzer.tier.meter_url_of`)."""
    url = meter_url_of(run)
    if url is None or tier_of_meter_url(url) not in (MeasurementTier.DIRECT, MeasurementTier.BMC):
        return None
    return url


def _check_direct_meter(run: RunData, round_: Round, url: str) -> Iterable[Finding]:
    """A run that read the analyzer over serial: no PTDaemon commands to check, so the ranges come from
    session.json (what the director set), and the run says plainly that MLPerf wants PTDaemon."""
    ev = Evidence(file="session.json", values={"meter_url": url})
    bmc = tier_of_meter_url(url) is MeasurementTier.BMC
    how = "wall power was read from a BMC or PDU through Redfish" if bmc else "analyzer was read directly"
    yield Finding.failed(
        "8.ptd_used",
        "The analyzer is read through SPEC PTDaemon",
        Severity.ERROR,
        f"the {how} ({url}), not through PTDaemon: the measurement is checked as usual, "
        "but an MLPerf power submission must be measured through PTDaemon",
        ev,
    )
    reason = f"the {how} ({url}): there are no PTDaemon commands"
    for rule in ("9.go", "9.replies", "9.restore"):
        yield Finding.skipped(rule, "PTDaemon commands", reason)
    record = run.mlpower_session
    if bmc:
        for rule in ("9.ranging_ranges", "9.testing_ranges"):
            yield Finding.skipped(rule, "Analyzer ranges", "a BMC or PDU read through Redfish has no ranges to set")
        return
    if record is None:
        why = "the ranges the director set are in its session.json, which power-dev's client does not download"
        for rule in ("9.ranging_ranges", "9.testing_ranges"):
            yield Finding.skipped(rule, "Analyzer ranges", why)
        return

    def recorded(phase: str) -> dict[str, str]:
        entry = record.phase(phase)
        ranges = entry.ranges if entry is not None and entry.ranges is not None else None
        volts, amps = (ranges.volts_v, ranges.amps_a) if ranges is not None else (None, None)
        return {axis: "Auto" if value is None else f"{value:g}" for axis, value in (("V", volts), ("A", amps))}

    ranging = recorded("ranging")
    title = "Ranging runs on Auto ranges"
    values = Evidence(file="session.json", values={"ranging_ranges": ranging})
    if all(v == "Auto" for v in ranging.values()):
        yield Finding.passed("9.ranging_ranges", title, "Auto voltage and current ranges in ranging", values)
    else:
        yield Finding.failed(
            "9.ranging_ranges", title, Severity.WARNING, f"ranging ran with ranges {ranging} rather than Auto", values
        )
    yield from _check_testing_ranges(run, round_, recorded("testing"), source="session.json")


def check_ptd_commands(run: RunData, round_: Round) -> Iterable[Finding]:
    url = direct_meter_url(run)
    if url is not None:
        yield from _check_direct_meter(run, round_, url)
        return
    server = run.server
    if server is None or not server.ptd_messages:
        for rule in ("9.go", "9.replies", "9.ranging_ranges", "9.testing_ranges", "9.restore"):
            yield Finding.skipped(rule, "PTDaemon commands", "power/server.json has no ptd_messages")
        return
    msgs = server.ptd_messages
    session = server.session_name or ""
    segments = _analyzer_segments(msgs)
    configs = server.ptd_configs
    for index, segment in enumerate(segments):
        config = configs[index] if index < len(configs) else None
        findings = (
            *_check_go(segment, session),
            *_check_replies(segment),
            *_check_analyzer_ranges(run, round_, segment, config, index, several=len(segments) > 1),
        )
        label = f"analyzer {index + 1}: " if len(segments) > 1 else ""
        yield from (replace(f, message=label + f.message) for f in findings) if label else findings


def _analyzer_segments(msgs: Sequence[SessionMessage]) -> list[Sequence[SessionMessage]]:
    """power-dev records the exchanges of several analyzers one after the other, each from its Hello."""
    starts = [i for i, m in enumerate(msgs) if m.cmd == "Hello"]
    if len(starts) <= 1:
        return [msgs]
    return [msgs[a:b] for a, b in zip(starts, [*starts[1:], len(msgs)], strict=True)]


def _ranges_between(msgs: Sequence[SessionMessage], start: int, stop: int | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for m in msgs[start : stop if stop is not None else 0]:
        if m.cmd.startswith("SR,V,"):
            out["V"] = _range_value(m.cmd)
        elif m.cmd.startswith("SR,A,"):
            out["A"] = _range_value(m.cmd)
    return out


def _check_analyzer_ranges(
    run: RunData,
    round_: Round,
    msgs: Sequence[SessionMessage],
    config: PtdConfig | None,
    index: int,
    several: bool,
) -> Iterable[Finding]:
    # the phase of a Go is its mark's suffix: a Go repeated after a meter reconnect in ranging is still ranging
    gos = [(i, m.cmd.rsplit("_", 1)[-1]) for i, m in enumerate(msgs) if m.cmd.startswith("Go,")]
    testing_go = next((i for i, mode in gos if mode == TESTING), None)
    ranging_gos = [i for i, mode in gos if mode == RANGING and (testing_go is None or i < testing_go)]
    first_ranging = ranging_gos[0] if ranging_gos else None
    ranging_ranges = _ranges_between(msgs, 0, first_ranging)
    ev = Evidence(file="power/server.json", values={"ranging_ranges": ranging_ranges})
    if all(v.lower() == "auto" for v in ranging_ranges.values()) and len(ranging_ranges) == 2:
        yield Finding.passed(
            "9.ranging_ranges", "Ranging runs on Auto ranges", "SR,V,Auto and SR,A,Auto before ranging", ev
        )
    else:
        yield Finding.failed(
            "9.ranging_ranges",
            "Ranging runs on Auto ranges",
            Severity.WARNING,
            f"ranging ran with ranges {ranging_ranges} rather than Auto: the ranging maxima may be clipped "
            f"or less accurate",
            ev,
        )
    after_ranging = (ranging_gos[-1] + 1) if ranging_gos else 0
    testing_ranges = _ranges_between(msgs, after_ranging, testing_go)
    yield from _check_testing_ranges(run, round_, testing_ranges, config=config, analyzer=index)
    restored = testing_go is not None and any(m.cmd.startswith("SR,") for m in msgs[testing_go:])
    if several and not restored:
        # power-dev merges each analyzer's exchanges into server.json before it restores their ranges:
        # only the last analyzer's restore is recorded
        yield Finding.skipped(
            "9.restore",
            "Initial ranges restored after testing",
            "no range command after testing is recorded (power-dev records the restore of its last analyzer only)",
        )
        return
    yield from _check_restore(msgs, [m for m in msgs if m.cmd.startswith("SR,")])


def _check_go(msgs: Sequence[SessionMessage], session: str) -> Iterable[Finding]:
    """Every Go of each mode (a Go repeated after a meter reconnect too) got the expected reply."""
    title = "Go,1000,0,<session>_<mode> in both modes, with the expected reply"
    for mode in (RANGING, TESTING):
        expected = f"Go,1000,0,{session}_{mode}"
        matches = [m for m in msgs if m.cmd == expected]
        wrong = next((m for m in matches if m.reply != GO_REPLY), None)
        ev = Evidence(file="power/server.json", values={"expected_cmd": expected, "sent": len(matches)})
        if not matches:
            seen = [m.cmd for m in msgs if m.cmd.startswith("Go,")]
            yield Finding.failed(
                "9.go", title, Severity.ERROR, f"{mode}: no {expected!r} command (Go commands seen: {seen})", ev
            )
        elif wrong is not None:
            yield Finding.failed(
                "9.go", title, Severity.ERROR, f"{mode}: reply {wrong.reply!r}, expected {GO_REPLY!r}", ev
            )
        else:
            yield Finding.passed("9.go", title, f"{mode}: {expected}", ev)


def _check_replies(msgs: Sequence[SessionMessage]) -> Iterable[Finding]:
    """Per analyzer: power-dev stops each analyzer twice, and a third Stop finds no measurement."""
    title = "PTDaemon accepted every range and stop command"
    wrong = []
    stops = 0
    for m in msgs:
        if m.cmd.startswith(("SR,A,", "SR,V,")):
            if m.reply != f"Range {m.cmd[3]} changed":
                wrong.append(m)
        elif m.cmd == "Stop":
            stops += 1
            # the reference workflow's third Stop comes after the measurement ended
            expected = NOTHING_TO_STOP_REPLY if stops == 3 else STOP_REPLY
            if m.reply != expected:
                wrong.append(m)
    if wrong:
        yield Finding.failed(
            "9.replies",
            title,
            Severity.ERROR,
            f"{len(wrong)} unexpected repl{'y' if len(wrong) == 1 else 'ies'}: "
            + "; ".join(f"{m.cmd!r} -> {m.reply!r}" for m in wrong[:3]),
            *(
                Evidence(file="power/server.json", values={"cmd": m.cmd, "reply": m.reply})
                for m in wrong[:MAX_EVIDENCE]
            ),
        )
    else:
        yield Finding.passed("9.replies", title, "all SR and Stop replies as expected")


def ranging_peaks(run: RunData, config: PtdConfig | None = None, analyzer: int = 0) -> tuple[float, float] | None:
    """Max volts and max amps in ranging the way power-dev picks them for the testing ranges: over the
    analyzer's total columns and the channels its ``channel`` config counts (none configured: the totals
    alone). A log whose totals carry no V/A (older multichannel logs write -1) uses every channel."""
    log = run.ranging.spl
    views = log.analyzer_views() if log is not None and len(log) else ()
    if analyzer >= len(views):
        return None
    view = views[analyzer]
    start, count = channel_selection(config.device_type, config.channels) if config else (0, 0)
    peaks = view.peak_volts_amps(range(start, start + count))
    if (peaks is None or min(peaks) <= 0) and view.channels:
        peaks = view.peak_volts_amps()
    return peaks if peaks is not None and min(peaks) > 0 else None


def _check_testing_ranges(
    run: RunData,
    round_: Round,
    testing_ranges: dict[str, str],
    source: str = "power/server.json",
    config: PtdConfig | None = None,
    analyzer: int = 0,
) -> Iterable[Finding]:
    """``source``: the file the ranges were read from (PTDaemon's commands, or session.json for a direct meter)."""
    title = f"Testing ranges = (max V, {round_.testing_current_factor:g} x max A) from ranging, never Auto"
    ev_values: dict[str, object] = {"testing_ranges": testing_ranges}
    if config is not None:
        ev_values["channel_config"] = list(config.channels)
    if any(v.lower() == "auto" for v in testing_ranges.values()) or len(testing_ranges) < 2:
        yield Finding.failed(
            "9.testing_ranges",
            title,
            Severity.ERROR,
            f"testing ranges {testing_ranges}: Auto (or unset) ranges are not allowed in testing",
            Evidence(file=source, values=ev_values),
        )
        return
    maxima = ranging_peaks(run, config, analyzer)
    if maxima is None:
        yield Finding.skipped("9.testing_ranges", title, "ranging/spl.txt has no volts/amps samples to compare with")
        return
    max_v, max_a = maxima
    expected_v, expected_a = max_v, max_a * round_.testing_current_factor
    ev_values.update(
        {"ranging_max_v": max_v, "ranging_max_a": max_a, "expected_v": expected_v, "expected_a": expected_a}
    )
    ev = Evidence(file=source, values=ev_values)
    try:
        set_v, set_a = float(testing_ranges["V"]), float(testing_ranges["A"])
    except ValueError:
        yield Finding.failed(
            "9.testing_ranges", title, Severity.ERROR, f"testing ranges {testing_ranges} are not numbers", ev
        )
        return
    ok_v = math.isclose(set_v, expected_v, rel_tol=1e-3, abs_tol=1e-3)
    ok_a = math.isclose(set_a, expected_a, rel_tol=1e-3, abs_tol=1e-3)
    if ok_v and ok_a:
        yield Finding.passed("9.testing_ranges", title, f"SR,V,{set_v:g} and SR,A,{set_a:g} match ranging", ev)
    else:
        yield Finding.failed(
            "9.testing_ranges",
            title,
            Severity.ERROR,
            f"testing set V={set_v:g}, A={set_a:g}; ranging gives V={expected_v:g}, A={expected_a:g} "
            f"(round {round_.name} uses {round_.testing_current_factor:g} x max A)",
            ev,
        )


def _check_restore(msgs: Sequence[SessionMessage], sr: Sequence[SessionMessage]) -> Iterable[Finding]:
    title = "Initial ranges restored after testing"
    rr = next((m for m in msgs if m.cmd == "RR"), None)
    if rr is None:
        yield Finding.skipped("9.restore", title, "no RR command recorded, so the initial ranges are unknown")
        return
    want_a, want_v = _initial_range(rr.reply, 1), _initial_range(rr.reply, 3)
    last_a = next((_range_value(m.cmd) for m in reversed(sr) if m.cmd.startswith("SR,A,")), None)
    last_v = next((_range_value(m.cmd) for m in reversed(sr) if m.cmd.startswith("SR,V,")), None)
    ev = Evidence(
        file="power/server.json",
        values={"RR": rr.reply, "restored_v": last_v, "restored_a": last_a, "initial_v": want_v, "initial_a": want_a},
    )
    if want_a is None or want_v is None:
        yield Finding.failed("9.restore", title, Severity.ERROR, f"cannot read initial ranges from {rr.reply!r}", ev)
    elif last_a is not None and last_v is not None and _same_range(last_a, want_a) and _same_range(last_v, want_v):
        yield Finding.passed("9.restore", title, f"restored V={want_v}, A={want_a}", ev)
    else:
        yield Finding.failed(
            "9.restore",
            title,
            Severity.ERROR,
            f"last range commands set V={last_v}, A={last_a}; the initial ranges were V={want_v}, A={want_a}",
            ev,
        )
