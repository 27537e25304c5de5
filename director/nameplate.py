"""``mlpower-director nameplate``: MLPerf v6.1's ``systems/<system_id>_power.yaml`` written from each node's Redfish
power supplies, or a given one checked.

Each ``redfish://HOST/CHASSIS`` URL is one node. Its supplies are read where the Redfish meter finds them
(:func:`director.meters.redfish.power_supplies`: the chassis' ``PowerSubsystem``, else the older ``Power``
resource), with the same URL options, TLS and credentials (``credentials=FILE`` or ``MLPOWER_REDFISH_USER`` /
``MLPOWER_REDFISH_PASSWORD``). A supply that is absent is left out; one that gives no ``PowerCapacityWatts`` is an
error (its rating is on its label: write the file by hand). ``Min PSUs Needed`` is ``--min-psus``, else the BMC's
redundancy group (``MinNeededInGroup``, legacy ``MinNumNeeded``), else an error: it is the submitter's statement of
how many supplies carry the system, and no guess is made. The file is summed and checked with the official
checker's rules (:mod:`analyzer.nameplate`) before anything is said about it.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from analyzer.nameplate import (
    CAPACITY_KEY,
    MIN_PSUS_KEY,
    NAMEPLATE_SUFFIX,
    PSUS_KEY,
    SYSTEM_CAPACITY_FIELD,
    DesignPower,
    read_nameplate,
)
from director.errors import ConfigError, MeterProtocolError
from director.meters.redfish import SupplyListing, open_redfish, power_supplies
from director.meters.urls import parse_meter_url
from powerlog.cli_support import EXIT_ERRORS, EXIT_OK

__all__ = [
    "NodeNameplate",
    "PsuNameplate",
    "check_nameplate",
    "nameplate_yaml",
    "read_node",
    "run_nameplate",
]

LABEL_KEYS = ("Manufacturer", "Model", "SerialNumber", "PartNumber", "PowerSupplyType", "FirmwareVersion")


@dataclass(frozen=True)
class PsuNameplate:
    """One power supply's label as the BMC gives it."""

    name: str
    capacity_w: float
    label: tuple[tuple[str, str], ...]  # (key, value) of LABEL_KEYS the BMC gives


@dataclass(frozen=True)
class NodeNameplate:
    """One node (a chassis behind one BMC): its supplies and how many of them it needs."""

    label: str
    description: str
    psus: tuple[PsuNameplate, ...]
    min_psus_needed: int
    simulated: bool

    @property
    def design_power_w(self) -> float:
        """The checker's figure: the ``Min PSUs Needed`` largest capacities."""
        return sum(sorted((p.capacity_w for p in self.psus), reverse=True)[: self.min_psus_needed])


def _words(resource: dict[str, Any], *keys: str) -> str:
    return " ".join(str(resource.get(k) or "").strip() for k in keys if str(resource.get(k) or "").strip())


def _psu(supply: dict[str, Any], where: str) -> PsuNameplate | None:
    """A present supply's label; None for an empty bay."""
    status = supply.get("Status")
    if isinstance(status, dict) and status.get("State") == "Absent":
        return None
    name = str(supply.get("Name") or supply.get("Id") or supply.get("MemberId") or where)
    capacity = supply.get(CAPACITY_KEY)
    if isinstance(capacity, bool) or not isinstance(capacity, int | float) or capacity <= 0:
        raise MeterProtocolError(
            f"power supply {name!r} gives no {CAPACITY_KEY} (got {capacity!r}): read its rating off its label and "
            f"write the file by hand (mlpower-director nameplate --check FILE checks it)",
            meter=where,
            command=f"GET {supply.get('@odata.id') or where}",
        )
    label = tuple((k, str(supply[k]).strip()) for k in LABEL_KEYS if str(supply.get(k) or "").strip())
    return PsuNameplate(name, float(capacity), label)


def _min_needed(listing: SupplyListing) -> int | None:
    """What the BMC's redundancy group says the chassis needs; None when it says nothing (or several things)."""
    key = "MinNeededInGroup" if listing.source == "PowerSubsystem" else "MinNumNeeded"
    values = {g.get(key) for g in listing.redundancy if isinstance(g.get(key), int) and g.get(key) is not True}
    return values.pop() if len(values) == 1 else None


def read_node(url_text: str, min_psus: int | None = None) -> NodeNameplate:
    """One node's nameplate from its BMC; ``min_psus`` (None: the BMC's redundancy group) is Min PSUs Needed."""
    url = parse_meter_url(url_text)
    if url.scheme != "redfish":
        raise ConfigError(f"{url_text!r}: nameplate reads a BMC through Redfish: give redfish://HOST/CHASSIS")
    meter = open_redfish(url)
    meter.transport.open()
    try:
        listing = power_supplies(meter)
    finally:
        meter.transport.close()
    psus = [p for i, s in enumerate(listing.supplies) if (p := _psu(s, f"{meter.name} supply {i}")) is not None]
    if not psus:
        raise MeterProtocolError(f"chassis {listing.chassis_uri} has no power supply present", meter=meter.name)
    needed, said = (min_psus, "--min-psus") if min_psus is not None else (_min_needed(listing), "the BMC")
    if needed is None:
        raise ConfigError(
            f"{meter.name}: the BMC publishes no power supply redundancy (MinNeededInGroup or MinNumNeeded): give "
            f"--min-psus N, how many of its {len(psus)} supplies carry the system at full load (e.g. 2 for 2+2)"
        )
    if not 1 <= needed <= len(psus):
        raise ConfigError(f"{meter.name}: Min PSUs Needed {needed} (from {said}) must be 1 to {len(psus)}, the "
                          "supplies present")  # fmt: skip
    hardware = _words(listing.chassis, "Manufacturer", "Model", "SerialNumber") or "(no model given)"
    texts = [hardware, listing.chassis.get("Name")] + [v for p in psus for _, v in p.label]
    simulated = any("SIMULATED" in str(t).upper() for t in texts)
    description = f"{hardware}; read from Redfish {listing.source} at {meter.name}; Min PSUs Needed from {said}" + (
        "; SIMULATED" if simulated else ""
    )
    netloc = f"[{url.host}]" if ":" in url.host else url.host
    chassis_id = listing.chassis_uri.rstrip("/").rsplit("/", 1)[-1]
    return NodeNameplate(f"{netloc}:{url.port} chassis {chassis_id}", description, tuple(psus), needed, simulated)


def _capacity(value_w: float) -> int | float:
    return int(value_w) if value_w.is_integer() else value_w


def nameplate_yaml(system_id: str, nodes: list[NodeNameplate]) -> str:
    """The file's text in the shape of the submission rules' template: system -> nodes -> PSUs."""
    tree = {
        system_id: [
            {
                node.label: [
                    {
                        "Description": node.description,
                        MIN_PSUS_KEY: node.min_psus_needed,
                        PSUS_KEY: [
                            {"Name": p.name, CAPACITY_KEY: _capacity(p.capacity_w), **dict(p.label)} for p in node.psus
                        ],
                    }
                ]
            }
            for node in nodes
        ]
    }
    simulated = " (SIMULATED BMCs)" if any(n.simulated for n in nodes) else ""
    head = f"# MLPerf nameplate power of {system_id}: written by mlpower-director nameplate from Redfish{simulated}\n"
    return head + yaml.safe_dump(tree, sort_keys=False, default_flow_style=False, allow_unicode=True)


def check_nameplate(path: Path) -> tuple[DesignPower, list[str]]:
    """The file summed and checked as the checker does, and notes on where it sits (its name, a system JSON that
    would take precedence)."""
    design = read_nameplate(path)
    notes: list[str] = []
    if not path.name.endswith(NAMEPLATE_SUFFIX):
        notes.append(f"the checker reads systems/<system_id>{NAMEPLATE_SUFFIX}, named after results/<system_id>: "
                     f"rename {path.name}")  # fmt: skip
    elif path.resolve().parent.name != "systems":
        notes.append(f"put it in the submitter's systems/ folder (it is in {path.resolve().parent})")
    system_json = path.with_name(path.name.removesuffix(NAMEPLATE_SUFFIX) + ".json")
    if system_json.is_file() and SYSTEM_CAPACITY_FIELD in system_json.read_text(encoding="utf-8", errors="replace"):
        notes.append(f"{system_json.name} gives {SYSTEM_CAPACITY_FIELD}: the checker takes that, not this file")
    return design, notes


def _print_check(path: Path, design: DesignPower, notes: list[str]) -> bool:
    if design.design_power_w is not None:
        print(f"{path}: design power {design.design_power_w:,.0f} W ({design.components} PSU group(s) counted)")
    for problem in design.problems:
        print(f"{path}: problem: {problem}", file=sys.stderr)
    for note in notes:
        print(f"{path}: note: {note}", file=sys.stderr)
    return design.design_power_w is not None and not design.problems


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def run_nameplate(args: argparse.Namespace) -> int:
    """``mlpower-director nameplate``: write the file from the BMCs, or ``--check`` a given one."""
    if args.check is not None:
        if args.urls or args.out is not None:
            raise ConfigError("--check FILE checks a file: give it alone, without redfish:// URLs or --out")
        design, notes = check_nameplate(Path(args.check))
        return EXIT_OK if _print_check(Path(args.check), design, notes) else EXIT_ERRORS
    if not args.urls:
        raise ConfigError("give each node's BMC as redfish://HOST/CHASSIS, or --check FILE")
    if args.min_psus is not None and args.min_psus < 1:
        raise ConfigError(f"--min-psus must be at least 1, not {args.min_psus}")
    nodes = [read_node(url, args.min_psus) for url in args.urls]
    out = Path(args.out) if args.out is not None else None
    system_id = args.system_id or (out.name.removesuffix(NAMEPLATE_SUFFIX) if out is not None else "system")
    text = nameplate_yaml(system_id, nodes)
    for node in nodes:
        capacities = ", ".join(f"{p.capacity_w:g}" for p in node.psus)
        print(f"{node.label}: {len(node.psus)} PSUs ({capacities} W), {node.min_psus_needed} needed: "
              f"{node.design_power_w:,.0f} W{'   SIMULATED' if node.simulated else ''}", file=sys.stderr)  # fmt: skip
    if out is None:
        sys.stdout.write(text)
        return EXIT_OK
    _write(out, text)
    design, notes = check_nameplate(out)
    return EXIT_OK if _print_check(out, design, notes) else EXIT_ERRORS
