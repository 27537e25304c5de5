"""Component sensors read from sysfs (RAPL through powercap, hwmon): the :class:`ComponentSource` the agent samples.

:func:`open_components` turns ``--components`` (``auto``, ``rapl``, ``hwmon``, component names, ``none``)
into a source; nothing is read before :meth:`SysfsComponents.open`, which finds every component of the
chosen families (each readable or not, and why), samples the readable ones and reports the others, and a
named one that is not there, as events. A sensor that fails mid-run is reported once and the others go on.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from agent.components.base import ComponentEnergy, ComponentInfo, ComponentPower
from agent.components.counter import EnergyCounter
from agent.components.hwmon import discover_hwmon
from agent.components.rapl import Sensor, discover_rapl
from agent.components.sysfs import (
    HWMON_ROOT,
    POWERCAP_ROOT,
    Reader,
    hwmon_root,
    is_real_root,
    powercap_root,
    read_attribute,
    why_unreadable,
)
from powerlog.components import is_component_name

__all__ = ["COMPONENT_SPECS", "FAMILIES", "Discovery", "SysfsComponents", "discover", "open_components"]

COMPONENT_SPECS = "auto, rapl, hwmon, rapl,hwmon, a component name (rapl:package-0), or none"
FAMILIES = ("rapl", "hwmon")  # what --components names; rapl includes rapl-mmio zones


@dataclass(frozen=True)
class Discovery:
    """What a machine offers: every component found (readable or not) and notes on what is absent."""

    sensors: tuple[Sensor, ...]
    notes: tuple[str, ...] = field(default=())
    roots: dict[str, str] = field(default_factory=dict)  # family -> the sysfs root searched
    simulated: dict[str, bool] = field(default_factory=dict)  # family -> a fake tree


def discover(
    families: Sequence[str] = FAMILIES,
    powercap: Path | str | None = None,
    hwmon: Path | str | None = None,
    reader: Reader = read_attribute,
) -> Discovery:
    """Every RAPL domain and hwmon power sensor of the given families (roots: parameters, else the environment)."""
    sensors: list[Sensor] = []
    notes: list[str] = []
    roots: dict[str, str] = {}
    simulated: dict[str, bool] = {}
    if "rapl" in families:
        root = powercap_root(powercap)
        simulated["rapl"] = not is_real_root(root, POWERCAP_ROOT)
        roots["rapl"] = str(root)
        found, said = discover_rapl(root, reader, simulated["rapl"])
        sensors += found
        notes += said
    if "hwmon" in families:
        root = hwmon_root(hwmon)
        simulated["hwmon"] = not is_real_root(root, HWMON_ROOT)
        roots["hwmon"] = str(root)
        found, said = discover_hwmon(root, reader, simulated["hwmon"])
        sensors += found
        notes += said
    return Discovery(tuple(sensors), tuple(notes), roots, simulated)


class SysfsComponents:
    """The chosen components' sysfs files, read once per :meth:`read`. Nothing is touched before :meth:`open`."""

    def __init__(
        self,
        families: Sequence[str] = FAMILIES,
        names: Sequence[str] = (),
        powercap: Path | str | None = None,
        hwmon: Path | str | None = None,
        reader: Reader = read_attribute,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.families = tuple(families)
        self.names = tuple(names)
        self._roots = (powercap, hwmon)
        self._reader = reader
        self.clock_ns = clock_ns
        self.infos: list[ComponentInfo] = []
        self._sampled: list[Sensor] = []
        self._counters: dict[str, EnergyCounter] = {}
        self._failing: set[tuple[str, str]] = set()
        self._events: list[str] = []

    @property
    def simulated(self) -> bool:
        return any(s.info.simulated for s in self._sampled)

    @property
    def sampled(self) -> list[ComponentInfo]:
        return [s.info for s in self._sampled]

    def open(self) -> list[ComponentInfo]:
        wanted = set(self.families) | {n.split(":", 1)[0].removesuffix("-mmio") for n in self.names}
        found = discover(sorted(wanted), *self._roots, reader=self._reader)
        self._events += found.notes
        chosen = [
            s
            for s in found.sensors
            if s.info.name in self.names or s.info.family.removesuffix("-mmio") in self.families
        ]
        for name in self.names:
            if all(s.info.name != name for s in found.sensors):
                have = ", ".join(s.info.name for s in found.sensors) or "none"
                self._events.append(f"{name}: no such component on this machine (found: {have}); left out")
        self.infos = [s.info for s in chosen]
        self._sampled = [s for s in chosen if s.info.readable]
        for s in chosen:
            if not s.info.readable:
                self._events.append(f"{s.info.name}: not sampled: {s.info.reason}")
        if not self._sampled:
            self._events.append("no component sensor can be read here: no component readings")
        elif self.simulated:
            roots = ", ".join(f"{f} {r}" for f, r in found.roots.items() if found.simulated.get(f))
            self._events.append(f"component readings from a fake sysfs tree ({roots}): SIMULATED")
        self._counters = {
            s.info.name: EnergyCounter(s.info.max_energy_range_uj) for s in self._sampled if s.energy_path
        }
        return list(self.infos)

    def close(self) -> None:
        self._sampled = []

    def _value(self, sensor: Sensor, path: Path, what: str) -> int | None:
        try:
            value = int(self._reader(path))
        except (OSError, ValueError) as e:
            key = (sensor.info.name, what)
            if key not in self._failing:
                self._failing.add(key)
                reason = why_unreadable(e, path) if isinstance(e, OSError) else f"{path}: not a number"
                at = self.clock_ns()
                self._events.append(f"{sensor.info.name}: {what} read failed at {at} ns UTC ({reason}); skipped")
            return None
        if (sensor.info.name, what) in self._failing:
            self._failing.discard((sensor.info.name, what))
            self._events.append(f"{sensor.info.name}: {what} readable again")
        return value

    def read(self) -> tuple[list[ComponentPower], list[ComponentEnergy]]:
        powers: list[ComponentPower] = []
        energies: list[ComponentEnergy] = []
        for s in self._sampled:
            name = s.info.name
            if s.power_path is not None:
                uw = self._value(s, s.power_path, "power")
                if uw is not None:
                    powers.append(ComponentPower(name, self.clock_ns(), uw / 1e6))
            if s.energy_path is not None:
                raw = self._value(s, s.energy_path, "energy")
                if raw is None:
                    continue
                t = self.clock_ns()
                step = self._counters[name].update(t, raw)
                energies.append(ComponentEnergy(name, t, step.energy_j))
                if step.reset:
                    self._events.append(
                        f"{name}: energy counter went back ({raw} µJ) at {t} ns UTC: a reset; that interval's "
                        "energy is unknown (counted as 0)"
                    )
                if s.power_path is None and step.power_w is not None and step.power_t_utc_ns is not None:
                    powers.append(ComponentPower(name, step.power_t_utc_ns, step.power_w))
        return powers, energies

    def counter_stats(self) -> dict[str, dict[str, int]]:
        """Per component with a counter: wrap-arounds undone and resets seen (for the agent's record)."""
        return {name: {"wraps": c.wraps, "resets": c.resets} for name, c in self._counters.items()}

    def take_events(self) -> list[str]:
        events, self._events = self._events, []
        return events


def open_components(
    spec: str | None,
    powercap: Path | str | None = None,
    hwmon: Path | str | None = None,
    reader: Reader = read_attribute,
) -> SysfsComponents | None:
    """The source for a ``--components`` value (not opened yet); None for ``none``."""
    spec = (spec or "none").strip()
    if spec == "none":
        return None
    families: list[str] = []
    names: list[str] = []
    for item in (part.strip() for part in spec.split(",")):
        if item == "auto":
            families += FAMILIES
        elif item in FAMILIES:
            families.append(item)
        elif is_component_name(item):
            names.append(item)
        else:
            raise ValueError(f"--components {spec!r}: {item!r} is not one of {COMPONENT_SPECS}")
    return SysfsComponents(tuple(dict.fromkeys(families)), tuple(dict.fromkeys(names)), powercap, hwmon, reader)
