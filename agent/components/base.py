"""What every component power source gives the sampler: descriptions, power readings, energy readings.

A component is a part of the SUT with its own power or energy sensor, beside the GPUs: a RAPL domain
(a CPU package, its cores, uncore or DRAM, the platform) or an hwmon sensor. Units are in the names and
converted once, in the source: sysfs' microjoules and microwatts become ``energy_j`` and ``power_w`` here.
Times are UTC nanoseconds on the agent's clock, taken when the file was read (sysfs gives no timestamp).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from powerlog.wire import ComponentDescription

__all__ = ["ComponentEnergy", "ComponentInfo", "ComponentPower", "ComponentSource"]


@dataclass(frozen=True)
class ComponentInfo:
    name: str  # rapl:package-0, rapl:package-0:dram, hwmon:amdgpu:PPT (see powerlog.components)
    family: str  # rapl | rapl-mmio | hwmon
    path: str  # the sysfs folder it was found in
    readable: bool
    reason: str  # why it cannot be read ("" when it can)
    energy_counter: bool  # an energy counter (RAPL's energy_uj, hwmon's energyN_input)
    power_sensor: bool  # a power value (hwmon's powerN_input or powerN_average)
    max_energy_range_uj: int | None  # where the counter wraps (RAPL); None: it is not known to wrap
    parent: str | None  # the RAPL package a subdomain belongs to
    simulated: bool  # read from a tree that is not the machine's own /sys (a fake, for tests and demos)

    def to_wire(self) -> ComponentDescription:
        """How the agent describes this component to the director (and in client.json)."""
        return ComponentDescription(
            name=self.name,
            family=self.family,
            path=self.path,
            readable=self.readable,
            reason=self.reason,
            energy_counter=self.energy_counter,
            power_sensor=self.power_sensor,
            max_energy_range_uj=self.max_energy_range_uj,
            parent=self.parent,
            simulated=self.simulated,
        )


@dataclass(frozen=True)
class ComponentPower:
    name: str
    t_utc_ns: int  # a sensor's value: when it was read; from a counter: the middle of the interval
    power_w: float


@dataclass(frozen=True)
class ComponentEnergy:
    name: str
    t_utc_ns: int  # when the counter was read
    energy_j: float  # since the source was opened, wrap-arounds undone


@runtime_checkable
class ComponentSource(Protocol):
    """A set of component sensors. Nothing is read before :meth:`open`."""

    @property
    def simulated(self) -> bool: ...

    def open(self) -> Sequence[ComponentInfo]:
        """Every component found (readable or not, each saying why); the readable ones are sampled."""
        ...

    def close(self) -> None: ...

    def read(self) -> tuple[list[ComponentPower], list[ComponentEnergy]]:
        """Read every sampled component once: its power (sensor, or derived from the counter) and counter."""
        ...

    def take_events(self) -> list[str]:
        """Warnings and losses since the previous call (a counter reset, a sensor that vanished), for the record."""
        ...
