"""Component power sources (RAPL domains, hwmon sensors): their names, and how a name becomes a SUT source.

A component is named for people with colons, family first: ``rapl:package-0``, ``rapl:package-0:dram``,
``rapl-mmio:package-0``, ``hwmon:amdgpu:PPT``. On the wire and in the run folder (``samples/<source>``,
a file name, so no colons) the same name is written with dots, and the series last:
``rapl.package-0.dram.energy``, ``hwmon.amdgpu.PPT.power``. Every segment holds only ``A-Z a-z 0-9 _ -``
(:func:`safe_segment` makes one from any text), so the dots can be undone. A component source is never a
GPU source: GPU sources are ``gpu<N>.<series>``, and no component family is called ``gpu``.
"""

from __future__ import annotations

import re
from typing import Literal

__all__ = [
    "COMPONENT_FAMILIES",
    "MAX_NAME_LENGTH",
    "SERIES",
    "Series",
    "component_source",
    "is_component_name",
    "parse_component_source",
    "safe_segment",
]

COMPONENT_FAMILIES = ("rapl", "rapl-mmio", "hwmon")
Series = Literal["power", "energy"]
SERIES: tuple[Series, ...] = ("power", "energy")
MAX_NAME_LENGTH = 57  # a wire source is at most 64 characters: the name, a dot and "energy"
_SEGMENT = r"[A-Za-z0-9_-]+"
_FAMILY = rf"(?P<family>{'|'.join(map(re.escape, COMPONENT_FAMILIES))})"
_NAME = re.compile(rf"^{_FAMILY}(?::{_SEGMENT})+$")
_SOURCE = re.compile(rf"^{_FAMILY}(?P<rest>(?:\.{_SEGMENT})+)\.(?P<series>power|energy)$")


def safe_segment(text: str, limit: int = 24) -> str:
    """One name segment from any text (a sysfs label such as ``Package power``): ``Package_power``."""
    out = re.sub(r"[^A-Za-z0-9_-]+", "_", text.strip()).strip("_")[:limit]
    return out or "unnamed"


def is_component_name(name: str) -> bool:
    return len(name) <= MAX_NAME_LENGTH and _NAME.match(name) is not None


def component_source(name: str, series: Series) -> str:
    """``rapl:package-0:dram`` and ``energy`` -> ``rapl.package-0.dram.energy``."""
    if not is_component_name(name):
        raise ValueError(f"not a component name: {name!r} (family {'/'.join(COMPONENT_FAMILIES)}, then :segments)")
    return f"{name.replace(':', '.')}.{series}"


def parse_component_source(source: str) -> tuple[str, Series] | None:
    """``rapl.package-0.dram.energy`` -> (``rapl:package-0:dram``, ``energy``); None for any other source."""
    m = _SOURCE.match(source)
    if m is None:
        return None
    series: Series = "power" if m.group("series") == "power" else "energy"
    return m.group("family") + m.group("rest").replace(".", ":"), series
