"""How the director measures a described system in one session (``serve --system``): which meters are the
session's own, which are beside it, and where each wall source's samples are stored.

- The LoadGen node's meters are the session's own meter (several: a :class:`MeterGroup`, as ``--meter`` given
  more than once), whose samples are the run folder's official ``ranging/spl.txt`` and ``run_1/spl.txt``.
- Every other meter (other nodes', a measured interconnect's) is a :class:`WallMeterPlan`: its own pump, its
  own folder ``wall/<key>/`` (the key: the first node naming it, and its place in that node's ``wall``), its own
  rate (a 1 Hz BMC beside a 10 Hz analyzer is joined by time in the analyzer, not resampled here).
- A meter several parts name (one multichannel analyzer measuring two nodes, each its own ``channels``) is
  opened once; both parts read its one folder, each its channels.

The system record (``system.json``) says, for every wall source, where its samples are (``samples_dir``: "" for
the run folder's own spl.txt) and its nominal interval, so the analyzer needs nothing else to join by time.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from director.errors import SystemConfigError
from director.meters.model import MeterUrl
from director.meters.urls import open_meter
from director.session.wall_sources import WallMeterPlan
from director.system.description import MeasuredInterconnect, SystemDescription, WallSource
from powerlog.layout import WALL_DIR
from powerlog.system_record import InterconnectRecord, NodeRecord, SystemRecord, WallSourceRecord

__all__ = ["INTERCONNECT", "SystemPlan", "plan_system"]

INTERCONNECT = "interconnect"  # the name a measured interconnect's meters go by, as a node's would


@dataclass(frozen=True)
class SystemPlan:
    description: SystemDescription
    session_meter_urls: tuple[MeterUrl, ...]  # the LoadGen node's meters: the session's own
    wall_meters: tuple[WallMeterPlan, ...]  # every other meter
    record: SystemRecord  # system.json, each source with where its samples are

    @property
    def session_meter_text(self) -> str:
        return " + ".join(url.text for url in self.session_meter_urls)


def _meter_id(source: WallSource, part: str, index: int) -> object:
    """What says two sources are one meter; a sim:// or none:// source is always its own."""
    return source.meter_key or (part, index)


def plan_system(description: SystemDescription) -> SystemPlan:
    """The plan for ``description``; :class:`SystemConfigError` when a meter is shared in a way one session
    cannot store apart (a meter of the LoadGen node's group measuring another node too)."""
    loadgen = description.loadgen
    parts = [(n.name, n.wall) for n in description.nodes]
    if isinstance(description.interconnect, MeasuredInterconnect):
        parts.append((INTERCONNECT, description.interconnect.wall))
    nodes_of: dict[object, list[str]] = {}  # each distinct meter: the parts it measures, in order
    first: dict[object, tuple[str, int, WallSource]] = {}  # and where it is first named
    for part, sources in parts:
        for index, source in enumerate(sources):
            meter_id = _meter_id(source, part, index)
            first.setdefault(meter_id, (part, index, source))
            if part not in nodes_of.setdefault(meter_id, []):
                nodes_of[meter_id].append(part)
    session_ids = list(dict.fromkeys(_meter_id(s, loadgen.name, i) for i, s in enumerate(loadgen.wall)))
    session_urls = tuple(first[m][2].url for m in session_ids)
    shared = [m for m in session_ids if len(nodes_of[m]) > 1]
    if shared and len(session_urls) > 1:
        raise SystemConfigError(
            f"node {loadgen.name!r} (the LoadGen node) has {len(session_urls)} meters, summed as one, and one of "
            f"them also measures {', '.join(n for n in nodes_of[shared[0]] if n != loadgen.name)}: its channels "
            "cannot be told apart in the sum. Give the LoadGen node's meters to it alone, or give it one meter"
        )
    dirs = {m: "" if m in session_ids else f"{WALL_DIR}/{part}.{index}" for m, (part, index, _) in first.items()}
    wall_meters = tuple(
        WallMeterPlan(f"{part}.{index}", tuple(nodes_of[m]), source.url.text, functools.partial(open_meter, source.url),
                      source.url.interval_ms)
        for m, (part, index, source) in first.items()
        if m not in session_ids
    )  # fmt: skip

    def records(part: str, sources: tuple[WallSource, ...]) -> list[WallSourceRecord]:
        return [
            s.to_record().model_copy(
                update={"samples_dir": dirs[_meter_id(s, part, i)], "interval_ms": s.url.interval_ms}
            )
            for i, s in enumerate(sources)
        ]

    base = description.to_record()
    interconnect = base.interconnect
    if isinstance(description.interconnect, MeasuredInterconnect) and interconnect is not None:
        interconnect = InterconnectRecord(
            estimated=False, wall=records(INTERCONNECT, description.interconnect.wall), note=interconnect.note
        )
    record = base.model_copy(
        update={
            "nodes": [NodeRecord(name=n.name, wall=records(n.name, n.wall)) for n in description.nodes],
            "interconnect": interconnect,
        }
    )
    return SystemPlan(description, session_urls, wall_meters, record)
