"""A real analyzer behind the PTDaemon protocol: a Yokogawa read through mlpower's own drivers.

``mlpower-ptd ... 49 serial:///dev/ttyUSB0?model=wt310`` serves the analyzer on that port to anything
that speaks PTDaemon's protocol (power-dev's server, mlpower's ``ptd://`` driver), with no SPEC licence.
It is not SPEC PTDaemon and says so: the Identify reply's ``version=`` is ``mlpower-ptd-<version>``
and its last field the analyzer's own ``*IDN?``, so a reader (and the official checker) can tell.

Samples come at the analyzer's own update rate, which ``Go``'s interval sets (100, 250, 500 or
1000 ms); each keeps the uncertainty the driver evaluates from the fixed ranges (unknown on Auto).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable
from dataclasses import replace

from director.errors import DirectorError
from director.meters.ranges import Ranges, range_table_for
from director.meters.scpi import SerialScpiMeter
from director.ptd_front.instrument import AnalyzerSample, RangeError, identify_reply, with_mean_heads
from powerlog.cli_support import package_version
from powerlog.spl import PowerSample

__all__ = ["POLL_S", "MeterInstrument"]

POLL_S = 0.05  # how often the stream takes what the driver's own poller has read


class MeterInstrument:
    """Implements :class:`~director.ptd_front.instrument.PtdInstrument` for an opened, identified serial SCPI
    analyzer driver (a Yokogawa WT310/WT330, or any other declared one).

    ``model`` is PTDaemon's name for the device type it was started with (``YokogawaWT310`` for 49)."""

    def __init__(self, meter: SerialScpiMeter, model: str, url: str) -> None:
        if meter.identity is None or meter.initial_ranges is None:
            raise ValueError("identify() and read_ranges() the meter before serving it")
        self.meter = meter
        self.identity = meter.identity
        self.url = url
        self._model = model
        self.channels = self.identity.channels
        self.dc = self.identity.dc
        self.volts_range_v = meter.initial_ranges.volts_v
        self.amps_range_a = meter.initial_ranges.amps_a
        self._run: object | None = None  # the measurement the meter is running, if any

    @property
    def model(self) -> str:
        return self._model

    @property
    def yokogawa_model(self) -> str:
        return self.identity.model

    def identify_reply(self) -> str:
        return identify_reply(self.model, f"mlpower-ptd-{package_version()}", self.channels, self.dc, self.identity.raw)

    def startup_lines(self) -> list[str]:
        lines = [
            f"mlpower-ptd {package_version()}: mlpower's PTDaemon-protocol server, not SPEC PTDaemon",
            f"Analyzer {self.identity.model} ({self.identity.raw}) on {self.url}, read by mlpower's driver",
        ]
        if self.identity.simulated:
            lines.append("The analyzer is SIMULATED: no real measurement")
        return lines

    # ranges ---------------------------------------------------------------------------
    def set_volts_range(self, value_v: float | None) -> float | None:
        self._set(Ranges(self._fit(value_v, "V"), self.amps_range_a))
        return self.volts_range_v

    def set_amps_range(self, value_a: float | None) -> float | None:
        self._set(Ranges(self.volts_range_v, self._fit(value_a, "A")))
        return self.amps_range_a

    def _fit(self, value: float | None, unit: str) -> float | None:
        table = range_table_for(self.identity.model)
        if value is None or table is None:
            return value
        largest = (table.volts_v if unit == "V" else table.amps_a)[-1]
        if not value > 0:
            raise RangeError(f"range must be positive, got {value:g} {unit}")
        if value > largest:
            raise RangeError(f"{value:g} {unit} is above the largest range, {largest:g} {unit}")
        return value

    def _set(self, ranges: Ranges) -> None:
        try:
            self.meter.set_ranges(ranges)
        except DirectorError as e:
            raise RangeError(str(e)) from e
        self.volts_range_v, self.amps_range_a = self.meter.ranges.volts_v, self.meter.ranges.amps_a

    # sampling -------------------------------------------------------------------------
    def interval_error(self, interval_ms: int) -> str | None:
        if interval_ms in self.meter.rates:
            return None
        rates = ", ".join(map(str, self.meter.rates))
        return f"the {self.identity.model} updates every {rates} ms, not {interval_ms} ms"

    async def stream(self, interval_ms: int, mark: Callable[[], str]) -> AsyncGenerator[AnalyzerSample, None]:
        """Every update the analyzer completes from now on, marked with the measurement's current mark.

        Raises the driver's :class:`~director.errors.MeterError` when the analyzer stops answering."""
        run = object()
        self.meter.start(mark(), interval_ms)
        self._run = run
        try:
            while True:
                await asyncio.sleep(POLL_S)
                for sample, uncertainty in self.meter.read_new_with_uncertainty():
                    yield AnalyzerSample(
                        with_mean_heads(replace(sample, mark=mark())),
                        uncertainty,
                        self._too_high(sample),
                        tuple(self.meter.power_uncertainty(ch.power_w) for ch in sample.channels),
                    )
        finally:
            if self._run is run:  # not a later measurement's: Stop then Go can come before this runs
                self.halt()

    def _too_high(self, sample: PowerSample) -> bool:
        if self.amps_range_a is None:
            return False
        amps = [ch.amps_a for ch in sample.channels] if sample.channels else [sample.amps_a]
        return any(a > self.amps_range_a for a in amps)

    def halt(self) -> None:
        if self._run is not None:
            self._run = None
            self.meter.stop()
