"""Nameplate (design) power: MLPerf v6.1's ``systems/<system_id>_power.yaml``, summed and checked as the official
submission checker does, and found beside a result in a submission tree.

The file is a tree of labels the submitter chooses (system, racks, nodes, switches). A mapping holding both
``PSUs`` and ``Min PSUs Needed`` (keys matched without regard to case) is one component: its design power is the
sum of the ``Min PSUs Needed`` largest ``PowerCapacityWatts`` of its PSUs (redundant supplies beyond those are not
counted); every other mapping or list is walked into, and everything else counts 0. The system's design power is
the sum over its components. A ``system_power_capacity`` in ``systems/<system_id>.json`` takes precedence over
the file, as it does for the checker. What the checker would count silently as 0 W, or fail on, is a problem
here, said with its place in the file (``My System[0].Node 1[0].PSUs[1]``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from powerlog.result_record import DesignPowerRecord

__all__ = [
    "CAPACITY_KEY",
    "MIN_PSUS_KEY",
    "NAMEPLATE_SUFFIX",
    "PSUS_KEY",
    "SYSTEM_CAPACITY_FIELD",
    "DesignPower",
    "design_power_record",
    "design_power_text",
    "find_design_power",
    "nameplate_path",
    "read_nameplate",
    "sum_nameplate",
]

PSUS_KEY = "PSUs"
MIN_PSUS_KEY = "Min PSUs Needed"
CAPACITY_KEY = "PowerCapacityWatts"
SYSTEM_CAPACITY_FIELD = "system_power_capacity"
NAMEPLATE_SUFFIX = "_power.yaml"


@dataclass(frozen=True)
class DesignPower:
    """A system's design power (None: none can be computed) and what is wrong with where it came from."""

    design_power_w: float | None
    path: Path  # the file it was read from
    json_field: str | None = None  # the JSON field it was read from (None: the nameplate YAML)
    components: int = 0  # how many PSU groups (nodes, switches) were counted
    problems: tuple[str, ...] = field(default=())


def _number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)


def _component(data: dict[Any, Any], where: str, problems: list[str]) -> float:
    """One component (a mapping with PSUs and Min PSUs Needed): the largest ``Min PSUs Needed`` capacities."""
    keys = {str(k).lower(): k for k in data}
    min_psus, psus = data[keys[MIN_PSUS_KEY.lower()]], data[keys[PSUS_KEY.lower()]]
    if not isinstance(psus, list) or not psus:
        problems.append(f"{where}.{PSUS_KEY}: a list of PSUs (each with {CAPACITY_KEY}) is needed, not {psus!r}")
        return 0.0
    capacities: list[float] = []
    for i, psu in enumerate(psus):
        place = f"{where}.{PSUS_KEY}[{i}]"
        if not isinstance(psu, dict):
            problems.append(f"{place}: a PSU is a mapping (Name, {CAPACITY_KEY}), not {psu!r}")
        elif CAPACITY_KEY not in psu:
            near = [k for k in psu if str(k).lower() == CAPACITY_KEY.lower()]
            hint = f" ({near[0]!r} is spelt differently: the key is matched exactly)" if near else ""
            problems.append(f"{place}: no {CAPACITY_KEY}{hint}; the checker counts it as 0 W")
            capacities.append(0.0)
        elif not _number(psu[CAPACITY_KEY]) or psu[CAPACITY_KEY] <= 0:
            problems.append(f"{place}.{CAPACITY_KEY}: a positive number of watts is needed, not {psu[CAPACITY_KEY]!r}")
        else:
            capacities.append(float(psu[CAPACITY_KEY]))
    if isinstance(min_psus, bool) or not isinstance(min_psus, int) or min_psus < 1:
        problems.append(f"{where}.{MIN_PSUS_KEY}: a whole number of at least 1 is needed, not {min_psus!r}")
        return 0.0
    if min_psus > len(psus):
        problems.append(f"{where}.{MIN_PSUS_KEY} is {min_psus} but only {len(psus)} PSU(s) are listed")
    return sum(sorted(capacities, reverse=True)[:min_psus])


def _walk(data: Any, where: str, problems: list[str], counted: list[int]) -> float:
    if isinstance(data, dict):
        keys = {str(k).lower() for k in data}
        if PSUS_KEY.lower() in keys and MIN_PSUS_KEY.lower() in keys:
            counted.append(1)
            return _component(data, where or "(top)", problems)
        if PSUS_KEY.lower() in keys:
            problems.append(f"{where or '(top)'}: PSUs without {MIN_PSUS_KEY!r}: the checker does not count them")
            return 0.0
        return sum(_walk(v, f"{where}.{k}" if where else str(k), problems, counted) for k, v in data.items())
    if isinstance(data, list):
        return sum(_walk(v, f"{where}[{i}]", problems, counted) for i, v in enumerate(data))
    return 0.0


def sum_nameplate(data: Any, path: Path) -> DesignPower:
    """The design power of a parsed nameplate file, summed as the checker sums it, with every problem found."""
    problems: list[str] = []
    counted: list[int] = []
    if data is None:
        return DesignPower(None, path, None, 0, ("the file is empty: the checker refuses it (could not be loaded)",))
    total_w = _walk(data, "", problems, counted)
    if not counted:
        problems.append(f"no component has both {PSUS_KEY!r} and {MIN_PSUS_KEY!r}: the design power would be 0 W")
    elif total_w <= 0:
        problems.append("the PSUs counted add up to 0 W")
    return DesignPower(total_w if counted and total_w > 0 else None, path, None, len(counted), tuple(problems))


def read_nameplate(path: Path) -> DesignPower:
    """A nameplate file read (YAML, safe_load as the checker reads it) and summed; a file that cannot be read or
    parsed gives no design power and says why."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as e:
        return DesignPower(None, path, None, 0, (f"cannot be read: {e.strerror or e}",))
    except UnicodeDecodeError:
        return DesignPower(None, path, None, 0, ("not UTF-8 text",))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        what = getattr(e, "problem", None) or e
        return DesignPower(None, path, None, 0, (f"not valid YAML{where}: {what}",))
    return sum_nameplate(data, path)


def nameplate_path(performance_root: Path) -> tuple[Path, str] | None:
    """Where a result in a submission tree (``<submitter>/results/<system_id>/<benchmark>/<scenario>/performance``)
    has its nameplate file, and its system id; None when the result is not in such a tree."""
    parents = performance_root.resolve().parents
    if len(parents) < 5 or parents[3].name != "results":
        return None
    system_id = parents[2].name
    return parents[4] / "systems" / f"{system_id}{NAMEPLATE_SUFFIX}", system_id


def _system_capacity(system_json: Path) -> DesignPower | None:
    try:
        obj = json.loads(system_json.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(obj, dict) or SYSTEM_CAPACITY_FIELD not in obj:
        return None
    value = obj[SYSTEM_CAPACITY_FIELD]
    if not _number(value) or value <= 0:
        why = f"{SYSTEM_CAPACITY_FIELD}: a positive number of watts is needed, not {value!r}"
        return DesignPower(None, system_json, SYSTEM_CAPACITY_FIELD, 0, (why,))
    return DesignPower(float(value), system_json, SYSTEM_CAPACITY_FIELD)


def find_design_power(performance_root: Path) -> DesignPower | None:
    """The design power of the system a result belongs to, from its submission tree: ``system_power_capacity`` in
    ``systems/<system_id>.json`` first, then ``systems/<system_id>_power.yaml``; None when neither is there."""
    found = nameplate_path(performance_root)
    if found is None:
        return None
    path, system_id = found
    by_field = _system_capacity(path.parent / f"{system_id}.json")
    if by_field is not None:
        return by_field
    return read_nameplate(path) if path.is_file() else None


def design_power_record(design: DesignPower, avg_power_w: float | None) -> DesignPowerRecord:
    """The report's record: design power, the measured average against it (W and %), and where it came from
    (``systems/<file>``, and the field where it is one)."""
    source = f"systems/{design.path.name}" + (f" ({design.json_field})" if design.json_field else "")
    share = None
    if design.design_power_w and avg_power_w is not None:
        share = 100.0 * avg_power_w / design.design_power_w
    return DesignPowerRecord(
        design_power_w=design.design_power_w,
        avg_power_w=avg_power_w,
        share_pct=share,
        source=source,
        problems=list(design.problems),
    )


def design_power_text(record: DesignPowerRecord) -> str:
    """One line for the text and HTML reports."""
    if record.design_power_w is None:
        return f"n/a: {'; '.join(record.problems) or 'no design power'} ({record.source})"
    measured = f"{record.avg_power_w:,.2f} W measured of " if record.avg_power_w is not None else ""
    share = f" ({record.share_pct:.1f} %)" if record.share_pct is not None else ""
    warn = f"; {len(record.problems)} problem(s): {'; '.join(record.problems)}" if record.problems else ""
    return f"{measured}{record.design_power_w:,.0f} W design{share}, from {record.source}{warn}"
