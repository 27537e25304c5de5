"""The live watch on GPU readings: counter resets and wraps, stuck counters and GPUs reporting zero, as agent events.

The sampler shows every reading to a :class:`GpuWatch` as it takes it; the watch says what it sees as an event
that starts with the GPU and the fault's name (:data:`powerlog.sut_samples.GPU_FAULTS`), once per episode: the
readings themselves go to the director unchanged, and the analyzer finds the same faults in them afterwards
with the same rules (:mod:`analyzer.gpu`).

- A counter reading lower than the one before is a reset or a wrap (:func:`powerlog.sut_samples.counter_step_j`).
- A counter that keeps one value for ``STUCK_MIN_S`` or more while the power readings taken meanwhile average at
  least ``STUCK_MIN_W`` is stuck; it is said again when it moves.
- Power readings all 0 W for ``ZERO_MIN_S`` or more (at least two of them): the GPU reports zero.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from agent.gpu.base import EnergyReading, PowerReading
from powerlog.sut_samples import FAULT_STUCK, FAULT_ZERO, STUCK_MIN_S, STUCK_MIN_W, counter_step_j
from powerlog.timestamps import NS_PER_S

__all__ = ["ZERO_MIN_S", "GpuWatch"]

ZERO_MIN_S = 2.0


@dataclass
class _Gpu:
    last_energy: EnergyReading | None = None
    still_since_ns: int | None = None  # when the counter took its present value
    power_sum_w: float = 0.0  # the power readings since then
    power_count: int = 0
    stuck: bool = False
    zero_since_ns: int | None = None  # the first of the present run of 0 W readings
    zero_count: int = 0
    zero: bool = False


class GpuWatch:
    """Faults in one source's GPU readings, said as events (:meth:`take_events`)."""

    def __init__(self) -> None:
        self._gpus: dict[int, _Gpu] = {}
        self._events: list[str] = []

    def _gpu(self, index: int) -> _Gpu:
        return self._gpus.setdefault(index, _Gpu())

    def power(self, readings: Iterable[PowerReading]) -> None:
        for r in readings:
            g = self._gpu(r.gpu_index)
            g.power_sum_w += r.power_w
            g.power_count += 1
            if r.power_w != 0:
                if g.zero:
                    self._events.append(f"GPU {r.gpu_index}: {FAULT_ZERO}: power reads {r.power_w:.1f} W again")
                g.zero_since_ns, g.zero_count, g.zero = None, 0, False
                continue
            if g.zero_since_ns is None:
                g.zero_since_ns = r.t_utc_ns
            g.zero_count += 1
            lasted_s = (r.t_utc_ns - g.zero_since_ns) / NS_PER_S
            if not g.zero and g.zero_count >= 2 and lasted_s >= ZERO_MIN_S:
                g.zero = True
                self._events.append(
                    f"GPU {r.gpu_index}: {FAULT_ZERO}: power read 0 W in all {g.zero_count} readings of the last "
                    f"{lasted_s:.1f} s"
                )

    def energy(self, readings: Iterable[EnergyReading]) -> None:
        for r in readings:
            g = self._gpu(r.gpu_index)
            last, g.last_energy = g.last_energy, r
            if last is None:
                self._moved(g, r)
                continue
            _, fault = counter_step_j(last.energy_j, r.energy_j, r.t_utc_ns - last.t_utc_ns)
            if fault is not None:
                self._events.append(
                    f"GPU {r.gpu_index}: {fault}: the energy counter went from {last.energy_j:.1f} J to "
                    f"{r.energy_j:.1f} J"
                )
            if r.energy_j != last.energy_j:
                if g.stuck:
                    self._events.append(f"GPU {r.gpu_index}: {FAULT_STUCK}: the energy counter moves again")
                self._moved(g, r)
            else:
                self._check_stuck(r.gpu_index, g, r.t_utc_ns)

    @staticmethod
    def _moved(g: _Gpu, r: EnergyReading) -> None:
        g.still_since_ns, g.power_sum_w, g.power_count, g.stuck = r.t_utc_ns, 0.0, 0, False

    def _check_stuck(self, index: int, g: _Gpu, now_ns: int) -> None:
        if g.stuck or g.still_since_ns is None or not g.power_count:
            return
        still_s = (now_ns - g.still_since_ns) / NS_PER_S
        mean_w = g.power_sum_w / g.power_count
        if still_s >= STUCK_MIN_S and mean_w >= STUCK_MIN_W:
            g.stuck = True
            at_j = g.last_energy.energy_j if g.last_energy is not None else 0.0
            self._events.append(
                f"GPU {index}: {FAULT_STUCK}: the energy counter has stood at {at_j:.1f} J for {still_s:.1f} s "
                f"while the power read {mean_w:.1f} W on average"
            )

    def take_events(self) -> list[str]:
        events, self._events = self._events, []
        return events
