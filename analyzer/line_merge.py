"""The audit of power-dev's line-index merge of several analyzers: the same window joined by time, and where
the two disagree (energy, and the largest time offset between the samples one merged line pairs): pure.

power-dev writes one spl.txt line per line index of its analyzers' logs: the leading Watts is the sum of
theirs, the Time analyzer 1's, and each analyzer's own line (with its own Time) follows in its
``Analyzer<k>`` block. The official figure comes from that merged line and stays as it is; this audit
only says how far it is from each analyzer integrated on its own clock (:mod:`analyzer.time_join`).
Where the analyzers' own times cannot be read, the merge cannot be checked, and the audit says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from analyzer.findings import Evidence, Finding, Severity
from analyzer.metrics import trapezoid_energy_j
from analyzer.time_join import WallSeries, join_by_time
from powerlog.errors import TimestampError
from powerlog.result_record import SourceEnergyRecord
from powerlog.spl import PowerLog
from powerlog.spl_layout import layout_of
from powerlog.spl_records import MAX_PLAUSIBLE_W
from powerlog.timestamps import NS_PER_S, parse_ptd_timestamp

__all__ = [
    "LINE_MERGE_RULE",
    "OFFSET_WARNING_S",
    "LineMergeAudit",
    "OwnTimes",
    "analyzer_own_times",
    "audit_line_merge",
    "line_merge_finding",
]

LINE_MERGE_RULE = "0.line_merge"
# a merged line pairing samples half a nominal 1 s interval apart or more reads one analyzer at another's
# instant: worth a warning (informative: the official verdict does not change)
OFFSET_WARNING_S = 0.5

OwnTimes = tuple[npt.NDArray[np.int64], ...]


@dataclass(frozen=True)
class LineMergeAudit:
    """The line-index merge against the time join over one window. ``checkable`` False: ``reason`` says why,
    and no figure is given. ``max_offset_*``: the analyzer (1-based) and spl.txt line whose own Time is
    furthest from the merged line's Time (analyzer 1's)."""

    checkable: bool
    reason: str = ""
    analyzers: int = 0
    line_merge_energy_j: float | None = None
    time_join_energy_j: float | None = None
    max_offset_s: float | None = None
    max_offset_line: int | None = None
    max_offset_analyzer: int | None = None
    per_analyzer: tuple[SourceEnergyRecord, ...] = ()

    @property
    def difference_j(self) -> float | None:
        """Line merge minus time join."""
        if self.line_merge_energy_j is None or self.time_join_energy_j is None:
            return None
        return self.line_merge_energy_j - self.time_join_energy_j

    @property
    def difference_pct(self) -> float | None:
        """:attr:`difference_j` as a percentage of the time join's energy."""
        diff = self.difference_j
        if diff is None or not self.time_join_energy_j:
            return None
        return 100.0 * diff / self.time_join_energy_j


def analyzer_own_times(lines: Sequence[str], log: PowerLog) -> OwnTimes | str:
    """Each analyzer's own Time for every sample of ``log``, read from ``lines`` (the text of the spl.txt
    ``log`` was read from, one entry per line); or why they cannot be read."""
    if not log.analyzers:
        return "the log has one analyzer: nothing was merged"
    times = np.zeros((len(log.analyzers), len(log)), dtype=np.int64)
    for i, line_number in enumerate(log.line_number.tolist()):
        if not 1 <= line_number <= len(lines):
            return f"line {line_number} of {log.path} is not in the text given ({len(lines)} lines)"
        fields = lines[line_number - 1].rstrip("\r\n").split(",")
        layout = layout_of(fields)
        if isinstance(layout, str) or len(layout.analyzer_channels) != len(log.analyzers):
            return f"line {line_number} of {log.path} is not a line of {len(log.analyzers)} analyzer blocks"
        time_columns = layout.text_columns()[0::2]  # each analyzer's (Time, Mark) values: its Time
        for a, column in enumerate(time_columns):
            try:
                times[a, i] = parse_ptd_timestamp(fields[column])
            except TimestampError as e:
                return f"line {line_number} of {log.path}: analyzer {a + 1}'s own Time does not read ({e})"
    return tuple(times[a] for a in range(times.shape[0]))


def _line_merge_energy_j(log: PowerLog, begin_ns: int, end_ns: int) -> float | None:
    """The merged Watts at the merged Time (analyzer 1's), the readings the official metric uses (> 0)."""
    with np.errstate(invalid="ignore"):
        used = ~log.implausible() & (log.power_w > 0)
    if not used.any():
        return None
    return trapezoid_energy_j(log.t_utc_ns[used], log.power_w[used], begin_ns, end_ns)


def audit_line_merge(
    log: PowerLog, own_times: OwnTimes | str, begin_utc_ns: int, end_utc_ns: int, interval_s: float = 1.0
) -> LineMergeAudit:
    """The merged log over [begin, end] against its analyzers joined by time, each at its own Time (a
    reading <= 0, PTDaemon's -1 for one it did not get, or an implausible one is no reading).
    ``own_times``: :func:`analyzer_own_times`, or the reason there are none. ``interval_s``: the
    analyzers' nominal sampling interval (power-dev's ``Go,1000``: 1 s)."""
    if isinstance(own_times, str):
        return LineMergeAudit(False, f"the line-index merge cannot be checked: {own_times}", len(log.analyzers))
    series = []
    for a, (analyzer, t) in enumerate(zip(log.analyzers, own_times, strict=True)):
        power = analyzer.total.power_w.copy()
        with np.errstate(invalid="ignore"):
            power[(power <= 0) | (np.abs(power) > MAX_PLAUSIBLE_W)] = np.nan
        series.append(WallSeries(f"analyzer{a + 1}", "merged", t, power, interval_s))
    joined = join_by_time(series, begin_utc_ns, end_utc_ns)
    offsets = np.abs(np.stack(own_times) - log.t_utc_ns[np.newaxis, :])
    worst = np.unravel_index(int(np.argmax(offsets)), offsets.shape) if offsets.size else None
    return LineMergeAudit(
        checkable=True,
        analyzers=len(series),
        line_merge_energy_j=_line_merge_energy_j(log, begin_utc_ns, end_utc_ns),
        time_join_energy_j=joined.energy_j,
        max_offset_s=None if worst is None else int(offsets[worst]) / NS_PER_S,
        max_offset_line=None if worst is None else int(log.line_number[worst[1]]),
        max_offset_analyzer=None if worst is None else int(worst[0]) + 1,
        per_analyzer=tuple(joined.nodes[0].sources),
    )


def line_merge_finding(audit: LineMergeAudit, phase_name: str, file: str) -> Finding:
    """The audit as an informative finding (never an error: the official figure is the merged one)."""
    title = "Line-index merge against the time join"
    if not audit.checkable:
        return Finding.skipped(LINE_MERGE_RULE, title, f"{phase_name}: {audit.reason}", Evidence(file=file))
    values = {
        "line_merge_energy_j": audit.line_merge_energy_j,
        "time_join_energy_j": audit.time_join_energy_j,
        "difference_j": audit.difference_j,
        "difference_pct": audit.difference_pct,
        "max_offset_s": audit.max_offset_s,
        "max_offset_analyzer": audit.max_offset_analyzer,
    }
    evidence = Evidence(file=file, line=audit.max_offset_line, values=values)
    pct = audit.difference_pct
    message = (
        f"{phase_name}: {audit.analyzers} analyzers merged by line; the merge gives "
        f"{_j(audit.line_merge_energy_j)}, the time join {_j(audit.time_join_energy_j)} "
        f"({'no figure' if pct is None else f'{pct:+.3f} %'}); lines pair samples up to "
        f"{audit.max_offset_s or 0.0:.3f} s apart (analyzer {audit.max_offset_analyzer}, line {audit.max_offset_line})"
    )
    if (audit.max_offset_s or 0.0) >= OFFSET_WARNING_S:
        return Finding.failed(LINE_MERGE_RULE, title, Severity.WARNING, message, evidence)
    return Finding.passed(LINE_MERGE_RULE, title, message, evidence)


def _j(energy_j: float | None) -> str:
    return "no figure" if energy_j is None else f"{energy_j:.3f} J"
