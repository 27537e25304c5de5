"""The system under test as the director sees it: its nodes, each node's wall sources, the LoadGen node and
the interconnect, validated and typed (:class:`SystemDescription`).

A description comes from a ``SYSTEM.toml`` file (:func:`director.system.toml_file.load_system`) or, for
``--meter`` alone, from :meth:`SystemDescription.single_node`. Its record in the run folder is
:class:`powerlog.system_record.SystemRecord` (``system.json``), made by :meth:`SystemDescription.to_record`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from director.meters.model import MeterUrl
from director.meters.registry import tier_of_url
from director.meters.urls import model_of_url, parse_meter_url
from powerlog.system_record import InterconnectRecord, NodeRecord, SystemRecord, WallSourceRecord
from powerlog.tiers import MeasurementTier

__all__ = [
    "SINGLE_NODE_NAME",
    "EstimatedInterconnect",
    "Interconnect",
    "MeasuredInterconnect",
    "Node",
    "SystemDescription",
    "WallSource",
]

SINGLE_NODE_NAME = "sut"  # the node (and system) name of the one-node system --meter alone means


@dataclass(frozen=True)
class WallSource:
    """One meter URL (validated), its tier (the declared model's), and which of its channels are this part's
    (None: all of them; a multichannel analyzer may measure several nodes, each its own channels)."""

    url: MeterUrl
    tier: MeasurementTier
    channels: tuple[int, ...] | None = None

    @classmethod
    def parse(cls, text: str, channels: tuple[int, ...] | None = None) -> WallSource:
        """From a meter URL; MeterConfigError as ``--meter`` gives one when it is not a usable URL."""
        url = parse_meter_url(text)
        return cls(url, model_of_url(url).tier, channels)

    @property
    def meter_key(self) -> tuple[str, str, int, str] | None:
        """What says two URLs reach the same meter (scheme, host, port, path); None for ``sim://`` (each opens
        its own simulated instrument) and ``none://`` (no meter)."""
        if self.url.scheme in ("sim", "none"):
            return None
        return (self.url.scheme, self.url.host.lower(), self.url.port, self.url.path.rstrip("/"))

    def to_record(self) -> WallSourceRecord:
        channels = list(self.channels) if self.channels is not None else None
        return WallSourceRecord(url=self.url.text, tier=self.tier, channels=channels)


@dataclass(frozen=True)
class Node:
    name: str
    wall: tuple[WallSource, ...]  # summed: the node's wall power

    def to_record(self) -> NodeRecord:
        return NodeRecord(name=self.name, wall=[s.to_record() for s in self.wall])


@dataclass(frozen=True)
class MeasuredInterconnect:
    """The switches' wall power, measured by meters of their own."""

    wall: tuple[WallSource, ...]
    note: str = ""

    def to_record(self) -> InterconnectRecord:
        return InterconnectRecord(estimated=False, wall=[s.to_record() for s in self.wall], note=self.note)


@dataclass(frozen=True)
class EstimatedInterconnect:
    """The switches' power estimated, as the MLPerf training power rules allow: the maximum specified power
    times the share the run uses. Reported as estimated wherever it is counted."""

    max_power_w: float
    share: float
    note: str

    @property
    def power_w(self) -> float:
        return self.max_power_w * self.share

    def to_record(self) -> InterconnectRecord:
        return InterconnectRecord(estimated=True, max_power_w=self.max_power_w, share=self.share, note=self.note)


Interconnect = MeasuredInterconnect | EstimatedInterconnect


@dataclass(frozen=True)
class SystemDescription:
    """A validated system: unique node names, the LoadGen node one of them, every node with a wall source."""

    name: str
    nodes: tuple[Node, ...]
    loadgen_node: str
    interconnect: Interconnect | None = None
    described_by: str = ""  # the file it was read from, or "--meter"

    @classmethod
    def single_node(cls, meter_urls: Sequence[str], name: str = SINGLE_NODE_NAME) -> SystemDescription:
        """The one-node system ``serve --meter URL [--meter URL ...]`` means: every meter on the LoadGen node,
        summed. Each URL is checked as ``--meter`` checks it (MeterConfigError); ``none://`` is allowed here."""
        if not meter_urls:
            raise ValueError("a one-node system needs at least one meter URL")
        node = Node(name, tuple(WallSource.parse(url) for url in meter_urls))
        return cls(name, (node,), name, None, "--meter")

    @property
    def loadgen(self) -> Node:
        return next(n for n in self.nodes if n.name == self.loadgen_node)

    @property
    def sources(self) -> tuple[WallSource, ...]:
        """Every wall source: each node's, then the measured interconnect's."""
        measured = self.interconnect.wall if isinstance(self.interconnect, MeasuredInterconnect) else ()
        return tuple(s for n in self.nodes for s in n.wall) + measured

    @property
    def tier(self) -> MeasurementTier | None:
        """The weakest tier of the wall sources (as for ``--meter`` URLs joined with `` + ``): a sum is only as
        good as its least accurate part. An estimated interconnect has no tier; it is reported as estimated."""
        return tier_of_url(" + ".join(s.url.text for s in self.sources))

    def node(self, name: str) -> Node | None:
        return next((n for n in self.nodes if n.name == name), None)

    def to_record(self) -> SystemRecord:
        """What ``system.json`` records of it."""
        return SystemRecord(
            name=self.name,
            described_by=self.described_by,
            nodes=[n.to_record() for n in self.nodes],
            loadgen_node=self.loadgen_node,
            interconnect=self.interconnect.to_record() if self.interconnect is not None else None,
            tier=self.tier,
        )
