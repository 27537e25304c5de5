"""Analyzer ranges: the range tables and the pure ranging -> testing rule.

After the ranging run the testing run fixes the ranges: voltage range = the largest
volts seen, current range = factor x the largest amps seen (1.1 in current rules;
v2.1 used 1.0). The analyzer then rounds each up to its next available range; where
the model's table is known we apply that rounding here too, so the session record
says which range the analyzer will really use.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

from powerlog.spl import PowerLog

__all__ = ["RANGE_TABLES", "RangeTable", "Ranges", "derive_testing_ranges", "range_table_for", "round_up_to_range"]


@dataclass(frozen=True)
class Ranges:
    """Voltage and current ranges; None means Auto."""

    volts_v: float | None
    amps_a: float | None

    @property
    def auto(self) -> bool:
        return self.volts_v is None or self.amps_a is None

    @classmethod
    def automatic(cls) -> Ranges:
        return cls(None, None)


@dataclass(frozen=True)
class RangeTable:
    """The ranges an analyzer offers, ascending, from its user manual."""

    volts_v: tuple[float, ...]
    amps_a: tuple[float, ...]


# Yokogawa direct-input ranges (crest factor 3). WT500 current ranges are for the 40 A element.
_WT310_330 = RangeTable((15, 30, 60, 150, 300, 600), (0.5, 1, 2, 5, 10, 20))
RANGE_TABLES: dict[str, RangeTable] = {
    "WT210": _WT310_330,
    "WT310": _WT310_330,
    "WT330": _WT310_330,
    "WT332": _WT310_330,  # the WT330 family as *IDN? names it (WT332/WT332E, WT333/WT333E)
    "WT333": _WT310_330,
    "WT500": RangeTable((15, 30, 60, 100, 150, 300, 600, 1000), (1, 2, 5, 10, 20, 40)),
}


def range_table_for(model: str) -> RangeTable | None:
    """The table for a model name such as ``YokogawaWT330E`` or ``SimulatedWT310``."""
    for family, table in RANGE_TABLES.items():
        if family in model.upper():
            return table
    return None


def round_up_to_range(value: float, ranges: Sequence[float]) -> float:
    """The smallest range >= value; the largest range when value exceeds them all."""
    i = bisect.bisect_left(list(ranges), value)
    return float(ranges[min(i, len(ranges) - 1)])


def derive_testing_ranges(ranging: PowerLog, current_factor: float = 1.1, table: RangeTable | None = None) -> Ranges:
    """Testing ranges from the ranging samples (needs volts and amps; per channel when multichannel)."""
    peaks = ranging.peak_volts_amps()
    if peaks is None:
        raise ValueError("testing ranges need ranging samples with volts and amps")
    max_v, max_a = peaks
    if not (max_v > 0 and max_a > 0):
        raise ValueError(f"ranging samples have no positive volts/amps (max {max_v} V, {max_a} A)")
    volts_v, amps_a = max_v, max_a * current_factor
    if table is not None:
        volts_v, amps_a = round_up_to_range(volts_v, table.volts_v), round_up_to_range(amps_a, table.amps_a)
    return Ranges(volts_v, amps_a)
