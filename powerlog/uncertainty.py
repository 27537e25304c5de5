"""The per-sample uncertainty a directly read analyzer reports, summarised per phase for session.json.

PTDaemon logs a warning for every sample above the 1 % limit (``ptd_logs.txt``), which the uncertainty
rule reads. A Yokogawa read by mlpower's own driver has no such log: the driver evaluates each
sample's uncertainty from the fixed ranges (unknown on Auto), and the director keeps, per phase, how
many were known, the largest, and every sample above the limit (up to :data:`MAX_KEPT`), in
session.json ``phases.<phase>.uncertainty``. The same rule then applies to it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from powerlog.run_record import UncertaintyRecord

__all__ = ["LIMIT_FRACTION", "MAX_KEPT", "UncertaintySummary"]

LIMIT_FRACTION = 0.01  # the power rules' 1 %
MAX_KEPT = 10_000  # samples above the limit kept with their times; the count goes on past it


@dataclass
class UncertaintySummary:
    """Samples' uncertainty (fractions of the reading) over one phase; ``above_limit``: (t_utc_ns, fraction)."""

    samples: int = 0
    known: int = 0
    max_fraction: float | None = None
    above_limit_count: int = 0
    above_limit: list[tuple[int, float]] = field(default_factory=list)

    def add(self, t_utc_ns: int, fraction: float | None) -> None:
        self.samples += 1
        if fraction is None:
            return
        self.known += 1
        self.max_fraction = fraction if self.max_fraction is None else max(self.max_fraction, fraction)
        if fraction > LIMIT_FRACTION:
            self.above_limit_count += 1
            if len(self.above_limit) < MAX_KEPT:
                self.above_limit.append((t_utc_ns, fraction))

    def to_record(self) -> UncertaintyRecord:
        return UncertaintyRecord(
            samples=self.samples,
            known=self.known,
            max_fraction=self.max_fraction,
            limit_fraction=LIMIT_FRACTION,
            above_limit_count=self.above_limit_count,
            above_limit=list(self.above_limit),
        )
