"""``mlpower-director system-check``: a system description read and checked, and what it says, printed.

Nothing connects: the check is the file's (its tables, keys, meter URLs and tiers). A bad file is an error
naming the file, the table and the key (exit 2, from ``director.cli``).
"""

from __future__ import annotations

import argparse

from director.system.description import EstimatedInterconnect, MeasuredInterconnect, SystemDescription, WallSource
from director.system.toml_file import load_system
from powerlog.cli_support import EXIT_OK
from powerlog.tiers import tier_description

__all__ = ["describe_system", "run_system_check"]


def _source_line(source: WallSource) -> str:
    channels = f"  channels {', '.join(map(str, source.channels))}" if source.channels is not None else ""
    return f"    {source.tier.value:<10}  {source.url.text}{channels}"


def describe_system(system: SystemDescription) -> list[str]:
    """The lines ``system-check`` prints: every node with its sources and their tiers, the LoadGen node, the
    interconnect (an estimate said so) and the system's tier."""
    lines = [f"system {system.name!r} ({system.described_by}): {len(system.nodes)} node(s)"]
    for node in system.nodes:
        loadgen = "   (runs LoadGen)" if node.name == system.loadgen_node else ""
        lines.append(f"  node {node.name}{loadgen}")
        lines.extend(_source_line(s) for s in node.wall)
    interconnect = system.interconnect
    if interconnect is None:
        lines.append("  interconnect: none given")
    elif isinstance(interconnect, MeasuredInterconnect):
        lines.append(f"  interconnect: measured{f' ({interconnect.note})' if interconnect.note else ''}")
        lines.extend(_source_line(s) for s in interconnect.wall)
    else:
        lines.append(_estimate_line(interconnect))
    tier = system.tier
    if tier is None:
        lines.append("tier: none (no wall source is a declared meter model's)")
    else:
        lines.append(f"tier: {tier.value}, the weakest of its wall sources: {tier_description(tier)}")
    return lines


def _estimate_line(interconnect: EstimatedInterconnect) -> str:
    return (
        f"  interconnect: ESTIMATED, not measured: {interconnect.power_w:g} W = max_power_w "
        f"{interconnect.max_power_w:g} W x share {interconnect.share:g} ({interconnect.note}); reported as estimated"
    )


def run_system_check(args: argparse.Namespace) -> int:
    """Load ``args.system`` and print it; a bad file raises SystemConfigError (the CLI prints it, exit 2)."""
    for line in describe_system(load_system(args.system)):
        print(line)
    return EXIT_OK
