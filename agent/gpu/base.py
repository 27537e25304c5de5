"""What every GPU backend gives the sampler: identities, power readings, energy counter readings, power limits.

Units are in the names and converted once, in the backend: NVML's milliwatts and
millijoules become ``power_w`` and ``energy_j`` here. Times are UTC nanoseconds on
the agent's clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from powerlog.sut_samples import PowerKind, Scope
from powerlog.wire import GpuDescription

__all__ = ["EnergyReading", "GpuInfo", "GpuSource", "PowerReading"]


@dataclass(frozen=True)
class GpuInfo:
    index: int
    name: str
    uuid: str
    power_limit_w: float | None
    energy_counter: bool  # nvmlDeviceGetTotalEnergyConsumption works
    power_field: str | None  # "instant", "instant/module", "average" or "usage": what read_power samples
    simulated: bool
    power_kind: PowerKind | None = None  # "instant" or NVML's 1 s "average"; None: not known
    power_scope: Scope | None = None  # "gpu" or "module": what the power readings cover
    energy_scope: Scope | None = None  # what the energy counter covers; None without one

    def to_wire(self) -> GpuDescription:
        """How the agent describes this GPU to the director."""
        return GpuDescription(
            index=self.index,
            name=self.name,
            uuid=self.uuid,
            power_limit_w=self.power_limit_w,
            energy_counter=self.energy_counter,
            power_field=self.power_field,
            simulated=self.simulated,
            power_kind=self.power_kind,
            power_scope=self.power_scope,
            energy_scope=self.energy_scope,
        )


@dataclass(frozen=True)
class PowerReading:
    gpu_index: int
    t_utc_ns: int  # when the value was measured (NVML's own timestamp for field values)
    power_w: float


@dataclass(frozen=True)
class EnergyReading:
    gpu_index: int
    t_utc_ns: int  # when the counter was read
    energy_j: float  # since the driver loaded


@runtime_checkable
class GpuSource(Protocol):
    """A set of GPUs. Nothing is touched before :meth:`open`."""

    @property
    def simulated(self) -> bool: ...

    @property
    def history_s(self) -> float:
        """How long new readings wait on the source's side for :meth:`read_power` (0: a live value only).

        A source with history (NVML's own sample buffer, the simulator's) is read a few times a second and
        gives every value since the last call; one without must be polled at the sampling rate.
        """
        ...

    def open(self) -> Sequence[GpuInfo]: ...

    def close(self) -> None: ...

    def read_power(self) -> list[PowerReading]:
        """New power values since the previous call (a value NVML has not refreshed is not repeated)."""
        ...

    def read_energy(self) -> list[EnergyReading]: ...

    def take_events(self) -> list[str]:
        """Warnings and losses since the previous call (fallbacks, a GPU that disappeared), for the record."""
        ...

    def power_limit_w(self, index: int) -> float:
        """GPU ``index``'s power limit now (NVML's enforced limit), in W; the source must be open."""
        ...

    def power_limit_range_w(self, index: int) -> tuple[float, float]:
        """The (min, max) power limit GPU ``index`` accepts, in W."""
        ...

    def set_power_limit_w(self, index: int, watts: float) -> None:
        """Set GPU ``index``'s power limit: :class:`~agent.gpu.errors.GpuLimitError` outside its range,
        :class:`~agent.gpu.errors.GpuPermissionError` where this process may not (not root)."""
        ...

    def clock_and_temperature(self, index: int) -> tuple[float | None, float | None]:
        """GPU ``index``'s SM clock (MHz) and core temperature (deg C) now; None where it cannot say."""
        ...
