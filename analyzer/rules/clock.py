"""6, 7. Session checkpoints, NTP and the SUT clock."""

from __future__ import annotations

from collections.abc import Iterable

from analyzer.findings import Evidence, Finding, Severity
from analyzer.rounds import Round
from analyzer.rules.common import log_time
from analyzer.run import RunData
from powerlog.session_record import SessionRecord
from powerlog.timestamps import NS_PER_MS, NS_PER_S

__all__ = ["CLOCK_STEP_LIMIT_NS", "check_clocks", "check_window_in_phase"]

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
                "phase_started": log_time(started),
                "power_begin": log_time(begin),
                "power_end": log_time(end),
                "phase_stopping": log_time(stopping),
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
                f"{phase_name}: LoadGen window {log_time(begin)} .. {log_time(end)} is not inside the phase "
                f"{log_time(started)} .. {log_time(stopping)}",
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
