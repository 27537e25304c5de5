"""Simulated GPUs: an honest stand-in where NVML is absent. Everything they produce says simulated.

Power follows this machine's CPU utilisation (20 W idle to 60 W, a small inference card, so
that a simulated wall meter on the same machine still draws more than its GPUs), refreshed every 20 ms
of time like NVML's instant field, with seeded noise; the energy counter is the exact
integral of that power, so counter and integrated power agree as on real hardware. The CPU
utilisation itself is read every 200 ms: /proc/stat counts in 10 ms ticks, so a 20 ms reading is
mostly 0 or 1 tick (noise, not load), and reading it at 100 Hz cost the agent 4 % of a core.

Like NVML's sample buffer, the simulator keeps the values of the last ``HISTORY_S`` seconds until they are
read, so the sampler reads it a few times a second instead of waking at the sampling rate (each wake-up costs
about 0.11 ms of CPU on a 2-core VM: 1.1 % of a core at 100 Hz). The CPU utilisation the values follow is then
read once per call, at most every 200 ms.
"""

from __future__ import annotations

import collections
import random
import time
from collections.abc import Callable, Sequence

from agent.gpu.base import EnergyReading, GpuInfo, PowerReading
from powerlog.host import CpuUtilisation

__all__ = ["HISTORY_S", "HOST_LOAD_PERIOD_NS", "UPDATE_PERIOD_NS", "SimulatedGpus"]

UPDATE_PERIOD_NS = 20_000_000
HISTORY_S = 1.0  # values kept for read_power; older unread ones are lost, as from a full NVML buffer
_HISTORY_SLOTS = round(HISTORY_S * 1e9 / UPDATE_PERIOD_NS)
HOST_LOAD_PERIOD_NS = 200_000_000  # how often the CPU utilisation the power follows is read
IDLE_W = 20.0
PEAK_W = 60.0
POWER_LIMIT_W = 75.0


class SimulatedGpus:
    simulated = True
    history_s = HISTORY_S

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
        self._unread: list[collections.deque[PowerReading]] = [
            collections.deque(maxlen=_HISTORY_SLOTS) for _ in range(count)
        ]
        self._events: list[str] = []

    def open(self) -> Sequence[GpuInfo]:
        if self._load is None:
            self._host = CpuUtilisation()
        self._slot = self.clock_ns() // UPDATE_PERIOD_NS
        for gpu, unread in enumerate(self._unread):  # the value of the slot the GPUs are opened in
            unread.append(PowerReading(gpu, self._slot * UPDATE_PERIOD_NS, self._power_w[gpu]))
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
        now_ns = now_slot * UPDATE_PERIOD_NS
        if self._host is not None and (
            self._host_read_ns is None or now_ns - self._host_read_ns >= HOST_LOAD_PERIOD_NS
        ):
            self._host_load, self._host_read_ns = self._host(), now_ns  # one reading of /proc/stat for all GPUs
        skipped = max(0, now_slot - self._slot - _HISTORY_SLOTS)  # slots too old to be kept: only their energy
        for gpu in range(self.count):
            self._energy_j[gpu] += self._power_w[gpu] * skipped * UPDATE_PERIOD_NS / 1e9
        for slot in range(self._slot + 1 + skipped, now_slot + 1):
            for gpu in range(self.count):
                # the energy of the slot gone by, at the power it had
                self._energy_j[gpu] += self._power_w[gpu] * UPDATE_PERIOD_NS / 1e9
                load = min(1.0, max(0.0, self._load(gpu) if self._load is not None else self._host_load))
                noise = self._rng.gauss(0.0, 0.01)
                self._power_w[gpu] = max(0.0, (IDLE_W + (PEAK_W - IDLE_W) * load) * (1.0 + noise))
                self._unread[gpu].append(PowerReading(gpu, slot * UPDATE_PERIOD_NS, self._power_w[gpu]))
        self._slot = now_slot

    def read_power(self) -> list[PowerReading]:
        """Every value since the previous call (the last ``HISTORY_S`` of them), oldest first per GPU."""
        self._advance()
        out: list[PowerReading] = []
        for unread in self._unread:
            out.extend(unread)
            unread.clear()
        return out

    def read_energy(self) -> list[EnergyReading]:
        self._advance()
        assert self._slot is not None
        t = self._slot * UPDATE_PERIOD_NS
        return [EnergyReading(gpu, t, self._energy_j[gpu]) for gpu in range(self.count)]

    def take_events(self) -> list[str]:
        events, self._events = self._events, []
        return events
