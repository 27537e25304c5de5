"""hwmon power and energy sensors: ``/sys/class/hwmon/hwmonN/``.

A chip has ``name`` and, per sensor K, ``powerK_input`` (µW; some drivers, amdgpu among them, give
``powerK_average`` instead), ``energyK_input`` (a µJ counter, taken never to wrap: a lower reading is a
reset) and optional ``powerK_label`` / ``energyK_label``. Older drivers keep the files in ``hwmonN/device/``.
A component is one labelled quantity: a power sensor and an energy counter with the same label are one
component (power from the sensor, energy from the counter); a counter alone gives its power from the
counter's differences. Named ``hwmon:<name>:<label>`` (``hwmon:<name>:power1`` without a label); a chip
name that occurs twice is told apart by its folder: ``hwmon:amdgpu-hwmon3:PPT``.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from agent.components.base import ComponentInfo
from agent.components.rapl import Sensor, unique_names
from agent.components.sysfs import Reader, why_unreadable
from powerlog.components import safe_segment

__all__ = ["discover_hwmon"]

_CHIP = re.compile(r"^hwmon(\d+)$")
_ATTRIBUTE = re.compile(r"^(?P<kind>power|energy)(?P<k>\d+)_(?P<what>input|average)$")


def _attributes(chip: Path) -> Path:
    if (chip / "name").exists() or not (chip / "device" / "name").exists():
        return chip
    return chip / "device"


def _label(reader: Reader, folder: Path, kind: str, k: str) -> str | None:
    path = folder / f"{kind}{k}_label"
    if not path.exists():
        return None
    try:
        return reader(path) or None
    except OSError:
        return None


def _check(reader: Reader, path: Path) -> str:
    """'' when the file reads as a number, else why not."""
    try:
        int(reader(path))
    except OSError as e:
        return why_unreadable(e, path)
    except ValueError:
        return f"{path}: not a number"
    return ""


def discover_hwmon(root: Path, reader: Reader, simulated: bool) -> tuple[list[Sensor], list[str]]:
    """Every hwmon power or energy sensor under ``root`` (readable or not), and notes on what is not there."""
    if not root.is_dir():
        return [], [f"hwmon: {root} does not exist (no hwmon drivers, or not Linux)"]
    chips = sorted((p for p in root.iterdir() if _CHIP.match(p.name)), key=lambda p: int(p.name[5:]))
    chip_names: dict[Path, str] = {}
    for chip in chips:
        try:
            chip_names[chip] = safe_segment(reader(_attributes(chip) / "name"))
        except OSError:
            chip_names[chip] = chip.name
    repeated = Counter(chip_names.values())
    sensors: list[Sensor] = []
    for chip in chips:
        folder = _attributes(chip)
        chip_name = chip_names[chip] if repeated[chip_names[chip]] == 1 else f"{chip_names[chip]}-{chip.name}"
        found: dict[tuple[str, str], Path] = {}  # (power|energy, K) -> the file read
        for path in sorted(folder.iterdir()):
            m = _ATTRIBUTE.match(path.name)
            if m is None or (m.group("kind") == "energy" and m.group("what") != "input"):
                continue
            key = (m.group("kind"), m.group("k"))
            if m.group("what") == "input" or key not in found:  # powerK_input before powerK_average
                found[key] = path
        groups: dict[str, dict[str, Path]] = {}  # component label -> {power|energy: file}
        for (kind, k), path in sorted(found.items(), key=lambda item: (int(item[0][1]), item[0][0])):
            label = _label(reader, folder, kind, k)
            group = safe_segment(label) if label else f"{kind}{k}"
            if kind in groups.get(group, {}):  # two sensors of one kind with one label: keep them apart
                group = f"{group}-{kind}{k}"
            groups.setdefault(group, {})[kind] = path
        for label, files in groups.items():
            reasons = [r for r in (_check(reader, p) for p in files.values()) if r]
            info = ComponentInfo(
                name=f"hwmon:{chip_name}:{label}",
                family="hwmon",
                path=str(folder),
                readable=not reasons,
                reason="; ".join(reasons),
                energy_counter="energy" in files,
                power_sensor="power" in files,
                max_energy_range_uj=None,
                parent=None,
                simulated=simulated,
            )
            sensors.append(Sensor(info, energy_path=files.get("energy"), power_path=files.get("power")))
    if not sensors:
        names = ", ".join(sorted(set(chip_names.values()))) or "none"
        return [], [f"hwmon: no power or energy sensors under {root} ({len(chips)} chip(s): {names})"]
    return unique_names(sensors), []
