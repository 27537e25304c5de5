"""``system.json``: the system a session measured (its nodes, their wall sources, the LoadGen node and the
interconnect), as typed, versioned models.

The director writes it into the run folder with :func:`write_system_json` (atomically) from the system
description it serves (``director.system``: a ``SYSTEM.toml`` file, or the one node ``--meter`` alone
means); readers use :func:`read_system_json` or :func:`parse_system_json`. As for ``session.json``, fields a
reader does not know are ignored and ``format`` names the version: ``mlpower-system-1``. Meter URLs are
recorded as given: the director refuses any URL holding a user or a password before it gets here, and this
model refuses one too. docs/file-formats.md lists the fields, and a test keeps the two in step.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, computed_field, field_validator, model_validator

from powerlog.cli_support import write_json_atomic
from powerlog.json_record import FrozenRecord, parse_record, read_json_file
from powerlog.tiers import MeasurementTier

__all__ = [
    "SYSTEM_FILE",
    "SYSTEM_FORMAT",
    "InterconnectRecord",
    "NodeRecord",
    "SystemRecord",
    "WallSourceRecord",
    "parse_system_json",
    "read_system_json",
    "write_system_json",
]

SYSTEM_FORMAT = "mlpower-system-1"
SYSTEM_FILE = "system.json"


class WallSourceRecord(FrozenRecord):
    """One wall meter URL, its tier, and the channels of it that belong here (None: all of them)."""

    url: str
    tier: MeasurementTier | None = None  # None: a URL no declared meter model takes (a newer director's)
    channels: list[int] | None = None
    # where a session stored its samples, relative to the run folder: "" the run folder's own ranging/spl.txt and
    # run_1/spl.txt (the LoadGen node's meter), "wall/<key>" another meter's; None: not measured in a session
    samples_dir: str | None = None
    interval_ms: int | None = None  # its nominal sampling interval

    @field_validator("url")
    @classmethod
    def _no_credentials(cls, url: str) -> str:
        if "@" in urlsplit(url).netloc:
            raise ValueError("a meter URL in system.json holds no user or password")
        return url

    @field_validator("channels")
    @classmethod
    def _channels(cls, channels: list[int] | None) -> list[int] | None:
        if channels is not None and (not channels or min(channels) < 1 or len(set(channels)) != len(channels)):
            raise ValueError("channels are distinct numbers from 1, at least one")
        return channels


class NodeRecord(FrozenRecord):
    name: str
    wall: list[WallSourceRecord] = Field(default_factory=list)


class InterconnectRecord(FrozenRecord):
    """Measured (``wall``) or estimated (``max_power_w`` x ``share``, ``estimated`` true): never both."""

    estimated: bool
    wall: list[WallSourceRecord] = Field(default_factory=list)
    max_power_w: float | None = None
    share: float | None = None
    note: str = ""

    @computed_field  # type: ignore[prop-decorator]
    @property
    def estimated_power_w(self) -> float | None:
        """The estimate: the switch's maximum specified power times the share of it the run uses."""
        if self.max_power_w is None or self.share is None:
            return None
        return self.max_power_w * self.share

    @model_validator(mode="after")
    def _one_kind(self) -> InterconnectRecord:
        if self.estimated:
            if self.wall:
                raise ValueError("interconnect: an estimated interconnect has no wall sources")
            if self.max_power_w is None or not math.isfinite(self.max_power_w) or self.max_power_w <= 0:
                raise ValueError("interconnect.max_power_w: an estimated interconnect needs a positive max_power_w")
            if self.share is None or not 0 < self.share <= 1:
                raise ValueError("interconnect.share: an estimated interconnect needs a share in (0, 1]")
        elif not self.wall or self.max_power_w is not None or self.share is not None:
            raise ValueError("interconnect: a measured interconnect has wall sources and no max_power_w or share")
        return self


class SystemRecord(FrozenRecord):
    format: str = SYSTEM_FORMAT
    name: str
    described_by: str = ""  # the system file's path, or "--meter" for the one node --meter alone means
    nodes: list[NodeRecord]
    loadgen_node: str
    interconnect: InterconnectRecord | None = None
    tier: MeasurementTier | None = None  # the weakest of the wall sources' tiers (an estimate has none)

    @model_validator(mode="after")
    def _loadgen_node_is_a_node(self) -> SystemRecord:
        names = [n.name for n in self.nodes]
        if not names:
            raise ValueError("nodes: a system has at least one node")
        if len(set(names)) != len(names):
            raise ValueError("nodes: node names are unique")
        if self.loadgen_node not in names:
            raise ValueError(f"loadgen_node: {self.loadgen_node!r} is none of the nodes ({', '.join(names)})")
        return self

    def node(self, name: str) -> NodeRecord | None:
        return next((n for n in self.nodes if n.name == name), None)


def parse_system_json(obj: Any, path: str = SYSTEM_FILE) -> SystemRecord:
    """A system record from parsed JSON; :class:`~powerlog.errors.FormatError` saying which field is wrong."""
    return parse_record(SystemRecord, obj, path, "a system record")


def read_system_json(folder: Path) -> SystemRecord:
    """The ``system.json`` of a run folder."""
    path = folder / SYSTEM_FILE
    return parse_system_json(read_json_file(path), str(path))


def write_system_json(folder: Path, record: SystemRecord) -> Path:
    """``system.json`` into a run folder, atomically: a reader (or a crash) never sees half a record."""
    path = folder / SYSTEM_FILE
    write_json_atomic(path, record.model_dump(mode="json"))
    return path
