"""SIMULATED GPUs tied to a simulated wall meter by a known gain, offset and lag, for the calibration tests.

The wall meter follows :class:`director.sim.signal.UtcProfileSignal` (``--signal utc-profile:...``), a load that
is a function of UTC time alone; these GPUs read the same profile ``lag_s`` late, with the rest of the system
(``offset_w``) taken off and scaled by ``1 / gain``, so that ``wall(t) = offset_w + gain x sum(GPUs)(t + lag_s)``
up to both sides' noise: what a calibration must recover.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence

from agent.gpu.base import EnergyReading, GpuInfo, PowerReading
from director.sim.signal import UtcProfileSignal

__all__ = ["ProfileGpus"]


class ProfileGpus:
    """``count`` SIMULATED GPUs sharing ``(wall(t - lag_s) - offset_w) / gain`` equally, with relative ``noise``."""

    simulated = True
    history_s = 0.0  # a live value only: the sampler polls at its rate, each reading stamped when taken

    def __init__(
        self,
        count: int,
        wall: UtcProfileSignal,
        *,
        gain: float,
        offset_w: float,
        lag_s: float,
        noise: float = 0.0,
        seed: int = 0,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.count, self.wall, self.gain, self.offset_w, self.lag_s = count, wall, gain, offset_w, lag_s
        self.noise, self.clock_ns = noise, clock_ns
        self._rng = random.Random(seed)
        self._energy_j = [0.0] * count
        self._last: tuple[int, list[float]] | None = None

    def power_at_w(self, t_utc_ns: int) -> float:
        """One GPU's noiseless power at ``t_utc_ns``."""
        wall_w = self.wall.power_w(t_utc_ns - round(self.lag_s * 1e9))
        return (wall_w - self.offset_w) / self.gain / self.count

    def open(self) -> Sequence[GpuInfo]:
        return [
            GpuInfo(i, f"Profile GPU {i} (SIMULATED)", f"GPU-PROFILE-{i:04d}", 300.0, True, "instant", True)
            for i in range(self.count)
        ]

    def close(self) -> None:
        pass

    def read_power(self) -> list[PowerReading]:
        t = self.clock_ns()
        powers = [self.power_at_w(t) * (1.0 + self._rng.gauss(0.0, self.noise)) for _ in range(self.count)]
        if self._last is not None:  # the energy counter: trapezoids between readings
            t0, p0 = self._last
            for i in range(self.count):
                self._energy_j[i] += (p0[i] + powers[i]) / 2 * (t - t0) / 1e9
        self._last = (t, powers)
        return [PowerReading(i, t, p) for i, p in enumerate(powers)]

    def read_energy(self) -> list[EnergyReading]:
        t = self._last[0] if self._last is not None else self.clock_ns()
        return [EnergyReading(i, t, e) for i, e in enumerate(self._energy_j)]

    def take_events(self) -> list[str]:
        return []
