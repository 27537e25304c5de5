"""Yokogawa WT300-family analyzers over SCPI on a serial line, read at the analyzer's own rate.

- :class:`YokogawaWT310`: the WT310/WT310E, one input element.
- :class:`YokogawaWT330`: the WT332/WT332E (two elements) and WT333/WT333E (three); each element
  becomes a channel of the sample (spl.txt's multichannel format: Watts is the sum).

The driver asks for U, I, P and lambda (PF) of every element, sets the update rate
(``:RATE``, 100 ms to 1 s), and reads every update exactly once: the status filter
is set to the falling edge of UPD (an update finished), so bit 0 of the extended event
register (``:STATus:EESR?``, cleared by reading it) says a new update is waiting.
A background thread polls it and keeps the readings until :meth:`read_new` takes them.
A reply that does not parse, or in which any value is invalid, is rejected whole and
recorded, never averaged in (the polling itself is :class:`~director.meters.scpi.SerialScpiMeter`'s).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import ClassVar

from director.errors import MeterProtocolError
from director.meters.base import MeterIdentity
from director.meters.ranges import Ranges, RangeTable, round_up_to_range
from director.meters.scpi import SerialScpiMeter, serial_model
from director.meters.transport import LineTransport
from powerlog.spl import ChannelSample, PowerSample

__all__ = [
    "RATES_MS",
    "TABLE",
    "WT310_MODELS",
    "WT330_MODELS",
    "YokogawaWT310",
    "YokogawaWT330",
    "elements_of_model",
    "elements_power_uncertainty",
    "parse_element_values",
    "parse_values",
    "power_uncertainty",
]

RATES_MS = {100: "100MS", 250: "250MS", 500: "500MS", 1000: "1S"}
ITEMS = ("U", "I", "P", "LAMBDA")
# direct-input ranges (crest factor 3), the same for the WT310 and the WT330 family
TABLE = RangeTable((15, 30, 60, 150, 300, 600), (0.5, 1, 2, 5, 10, 20))
WT310_MODELS = ("wt310", "wt310e")  # a meter URL's model=
WT330_MODELS = ("wt330", "wt330e", "wt332", "wt332e", "wt333", "wt333e")
# WT310 and WT330 power accuracy at 45-66 Hz: 0.1 % of reading + 0.1 % of range (range = V range x A range)
READING_FRACTION = 0.001
RANGE_FRACTION = 0.001
NO_DATA = 9.9e37  # the analyzer answers 9.91E+37 for overrange / no data
# model name (as *IDN? gives it) -> input elements
_ELEMENTS = {"WT31": 1, "WT332": 2, "WT333": 3}


def elements_of_model(model: str) -> int | None:
    """Input elements of a WT300-family model: WT310/WT310E 1, WT332/WT332E 2, WT333/WT333E 3; None if not one."""
    upper = model.strip().upper()
    return next((n for prefix, n in _ELEMENTS.items() if upper.startswith(prefix)), None)


def _parse_numbers(reply: str, labels: Sequence[str], what: str) -> list[float]:
    fields = reply.strip().split(",")
    if len(fields) != len(labels):
        raise MeterProtocolError(f"expected {len(labels)} values ({what}), got {reply!r}", reply=reply)
    values = []
    for label, text in zip(labels, fields, strict=True):
        try:
            value = float(text)
        except ValueError:
            raise MeterProtocolError(f"{label} value {text!r} is not a number in {reply!r}", reply=reply) from None
        if not math.isfinite(value) or abs(value) >= NO_DATA:
            raise MeterProtocolError(f"{label} has no valid value ({text}) in {reply!r}", reply=reply)
        values.append(value)
    return values


def parse_values(reply: str) -> tuple[float, float, float, float]:
    """``:NUMeric:NORMal:VALue?`` -> (volts, amps, watts, pf); NaN/overrange markers and garbage are errors."""
    volts, amps, watts, pf = _parse_numbers(reply, ITEMS, "U,I,P,PF")
    return volts, amps, watts, pf


def parse_element_values(reply: str, elements: int) -> tuple[ChannelSample, ...]:
    """U,I,P,PF of elements 1..n in a row -> one ChannelSample per element; any invalid value rejects them all."""
    labels = [f"{item},{element}" for element in range(1, elements + 1) for item in ITEMS]
    values = _parse_numbers(reply, labels, f"U,I,P,PF x {elements} elements")
    return tuple(
        ChannelSample(power_w=values[i + 2], volts_v=values[i], amps_a=values[i + 1], pf=values[i + 3])
        for i in range(0, len(values), len(ITEMS))
    )


def elements_power_uncertainty(powers_w: Sequence[float], ranges: Ranges) -> float | None:
    """Uncertainty of the summed power as a fraction of it: each element's absolute uncertainty, simply added.

    None on Auto ranges (unknown range) or no power."""
    total_w = sum(powers_w)
    if ranges.volts_v is None or ranges.amps_a is None or total_w <= 0:
        return None
    range_w = ranges.volts_v * ranges.amps_a
    return sum(READING_FRACTION * abs(p) + RANGE_FRACTION * range_w for p in powers_w) / total_w


def power_uncertainty(power_w: float, ranges: Ranges) -> float | None:
    """The uncertainty of a power reading as a fraction of it; None on Auto ranges (unknown range) or no power."""
    return elements_power_uncertainty([power_w], ranges)


class _YokogawaWT300(SerialScpiMeter):
    """What the WT300-family drivers share: identity, ranges, the update flag and the numeric items.

    Subclasses say which models they drive, which items they ask for and how a reply becomes a sample."""

    table: ClassVar[RangeTable] = TABLE
    rates: ClassVar[dict[int, str]] = RATES_MS
    known_elements: ClassVar[int | None]  # before identify(); None: only *IDN? can tell

    def __init__(self, transport: LineTransport) -> None:
        super().__init__(transport)
        self.elements: int | None = self.known_elements

    def power_uncertainty(self, power_w: float) -> float | None:
        return power_uncertainty(power_w, self.ranges)

    # what a model changes ----------------------------------------------------------
    def _accepts(self, model: str) -> bool:
        raise NotImplementedError

    def _items(self, elements: int) -> list[str]:
        raise NotImplementedError

    # the commands ------------------------------------------------------------------
    def identify(self) -> MeterIdentity:
        reply = self._query("*IDN?")
        parts = [p.strip() for p in reply.split(",")]
        if len(parts) < 2 or parts[0].upper() != "YOKOGAWA" or not self._accepts(parts[1]):
            raise MeterProtocolError(
                f"not a Yokogawa {self.family}: *IDN? answered {reply!r}", meter=self.name, reply=reply
            )
        elements = elements_of_model(parts[1])
        assert elements is not None  # _accepts() only takes models it knows
        self.elements = elements
        self.identity = MeterIdentity(
            model=f"Yokogawa{parts[1]}",
            version=parts[3] if len(parts) > 3 else None,
            channels=elements,
            dc=False,
            simulated="SIM" in reply.upper(),
            raw=reply,
        )
        return self.identity

    def read_ranges(self) -> Ranges:
        reply = self._query(":VOLTAGE:RANGE?;AUTO?;:CURRENT:RANGE?;AUTO?")
        ranges = self._parse_ranges(reply)
        if self.initial_ranges is None:
            self.initial_ranges = ranges
        return ranges

    def _parse_ranges(self, reply: str) -> Ranges:
        """Four answers (V range, V auto, A range, A auto), each once for all elements or once per element.

        Where elements differ, the largest range is taken, so the uncertainty is not understated."""
        try:
            numbers = [float(x.split()[-1]) for x in reply.split(";")]
        except (ValueError, IndexError):
            raise MeterProtocolError(f"cannot read ranges from {reply!r}", meter=self.name, reply=reply) from None
        per = len(numbers) // 4
        if len(numbers) % 4 or per not in (1, self.elements or per):
            raise MeterProtocolError(f"cannot read ranges from {reply!r}", meter=self.name, reply=reply)
        volts, volts_auto, amps, amps_auto = (numbers[i * per : (i + 1) * per] for i in range(4))
        return Ranges(None if any(volts_auto) else max(volts), None if any(amps_auto) else max(amps))

    def set_ranges(self, ranges: Ranges) -> None:
        """On a multi-element analyzer ``:VOLTAGE:RANGE`` and ``:CURRENT:RANGE`` set every element."""
        for axis, value, table in (
            ("VOLTAGE", ranges.volts_v, self.table.volts_v),
            ("CURRENT", ranges.amps_a, self.table.amps_a),
        ):
            if value is None:
                self._write(f":{axis}:AUTO ON")
            else:
                self._write(f":{axis}:RANGE {round_up_to_range(value, table):g}")
        self.ranges = self._fitted(ranges)

    def _configure(self, interval_ms: int) -> None:
        if self.elements is None:
            self.identify()
        items = self._items(self.elements or 1)
        self._write(f":RATE {RATES_MS[interval_ms]}")
        self._write(f":NUMERIC:NORMAL:NUMBER {len(items)}")
        for i, item in enumerate(items, start=1):
            self._write(f":NUMERIC:NORMAL:ITEM{i} {item}")
        self._write(":STATUS:FILTER1 FALL")
        self._query(":STATUS:EESR?")  # clear: the first update counted is one that finishes after start

    def _updated(self) -> bool:
        eesr = self._query(":STATUS:EESR?", record=False)
        try:
            return bool(int(eesr.strip()) & 1)
        except ValueError:
            raise MeterProtocolError("EESR reply is not an integer", reply=eesr) from None

    def _read_values(self) -> str:
        return self._query(":NUMERIC:NORMAL:VALUE?", record=False)


class YokogawaWT310(_YokogawaWT300):
    """Implements the ``Meter`` protocol for a WT310/WT310E (one element) on a serial line."""

    family = "WT310"
    known_elements = 1
    meter_model = serial_model(
        lambda transport: YokogawaWT310(transport),
        "Yokogawa WT310/WT310E",
        WT310_MODELS,
        table=TABLE,
        rates_ms=RATES_MS,
        device_types=("YokogawaWT310", "YokogawaWT310E", "YokogawaWT310_DC"),
        model_names=("WT310",),
        simulator="director.sim.wt3xx:simulated_meter",
        default_url_model="wt310",
    )

    def _accepts(self, model: str) -> bool:
        return elements_of_model(model) == 1

    def _items(self, elements: int) -> list[str]:
        return [f"{item},1" for item in ITEMS]

    def _sample(self, reply: str, t_utc_ns: int) -> tuple[PowerSample, float | None]:
        volts, amps, watts, pf = parse_values(reply)
        return PowerSample(t_utc_ns, watts, volts, amps, pf, self._mark), power_uncertainty(watts, self.ranges)


class YokogawaWT330(_YokogawaWT300):
    """Implements the ``Meter`` protocol for a WT332/WT332E or WT333/WT333E: each element is a channel.

    How many elements comes from ``*IDN?``, so :meth:`start` identifies the analyzer if nobody did yet."""

    family = "WT330"
    known_elements = None
    meter_model = serial_model(
        lambda transport: YokogawaWT330(transport),
        "Yokogawa WT332/WT332E, WT333/WT333E",
        WT330_MODELS,
        table=TABLE,
        rates_ms=RATES_MS,
        device_types=("YokogawaWT330", "YokogawaWT330E", "YokogawaWT330_multichannel", "YokogawaWT330_DC"),
        model_names=("WT330", "WT332", "WT333"),
        simulator="director.sim.wt3xx:simulated_meter",
    )

    def _accepts(self, model: str) -> bool:
        return (elements_of_model(model) or 0) > 1

    def _items(self, elements: int) -> list[str]:
        return [f"{item},{element}" for element in range(1, elements + 1) for item in ITEMS]

    def _sample(self, reply: str, t_utc_ns: int) -> tuple[PowerSample, float | None]:
        channels = parse_element_values(reply, self.elements or 0)
        sample = PowerSample.multichannel(t_utc_ns, channels, self._mark)
        return sample, elements_power_uncertainty([ch.power_w for ch in channels], self.ranges)
