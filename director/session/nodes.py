"""Node agents in a session: each node's readings under ``nodes/<name>/``, its own clock map, its lease and gaps.

A node agent (``mlpower-agent node``) joins the active session by saying hello; from then on its GPU and
component batches go to ``nodes/<name>/samples/<source>.jsonl`` (Parquet at close), exactly as the LoadGen
node's go to ``samples/``, each node with its own :class:`~director.session.sut_ingest.SutIngest` and so its
own clock reports and :class:`~powerlog.clock_map.SutClockMap`. A node the director has heard from that has
not joined when a phase starts is recorded as a ``missing`` gap; one silent longer than its lease, as a
``silent`` gap, until it is heard again. The session goes on either way, and nothing received is dropped.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from director.errors import SessionStateError
from director.session.feed import SessionFeed
from director.session.run_writer import RunWriter, finish_sample_journals
from director.session.sut_ingest import SutIngest
from powerlog.lines import BadLine
from powerlog.run_record import NodeGap, NodeRecord, SutBatchesRecord
from powerlog.wire import ClockReport, NodeHello, NodeSources, SampleBatch, SessionState

__all__ = ["NODES_DIR", "NODE_LEASE_S", "NODE_POLL_S", "SessionNode", "SessionNodes"]

NODES_DIR = "nodes"
NODE_LEASE_S = 5.0  # a node agent calls every second (batches or a heartbeat): five missed calls make a gap
FLUSH_POLL_S = 0.1
NODE_POLL_S = 1.0  # a node agent with no session to join says hello again this often


@dataclass
class _Gap:
    reason: str
    phase: str
    from_utc_ns: int
    detected_utc_ns: int
    until_utc_ns: int | None = None

    def record(self) -> NodeGap:
        return NodeGap(reason=self.reason, phase=self.phase, from_utc_ns=self.from_utc_ns,
                       detected_utc_ns=self.detected_utc_ns, until_utc_ns=self.until_utc_ns)  # fmt: skip


@dataclass
class SessionNode:
    """One node agent's part of a session. ``ingests``: one per agent instance that joined (a restarted agent
    numbers its batches from 0 again), the last one current."""

    name: str
    sources: NodeSources | None = None
    secret: str = ""
    instance: str = ""
    ingests: list[SutIngest] = field(default_factory=list)
    gaps: list[_Gap] = field(default_factory=list)
    joined_utc_ns: int | None = None
    last_heard_utc_ns: int | None = None
    # per source: its newest reading received (the node's own clock) and when its last new batch arrived (director's)
    newest_ns: dict[str, tuple[int, int]] = field(default_factory=dict)
    heard_monotonic_s: float = 0.0

    @property
    def ingest(self) -> SutIngest:
        return self.ingests[-1]

    @property
    def open_gap(self) -> _Gap | None:
        return self.gaps[-1] if self.gaps and self.gaps[-1].until_utc_ns is None else None

    def silent_s(self) -> float:
        return time.monotonic() - self.heard_monotonic_s

    def record(self) -> NodeRecord:
        rows: dict[str, int] = {}
        batches: dict[str, SutBatchesRecord] = {}
        for ingest in self.ingests:
            for source, count in ingest.rows.items():
                rows[source] = rows.get(source, 0) + count
            for source, got in ingest.batches_record().items():
                seen = batches.get(source)
                batches[source] = got if seen is None else SutBatchesRecord(
                    received=seen.received + got.received, missing_seqs=seen.missing_seqs + got.missing_seqs
                )  # fmt: skip
        return NodeRecord(
            name=self.name,
            sources=self.sources,
            clock=self.ingest.clock_reports if self.ingests else [],
            gaps=[gap.record() for gap in self.gaps],
            samples=rows,
            batches=batches,
            joined_utc_ns=self.joined_utc_ns,
            last_heard_utc_ns=self.last_heard_utc_ns,
        )


class SessionNodes:
    """The node agents of one session. Runs on the event loop only, as the session does."""

    def __init__(
        self, folder: Path, log: logging.Logger, clock: Callable[[], int], lease_s: float = NODE_LEASE_S
    ) -> None:
        self.folder = folder
        self.log = log
        self.clock = clock
        self.lease_s = lease_s
        self.nodes: dict[str, SessionNode] = {}
        self.expected: set[str] = set()  # every node the director has heard from: missing ones are gaps
        self.phase = ""  # the phase running now, "" between phases

    @property
    def simulated(self) -> bool:
        """Whether any node's readings or clock are SIMULATED."""
        for node in self.nodes.values():
            sources = node.sources
            if sources is not None and (
                sources.simulated_gpus or sources.simulated_components or sources.simulated_clock
            ):
                return True
            if any(ingest.simulated or ingest.components_simulated for ingest in node.ingests):
                return True
        return False

    def expect(self, names: Iterable[str]) -> None:
        self.expected.update(names)

    def join(self, name: str, hello: NodeHello, state: SessionState) -> SessionNode:
        """The node joins (or, the same agent instance, stays in) the session; its secret for later calls.

        Another instance under a name whose agent is still heard is refused: two agents with one ``--name``
        would mix their readings."""
        now = self.clock()
        node = self.nodes.get(name)
        if node is not None and node.instance == hello.instance:
            self.heard(node)
            node.sources = hello.sources
            return node
        if node is not None and node.instance and node.silent_s() <= self.lease_s:
            raise SessionStateError(
                f"node {name!r} already streams into this session from another agent, heard "
                f"{node.silent_s():.1f} s ago: give each node agent its own --name",
                state,
            )
        if node is None:
            node = self.nodes[name] = SessionNode(name)
        node.sources, node.instance, node.secret = hello.sources, hello.instance, secrets.token_urlsafe(32)
        folder = self.folder / NODES_DIR / name
        folder.mkdir(parents=True, exist_ok=True)
        ingest = SutIngest(RunWriter(folder, self.log, None, 0), self.log)
        if node.ingests:  # a restarted agent: its clock is the same machine's; its batches go to the new ingest
            ingest.clock_reports = list(node.ingest.clock_reports)
            node.ingest.close()
        node.ingests.append(ingest)
        node.joined_utc_ns = node.joined_utc_ns if node.joined_utc_ns is not None else now
        self.expected.add(name)
        self.heard(node)
        self.log.info("node %s joined (%d GPU(s), %d component(s))", name, len(hello.sources.gpus),
                      len(hello.sources.components))  # fmt: skip
        return node

    def get(self, name: str) -> SessionNode | None:
        node = self.nodes.get(name)
        return node if node is not None and node.ingests else None

    def heard(self, node: SessionNode) -> None:
        now = self.clock()
        node.last_heard_utc_ns, node.heard_monotonic_s = now, time.monotonic()
        gap = node.open_gap
        if gap is not None:
            gap.until_utc_ns = now
            self.log.warning("node %s heard again after a %s gap of %.1f s", node.name, gap.reason,
                             (now - gap.from_utc_ns) / 1e9)  # fmt: skip

    def add_clock_report(self, node: SessionNode, report: ClockReport) -> None:
        self.heard(node)
        node.ingest.add_clock_report(report)

    def add_batches(self, node: SessionNode, batches: Iterable[SampleBatch], feed: SessionFeed | None = None) -> int:
        """Store the node's batches; how many were new (the others: re-sends). New GPU power goes to ``feed``, on
        the director's clock by the node's own clock map."""
        self.heard(node)
        stored = 0
        for batch in batches:
            new = node.ingest.add(batch, self.clock())
            stored += new
            times = batch.columns["t_utc_ns"]
            if new and times:
                last_ns, seen = int(times[-1]), node.newest_ns.get(batch.source)
                node.newest_ns[batch.source] = (last_ns if seen is None else max(last_ns, seen[0]), self.clock())
            if new and feed is not None and batch.kind == "gpu" and batch.columns.get("power_w"):
                feed.gpu(batch, node.ingest.clock_map(), node.name)
        return stored

    def phase_started(self, phase: str) -> None:
        """Every expected node absent now gets a ``missing`` gap (until it joins); silent ones, a ``silent`` one."""
        self.phase = phase
        now = self.clock()
        for name in sorted(self.expected):
            node = self.nodes.get(name)
            if node is None or not node.ingests:
                node = self.nodes.setdefault(name, SessionNode(name))
                if node.open_gap is None:
                    node.gaps.append(_Gap("missing", phase, now, now))
                    self.log.warning("node %s missing at the start of %s", name, phase)
        self.check_leases()

    def phase_stopped(self) -> None:
        self.check_leases()
        self.phase = ""

    def check_leases(self) -> list[str]:
        """Open a ``silent`` gap for each joined node silent longer than its lease; the nodes newly silent."""
        now, silent = self.clock(), []
        for node in self.nodes.values():
            if not node.ingests or node.open_gap is not None or node.silent_s() <= self.lease_s:
                continue
            since = node.last_heard_utc_ns if node.last_heard_utc_ns is not None else now
            node.gaps.append(_Gap("silent", self.phase, since, now))
            silent.append(node.name)
            self.log.warning("node %s silent for %.1f s (lease %g s): a gap from its last call", node.name,
                             node.silent_s(), self.lease_s)  # fmt: skip
        return silent

    def unflushed(self, phase: str, since_utc_ns: int, through_utc_ns: int) -> list[str]:
        """The nodes streaming through ``phase`` (heard within the lease, a batch of theirs arrived since
        ``since_utc_ns``) with a source whose readings have not yet reached ``through_utc_ns`` on the director's
        clock, or whose clock measurement after the phase has not arrived: their last batches, or the clock point
        that places them, are on the way.

        Each source streaming in the phase is waited for, not only the node's newest: one batch request can carry
        one series read just after the stop and another read just before it. The measurement after the phase is
        the node's last of the session: once it is in, the node's clock map is final and a reading placed at or
        after ``through_utc_ns`` stays there (a later measurement would move the readings taken after the one
        before it, within their bounds)."""
        waiting = []
        for node in self.nodes.values():
            streaming = [newest for newest, arrived in node.newest_ns.values() if arrived >= since_utc_ns]
            if not streaming:
                continue  # it did not stream in the phase (no sensors, or they failed): nothing to wait for
            if node.open_gap is not None or node.silent_s() > self.lease_s:
                continue  # gone
            measured_after = any(c.phase == phase and c.when == "after" for c in node.ingest.clock_reports)
            if not measured_after or node.ingest.clock_map().to_director_ns(min(streaming)) < through_utc_ns:
                waiting.append(node.name)
        return sorted(waiting)

    async def flushed(self, phase: str, since_utc_ns: int, through_utc_ns: int, timeout_s: float) -> list[str]:
        """Wait (up to ``timeout_s``) until every node streaming since ``since_utc_ns`` has sent its readings
        through ``through_utc_ns`` and its clock measurement after ``phase``, as a node agent does within a batch
        interval after it hears the phase stopped; the nodes that did not."""
        deadline_s = time.monotonic() + timeout_s
        while (waiting := self.unflushed(phase, since_utc_ns, through_utc_ns)) and time.monotonic() < deadline_s:
            await asyncio.sleep(FLUSH_POLL_S)
        if waiting:
            self.log.warning("node(s) %s did not send their readings through the %s stop and their clock after "
                             "it within %g s; closing without them", ", ".join(waiting), phase, timeout_s)  # fmt: skip
        return waiting

    def finish(self) -> list[BadLine]:
        """Each node's journals as Parquet (at close); the unusable lines."""
        bad: list[BadLine] = []
        for name in sorted(self.nodes):
            for ingest in self.nodes[name].ingests:
                ingest.close()
            folder = self.folder / NODES_DIR / name
            if folder.is_dir():
                bad += finish_sample_journals(folder)
        return bad

    def records(self) -> dict[str, NodeRecord]:
        return {name: self.nodes[name].record() for name in sorted(self.nodes)}
