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
recorded, never averaged in.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from typing import ClassVar

from director.errors import MeterConnectionError, MeterError, MeterErrorReply, MeterProtocolError
from director.meters.base import MeterBase, MeterIdentity
from director.meters.ranges import RANGE_TABLES, Ranges, RangeTable, round_up_to_range
from director.meters.transport import Exchange, LineTransport
from powerlog.lines import BadLine
from powerlog.spl import ChannelSample, PowerSample

__all__ = [
    "RATES_MS",
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
TABLE = RANGE_TABLES["WT310"]
# WT310 and WT330 power accuracy at 45-66 Hz: 0.1 % of reading + 0.1 % of range (range = V range x A range)
READING_FRACTION = 0.001
RANGE_FRACTION = 0.001
NO_DATA = 9.9e37  # the analyzer answers 9.91E+37 for overrange / no data
POLL_S = 0.01
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


class _YokogawaWT300(MeterBase):
    """What the WT300-family drivers share: settings checked against the error queue, ranges, the update poller.

    Subclasses say which models they drive, which items they ask for and how a reply becomes a sample."""

    family: ClassVar[str]
    table: ClassVar[RangeTable]
    known_elements: ClassVar[int | None]  # before identify(); None: only *IDN? can tell

    def __init__(self, transport: LineTransport) -> None:
        self.transport = transport
        self.name = transport.name
        self.identity: MeterIdentity | None = None
        self.elements: int | None = self.known_elements
        self.initial_ranges: Ranges | None = None
        self.ranges = Ranges.automatic()
        self.rejected_lines: list[BadLine] = []
        self.uncertainties: list[float | None] = []
        self._samples: list[tuple[PowerSample, float | None]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._mark = ""
        self.poll_error: MeterError | None = None

    # what a model changes ----------------------------------------------------------
    def _accepts(self, model: str) -> bool:
        raise NotImplementedError

    def _items(self, elements: int) -> list[str]:
        raise NotImplementedError

    def _sample(self, reply: str, t_utc_ns: int) -> tuple[PowerSample, float | None]:
        """The sample and its uncertainty; MeterProtocolError when the reply is not usable."""
        raise NotImplementedError

    # the Meter protocol ------------------------------------------------------------
    @property
    def exchanges(self) -> Sequence[Exchange]:
        return self.transport.exchanges

    def _query(self, command: str, record: bool = True) -> str:
        with self._lock:
            reply, _ = self.transport.exchange(command, record=record)
        return reply

    def _write(self, command: str) -> None:
        """A setting (no reply), then the error queue so a refused setting is not silent."""
        with self._lock:
            self.transport.send_only(command)
            error, _ = self.transport.exchange(":STATUS:ERROR?")
        if not error.startswith("0,"):
            raise MeterErrorReply(f"the analyzer refused it: {error}", meter=self.name, command=command, reply=error)

    def open(self) -> None:
        self.transport.open()

    def close(self) -> None:
        self._stop_thread()
        self.transport.close()

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
        self.ranges = Ranges(
            None if ranges.volts_v is None else round_up_to_range(ranges.volts_v, self.table.volts_v),
            None if ranges.amps_a is None else round_up_to_range(ranges.amps_a, self.table.amps_a),
        )

    def start(self, mark: str, interval_ms: int = 1000) -> None:
        if interval_ms not in RATES_MS:
            raise ValueError(f"the {self.family} updates every {', '.join(map(str, RATES_MS))} ms, not {interval_ms}")
        if self.elements is None:
            self.identify()
        items = self._items(self.elements or 1)
        self._write(f":RATE {RATES_MS[interval_ms]}")
        self._write(f":NUMERIC:NORMAL:NUMBER {len(items)}")
        for i, item in enumerate(items, start=1):
            self._write(f":NUMERIC:NORMAL:ITEM{i} {item}")
        self._write(":STATUS:FILTER1 FALL")
        self._query(":STATUS:EESR?")  # clear: the first update counted is one that finishes after start
        self._mark = mark
        self.poll_error = None  # an error of an earlier run (before a reconnect) is not this one's
        self._stop.clear()
        self._thread = threading.Thread(target=self._poll, name=f"{self.family.lower()} {self.name}", daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        try:
            self._poll_until_stopped()
        except Exception as e:  # a poller that died silently left its phase with no samples and no gap
            self.poll_error = MeterConnectionError(f"the meter's poller stopped: {e!r}", meter=self.name)

    def _poll_until_stopped(self) -> None:
        while not self._stop.is_set():
            try:
                eesr = self._query(":STATUS:EESR?", record=False)
                updated = int(eesr.strip()) & 1
            except ValueError:
                self.rejected_lines.append(BadLine(self.name, 0, "EESR reply is not an integer", eesr[:200]))
                continue
            except MeterError as e:
                self.poll_error = e
                return
            if not updated:
                self._stop.wait(POLL_S)
                continue
            t_utc_ns = self.transport.clock()
            try:
                reply = self._query(":NUMERIC:NORMAL:VALUE?", record=False)
                sample, uncertainty = self._sample(reply, t_utc_ns)
            except MeterProtocolError as e:
                self.rejected_lines.append(BadLine(self.name, 0, str(e), (e.reply or "")[:200]))
                continue
            except MeterError as e:
                self.poll_error = e
                return
            with self._lock:
                self._samples.append((sample, uncertainty))
                self.uncertainties.append(uncertainty)

    def read_new(self) -> list[PowerSample]:
        return [sample for sample, _ in self.read_new_with_uncertainty()]

    def read_new_with_uncertainty(self) -> list[tuple[PowerSample, float | None]]:
        """Like :meth:`read_new`, each sample with its uncertainty (a fraction of the reading; None: unknown)."""
        with self._lock:
            samples, self._samples = self._samples, []
        if not samples and self.poll_error is not None:
            raise self.poll_error
        return samples

    def _stop_thread(self) -> bool:
        running = self._thread is not None and self._thread.is_alive()
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        return running

    def stop(self) -> bool:
        return self._stop_thread()


class YokogawaWT310(_YokogawaWT300):
    """Implements the ``Meter`` protocol for a WT310/WT310E (one element) on a serial line."""

    family = "WT310"
    table = TABLE
    known_elements = 1

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
    table = RANGE_TABLES["WT330"]
    known_elements = None

    def _accepts(self, model: str) -> bool:
        return (elements_of_model(model) or 0) > 1

    def _items(self, elements: int) -> list[str]:
        return [f"{item},{element}" for element in range(1, elements + 1) for item in ITEMS]

    def _sample(self, reply: str, t_utc_ns: int) -> tuple[PowerSample, float | None]:
        channels = parse_element_values(reply, self.elements or 0)
        sample = PowerSample.multichannel(t_utc_ns, channels, self._mark)
        return sample, elements_power_uncertainty([ch.power_w for ch in channels], self.ranges)
