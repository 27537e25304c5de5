"""Simulated GPUs: an honest stand-in where NVML is absent. Everything they produce says simulated.

Power follows this machine's CPU utilisation (20 W idle to 60 W, a small inference card, so
that a simulated wall meter on the same machine still draws more than its GPUs), refreshed every 20 ms
of time like NVML's instant field, with seeded noise; the energy counter is the exact
integral of that power, so counter and integrated power agree as on real hardware. The CPU
utilisation itself is read every 200 ms: /proc/stat counts in 10 ms ticks, so a 20 ms reading is
mostly 0 or 1 tick (noise, not load), and reading it at 100 Hz cost the agent 4 % of a core.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence

from agent.gpu.base import EnergyReading, GpuInfo, PowerReading
from powerlog.host import CpuUtilisation

__all__ = ["HOST_LOAD_PERIOD_NS", "UPDATE_PERIOD_NS", "SimulatedGpus"]

UPDATE_PERIOD_NS = 20_000_000
HOST_LOAD_PERIOD_NS = 200_000_000  # how often the CPU utilisation the power follows is read
IDLE_W = 20.0
PEAK_W = 60.0
POWER_LIMIT_W = 75.0


class SimulatedGpus:
    simulated = True

    def __init__(
        self,
        count: int,
        clock_ns: Callable[[], int] = time.time_ns,
        seed: int = 0,
        load: Callable[[int], float] | None = None,
    ) -> None:
        if count < 1:
            raise ValueError("simulate at least one GPU")
        self.count = count
        self.clock_ns = clock_ns
        self._rng = random.Random(seed)
        self._load = load
        self._host: CpuUtilisation | None = None
        self._host_load = 0.0
        self._host_read_ns: int | None = None
        self._slot: int | None = None  # the 20 ms update slot the current values belong to
        self._power_w = [IDLE_W] * count
        self._energy_j = [0.0] * count
        self._returned_slot = [-1] * count
        self._events: list[str] = []

    def open(self) -> Sequence[GpuInfo]:
        if self._load is None:
            self._host = CpuUtilisation()
        self._slot = self.clock_ns() // UPDATE_PERIOD_NS
        self._events.append(f"{self.count} SIMULATED GPU(s): readings are generated, not measured")
        return [
            GpuInfo(i, f"Simulated GPU {i} (mlpower)", f"GPU-SIM-{i:04d}-mlpower", POWER_LIMIT_W, True, "instant", True)
            for i in range(self.count)
        ]

    def close(self) -> None:
        self._slot = None

    def _advance(self) -> None:
        """Bring power and energy up to now, one 20 ms update at a time."""
        if self._slot is None:
            raise RuntimeError("SimulatedGpus used before open()")
        now_slot = self.clock_ns() // UPDATE_PERIOD_NS
        if now_slot <= self._slot:
            return
        steps = now_slot - self._slot
        now_ns = now_slot * UPDATE_PERIOD_NS
        if self._host is not None and (
            self._host_read_ns is None or now_ns - self._host_read_ns >= HOST_LOAD_PERIOD_NS
        ):
            self._host_load, self._host_read_ns = self._host(), now_ns  # one reading of /proc/stat for all GPUs
        host_load = self._host_load
        for gpu in range(self.count):
            # the energy of the slots gone by, at the power they had (the last known for a long gap)
            self._energy_j[gpu] += self._power_w[gpu] * steps * UPDATE_PERIOD_NS / 1e9
            load = min(1.0, max(0.0, self._load(gpu) if self._load is not None else host_load))
            noise = self._rng.gauss(0.0, 0.01)
            self._power_w[gpu] = max(0.0, (IDLE_W + (PEAK_W - IDLE_W) * load) * (1.0 + noise))
        self._slot = now_slot

    def read_power(self) -> list[PowerReading]:
        self._advance()
        assert self._slot is not None
        out = []
        for gpu in range(self.count):
            if self._returned_slot[gpu] != self._slot:
                self._returned_slot[gpu] = self._slot
                out.append(PowerReading(gpu, self._slot * UPDATE_PERIOD_NS, self._power_w[gpu]))
        return out

    def read_energy(self) -> list[EnergyReading]:
        self._advance()
        assert self._slot is not None
        t = self._slot * UPDATE_PERIOD_NS
        return [EnergyReading(gpu, t, self._energy_j[gpu]) for gpu in range(self.count)]

    def take_events(self) -> list[str]:
        events, self._events = self._events, []
        return events
