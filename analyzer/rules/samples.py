"""3. Power samples inside the window, and their rate."""

from __future__ import annotations

from collections.abc import Iterable

from analyzer.findings import Evidence, Finding, Severity
from analyzer.line_merge import audit_line_merge, line_merge_finding
from analyzer.metrics import WindowStats
from analyzer.rounds import Round
from analyzer.rules.common import log_time, phase_file
from analyzer.run import RunData
from powerlog.layout import TESTING
from powerlog.spl import MAX_PLAUSIBLE_W

__all__ = ["SAMPLE_HOLE_LIMIT_S", "check_line_merge", "check_samples", "implausible_readings", "sample_hole"]

SAMPLE_COVERAGE_LIMIT = 0.95  # share of the expected 1 Hz samples
SAMPLE_GAP_LIMIT_S = 3.0
# a stretch without any sample inside the window longer than this is a hole, not a slow meter: the energy
# there is bridged from the samples either side, never measured (10 s: ten missed readings of PTDaemon)
SAMPLE_HOLE_LIMIT_S = 10.0


def sample_hole(stats: WindowStats) -> str | None:
    """What is wrong when the window has a stretch longer than :data:`SAMPLE_HOLE_LIMIT_S` without a sample."""
    if stats.samples_in_window == 0 or stats.max_sample_gap_s <= SAMPLE_HOLE_LIMIT_S:
        return None
    return (
        f"{stats.max_sample_gap_s:.1f} s without a sample inside the LoadGen window (limit {SAMPLE_HOLE_LIMIT_S:g} s): "
        "the energy there is bridged from the samples either side, not measured"
    )


def implausible_readings(stats: WindowStats) -> str | None:
    """What is wrong when samples inside the window hold readings no analyzer measures (1e308 W, NaN)."""
    if stats.implausible_in_window == 0:
        return None
    return (
        f"{stats.implausible_in_window} sample(s) inside the LoadGen window read what no analyzer measures "
        f"(such as {stats.implausible_example_w!r} W; a reading is finite and at most {MAX_PLAUSIBLE_W:.0e} W "
        "a channel): left out of the average and the energy; check the meter and the file"
    )


# 3. samples in the window ------------------------------------------------------------


def check_samples(run: RunData, round_: Round) -> Iterable[Finding]:
    for phase_name, phase in run.phases.items():
        stats = phase.stats
        file = phase_file(run, phase_name, "spl.txt")
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
        title = "Every reading inside the window is one an analyzer can measure"
        bad = implausible_readings(stats)
        if bad is not None:
            ev_bad = Evidence(file=file, values={"implausible_in_window": stats.implausible_in_window})
            yield Finding.failed("3.plausible", title, Severity.ERROR, f"{phase_name}: {bad}", ev_bad)
        else:
            yield Finding.passed("3.plausible", title, f"{phase_name}: all plausible", ev)
        if stats.samples_in_window == 0:
            severity = Severity.ERROR if phase_name == TESTING else Severity.WARNING
            yield Finding.failed(
                "3.samples",
                "Samples with Watts > 0 inside the window",
                severity,
                f"{phase_name}: no sample with Watts > 0 strictly inside "
                f"{log_time(stats.begin_utc_ns)} .. {log_time(stats.end_utc_ns)}",
                ev,
            )
            continue
        yield Finding.passed(
            "3.samples",
            "Samples with Watts > 0 inside the window",
            f"{phase_name}: {stats.samples_in_window} samples in {stats.window_s:.1f} s",
            ev,
        )
        hole = sample_hole(stats)
        title = "No stretch without samples inside the window"
        if hole is not None:
            severity = Severity.ERROR if phase_name == TESTING else Severity.WARNING
            yield Finding.failed("3.sample_gap", title, severity, f"{phase_name}: {hole}", ev)
        else:
            yield Finding.passed(
                "3.sample_gap", title, f"{phase_name}: longest stretch {stats.max_sample_gap_s:.3f} s", ev
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


def check_line_merge(run: RunData, round_: Round) -> Iterable[Finding]:
    """0.line_merge: a testing spl.txt merged from several analyzers by line index (power-dev's way), against
    the same analyzers joined by time: how far apart the samples one line pairs are, and the energy both ways
    (informative: the official figure stays the merged one)."""
    phase = run.testing
    window = phase.meter_window_utc_ns
    if phase.spl is None or phase.analyzer_times is None or window is None or window[1] <= window[0]:
        return
    audit = audit_line_merge(phase.spl, phase.analyzer_times, *window)
    yield line_merge_finding(audit, "testing", "run_1/spl.txt")
