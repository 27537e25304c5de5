"""``GET /metrics``: the director's state in the Prometheus text format, read at scrape time."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from director.registry import Director
from director.session import Session
from director.session.sut_ingest import LATE_BATCH_NS
from director.system.description import SINGLE_NODE_NAME
from powerlog.wire import SessionState

__all__ = ["CONTENT_TYPE", "DirectorCollector", "render_metrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class DirectorCollector(Collector):
    """Reads the director's sessions on each scrape (on the event loop, as every change): nothing is kept twice."""

    def __init__(self, director: Director) -> None:
        self._director = director

    def collect(self) -> Iterator[Metric]:
        director = self._director
        sessions = list(director.sessions.values())
        active = director.active
        state = GaugeMetricFamily("mlpower_session_state", "1 for the state the newest session is in", labels=["state"])
        for s in SessionState:
            state.add_metric([s.value], 1.0 if active is not None and active.state is s else 0.0)
        yield state
        yield CounterMetricFamily("mlpower_sessions", "sessions opened since start", value=len(sessions))
        errors = CounterMetricFamily("mlpower_meter_errors", "meter errors that failed a session")
        errors.add_metric([], sum(s.meter_errors for s in sessions))
        yield errors
        yield director.loop_lag.metric()
        yield GaugeMetricFamily("mlpower_director_loop_lag_max_seconds", "the event loop's longest lag since start",
                                value=director.loop_lag.max_s)  # fmt: skip
        if active is not None:
            yield from _session_metrics(active)


def _session_metrics(session: Session) -> Iterator[Metric]:
    pump, sut = session.pump, session.sut
    received = CounterMetricFamily("mlpower_wall_samples", "wall-meter samples stored", labels=["phase"])
    for phase, count in pump.samples.items():
        received.add_metric([phase], count)
    yield received
    rows = CounterMetricFamily("mlpower_sut_samples", "SUT readings stored (rows)", labels=["source"])
    for source, count in sut.rows.items():
        rows.add_metric([source], count)
    yield rows
    duplicates = CounterMetricFamily("mlpower_sut_batches_duplicate", "SUT batches received twice (re-sends)")
    duplicates.add_metric([], sut.duplicates)
    yield duplicates
    late = CounterMetricFamily(
        "mlpower_sut_batches_late", f"SUT batches that arrived over {LATE_BATCH_NS / 1e9:g} s after their first reading"
    )
    late.add_metric([], sut.late)
    yield late
    gpu = GaugeMetricFamily(
        "mlpower_sut_power_watts", "latest power per SUT source (GPU or component)", labels=["source"]
    )
    for source, watts in sut.latest_power_w.items():
        gpu.add_metric([source], watts)
    yield gpu
    rejected = CounterMetricFamily(
        "mlpower_wall_readings_rejected", "meter replies that did not parse: recorded, never averaged in"
    )
    rejected.add_metric([], len(session.meter.rejected_lines))
    yield rejected
    last = pump.last_sample
    if last is not None:
        yield GaugeMetricFamily("mlpower_wall_power_watts", "latest wall power (total)", value=last.power_w)
        channels = GaugeMetricFamily("mlpower_wall_channel_power_watts", "latest power per channel", labels=["channel"])
        for i, ch in enumerate(last.channels, start=1):
            channels.add_metric([str(i)], ch.power_w)
        yield channels
        yield GaugeMetricFamily(
            "mlpower_wall_sample_time_seconds", "UTC time of the latest wall sample", value=last.t_utc_ns / 1e9
        )
    energy = CounterMetricFamily("mlpower_wall_energy_joules", "wall energy per phase so far", labels=["phase"])
    for phase, joules in pump.energy_j.items():
        energy.add_metric([phase], joules)
    yield energy
    yield from _node_metrics(session)


def _node_metrics(session: Session) -> Iterator[Metric]:
    """Per node: every wall meter's latest power and samples (the session's own meter is the LoadGen node's),
    and each node agent's latest power per source."""
    loadgen = session.system.loadgen_node if session.system is not None else SINGLE_NODE_NAME
    meters = [(loadgen, "session", session.pump)]
    meters += [("+".join(plan.nodes), plan.key, session.wall.pumps[plan.key]) for plan in session.wall.plans]
    wall = GaugeMetricFamily("mlpower_node_wall_power_watts", "latest wall power per node's meter",
                             labels=["node", "meter"])  # fmt: skip
    samples = CounterMetricFamily("mlpower_node_wall_samples", "wall samples stored per node's meter and phase",
                                  labels=["node", "meter", "phase"])  # fmt: skip
    for node, key, pump in meters:
        if pump.last_sample is not None:
            wall.add_metric([node, key], pump.last_sample.power_w)
        for phase, count in pump.samples.items():
            samples.add_metric([node, key, phase], count)
    yield wall
    yield samples
    sut = GaugeMetricFamily("mlpower_node_sut_power_watts", "latest power per node and SUT source (its agent's)",
                            labels=["node", "source"])  # fmt: skip
    for source, watts in session.sut.latest_power_w.items():
        sut.add_metric([loadgen, source], watts)
    for agent in sorted(session.nodes.nodes.values(), key=lambda n: n.name):
        for source, watts in agent.ingest.latest_power_w.items() if agent.ingests else ():
            sut.add_metric([agent.name, source], watts)
    yield sut


def render_metrics(director: Director) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DirectorCollector(director))
    return generate_latest(registry)
