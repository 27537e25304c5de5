"""A multi-node run folder's wall sources, read for the join by time: every source of ``system.json`` as a
:class:`~analyzer.time_join.WallSeries` of its own testing samples (its meter's ``run_1/spl.txt``, the channels
that are its own), and the interconnect, measured or estimated.

Where a source's samples are is in its record (``samples_dir``: "" the run folder's own spl.txt, the LoadGen
node's meter; ``wall/<key>`` another meter's). A source whose file is missing or unreadable is an empty series
(the join then says it has no samples) and a problem naming the file, never a figure made up. A measured
interconnect of one source is the join's interconnect; of several, a part named ``interconnect`` beside the
nodes, each source integrated on its own as any node's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from analyzer.time_join import EstimatedInterconnect, WallSeries
from powerlog.errors import PowerlogError
from powerlog.layout import SESSION_PHASE_DIRS, TESTING, WALL_DIR
from powerlog.run_record import SessionJson
from powerlog.spl import PowerLog, read_spl
from powerlog.spl_records import FloatArray
from powerlog.system_record import SystemRecord, WallSourceRecord

__all__ = ["INTERCONNECT", "SystemWall", "simulated_meters", "source_name", "system_wall"]

INTERCONNECT = "interconnect"


@dataclass(frozen=True)
class SystemWall:
    """The testing samples of every wall source of a described system, ready for :func:`join_by_time`."""

    sources: tuple[WallSeries, ...]
    interconnect: WallSeries | EstimatedInterconnect | None


def source_name(part: str, index: int) -> str:
    """A source's name in the join and the report: its node (or ``interconnect``) and its place in that part's
    ``wall`` list, from 0."""
    return f"{part}.{index}"


def simulated_meters(session: SessionJson | None) -> dict[str, bool]:
    """Per samples folder ("" the session's own meter, ``wall/<key>`` another), whether its meter identified itself
    as simulated, from session.json."""
    if session is None:
        return {}
    own = session.meter is not None and session.meter.identity is not None and session.meter.identity.simulated
    out = {"": bool(own)}
    out.update({f"{WALL_DIR}/{m.key}": m.identity is not None and m.identity.simulated for m in session.wall_meters})
    return out


def _channel_power(log: PowerLog, channels: list[int] | None, where: str) -> FloatArray:
    if channels is None:
        return log.power_w
    if not log.channels or max(channels) > len(log.channels):
        raise PowerlogError(f"{where}: channels {channels} asked for, the file has {len(log.channels)}")
    total: FloatArray = np.sum([log.channels[c - 1].power_w for c in channels], axis=0)
    return total


def system_wall(
    root: Path,
    system: SystemRecord,
    own_spl: PowerLog | None,
    problem: Callable[[Path, str], None],
    phase: str = TESTING,
    session: SessionJson | None = None,
) -> SystemWall:
    """The sources of ``system`` in ``phase`` from the run folder at ``root``; ``own_spl`` is the run folder's own
    spl.txt of that phase as already read (None when it could not be). ``problem(path, reason)`` is told of every
    source whose samples could not be read. ``session`` (session.json) says which meters were simulated."""
    logs: dict[str, PowerLog | None] = {"": own_spl}
    simulated = simulated_meters(session)

    def log_of(samples_dir: str) -> PowerLog | None:
        if samples_dir not in logs:
            path = root / samples_dir / SESSION_PHASE_DIRS[phase] / "spl.txt"
            try:
                logs[samples_dir] = read_spl(path, fields=("power_w",), marks=False)
            except (OSError, PowerlogError) as e:
                problem(path, f"{e}: that wall source has no samples in the result")
                logs[samples_dir] = None
        return logs[samples_dir]

    def series(part: str, index: int, source: WallSourceRecord) -> WallSeries:
        name = source_name(part, index)
        interval_s = (source.interval_ms or 1000) / 1000
        sim = simulated.get(source.samples_dir or "", False)
        empty = WallSeries(name, part, np.zeros(0, np.int64), np.zeros(0), interval_s, source.tier, sim)
        if source.samples_dir is None:
            return empty
        log = log_of(source.samples_dir)
        if log is None:
            return empty
        where = f"{source.samples_dir or '.'}/{SESSION_PHASE_DIRS[phase]}/spl.txt"
        try:
            power_w = _channel_power(log, source.channels, where)
        except PowerlogError as e:
            problem(root / where, str(e))
            return empty
        return WallSeries(name, part, log.t_utc_ns, power_w, interval_s, source.tier, sim)

    sources = [series(node.name, i, s) for node in system.nodes for i, s in enumerate(node.wall)]
    interconnect: WallSeries | EstimatedInterconnect | None = None
    link = system.interconnect
    if link is not None and link.estimated and link.max_power_w is not None and link.share is not None:
        name = f"{INTERCONNECT} ({link.note})" if link.note else INTERCONNECT
        interconnect = EstimatedInterconnect(name, link.max_power_w, link.share)
    elif link is not None and len(link.wall) == 1:
        interconnect = series(INTERCONNECT, 0, link.wall[0])
    elif link is not None:
        sources += [series(INTERCONNECT, i, s) for i, s in enumerate(link.wall)]
    return SystemWall(tuple(sources), interconnect)
