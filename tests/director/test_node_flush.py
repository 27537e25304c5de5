"""The close waits for each streaming node's last readings and for the clock measurement that places them: a node's
readings that reach the testing stop by the clock map of the moment may fall short of it once the node's measurement
after the phase arrives, so the wait holds until that measurement is in and the readings reach the stop by it."""

from __future__ import annotations

import asyncio
import logging
import uuid
from pathlib import Path

from director.session.nodes import SessionNodes
from powerlog.wire import ClockMeasurement, ClockReport, NodeHello, NodeSources, SampleBatch, SessionState

T0_NS = 1_700_000_000 * 10**9
STOP_NS = T0_NS + 60 * 10**9  # the testing stop, on the director's clock
MS = 10**6


def _nodes(tmp_path: Path) -> SessionNodes:
    return SessionNodes(tmp_path, logging.getLogger("test.node_flush"), clock=lambda: T0_NS)


def _clock(phase: str, when: str, at_ns: int, offset_ns: int) -> ClockReport:
    measured = ClockMeasurement(offset_ns=offset_ns, bound_ns=MS, delay_ns=2 * MS, rounds=8, kept=8, agent_utc_ns=at_ns)
    return ClockReport(phase=phase, when=when, clock=measured)  # type: ignore[arg-type]


def _batch(seq: int, *times_ns: int, source: str = "gpu0.power") -> SampleBatch:
    return SampleBatch(source=source, seq=seq, columns={"t_utc_ns": list(times_ns), "power_w": [60.0] * len(times_ns)})


def test_a_node_is_waited_for_until_its_clock_after_the_phase_places_its_readings_through_the_stop(tmp_path) -> None:
    nodes = _nodes(tmp_path)
    node = nodes.join("node1", NodeHello(instance=str(uuid.uuid4()), sources=NodeSources()), SessionState.TESTING)
    nodes.add_clock_report(node, _clock("testing", "before", T0_NS, 0))
    nodes.add_batches(node, [_batch(0, STOP_NS - 5 * MS, STOP_NS + 5 * MS)])
    # by the map of the moment (offset 0) the readings reach the stop, but the measurement after testing is missing
    assert nodes.unflushed("testing", T0_NS, STOP_NS) == ["node1"]
    # it arrives: the node's clock was 20 ms ahead by then, so its last reading lands just before the stop
    nodes.add_clock_report(node, _clock("testing", "after", STOP_NS + 100 * MS, -20 * MS))
    assert node.ingest.clock_map().to_director_ns(STOP_NS + 5 * MS) < STOP_NS
    assert nodes.unflushed("testing", T0_NS, STOP_NS) == ["node1"]
    # the next batch reaches the stop by the final map: nothing to wait for
    nodes.add_batches(node, [_batch(1, STOP_NS + 50 * MS)])
    assert nodes.unflushed("testing", T0_NS, STOP_NS) == []
    assert asyncio.run(nodes.flushed("testing", T0_NS, STOP_NS, timeout_s=0.0)) == []


def test_every_series_the_node_streams_must_reach_the_stop_not_only_its_newest(tmp_path) -> None:
    nodes = _nodes(tmp_path)
    node = nodes.join("node1", NodeHello(instance=str(uuid.uuid4()), sources=NodeSources()), SessionState.TESTING)
    nodes.add_clock_report(node, _clock("testing", "after", STOP_NS + 100 * MS, 0))
    # one request: the energy counter read just after the stop, the power series last read just before it
    nodes.add_batches(node, [_batch(0, STOP_NS + 30 * MS, source="gpu0.energy"), _batch(0, STOP_NS - 20 * MS)])
    assert nodes.unflushed("testing", T0_NS, STOP_NS) == ["node1"]
    nodes.add_batches(node, [_batch(1, STOP_NS + 80 * MS)])
    assert nodes.unflushed("testing", T0_NS, STOP_NS) == []


def test_the_wait_ends_at_its_timeout_and_names_the_nodes_it_closed_without(tmp_path, caplog) -> None:
    nodes = _nodes(tmp_path)
    quiet = nodes.join("node2", NodeHello(instance=str(uuid.uuid4()), sources=NodeSources()), SessionState.TESTING)
    nodes.add_batches(quiet, [_batch(0, STOP_NS + 5 * MS)])  # no clock measurement after testing ever comes
    nodes.join("node3", NodeHello(instance=str(uuid.uuid4()), sources=NodeSources()), SessionState.TESTING)
    with caplog.at_level(logging.WARNING, logger="test.node_flush"):
        assert asyncio.run(nodes.flushed("testing", T0_NS, STOP_NS, timeout_s=0.2)) == ["node2"]
    assert "node2" in caplog.text and "closing without them" in caplog.text  # node3 streamed nothing: not waited for
