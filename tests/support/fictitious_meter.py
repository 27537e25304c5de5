"""A made-up serial SCPI power analyzer, the "ACME PM100", and its simulator: what a contributor adding a meter
model writes, and nothing else (tests/director/test_fictitious_meter.py shows the rest of mlpower picks it up).

Its commands: ``*IDN?`` -> ``ACME,PM100,<serial>,<firmware>``; ``RANGE:VOLT?``/``RANGE:CURR?`` -> a number or
``AUTO``; ``RANGE:VOLT <V>|AUTO`` and ``RANGE:CURR <A>|AUTO``; ``INTERVAL <ms>``; ``DATA:NEW?`` -> 1 once per
completed update (reading it clears it); ``MEAS?`` -> ``volts,amps,watts,pf``; ``SYST:ERR?`` -> ``0,"No error"``
or the first refused setting.
"""

from __future__ import annotations

import math
import time
from typing import ClassVar

from director.errors import MeterProtocolError
from director.meters.base import MeterIdentity
from director.meters.model import MeterUrl
from director.meters.ranges import Ranges, RangeTable, round_up_to_range
from director.meters.scpi import SerialScpiMeter, serial_model
from director.sim.signal import Electrical, parse_signal
from director.sim.wt3xx import SimulatedPtyTransport
from powerlog.spl import PowerSample

__all__ = ["ACME_TABLE", "AcmePM100", "ScpiAcmePM100", "simulated_meter"]

ACME_TABLE = RangeTable((50, 100, 250, 500), (0.25, 1, 2.5, 10, 40))
ACME_RATES = {200: "200", 500: "500", 1000: "1000"}
ACCURACY_FRACTION = 0.002  # of the reading, made up


class AcmePM100(SerialScpiMeter):
    """The ACME PM100 driver: its commands, and its declaration."""

    family = "PM100"
    table: ClassVar[RangeTable] = ACME_TABLE
    rates: ClassVar[dict[int, str]] = ACME_RATES
    error_query = "SYST:ERR?"
    meter_model = serial_model(
        lambda transport: AcmePM100(transport),
        "ACME PM100",
        ("acme-pm100",),
        table=ACME_TABLE,
        rates_ms=ACME_RATES,
        model_names=("PM100",),
        simulator="tests.support.fictitious_meter:simulated_meter",
    )

    def identify(self) -> MeterIdentity:
        reply = self._query("*IDN?")
        parts = [p.strip() for p in reply.split(",")]
        if len(parts) != 4 or parts[:2] != ["ACME", "PM100"]:
            raise MeterProtocolError(f"not an ACME PM100: {reply!r}", meter=self.name, reply=reply)
        self.identity = MeterIdentity("AcmePM100", parts[3], 1, False, "SIM" in parts[2], reply)
        return self.identity

    def read_ranges(self) -> Ranges:
        values = [self._query(f"RANGE:{axis}?") for axis in ("VOLT", "CURR")]
        try:
            volts_v, amps_a = (None if v == "AUTO" else float(v) for v in values)
        except ValueError:
            raise MeterProtocolError(f"cannot read ranges from {values!r}", meter=self.name) from None
        ranges = Ranges(volts_v, amps_a)
        if self.initial_ranges is None:
            self.initial_ranges = ranges
        return ranges

    def set_ranges(self, ranges: Ranges) -> None:
        fitted = self._fitted(ranges)
        self._write(f"RANGE:VOLT {'AUTO' if fitted.volts_v is None else f'{fitted.volts_v:g}'}")
        self._write(f"RANGE:CURR {'AUTO' if fitted.amps_a is None else f'{fitted.amps_a:g}'}")
        self.ranges = fitted

    def _configure(self, interval_ms: int) -> None:
        self._write(f"INTERVAL {self.rates[interval_ms]}")
        self._query("DATA:NEW?")  # clear: the first update counted finishes after start

    def _updated(self) -> bool:
        reply = self._query("DATA:NEW?", record=False)
        if reply not in ("0", "1"):
            raise MeterProtocolError("DATA:NEW? is not 0 or 1", reply=reply)
        return reply == "1"

    def _read_values(self) -> str:
        return self._query("MEAS?", record=False)

    def _sample(self, reply: str, t_utc_ns: int) -> tuple[PowerSample, float | None]:
        try:
            volts, amps, watts, pf = (float(x) for x in reply.split(","))
        except ValueError:
            raise MeterProtocolError(f"expected volts,amps,watts,pf, got {reply!r}", reply=reply) from None
        if not all(math.isfinite(x) for x in (volts, amps, watts, pf)):
            raise MeterProtocolError(f"a value is not finite in {reply!r}", reply=reply)
        return PowerSample(t_utc_ns, watts, volts, amps, pf, self._mark), self.power_uncertainty(watts)

    def power_uncertainty(self, power_w: float) -> float | None:
        return ACCURACY_FRACTION if power_w > 0 and not self.ranges.auto else None


class ScpiAcmePM100:
    """The SIMULATED ACME PM100: answers its commands from a signal, one update every interval."""

    model = "PM100"

    def __init__(self, signal_text: str = "constant:200") -> None:
        self.signal = parse_signal(signal_text)
        self.electrical = Electrical(noise=0.0)
        self.volts: str = "AUTO"
        self.amps: str = "AUTO"
        self.interval_s = 1.0
        self.errors: list[str] = []
        self._seen_update = self._update()

    def _update(self) -> int:
        return int(time.monotonic() / self.interval_s)

    def handle(self, line: str) -> list[str]:
        command, _, arg = line.strip().partition(" ")
        if command == "*IDN?":
            return ["ACME,PM100,SIM-0001,1.0"]
        if command in ("RANGE:VOLT?", "RANGE:CURR?"):
            return [self.volts if command == "RANGE:VOLT?" else self.amps]
        if command in ("RANGE:VOLT", "RANGE:CURR"):
            self._set_range(command, arg)
            return []
        if command == "INTERVAL":
            self.interval_s = int(arg) / 1000
            return []
        if command == "DATA:NEW?":
            update, seen = self._update(), self._seen_update
            self._seen_update = update
            return ["1" if update > seen else "0"]
        if command == "MEAS?":
            reading = self.electrical.reading(self.signal.power_w(time.time_ns()))
            return [f"{reading.volts_v:.4f},{reading.amps_a:.5f},{reading.power_w:.3f},{reading.pf:.4f}"]
        if command == "SYST:ERR?":
            return [self.errors.pop(0) if self.errors else '0,"No error"']
        self.errors.append(f'-113,"Undefined header {command}"')
        return []

    def _set_range(self, command: str, arg: str) -> None:
        table = ACME_TABLE.volts_v if command == "RANGE:VOLT" else ACME_TABLE.amps_a
        if arg != "AUTO" and float(arg) != round_up_to_range(float(arg), table):
            self.errors.append(f'-222,"Data out of range {arg}"')
        elif command == "RANGE:VOLT":
            self.volts = arg
        else:
            self.amps = arg


def simulated_meter(url: MeterUrl) -> AcmePM100:
    """``sim://?model=acme-pm100``: the driver on a simulated PM100 on a pty of this process."""
    return AcmePM100(SimulatedPtyTransport(ScpiAcmePM100(url.options.get("signal", "constant:200"))))  # type: ignore[arg-type]
