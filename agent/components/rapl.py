"""RAPL domains through Linux powercap: ``/sys/class/powercap/intel-rapl:N`` and their subdomains.

Each package (socket) is a zone ``intel-rapl:N`` (``name`` = ``package-N``; ``psys`` is the platform),
with subzones ``intel-rapl:N:M`` (``core``, ``uncore``, ``dram``). Each has ``energy_uj``, a counter in
µJ that wraps at ``max_energy_range_uj`` (see :mod:`agent.components.counter`). ``intel-rapl-mmio:N``
(the same package counter through MMIO on some Intel parts) is family ``rapl-mmio``; ``amd-rapl:N``
names, where a kernel gives them, are read like ``intel-rapl``. Components are named by domain:
``rapl:package-0``, ``rapl:package-0:dram``. The package's core and uncore are parts of it; DRAM is not
(and psys holds the packages): the analyzer reports each, and never adds them up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

from agent.components.base import ComponentInfo
from agent.components.sysfs import Reader, why_unreadable
from powerlog.components import MAX_NAME_LENGTH, safe_segment

__all__ = ["Sensor", "discover_rapl", "unique_names"]

_ZONE = re.compile(r"^(?P<type>intel-rapl|intel-rapl-mmio|amd-rapl):(?P<ids>\d+(?::\d+)*)$")


@dataclass(frozen=True)
class Sensor:
    """One component as found: its description and the files that are read for it."""

    info: ComponentInfo
    energy_path: Path | None = None  # a µJ counter
    power_path: Path | None = None  # a µW value


def _zone_key(path: Path) -> tuple[str, tuple[int, ...]]:
    m = _ZONE.match(path.name)
    assert m is not None
    return m.group("type"), tuple(int(i) for i in m.group("ids").split(":"))


def _int(reader: Reader, path: Path) -> int:
    return int(reader(path))


def unique_names(sensors: list[Sensor]) -> list[Sensor]:
    """Names short enough for a wire source, and unique: a name found twice gets ``-2``, ``-3``... on its later
    uses (two zones with the same ``name``)."""
    seen: dict[str, int] = {}
    out = []
    for s in sensors:
        name = s.info.name[: MAX_NAME_LENGTH - 3].rstrip(":-")
        n = seen.get(name, 0) + 1
        seen[name] = n
        if n > 1:
            name = f"{name}-{n}"
        out.append(Sensor(replace(s.info, name=name), s.energy_path, s.power_path) if name != s.info.name else s)
    return out


def discover_rapl(root: Path, reader: Reader, simulated: bool) -> tuple[list[Sensor], list[str]]:
    """Every RAPL domain under ``root`` (readable or not), and notes on what is not there."""
    if not root.is_dir():
        return [], [
            f"RAPL: {root} does not exist: no powercap driver here (not Linux, a virtual machine without RAPL, "
            "or the intel_rapl_msr module not loaded)"
        ]
    zones = sorted((p for p in root.iterdir() if _ZONE.match(p.name)), key=_zone_key)
    if not zones:
        return [], [f"RAPL: no RAPL domains under {root} (no intel-rapl:N or amd-rapl:N zones)"]
    names: dict[tuple[str, tuple[int, ...]], str] = {}
    for zone in zones:
        try:
            names[_zone_key(zone)] = safe_segment(reader(zone / "name"))
        except OSError:
            names[_zone_key(zone)] = safe_segment(zone.name.replace(":", "-"))
    sensors: list[Sensor] = []
    notes: list[str] = []
    for zone in zones:
        kind, ids = _zone_key(zone)
        family = "rapl-mmio" if kind == "intel-rapl-mmio" else "rapl"
        parent = None
        if len(ids) > 1:
            parent_segment = names.get((kind, ids[:1]), f"zone-{ids[0]}")
            parent = f"{family}:{parent_segment}"
            name = f"{parent}:{names[(kind, ids)]}"
        else:
            name = f"{family}:{names[(kind, ids)]}"
        try:
            max_range: int | None = _int(reader, zone / "max_energy_range_uj")
        except (OSError, ValueError):
            max_range = None
        readable, reason = True, ""
        energy = zone / "energy_uj"
        try:
            _int(reader, energy)
        except OSError as e:
            readable, reason = False, why_unreadable(e, energy)
        except ValueError:
            readable, reason = False, f"{energy}: not a number"
        if readable and max_range is None:
            notes.append(f"{name}: {zone / 'max_energy_range_uj'} unreadable: a wrap-around will count as a reset")
        info = ComponentInfo(
            name=name,
            family=family,
            path=str(zone),
            readable=readable,
            reason=reason,
            energy_counter=True,
            power_sensor=False,
            max_energy_range_uj=max_range,
            parent=parent,
            simulated=simulated,
        )
        sensors.append(Sensor(info, energy_path=energy))
    return unique_names(sensors), notes
