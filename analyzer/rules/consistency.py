"""mlpower's own consistency checks: channel sums, GPU figures."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from analyzer.findings import Evidence, Finding, Severity
from analyzer.gpu import gpu_window
from analyzer.rounds import Round
from analyzer.rules.common import phase_file
from analyzer.run import RunData

__all__ = ["check_consistency", "check_gpus"]

CHANNEL_SUM_TOLERANCE_W = 0.5
NO_READING_MARKERS = (-1.0, -2.0)  # what PTDaemon logs in every field of a sample it has no reading for


# mlpower's own consistency checks ----------------------------------------------------


def check_consistency(run: RunData, round_: Round) -> Iterable[Finding]:
    session = run.server.session_name if run.server else None
    for phase_name, phase in run.phases.items():
        log = phase.spl
        if log is None or len(log) == 0:
            continue
        file = phase_file(run, phase_name, "spl.txt")
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
