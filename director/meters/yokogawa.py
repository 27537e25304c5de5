"""Yokogawa WT310/WT310E (one element) over SCPI on a serial line, read at the analyzer's own rate.

The driver asks for U, I, P and lambda (PF) of element 1, sets the update rate
(``:RATE``, 100 ms to 1 s), and reads every update exactly once: the status filter
is set to the falling edge of UPD (an update finished), so bit 0 of the extended event
register (``:STATus:EESR?``, cleared by reading it) says a new update is waiting.
A background thread polls it and keeps the readings until :meth:`read_new` takes them.
A reply that does not parse is rejected and recorded, never averaged in.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence

from director.errors import MeterError, MeterErrorReply, MeterProtocolError
from director.meters.base import MeterBase, MeterIdentity
from director.meters.ranges import RANGE_TABLES, Ranges, round_up_to_range
from director.meters.transport import Exchange, LineTransport
from powerlog.lines import BadLine
from powerlog.spl import PowerSample

__all__ = ["RATES_MS", "YokogawaWT310", "parse_values", "power_uncertainty"]

RATES_MS = {100: "100MS", 250: "250MS", 500: "500MS", 1000: "1S"}
ITEMS = ("U", "I", "P", "LAMBDA")
TABLE = RANGE_TABLES["WT310"]
# WT310 power accuracy at 45-66 Hz: 0.1 % of reading + 0.1 % of range (range = V range x A range)
READING_FRACTION = 0.001
RANGE_FRACTION = 0.001
POLL_S = 0.01


def parse_values(reply: str) -> tuple[float, float, float, float]:
    """``:NUMeric:NORMal:VALue?`` -> (volts, amps, watts, pf); NaN/overrange markers and garbage are errors."""
    fields = reply.strip().split(",")
    if len(fields) != len(ITEMS):
        raise MeterProtocolError(f"expected {len(ITEMS)} values (U,I,P,PF), got {reply!r}", reply=reply)
    values = []
    for item, text in zip(ITEMS, fields, strict=True):
        try:
            value = float(text)
        except ValueError:
            raise MeterProtocolError(f"{item} value {text!r} is not a number in {reply!r}", reply=reply) from None
        if not math.isfinite(value) or abs(value) >= 9.9e37:  # the analyzer's "no data" / overrange
            raise MeterProtocolError(f"{item} has no valid value ({text}) in {reply!r}", reply=reply)
        values.append(value)
    return values[0], values[1], values[2], values[3]


def power_uncertainty(power_w: float, ranges: Ranges) -> float | None:
    """The uncertainty of a power reading as a fraction of it; None on Auto ranges (unknown range) or no power."""
    if ranges.volts_v is None or ranges.amps_a is None or power_w <= 0:
        return None
    return (READING_FRACTION * power_w + RANGE_FRACTION * ranges.volts_v * ranges.amps_a) / power_w


class YokogawaWT310(MeterBase):
    """Implements the ``Meter`` protocol for a WT310/WT310E on a serial line."""

    def __init__(self, transport: LineTransport) -> None:
        self.transport = transport
        self.name = transport.name
        self.identity: MeterIdentity | None = None
        self.initial_ranges: Ranges | None = None
        self.ranges = Ranges.automatic()
        self.rejected_lines: list[BadLine] = []
        self.uncertainties: list[float | None] = []
        self._samples: list[PowerSample] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._mark = ""
        self.poll_error: MeterError | None = None

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
        if len(parts) < 2 or parts[0].upper() != "YOKOGAWA" or not parts[1].upper().startswith("WT31"):
            raise MeterProtocolError(f"not a Yokogawa WT310: *IDN? answered {reply!r}", meter=self.name, reply=reply)
        self.identity = MeterIdentity(
            model=f"Yokogawa{parts[1]}",
            version=parts[3] if len(parts) > 3 else None,
            channels=1,
            dc=False,
            simulated="SIM" in reply.upper(),
            raw=reply,
        )
        return self.identity

    def read_ranges(self) -> Ranges:
        reply = self._query(":VOLTAGE:RANGE?;AUTO?;:CURRENT:RANGE?;AUTO?")
        try:
            volts, volts_auto, amps, amps_auto = (float(x.split()[-1]) for x in reply.split(";"))
        except ValueError:
            raise MeterProtocolError(f"cannot read ranges from {reply!r}", meter=self.name, reply=reply) from None
        ranges = Ranges(None if volts_auto else volts, None if amps_auto else amps)
        if self.initial_ranges is None:
            self.initial_ranges = ranges
        return ranges

    def set_ranges(self, ranges: Ranges) -> None:
        for axis, value, table in (
            ("VOLTAGE", ranges.volts_v, TABLE.volts_v),
            ("CURRENT", ranges.amps_a, TABLE.amps_a),
        ):
            if value is None:
                self._write(f":{axis}:AUTO ON")
            else:
                self._write(f":{axis}:RANGE {round_up_to_range(value, table):g}")
        self.ranges = Ranges(
            None if ranges.volts_v is None else round_up_to_range(ranges.volts_v, TABLE.volts_v),
            None if ranges.amps_a is None else round_up_to_range(ranges.amps_a, TABLE.amps_a),
        )

    def start(self, mark: str, interval_ms: int = 1000) -> None:
        if interval_ms not in RATES_MS:
            raise ValueError(f"the WT310 updates every {', '.join(map(str, RATES_MS))} ms, not {interval_ms}")
        self._write(f":RATE {RATES_MS[interval_ms]}")
        self._write(f":NUMERIC:NORMAL:NUMBER {len(ITEMS)}")
        for i, item in enumerate(ITEMS, start=1):
            self._write(f":NUMERIC:NORMAL:ITEM{i} {item},1")
        self._write(":STATUS:FILTER1 FALL")
        self._query(":STATUS:EESR?")  # clear: the first update counted is one that finishes after start
        self._mark = mark
        self._stop.clear()
        self._thread = threading.Thread(target=self._poll, name=f"wt310 {self.name}", daemon=True)
        self._thread.start()

    def _poll(self) -> None:
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
                volts, amps, watts, pf = parse_values(reply)
            except MeterProtocolError as e:
                self.rejected_lines.append(BadLine(self.name, 0, str(e), (e.reply or "")[:200]))
                continue
            except MeterError as e:
                self.poll_error = e
                return
            with self._lock:
                self._samples.append(PowerSample(t_utc_ns, watts, volts, amps, pf, self._mark))
                self.uncertainties.append(power_uncertainty(watts, self.ranges))

    def read_new(self) -> list[PowerSample]:
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
