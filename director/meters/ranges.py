"""Analyzer ranges: the range tables and the pure ranging -> testing rule.

After the ranging run the testing run fixes the ranges: voltage range = the largest
volts seen, current range = factor x the largest amps seen (1.1 in current rules;
v2.1 used 1.0). The analyzer then rounds each up to its next available range; where
the model's table is known we apply that rounding here too, so the session record
says which range the analyzer will really use.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass

from powerlog.spl import PowerLog

__all__ = [
    "RANGE_TABLES",
    "RangeTable",
    "Ranges",
    "check_range",
    "check_ranges",
    "derive_testing_ranges",
    "parse_given_ranges",
    "range_table_for",
    "round_up_to_range",
]


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


# Analyzers the rules accept that mlpower has no driver for, read through PTDaemon only (Yokogawa direct-input
# ranges, crest factor 3; WT500 current ranges are for the 40 A element). A model with a driver declares its own
# table (``MeterModel.range_table``).
RANGE_TABLES: dict[str, RangeTable] = {
    "WT210": RangeTable((15, 30, 60, 150, 300, 600), (0.5, 1, 2, 5, 10, 20)),
    "WT500": RangeTable((15, 30, 60, 100, 150, 300, 600, 1000), (1, 2, 5, 10, 20, 40)),
}


def range_table_for(model: str) -> RangeTable | None:
    """The table for a model name such as ``YokogawaWT330E`` or ``SimulatedWT310``: a declared model's
    (:mod:`director.meters.registry`), else one of :data:`RANGE_TABLES`."""
    from director.meters.registry import range_table_of  # the registry imports the drivers, which import this

    declared = range_table_of(model)
    if declared is not None:
        return declared
    return next((table for family, table in RANGE_TABLES.items() if family in model.upper()), None)


def round_up_to_range(value: float, ranges: Sequence[float]) -> float:
    """The smallest range >= value; the largest range when value exceeds them all."""
    i = bisect.bisect_left(list(ranges), value)
    return float(ranges[min(i, len(ranges) - 1)])


def check_range(value: float, unit: str, table_ranges: Sequence[float] | None = None, model: str = "") -> float:
    """``value`` (volts, ``unit`` "V", or amps, "A") if an analyzer can be set to it: finite, positive and, where
    the model's table is known, no more than its largest range (the analyzer rounds up to the next range). The
    value itself is returned, not the rounded range: the official checker compares the ``SR`` sent with the
    ranging peaks. Raises ValueError saying what is wrong and what is accepted."""
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{value:g} {unit} is not a range: give a finite number above 0")
    if table_ranges:
        top = table_ranges[-1]
        if value > top:
            listed = ", ".join(f"{r:g}" for r in table_ranges)
            raise ValueError(
                f"{value:g} {unit} is above the largest {unit} range of the {model or 'analyzer'} ({listed} {unit}): "
                f"give at most {top:g} {unit}"
            )
    return value


def check_ranges(ranges: Ranges, table: RangeTable | None = None, model: str = "") -> Ranges:
    """``ranges`` if every fixed one passes :func:`check_range` (Auto always does)."""
    if ranges.volts_v is not None:
        check_range(ranges.volts_v, "V", table.volts_v if table else None, model)
    if ranges.amps_a is not None:
        check_range(ranges.amps_a, "A", table.amps_a if table else None, model)
    return ranges


def parse_given_ranges(volts_text: str, amps_text: str, table: RangeTable | None = None, model: str = "") -> Ranges:
    """Testing ranges a client gives as text (power-dev's ``start,testing,<V>,<A>``), checked before anything
    reaches the meter: ``inf``, ``nan``, 0, negative and above-the-table values are a ValueError."""
    try:
        ranges = Ranges(float(volts_text), float(amps_text))
    except ValueError:
        raise ValueError(f"ranges {volts_text!r} V, {amps_text!r} A are not numbers") from None
    try:
        return check_ranges(ranges, table, model)
    except ValueError as e:
        raise ValueError(f"ranges {volts_text} V, {amps_text} A: {e}") from None


def derive_testing_ranges(ranging: PowerLog, current_factor: float = 1.1, table: RangeTable | None = None) -> Ranges:
    """Testing ranges from the ranging samples (needs volts and amps; per channel when multichannel)."""
    peaks = ranging.peak_volts_amps()
    if peaks is None:
        raise ValueError("testing ranges need ranging samples with volts and amps")
    max_v, max_a = peaks
    if not (max_v > 0 and max_a > 0):
        raise ValueError(f"ranging samples have no positive volts/amps (max {max_v} V, {max_a} A)")
    if not (math.isfinite(max_v) and math.isfinite(max_a * current_factor)):
        raise ValueError(f"ranging samples peak at {max_v:g} V, {max_a:g} A: no analyzer range holds that")
    volts_v, amps_a = max_v, max_a * current_factor
    if table is not None:
        volts_v, amps_a = round_up_to_range(volts_v, table.volts_v), round_up_to_range(amps_a, table.amps_a)
    return Ranges(volts_v, amps_a)
