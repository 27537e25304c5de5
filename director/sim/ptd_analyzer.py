"""The SIMULATED power analyzer behind the PTDaemon-protocol server (ranges, an accuracy model, one sample at
a time).

The simulated analyzer behaves like a Yokogawa WT310/WT330 as PTDaemon sees it: fixed ranges round
up to the model's table; with Auto ranging the uncertainty of a sample is unknown (as on the real
thing); a current above the fixed current range flags the sample; and each sample's uncertainty
follows a stated accuracy model. A real analyzer read through mlpower's drivers is the other
instrument (:mod:`director.ptd_front.meter_instrument`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass

from director.meters.ranges import RangeTable, round_up_to_range
from director.ptd_front.instrument import AnalyzerSample, RangeError, identify_reply, with_mean_heads
from director.sim.signal import Electrical, Signal
from powerlog.cli_support import package_version
from powerlog.spl import ChannelSample, PowerSample

__all__ = ["AccuracyModel", "SimulatedAnalyzer"]

PAUSE_S = 2.0  # a sample this much overdue (and two intervals) means the process was paused: skip, do not burst
WT310_TABLE = RangeTable((15, 30, 60, 150, 300, 600), (0.5, 1, 2, 5, 10, 20))


@dataclass(frozen=True)
class AccuracyModel:
    """Power accuracy: ``reading_fraction`` of the reading plus ``range_fraction`` of the power range.

    The power range is volts range x current range. With the defaults (0.1 % + 0.1 %) a reading
    at the bottom of a range that is too large exceeds 1 %, as on the real instrument.
    """

    reading_fraction: float = 0.001
    range_fraction: float = 0.001

    def uncertainty(self, power_w: float, volts_range_v: float, amps_range_a: float) -> float | None:
        """Uncertainty as a fraction of the reading; None when it cannot be evaluated (no power)."""
        if power_w <= 0:
            return None
        return (self.reading_fraction * power_w + self.range_fraction * volts_range_v * amps_range_a) / power_w


class SimulatedAnalyzer:
    """One analyzer with ``channels`` elements; the signal's load is split over the channels."""

    def __init__(
        self,
        signal: Signal,
        electrical: Electrical,
        *,
        channels: int = 1,
        dc: bool = False,
        table: RangeTable = WT310_TABLE,
        accuracy: AccuracyModel | None = None,
        model: str | None = None,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        if channels < 1:
            raise ValueError("an analyzer has at least one channel")
        self.signal = signal
        self.electrical = electrical
        self.channels = channels
        self.dc = dc
        self.table = table
        self.accuracy = accuracy or AccuracyModel()
        self.clock = clock
        self._model = model  # e.g. "SimulatedWT210" for PTDaemon's device type 8; None: from channels and dc
        self.volts_range_v: float | None = None  # None = Auto
        self.amps_range_a: float | None = None
        # channel i draws a share growing with i, so channels differ visibly
        weights = [1.0 + 0.2 * i for i in range(channels)]
        self._shares = [w / sum(weights) for w in weights]

    @property
    def yokogawa_model(self) -> str:
        """The Yokogawa model this simulates (the Identify reply keeps the Simulated name)."""
        return self.model.replace("Simulated", "Yokogawa", 1)

    @property
    def model(self) -> str:
        if self._model is not None:
            return self._model
        if self.dc:
            return "SimulatedWT310_DC"
        return "SimulatedWT330_multichannel" if self.channels > 1 else "SimulatedWT310"

    def set_volts_range(self, value_v: float | None) -> float | None:
        self.volts_range_v = self._fit(value_v, self.table.volts_v, "V")
        return self.volts_range_v

    def set_amps_range(self, value_a: float | None) -> float | None:
        self.amps_range_a = self._fit(value_a, self.table.amps_a, "A")
        return self.amps_range_a

    @staticmethod
    def _fit(value: float | None, table: tuple[float, ...], unit: str) -> float | None:
        if value is None:
            return None
        if not value > 0:
            raise RangeError(f"range must be positive, got {value:g} {unit}")
        if value > table[-1]:
            raise RangeError(f"{value:g} {unit} is above the largest range, {table[-1]:g} {unit}")
        return round_up_to_range(value, table)

    def identify_reply(self) -> str:
        version = f"mlpower-sim-{package_version()}"
        return identify_reply(self.model, version, self.channels, self.dc, f"MLPOWER,SIMULATED,0,{version}")

    def startup_lines(self) -> list[str]:
        return [
            "mlpower PTDaemon simulator: SIMULATED analyzer, no real measurement",
            f"Version {package_version()}, signal: {self.signal.description}",
        ]

    def interval_error(self, interval_ms: int) -> str | None:
        return None

    async def stream(self, interval_ms: int, mark: Callable[[], str]) -> AsyncGenerator[AnalyzerSample, None]:
        """One sample every ``interval_ms`` from now, stamped with the wall clock; the k-th is due k intervals
        after the start, so the schedule never drifts. Ticks missed by far (the process was paused: SIGSTOP, a
        suspended VM) are skipped, not made up in a burst of samples all stamped now, as PTDaemon reads nothing
        while it is paused."""
        loop = asyncio.get_running_loop()
        interval_s = interval_ms / 1000
        start_s = loop.time()
        k = 0
        while True:
            k += 1
            late_s = loop.time() - (start_s + k * interval_s)
            if late_s > max(PAUSE_S, 2 * interval_s):
                k += int(late_s / interval_s)
            await asyncio.sleep(max(0.0, start_s + k * interval_s - loop.time()))
            yield self.measure(self.clock(), mark())

    def halt(self) -> None:
        pass  # sampling is the stream itself: cancelling it ends the measurement

    def measure(self, t_utc_ns: int, mark: str) -> AnalyzerSample:
        total_w = self.signal.power_w(t_utc_ns)
        readings = [self.electrical.reading(total_w * share) for share in self._shares]
        too_high = self.amps_range_a is not None and any(r.amps_a > self.amps_range_a for r in readings)
        values: list[float | None] = [None] * len(readings)
        if self.volts_range_v is not None and self.amps_range_a is not None and not too_high:
            values = [self.accuracy.uncertainty(r.power_w, self.volts_range_v, self.amps_range_a) for r in readings]
        uncertainty = None if any(v is None for v in values) else max(v for v in values if v is not None)
        if self.channels == 1:
            r = readings[0]
            sample = PowerSample(t_utc_ns, r.power_w, r.volts_v, r.amps_a, r.pf, mark)
            return AnalyzerSample(sample, uncertainty, too_high)
        channel_samples = tuple(ChannelSample(r.power_w, r.volts_v, r.amps_a, r.pf) for r in readings)
        # PTDaemon writes the channel values rounded to 6 decimals; the total is their sum
        total = sum(round(c.power_w, 6) for c in channel_samples)
        sample = with_mean_heads(PowerSample(t_utc_ns, total, -1.0, -1.0, -1.0, mark, channel_samples))
        return AnalyzerSample(sample, uncertainty, too_high, tuple(values))
