"""The power submission rules, one function per rule group, each returning findings.

Rule ids follow section 5 of the MLPerf power reference (``4.power_change`` is
rule 4). ``0.*`` are mlpower's own: files that cannot be read, and consistency
checks the official checker does not make. Every function is pure: it reads
:class:`RunData` and returns findings.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from analyzer.context import MeterIdentity, ResultContext, as_context, meter_identity, scenario_of
from analyzer.findings import Evidence, Finding, Official, Severity, Status
from analyzer.gpu import gpu_window
from analyzer.official import ACCEPTED_TESTING_ERRORS, COMMON_RANGING_ERRORS, OfficialCheck, official_verdict
from analyzer.reliability import check_interrupted, check_meter_gaps, check_sut_link
from analyzer.rounds import ACCEPTED_ANALYZERS, Round
from analyzer.run import MAX_EVIDENCE, RunData
from powerlog.layout import PHASE_DIRS, RANGING, REQUIRED_FILES, TESTING
from powerlog.ptd_identity import channel_selection
from powerlog.ptd_replies import GO_REPLY, NOTHING_TO_STOP_REPLY, STOP_REPLY
from powerlog.ptdlog import PtdEvent, PtdEventKind
from powerlog.run_record import UncertaintyRecord
from powerlog.session_record import PtdConfig, SessionMessage, SessionRecord
from powerlog.timestamps import NS_PER_MS, NS_PER_S, format_ptd_timestamp

__all__ = ["OFFICIAL_RELATION", "RULES", "check_run", "check_summary", "official_relation", "ranging_peaks", "verdict"]

# PTDaemon 1.10/1.11 during ranging on Auto: the analyzer's overrange value (9.91E+37) and peak-current
# warnings while it switches ranges; not in the official list (the official scan warns and stops there)
KNOWN_RANGING_OVERRANGE = (
    re.compile(r"Bad (?:watts|volts|amps|pf) reading (?:9\.91e\+?37|99100000000000005\d+(?:\.\d+)?) from "),
    re.compile(r"Current exceeds peak value allowed for range"),
)
SAMPLE_COVERAGE_LIMIT = 0.95  # share of the expected 1 Hz samples
SAMPLE_GAP_LIMIT_S = 3.0
CHANNEL_SUM_TOLERANCE_W = 0.5
NO_READING_MARKERS = (-1.0, -2.0)  # what PTDaemon logs in every field of a sample it has no reading for

Check = Callable[[RunData, Round], Iterable[Finding]]


def _rel(run: RunData, phase: str, name: str) -> str:
    return f"{PHASE_DIRS[phase]}/{name}"


def _ts(t_utc_ns: int) -> str:
    return format_ptd_timestamp(t_utc_ns)


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
        file = _rel(run, phase_name, "mlperf_log_detail.txt")
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
        ev = Evidence(file=file, values={"power_begin": _ts(begin), "power_end": _ts(end)})
        if begin < end:
            yield Finding.passed("1.window", title, f"{phase_name}: {(end - begin) / NS_PER_S:.3f} s window", ev)
        else:
            yield Finding.failed(
                "1.window", title, Severity.ERROR, f"{phase_name}: power_begin is not before power_end", ev
            )


# 2. LoadGen result -------------------------------------------------------------------


def check_loadgen(run: RunData, round_: Round) -> Iterable[Finding]:
    detail = run.testing.detail
    file = _rel(run, TESTING, "mlperf_log_detail.txt")
    if detail is None:
        yield Finding.skipped("2.validity", "Testing run is VALID", f"{file} could not be read")
        return
    scenario = detail.value("effective_scenario")
    if scenario_of(run.testing) is None:
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
    if validity == "VALID":
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
    if isinstance(duration, int | float) and duration >= round_.min_duration_ms:
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


# 3. samples in the window ------------------------------------------------------------


def check_samples(run: RunData, round_: Round) -> Iterable[Finding]:
    for phase_name, phase in run.phases.items():
        stats = phase.stats
        file = _rel(run, phase_name, "spl.txt")
        if stats is None:
            yield Finding.skipped(
                "3.samples",
                "Samples with Watts > 0 inside the window",
                f"{phase_name}: no window or no samples to check",
            )
            continue
        ev = Evidence(
            file=file,
            values={
                "samples_in_window": stats.samples_in_window,
                "all_samples_in_window": stats.all_samples_in_window,
                "window_s": stats.window_s,
                "max_sample_gap_s": stats.max_sample_gap_s,
            },
        )
        if stats.samples_in_window == 0:
            severity = Severity.ERROR if phase_name == TESTING else Severity.WARNING
            yield Finding.failed(
                "3.samples",
                "Samples with Watts > 0 inside the window",
                severity,
                f"{phase_name}: no sample with Watts > 0 strictly inside "
                f"{_ts(stats.begin_utc_ns)} .. {_ts(stats.end_utc_ns)}",
                ev,
            )
            continue
        yield Finding.passed(
            "3.samples",
            "Samples with Watts > 0 inside the window",
            f"{phase_name}: {stats.samples_in_window} samples in {stats.window_s:.1f} s",
            ev,
        )
        rate_hz = _meter_rate_hz(run)
        expected = stats.window_s * rate_hz
        coverage = stats.samples_in_window / expected if expected > 0 else 0.0
        title = "About one sample per second" if rate_hz == 1 else f"About {rate_hz:g} samples per second"
        if coverage < SAMPLE_COVERAGE_LIMIT or stats.max_sample_gap_s > SAMPLE_GAP_LIMIT_S:
            yield Finding.failed(
                "3.sample_rate",
                title,
                Severity.WARNING,
                f"{phase_name}: {stats.samples_in_window} usable samples for a {stats.window_s:.1f} s window "
                f"({100 * coverage:.1f} % of {rate_hz:g} Hz); longest gap {stats.max_sample_gap_s:.3f} s",
                ev,
            )
        else:
            yield Finding.passed(
                "3.sample_rate",
                title,
                f"{phase_name}: {100 * coverage:.1f} % of {rate_hz:g} Hz, longest gap {stats.max_sample_gap_s:.3f} s",
                ev,
            )


def _meter_rate_hz(run: RunData) -> float:
    """PTDaemon logs once a second; an mlpower run that read its analyzer directly says its own interval."""
    interval_ms = run.mlpower_session.interval_ms if run.mlpower_session else 1000
    return 1000 / interval_ms if interval_ms > 0 else 1.0


# 4, 5. ranging vs testing ------------------------------------------------------------


def check_ranging_vs_testing(run: RunData, round_: Round) -> Iterable[Finding]:
    testing, ranging = run.testing.stats, run.ranging.stats
    title = f"Testing power is no more than {-round_.power_change_limit_pct:g} % below ranging"
    if not (testing and ranging and testing.avg_power_w and ranging.avg_power_w):
        yield Finding.skipped("4.power_change", title, "needs the average power of both modes")
    else:
        change_pct = 100.0 * (testing.avg_power_w / ranging.avg_power_w - 1.0)
        ev = Evidence(
            values={
                "testing_avg_power_w": testing.avg_power_w,
                "ranging_avg_power_w": ranging.avg_power_w,
                "change_pct": change_pct,
            }
        )
        message = f"testing {testing.avg_power_w:.2f} W vs ranging {ranging.avg_power_w:.2f} W: {change_pct:+.2f} %"
        if change_pct > round_.power_change_limit_pct:
            yield Finding.passed("4.power_change", title, message, ev)
        else:
            yield Finding.failed(
                "4.power_change",
                title,
                Severity.ERROR,
                f"{message}, beyond the {round_.power_change_limit_pct:g} % limit",
                ev,
            )
    title = "Testing run is not more than 50 % shorter than ranging"
    if not (testing and ranging and ranging.window_s > 0):
        yield Finding.skipped("5.duration", title, "needs both LoadGen windows")
        return
    shorter_pct = 100.0 * (ranging.window_s - testing.window_s) / ranging.window_s
    ev = Evidence(values={"testing_window_s": testing.window_s, "ranging_window_s": ranging.window_s})
    message = f"testing {testing.window_s:.1f} s, ranging {ranging.window_s:.1f} s"
    if shorter_pct > 50.0:
        yield Finding.failed("5.duration", title, Severity.WARNING, f"{message}: {shorter_pct:.1f} % shorter", ev)
    else:
        yield Finding.passed("5.duration", title, message, ev)


# 6, 7. session checkpoints and clocks ------------------------------------------------


def _checkpoints(record: SessionRecord | None, mode: str) -> tuple[int, ...]:
    if record is None:
        return ()
    return tuple(p.t_utc_ns for p in record.phases.get(mode, ()))


def check_window_in_phase(run: RunData, round_: Round) -> Iterable[Finding]:
    title = "LoadGen window lies inside the mode's start/stop checkpoints"
    if run.client is None:
        yield Finding.skipped("6.window_in_phase", title, "power/client.json could not be read")
        return
    for phase_name, phase in run.phases.items():
        points = _checkpoints(run.client, phase_name)
        if phase.window_utc_ns is None or len(points) < 4:
            yield Finding.skipped(
                "6.window_in_phase", title, f"{phase_name}: needs the LoadGen window and 4 checkpoints in client.json"
            )
            continue
        begin, end = phase.window_utc_ns
        started, stopping = points[1], points[2]
        ev = Evidence(
            file="power/client.json",
            values={
                "phase_started": _ts(started),
                "power_begin": _ts(begin),
                "power_end": _ts(end),
                "phase_stopping": _ts(stopping),
            },
        )
        if started < begin < end < stopping:
            yield Finding.passed(
                "6.window_in_phase",
                title,
                f"{phase_name}: window starts {(begin - started) / NS_PER_S:.1f} s after the phase started "
                f"and ends {(stopping - end) / NS_PER_S:.1f} s before it stopped",
                ev,
            )
        else:
            yield Finding.failed(
                "6.window_in_phase",
                title,
                Severity.ERROR,
                f"{phase_name}: LoadGen window {_ts(begin)} .. {_ts(end)} is not inside the phase "
                f"{_ts(started)} .. {_ts(stopping)}",
                ev,
            )


def check_clocks(run: RunData, round_: Round) -> Iterable[Finding]:
    title = f"Client and server checkpoints agree within {round_.checkpoint_tolerance_ms:g} ms"
    if run.client is None or run.server is None:
        yield Finding.skipped("7.checkpoints", title, "needs both power/client.json and power/server.json")
    else:
        worst_ms, worst_where = 0.0, ""
        mismatch = []
        for mode in sorted(set(run.client.phases) | set(run.server.phases)):
            c, s = _checkpoints(run.client, mode), _checkpoints(run.server, mode)
            if len(c) != len(s):
                mismatch.append(f"{mode}: {len(c)} client vs {len(s)} server checkpoints")
            for i, (a, b) in enumerate(zip(c, s, strict=False)):
                diff_ms = abs(a - b) / NS_PER_MS
                if diff_ms > worst_ms:
                    worst_ms, worst_where = diff_ms, f"{mode} checkpoint {i + 1}"
        ev = Evidence(
            values={"max_difference_ms": worst_ms, "where": worst_where, "tolerance_ms": round_.checkpoint_tolerance_ms}
        )
        if mismatch or worst_ms > round_.checkpoint_tolerance_ms:
            reason = "; ".join(mismatch) or f"{worst_where} differs by {worst_ms:.1f} ms"
            yield Finding.failed("7.checkpoints", title, Severity.ERROR, reason, ev)
        else:
            yield Finding.passed("7.checkpoints", title, f"largest difference {worst_ms:.1f} ms ({worst_where})", ev)
    yield from _check_mlpower_clock(run, round_)
    title = f"NTP offset below {round_.ntp_offset_limit_ms:g} ms"
    if not run.ntp_offsets_s:
        yield Finding.skipped("7.ntp", title, "power/client.log records no NTP offset")
        return
    line, offset_s = max(run.ntp_offsets_s, key=lambda x: abs(x[1]))
    ev = Evidence(file="power/client.log", line=line, values={"max_abs_offset_ms": abs(offset_s) * 1000})
    if abs(offset_s) * 1000 < round_.ntp_offset_limit_ms:
        yield Finding.passed("7.ntp", title, f"largest NTP offset {abs(offset_s) * 1000:.0f} ms", ev)
    else:
        yield Finding.failed("7.ntp", title, Severity.ERROR, f"NTP offset {offset_s * 1000:.0f} ms", ev)


CLOCK_STEP_LIMIT_NS = 10_000_000  # a change of the offset across a phase beyond this (and the bounds) is a step


def _check_mlpower_clock(run: RunData, round_: Round) -> Iterable[Finding]:
    """Runs recorded by mlpower measure the SUT's offset to the director before and after each phase."""
    title = f"SUT clock within {round_.ntp_offset_limit_ms:g} ms of the director's"
    for phase_name, phase in run.phases.items():
        clock = phase.clock
        if clock is None:
            continue
        ev = Evidence(
            file="session.json",
            values={
                "offset_ms": clock.offset_ns / 1e6,
                "bound_ms": clock.bound_ns / 1e6,
                "change_ms": clock.change_ns / 1e6,
            },
        )
        message = f"{phase_name}: offset {clock.offset_ns / 1e6:+.3f} ms +/- {clock.bound_ns / 1e6:.3f} ms"
        if abs(clock.offset_ns) + clock.bound_ns > round_.ntp_offset_limit_ms * 1e6:
            yield Finding.failed("7.clock_offset", title, Severity.ERROR, f"{message}, beyond the limit", ev)
        else:
            yield Finding.passed("7.clock_offset", title, f"{message}; LoadGen's window was mapped with it", ev)
        # against the measurements' own bounds: the phase's bound already includes half the change
        if abs(clock.change_ns) > max(CLOCK_STEP_LIMIT_NS, 2 * clock.measurement_bound_ns):
            yield Finding.failed(
                "7.clock_step",
                "SUT clock steady during the phase",
                Severity.WARNING,
                f"{phase_name}: the offset changed by {clock.change_ns / 1e6:+.3f} ms between the measurements "
                "before and after the phase (a clock step or strong drift on the SUT); the window is placed "
                "with the mean offset",
                ev,
            )


# 8. analyzer and PTDaemon ------------------------------------------------------------


def check_analyzer(run: RunData, round_: Round) -> Iterable[Finding]:
    meter = meter_identity(run)
    findings = list(_check_identity(meter, round_))
    why = ""
    if meter.ptd_version is not None and meter.ptd_version.startswith("mlpower-ptd"):
        why = (
            " (expected: the analyzer was served by mlpower-ptd, mlpower's PTDaemon-protocol server, not SPEC PTDaemon)"
        )
    elif meter.simulated:
        why = " (expected: the run used mlpower's simulated analyzer, which no round accepts)"
    if why:
        findings = [replace(f, message=f.message + why) if f.status is Status.FAIL else f for f in findings]
    yield from findings
    yield from _check_ptd_config(run)


def _check_identity(meter: MeterIdentity, round_: Round) -> Iterable[Finding]:
    if meter.identify_reply is None:
        yield Finding.skipped("8.analyzer", "Analyzer model accepted", "no Identify reply in power/server.json")
        yield Finding.skipped("8.ptd_version", "PTDaemon version accepted", "no Identify reply in power/server.json")
        return
    ev = Evidence(file="power/server.json", values={"identify": meter.identify_reply})
    if meter.model in ACCEPTED_ANALYZERS:
        yield Finding.passed("8.analyzer", "Analyzer model accepted", f"{meter.model} is an accepted analyzer", ev)
    else:
        yield Finding.failed(
            "8.analyzer",
            "Analyzer model accepted",
            Severity.ERROR,
            f"{meter.model!r} is not in the accepted list ({', '.join(ACCEPTED_ANALYZERS)})",
            ev,
        )
    title = f"PTDaemon version accepted for round {round_.name}"
    if meter.ptd_version in round_.ptd_versions:
        yield Finding.passed("8.ptd_version", title, f"PTDaemon {meter.ptd_version}", ev)
    else:
        yield Finding.failed(
            "8.ptd_version",
            title,
            Severity.ERROR,
            f"PTDaemon {meter.ptd_version} is not accepted in {round_.name} "
            f"(accepted: {', '.join(round_.ptd_versions)}); pass --round if the result is from another round",
            ev,
        )


def _check_ptd_config(run: RunData) -> Iterable[Finding]:
    configs = run.server.ptd_configs if run.server else ()
    if not configs:
        yield Finding.skipped("8.ptd_config", "PTDaemon configuration", "power/server.json has no ptd_config")
        return
    for config in configs:
        ev = Evidence(
            file="power/server.json", values={"device_type": config.device_type, "channels": list(config.channels)}
        )
        model_numbers = set(ACCEPTED_ANALYZERS.values())
        if config.device_type not in model_numbers:
            yield Finding.failed(
                "8.ptd_config",
                "PTDaemon configuration",
                Severity.ERROR,
                f"device type {config.device_type} is not an accepted analyzer",
                ev,
            )
        elif config.device_type == ACCEPTED_ANALYZERS["YokogawaWT330_multichannel"] and len(config.channels) != 2:
            yield Finding.failed(
                "8.ptd_config",
                "PTDaemon configuration",
                Severity.ERROR,
                "WT330 multichannel (device type 77) must be configured with two channels",
                ev,
            )
        else:
            yield Finding.passed(
                "8.ptd_config",
                "PTDaemon configuration",
                f"device type {config.device_type}, channels {config.channels}",
                ev,
            )


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
    """The meter URL of an mlpower run that read its analyzer(s) directly (serial, sim), not through PTDaemon."""
    record = run.mlpower_session
    url = record.meter.url if record is not None and record.meter is not None else ""
    if not url or all(part.strip().startswith("ptd://") for part in url.split(" + ")):
        return None
    return url


def _check_direct_meter(run: RunData, round_: Round, url: str) -> Iterable[Finding]:
    """A run that read the analyzer over serial: no PTDaemon commands to check, so the ranges come from
    session.json (what the director set), and the run says plainly that MLPerf wants PTDaemon."""
    ev = Evidence(file="session.json", values={"meter_url": url})
    yield Finding.failed(
        "8.ptd_used",
        "The analyzer is read through SPEC PTDaemon",
        Severity.ERROR,
        f"the analyzer was read directly ({url}), not through PTDaemon: the measurement is checked as usual, "
        "but an MLPerf power submission must be measured through PTDaemon",
        ev,
    )
    reason = f"the analyzer was read directly ({url}): there are no PTDaemon commands"
    for rule in ("9.go", "9.replies", "9.restore"):
        yield Finding.skipped(rule, "PTDaemon commands", reason)
    record = run.mlpower_session

    def recorded(phase: str) -> dict[str, str]:
        entry = record.phase(phase) if record is not None else None
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


# 10, 11. PTDaemon log ----------------------------------------------------------------


def _event_ev(e: PtdEvent) -> Evidence:
    return Evidence(
        file="power/ptd_logs.txt", line=e.line_number, values={"time": _ts(e.t_utc_ns), "message": e.message}
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


def check_uncertainty(run: RunData, round_: Round) -> Iterable[Finding]:
    log = run.ptd_log
    title = "Uncertainty checking activated before ranging"
    if log is None:
        driver = _driver_uncertainty(run)
        if driver is not None:  # an analyzer read directly: its driver evaluated every sample
            yield Finding.skipped("10.activated", title, "no PTDaemon: the analyzer was read by mlpower's driver")
            yield _testing_uncertainty_from_driver(run, round_, driver)
            return
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


# 12, 13. session records -------------------------------------------------------------


def check_session(run: RunData, round_: Round) -> Iterable[Finding]:
    c, s = run.client, run.server
    if c is None or s is None:
        for rule in ("12.uuid", "12.session_name", "12.messages", "12.results", "12.sources", "13.debug"):
            yield Finding.skipped(rule, "Session records", "needs both power/client.json and power/server.json")
        return
    ev = Evidence(values={"client": [c.uuid_client, c.uuid_server], "server": [s.uuid_client, s.uuid_server]})
    if c.uuid_client and c.uuid_server and (c.uuid_client, c.uuid_server) == (s.uuid_client, s.uuid_server):
        yield Finding.passed("12.uuid", "Client and server agree on the session uuids", "uuids match", ev)
    else:
        yield Finding.failed(
            "12.uuid", "Client and server agree on the session uuids", Severity.ERROR, "uuids differ or are missing", ev
        )
    ev = Evidence(values={"client": c.session_name, "server": s.session_name})
    if c.session_name and c.session_name == s.session_name:
        yield Finding.passed("12.session_name", "Session names agree", c.session_name, ev)
    else:
        yield Finding.failed(
            "12.session_name", "Session names agree", Severity.ERROR, "session names differ or are missing", ev
        )
    yield from _check_messages(c, s)
    yield from _check_results(run, c, s)
    yield Finding.skipped(
        "12.sources",
        "Workflow source checksums",
        "the reference workflow's sha1 list of its own sources is not shipped with mlpower, so the "
        "recorded source checksums cannot be verified here; this rule applies only to that workflow",
        Evidence(values={"client_sources": len(c.sources), "server_sources": len(s.sources)}),
    )
    if s.debug:
        yield Finding.failed(
            "13.debug", "Server not in debug mode", Severity.ERROR, "server.json says debug mode was on"
        )
    else:
        yield Finding.passed("13.debug", "Server not in debug mode", "no debug flag in server.json")


def _check_messages(c: SessionRecord, s: SessionRecord) -> Iterable[Finding]:
    title = "Client and server message lists agree"
    problems = []
    if len(c.messages) != len(s.messages):
        problems.append(f"{len(c.messages)} client vs {len(s.messages)} server messages")
    for i, (a, b) in enumerate(zip(c.messages, s.messages, strict=False)):
        if a.cmd != b.cmd:
            problems.append(f"message {i + 1}: client {a.cmd!r}, server {b.cmd!r}")
        elif a.cmd != "time" and a.reply != b.reply:
            problems.append(f"message {i + 1} ({a.cmd!r}): client reply {a.reply!r}, server {b.reply!r}")
    if problems:
        yield Finding.failed(
            "12.messages",
            title,
            Severity.ERROR,
            "; ".join(problems[:3]),
            Evidence(values={"differences": problems[:MAX_EVIDENCE]}),
        )
    else:
        yield Finding.passed("12.messages", title, f"{len(c.messages)} messages match")


def _check_results(run: RunData, c: SessionRecord, s: SessionRecord) -> Iterable[Finding]:
    title = "Recorded sha1 of every result file matches the file"
    recorded = {**c.results, **s.results}
    disagree = [k for k in c.results if k in s.results and c.results[k] != s.results[k]]
    if not run.file_sha1:
        yield Finding.skipped("12.results", title, "file hashes were not computed")
        return
    # as the official checker: only the files a result folder must hold (power-dev also records files that
    # are not shipped, such as run_1/ptd_out.txt and *_analyzer_1.*); other recorded files are informative
    required = {name for name in REQUIRED_FILES if name not in ("power/client.json", "power/server.json")}
    unlisted = sorted(required - recorded.keys())
    changed = sorted(k for k, v in recorded.items() if k in required and k in run.file_sha1 and run.file_sha1[k] != v)
    absent = sorted(k for k in recorded if k in required and k not in run.file_sha1)
    not_shipped = sorted(k for k in recorded if k not in required and k not in run.file_sha1)
    problems = []
    if disagree:
        problems.append(f"client and server record different sha1 for {', '.join(disagree)}")
    if changed:
        problems.append(f"file differs from its recorded sha1: {', '.join(changed)}")
    if absent:
        problems.append(f"recorded but missing: {', '.join(absent)}")
    if unlisted:
        problems.append(f"required but not recorded: {', '.join(unlisted)}")
    ev = Evidence(
        values={
            "recorded": len(recorded),
            "changed": changed,
            "absent": absent,
            "unlisted": unlisted,
            "recorded_not_shipped": not_shipped,
        }
    )
    if problems:
        yield Finding.failed("12.results", title, Severity.ERROR, "; ".join(problems), ev)
    else:
        checked = len(required & recorded.keys())
        extra = f"; {len(not_shipped)} recorded optional file(s) not shipped" if not_shipped else ""
        yield Finding.passed("12.results", title, f"{checked} required files match their recorded sha1{extra}", ev)


# mlpower's own consistency checks ----------------------------------------------------


def check_consistency(run: RunData, round_: Round) -> Iterable[Finding]:
    session = run.server.session_name if run.server else None
    for phase_name, phase in run.phases.items():
        log = phase.spl
        if log is None or len(log) == 0:
            continue
        file = _rel(run, phase_name, "spl.txt")
        if session:
            expected = f"{session}_{phase_name}"
            other = sorted(m for m in log.marks if m != expected)
            if other:
                yield Finding.failed(
                    "0.marks",
                    "Samples carry the mode's mark",
                    Severity.WARNING,
                    f"{phase_name}: marks {other} besides {expected!r}",
                    Evidence(file=file, values={"marks": list(log.marks)}),
                )
            else:
                yield Finding.passed("0.marks", "Samples carry the mode's mark", f"{phase_name}: all marked {expected}")
        parts = [a.total.power_w for a in log.analyzers] or [ch.power_w for ch in log.channels]
        if parts:
            yield _channel_sum(phase_name, file, log.power_w, parts, log.line_number, bool(log.analyzers))


def _channel_sum(
    phase_name: str,
    file: str,
    total_w: np.ndarray,
    parts_w: list[np.ndarray],
    line_number: np.ndarray,
    analyzers: bool,
) -> Finding:
    """The leading Watts against its parts (channels, or analyzers in power-dev's merged log). A part
    logged as -1 (dropped) or -2 (PTDaemon's failed-reading marker) is left out; a sample whose total
    is such a marker was lost whole."""
    what = "analyzers" if analyzers else "channels"
    title = f"Multichannel total equals the sum of its {what}"
    parts = np.vstack(parts_w)
    dropped = np.isin(parts, NO_READING_MARKERS)
    expected = np.where(dropped, 0.0, np.abs(parts) if analyzers else parts).sum(axis=0)
    usable = ~np.isin(total_w, NO_READING_MARKERS) & ~dropped.all(axis=0) & np.isfinite(total_w) & np.isfinite(expected)
    diff = np.where(usable, np.abs(total_w - expected), 0.0)
    worst = int(np.argmax(diff)) if diff.shape[0] else 0
    worst_w = float(diff[worst]) if diff.shape[0] else 0.0
    skipped = int((~usable).sum())
    ev = Evidence(
        file=file,
        line=int(line_number[worst]) if diff.shape[0] else None,
        values={"max_difference_w": worst_w, "dropped_samples_left_out": skipped},
    )
    left_out = f" ({skipped} sample(s) logged as -1/-2, no reading, left out)" if skipped else ""
    if worst_w > CHANNEL_SUM_TOLERANCE_W:
        return Finding.failed(
            "0.channel_sum",
            title,
            Severity.WARNING,
            f"{phase_name}: total differs from the sum of its {what} by up to {worst_w:.3f} W{left_out}",
            ev,
        )
    return Finding.passed("0.channel_sum", title, f"{phase_name}: within {worst_w:.3f} W{left_out}", ev)


def check_gpus(run: RunData, round_: Round) -> Iterable[Finding]:
    """mlpower's GPU readings: is each window covered well enough to trust the GPU figures?"""
    window = run.testing.meter_window_utc_ns
    if not run.gpus or window is None:
        return
    for series in run.gpus:
        w = gpu_window(series, *window)
        ev = Evidence(
            file="samples/",
            values={
                "gpu": w.gpu_index,
                "counter_energy_j": w.counter_energy_j,
                "integrated_energy_j": w.integrated_energy_j,
                "power_readings": w.power_readings,
            },
        )
        title = f"GPU {w.gpu_index} readings cover the testing window"
        if w.warnings:
            yield Finding.failed("0.gpu", title, Severity.WARNING, "; ".join(w.warnings), ev)
        else:
            yield Finding.passed("0.gpu", title, f"{w.power_readings} readings, counter and integral agree", ev)


RULES: tuple[Check, ...] = (
    check_files,
    check_windows,
    check_loadgen,
    check_samples,
    check_ranging_vs_testing,
    check_window_in_phase,
    check_clocks,
    check_analyzer,
    check_ptd_commands,
    check_uncertainty,
    check_ptd_errors,
    check_session,
    check_consistency,
    check_gpus,
    check_meter_gaps,
    check_sut_link,
    check_interrupted,
)


# How the official power checker treats each mlpower rule (docs/metrics-and-rules.md gives the reasons).
OFFICIAL_RELATION: dict[str, Official] = {
    "1.files": Official.SAME,
    "1.window": Official.SAME,
    "2.scenario": Official.MLPOWER,
    "2.validity": Official.MLPOWER,
    "2.min_duration": Official.MLPOWER,
    "3.samples": Official.SAME,
    "3.sample_rate": Official.MLPOWER,
    "4.power_change": Official.SAME,
    "5.duration": Official.SAME,
    "6.window_in_phase": Official.STRICTER,
    "7.checkpoints": Official.STRICTER,
    "7.ntp": Official.MLPOWER,
    "7.clock_offset": Official.MLPOWER,
    "7.clock_step": Official.MLPOWER,
    "8.analyzer": Official.SAME,
    "8.ptd_version": Official.SAME,
    "8.ptd_config": Official.SAME,
    "8.ptd_used": Official.MLPOWER,
    "9.go": Official.STRICTER,
    "9.replies": Official.SAME,  # per analyzer; the official checker counts Stops over all analyzers
    "9.ranging_ranges": Official.MLPOWER,
    "9.testing_ranges": Official.MLPOWER,
    "9.restore": Official.DIFFERS,
    "10.activated": Official.SAME,
    "10.testing_uncertainty": Official.STRICTER,
    "11.errors": Official.STRICTER,
    "12.uuid": Official.SAME,
    "12.session_name": Official.SAME,
    "12.messages": Official.SAME,
    "12.results": Official.SAME,
    "12.sources": Official.SAME,
    "13.debug": Official.SAME,
}


def official_relation(rule: str, round_: Round) -> Official:
    """How the official checker of ``round_`` treats ``rule``; every ``0.*`` rule is mlpower's own."""
    if rule == "7.checkpoints" and round_.checkpoint_tolerance_ms >= round_.official_checkpoint_tolerance_ms:
        return Official.SAME
    return OFFICIAL_RELATION.get(rule, Official.MLPOWER)


def check_run(run: RunData, round_: Round | ResultContext | str | None = None) -> tuple[Finding, ...]:
    """Every rule the folder's files allow, in rule order, load problems first, each marked with how the
    official checker treats it. ``round_`` as for :func:`analyzer.report.build_report`."""
    context = as_context(run, round_)
    findings: list[Finding] = list(run.problems)
    for rule in RULES:
        findings.extend(rule(run, context.round))
    return tuple(replace(f, official=official_relation(f.rule, context.round)) for f in findings)


def verdict(findings: Iterable[Finding]) -> Status:
    """FAIL when any finding is an error, else PASS."""
    return Status.FAIL if any(f.is_error for f in findings) else Status.PASS


def check_summary(
    run: RunData, context: ResultContext, findings: Sequence[Finding], official: Sequence[OfficialCheck]
) -> dict[str, Any]:
    """``check --json``: mlpower's verdict (the stricter audit) and the official checker's, with both lists."""
    return {
        "folder": str(run.folder.root),
        "round": context.round.name,
        "round_source": context.round_source,
        "benchmark": context.benchmark,
        "scenario": context.scenario.value if context.scenario else None,
        "loadgen_scenario": context.loadgen_scenario.value if context.loadgen_scenario else None,
        "inferred": context.inferred,
        "verdict": verdict(findings).value,
        "official_verdict": official_verdict(official),
        "errors": sum(1 for f in findings if f.is_error),
        "findings": [f.to_dict() for f in findings],
        "official_checks": [c.to_dict() for c in official],
    }
