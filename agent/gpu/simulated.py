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

For tests, a GPU can be told to show a fault (:class:`SimulatedFault`) from some time after :meth:`open` on:
``reset`` (the counter starts again from 0, as after a driver reload), ``wrap`` (the counter starts just
below the end of NVML's 64-bit mJ range and passes it), ``stuck`` (the counter stops while the power goes
on), ``zero`` (power reads 0 W and the counter stops), ``no-counter`` (no energy counter at all) and
``module`` (the counter covers a module: the GPU plus ``MODULE_EXTRA_W`` of CPU and memory, as on GH200).
The counter is kept in integer mJ, as NVML keeps it, so a wrap is exact.

Power limits (SIMULATED): each GPU has a limit in ``[30, 75] W`` (75 W, the board's TDP, by default) and responds
to it as :mod:`agent.gpu.sim_limit_model` describes: the power at load ``u`` is ``min(20 + 40 u, limit)`` W, so
the default limit changes nothing. Without a state folder the limits live in this object; with one
(``state_dir``, or ``MLPOWER_SIM_GPU_STATE`` through ``--gpus sim:N``) they are kept in its ``limits.json``,
read again at most every 200 ms, and the latest power is written to its ``power.json`` for the simulated wall
meter (``--signal sim-gpus:FOLDER``), so that every process and the next start see one set of GPUs; while the
built-in benchmark marks them busy there (``busy``), they are at full load instead of following the CPU.
"""

from __future__ import annotations

import collections
import dataclasses
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from agent.gpu.base import EnergyReading, GpuInfo, PowerReading
from agent.gpu.errors import GpuLimitError, GpuNotFound
from agent.gpu.sim_limit_model import (
    DEFAULT_MODEL,
    LIMITS_FILE,
    POWER_FILE,
    SimLimitModel,
    busy,
    read_limits,
    write_json_atomic,
)
from powerlog.host import CpuUtilisation

__all__ = [
    "FAULT_KINDS",
    "HISTORY_S",
    "HOST_LOAD_PERIOD_NS",
    "MODULE_EXTRA_W",
    "SIM_AMBIENT_C",
    "SIM_C_PER_W",
    "SIM_MAX_CLOCK_MHZ",
    "UPDATE_PERIOD_NS",
    "SimulatedFault",
    "SimulatedGpus",
]

SIM_MAX_CLOCK_MHZ = 1980.0  # SIMULATED: the board's full sustained SM clock
SIM_AMBIENT_C = 30.0  # SIMULATED: the temperature of an idle board at 0 W, and ...
SIM_C_PER_W = 0.6  # ... how many degrees each watt adds
UPDATE_PERIOD_NS = 20_000_000
HISTORY_S = 1.0  # values kept for read_power; older unread ones are lost, as from a full NVML buffer
_HISTORY_SLOTS = round(HISTORY_S * 1e9 / UPDATE_PERIOD_NS)
HOST_LOAD_PERIOD_NS = 200_000_000  # how often the CPU utilisation the power follows is read
IDLE_W = DEFAULT_MODEL.idle_w  # 20 W
PEAK_W = DEFAULT_MODEL.peak_w  # 60 W at full load, below the default limit
POWER_LIMIT_W = DEFAULT_MODEL.max_cap_w  # 75 W: the default limit
MODULE_EXTRA_W = 30.0  # a module's CPU and memory, counted by a ``module`` GPU's counter only
FAULT_KINDS = ("reset", "wrap", "stuck", "zero", "no-counter", "module")
_COUNTER_END_MJ = 2**64  # NVML's counter: an unsigned 64-bit count of mJ


@dataclass(frozen=True)
class SimulatedFault:
    """A fault simulated GPU ``gpu`` shows from ``after_s`` seconds after :meth:`SimulatedGpus.open` (a ``wrap``
    happens within ``after_s``; ``no-counter`` and ``module`` hold from the start)."""

    kind: str
    gpu: int = 0
    after_s: float = 0.0
    every_s: float | None = None  # reset: again every every_s seconds after the first

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"simulated GPU fault {self.kind!r}: use one of {', '.join(FAULT_KINDS)}")
        if self.gpu < 0 or self.after_s < 0 or (self.every_s is not None and self.every_s <= 0):
            raise ValueError(f"simulated GPU fault {self.kind}: gpu and after_s must be >= 0, every_s > 0")


class SimulatedGpus:
    simulated = True
    history_s = HISTORY_S

    def __init__(
        self,
        count: int,
        clock_ns: Callable[[], int] = time.time_ns,
        seed: int = 0,
        load: Callable[[int], float] | None = None,
        faults: Sequence[SimulatedFault] = (),
        model: SimLimitModel = DEFAULT_MODEL,
        state_dir: Path | None = None,
    ) -> None:
        if count < 1:
            raise ValueError("simulate at least one GPU")
        for f in faults:
            if f.gpu >= count:
                raise ValueError(f"simulated GPU fault {f.kind} on GPU {f.gpu}: there are only {count}")
        self.count = count
        self.clock_ns = clock_ns
        self._rng = random.Random(seed)
        self._load = load
        self._faults = {(f.kind, f.gpu): f for f in faults}
        self._host: CpuUtilisation | None = None
        self._host_load = 0.0
        self._host_read_ns: int | None = None
        self._slot: int | None = None  # the 20 ms update slot the current values belong to
        self._opened_ns = 0
        self._power_w = [IDLE_W] * count
        self._energy_j = [0.0] * count  # what the GPU drew
        self._counter_mj = [0] * count  # what its counter says
        self._unread: list[collections.deque[PowerReading]] = [
            collections.deque(maxlen=_HISTORY_SLOTS) for _ in range(count)
        ]
        self._events: list[str] = []
        self.model = model
        self.state_dir = state_dir
        self._limits_w = [model.max_cap_w] * count
        self._limits_read_ns: int | None = None

    def _has(self, kind: str, gpu: int, t_ns: int | None = None) -> bool:
        """Whether ``gpu`` shows fault ``kind`` (at ``t_ns``, where given)."""
        f = self._faults.get((kind, gpu))
        return f is not None and (t_ns is None or t_ns - self._opened_ns >= f.after_s * 1e9)

    def open(self) -> Sequence[GpuInfo]:
        if self._load is None:
            self._host = CpuUtilisation()
        self._slot = self.clock_ns() // UPDATE_PERIOD_NS
        self._opened_ns = self._slot * UPDATE_PERIOD_NS
        for gpu, unread in enumerate(self._unread):  # the value of the slot the GPUs are opened in
            if self._has("zero", gpu, self._opened_ns):
                self._power_w[gpu] = 0.0
            unread.append(PowerReading(gpu, self._slot * UPDATE_PERIOD_NS, self._power_w[gpu]))
            wrap = self._faults.get(("wrap", gpu))
            if wrap is not None:  # at least IDLE_W: the end is passed within after_s
                self._counter_mj[gpu] = _COUNTER_END_MJ - round(IDLE_W * wrap.after_s * 1000)
        self._events.append(f"{self.count} SIMULATED GPU(s): readings are generated, not measured")
        for f in self._faults.values():
            every = f", every {f.every_s:g} s" if f.every_s is not None else ""
            self._events.append(f"SIMULATED fault on GPU {f.gpu}: {f.kind} from {f.after_s:g} s{every}")
        return [self._info(i) for i in range(self.count)]

    def _info(self, i: int) -> GpuInfo:
        counter = not self._has("no-counter", i)
        return GpuInfo(
            i,
            f"Simulated GPU {i} (mlpower)",
            self.uuid(i),
            self.power_limit_w(i),
            counter,
            "instant",
            True,
            power_kind="instant",
            power_scope="gpu",
            energy_scope=("module" if self._has("module", i) else "gpu") if counter else None,
        )

    def close(self) -> None:
        self._slot = None

    def _count(self, gpu: int, t_ns: int, seconds: float) -> None:
        """The energy ``gpu`` drew in the ``seconds`` up to ``t_ns`` at its present power, and its counter's."""
        energy_j = self._power_w[gpu] * seconds
        self._energy_j[gpu] += energy_j
        if self._has("reset", gpu, t_ns):
            reset = self._faults.pop(("reset", gpu))
            if reset.every_s is not None:  # again later
                self._faults[("reset", gpu)] = dataclasses.replace(reset, after_s=reset.after_s + reset.every_s)
            self._counter_mj[gpu] = 0  # the driver reloaded: the count begins again
        if self._has("stuck", gpu, t_ns) or self._has("zero", gpu, t_ns):
            return
        counted_j = energy_j + (MODULE_EXTRA_W * seconds if self._has("module", gpu) else 0.0)
        self._counter_mj[gpu] = (self._counter_mj[gpu] + round(counted_j * 1000)) % _COUNTER_END_MJ

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
            if self.state_dir is not None and busy(self.state_dir, now_ns):  # the simulated workload computes
                self._host_load = 1.0
        if self.state_dir is not None and (
            self._limits_read_ns is None or now_ns - self._limits_read_ns >= HOST_LOAD_PERIOD_NS
        ):
            self._load_limits()
            self._limits_read_ns = now_ns
        skipped = max(0, now_slot - self._slot - _HISTORY_SLOTS)  # slots too old to be kept: only their energy
        if skipped:
            for gpu in range(self.count):
                self._count(gpu, (self._slot + skipped) * UPDATE_PERIOD_NS, skipped * UPDATE_PERIOD_NS / 1e9)
        for slot in range(self._slot + 1 + skipped, now_slot + 1):
            t_ns = slot * UPDATE_PERIOD_NS
            for gpu in range(self.count):
                # the energy of the slot gone by, at the power it had
                self._count(gpu, t_ns, UPDATE_PERIOD_NS / 1e9)
                load = min(1.0, max(0.0, self._load(gpu) if self._load is not None else self._host_load))
                noise = self._rng.gauss(0.0, 0.01)
                power_w = max(0.0, self.model.power_w(self._limits_w[gpu], load) * (1.0 + noise))
                self._power_w[gpu] = 0.0 if self._has("zero", gpu, t_ns) else power_w
                self._unread[gpu].append(PowerReading(gpu, t_ns, self._power_w[gpu]))
        self._slot = now_slot
        if self.state_dir is not None and self._limits_read_ns == now_ns:  # with the limits: every 200 ms at most
            self._write_power(now_ns)

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
        return [
            EnergyReading(gpu, t, self._counter_mj[gpu] / 1000.0)
            for gpu in range(self.count)
            if not self._has("no-counter", gpu)
        ]

    def take_events(self) -> list[str]:
        events, self._events = self._events, []
        return events

    # power limits (SIMULATED) -----------------------------------------------------------
    def uuid(self, index: int) -> str:
        return f"GPU-SIM-{index:04d}-mlpower"

    def _check(self, index: int) -> None:
        if not 0 <= index < self.count:
            raise GpuNotFound(f"no simulated GPU {index} (there are {self.count})")

    def _load_limits(self) -> None:
        assert self.state_dir is not None
        kept = read_limits(self.state_dir)
        self._limits_w = [kept.get(self.uuid(i), self.model.max_cap_w) for i in range(self.count)]

    def _write_power(self, t_ns: int) -> None:
        assert self.state_dir is not None
        power = {self.uuid(i): self._power_w[i] for i in range(self.count)}
        data = {"simulated": True, "t_utc_ns": t_ns, "idle_w": self.model.idle_w, "power_w": power}
        write_json_atomic(self.state_dir / POWER_FILE, data, sync=False)  # 5 times a second: a live value only

    def power_limit_w(self, index: int) -> float:
        self._check(index)
        if self.state_dir is not None:
            self._load_limits()
        return self._limits_w[index]

    def clock_and_temperature(self, index: int) -> tuple[float | None, float | None]:
        """SIMULATED: the model's clock under the limit at the load now (of :data:`SIM_MAX_CLOCK_MHZ`), and a
        temperature that follows the power (:data:`SIM_AMBIENT_C` + :data:`SIM_C_PER_W` x W)."""
        self._check(index)
        self._advance()  # the load and power now (the busy mark of a simulated workload included)
        limit_w = self.power_limit_w(index)
        load = min(1.0, max(0.0, self._load(index) if self._load is not None else self._host_load))
        clock_mhz = SIM_MAX_CLOCK_MHZ * self.model.clock(limit_w, max(load, 1e-6))
        return clock_mhz, SIM_AMBIENT_C + SIM_C_PER_W * self._power_w[index]

    def power_limit_range_w(self, index: int) -> tuple[float, float]:
        self._check(index)
        return self.model.range_w

    def set_power_limit_w(self, index: int, watts: float) -> None:
        self._check(index)
        low_w, high_w = self.model.range_w
        if not low_w <= watts <= high_w:
            raise GpuLimitError(
                index,
                f"power limit {watts:g} W is outside this SIMULATED GPU's range {low_w:g}-{high_w:g} W",
                (low_w, high_w),
            )
        if self.state_dir is not None:
            kept = read_limits(self.state_dir)
            kept[self.uuid(index)] = float(watts)
            write_json_atomic(self.state_dir / LIMITS_FILE, {"simulated": True, "limits_w": kept})
            self._limits_read_ns = None  # the sampler takes the new limit at its next reading
        self._limits_w[index] = float(watts)
