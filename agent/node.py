"""The node agent (``mlpower-agent node``): streams one node's GPUs and components into every session the director runs.

It runs on each node of a multi-node system beside the LoadGen one (whose ``mlpower-agent run`` is unchanged).
Between sessions it says hello to the director every ``poll_s`` (the director's answer); when a session is
active it joins it, measures its own clock offset to the director (the four-timestamp exchange of
:mod:`agent.clock`, as the run command does) and streams its readings with the :class:`~agent.gpu_stream.SutSampler`
the run command uses. A heartbeat a second keeps its lease and tells it the session's state: when it sees a phase
running or stopped it measures its clock again (``<phase>``, ``before`` / ``after``: measured within a heartbeat of
the phase's start or stop), and when the session has ended it flushes what is left and waits for the next one.
"""

from __future__ import annotations

import dataclasses
import logging
import platform
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from agent.clock import MIN_ROUNDS, measure_offset
from agent.components.base import ComponentInfo, ComponentSource
from agent.errors import AgentError, AuthenticationFailed, SessionConflict
from agent.gpu.base import GpuInfo, GpuSource
from agent.gpu_stream import SutSampler
from agent.node_client import NodeClient
from powerlog.cli_support import package_version
from powerlog.wire import NodeHello, NodeSession, NodeSources, SessionState

__all__ = ["CLOCK_POINTS", "NodeOptions", "NodeOutcome", "node_sources", "run_node"]

log = logging.getLogger("mlpower.agent.node")
ENDED = (SessionState.CLOSED, SessionState.FAILED)
# the clock measurement a node makes when it first sees a session in each state
CLOCK_POINTS: dict[SessionState, tuple[str, str]] = {
    SessionState.RANGING: ("ranging", "before"),
    SessionState.RANGED: ("ranging", "after"),
    SessionState.TESTING: ("testing", "before"),
    SessionState.TESTED: ("testing", "after"),
}
HELLO_WAIT_S = 20.0  # a hello waits this long on the director for a session to open (long polling)
FLUSH_AFTER_END_S = 2.0  # an ended session takes no more batches: what is left is not sent for long
FLUSH_ON_STOP_S = 10.0  # the agent stopped mid-session: what is buffered gets this long to go


@dataclass(frozen=True)
class NodeOptions:
    name: str
    gpus: GpuSource | None = None
    gpu_rate_hz: float = 10.0
    components: ComponentSource | None = None
    component_rate_hz: float = 10.0
    clock_rounds: int = MIN_ROUNDS
    heartbeat_s: float = 1.0
    simulated_clock: bool = False  # the clock the agent reads is skewed on purpose (tests): SIMULATED
    max_sessions: int | None = None  # leave after this many sessions; None: until stopped


@dataclass
class NodeOutcome:
    sessions: list[str] = field(default_factory=list)  # the sessions streamed into
    sampler_stats: list[dict[str, object]] = field(default_factory=list)  # per session


def node_sources(options: NodeOptions, gpu_infos: list[GpuInfo], component_infos: list[ComponentInfo]) -> NodeSources:
    """What the node tells the director it has (as ``mlpower-agent sources`` lists it)."""
    return NodeSources(
        host=socket.gethostname(),
        software={"mlpower": package_version(), "python": platform.python_version()},
        simulated_gpus=bool(options.gpus is not None and options.gpus.simulated),
        gpus=[g.to_wire() for g in gpu_infos],
        simulated_components=bool(options.components is not None and options.components.simulated),
        components=[c.to_wire() for c in component_infos],
        simulated_clock=options.simulated_clock,
    )


def run_node(
    options: NodeOptions,
    client: NodeClient,
    stop: threading.Event,
    say: Callable[[str], None] = print,
    clock_ns: Callable[[], int] = time.time_ns,
) -> NodeOutcome:
    """Join session after session until ``stop`` is set (or ``max_sessions`` were streamed into)."""
    gpu_infos = list(options.gpus.open()) if options.gpus is not None else []
    component_infos = list(options.components.open()) if options.components is not None else []
    components = options.components if any(c.readable for c in component_infos) else None
    hello = NodeHello(instance=str(uuid.uuid4()), sources=node_sources(options, gpu_infos, component_infos))
    gpus = ", ".join(f"gpu{g.index} {g.name}{' (SIMULATED)' if g.simulated else ''}" for g in gpu_infos) or "none"
    sampled = ", ".join(c.name for c in component_infos if c.readable) or "none"
    say(f"node {options.name}: GPUs {gpus}; components {sampled}")
    outcome = NodeOutcome()
    try:
        while not stop.is_set():
            session = _wait_for_session(client, hello, stop, say)
            if session is None:
                break
            stream = _NodeStream(options, client, session, components, say, clock_ns)
            outcome.sampler_stats.append(stream.run(stop))
            outcome.sessions.append(session.session_id)
            if options.max_sessions is not None and len(outcome.sessions) >= options.max_sessions:
                break
    finally:
        for source in (options.gpus, options.components):
            if source is not None:
                source.close()
    return outcome


def _wait_for_session(
    client: NodeClient, hello: NodeHello, stop: threading.Event, say: Callable[[str], None]
) -> NodeSession | None:
    """Say hello until the director has a session to join (None: stopped meanwhile)."""
    waiting_said = False
    while not stop.is_set():
        asked_s = time.monotonic()
        try:
            # the first hello is answered at once (the director knows the node from then on), the next ones wait
            welcome = client.hello(hello, HELLO_WAIT_S if waiting_said else 0.0)
        except AuthenticationFailed:
            raise  # a wrong token does not get better by waiting
        except AgentError as e:
            say(f"node {client.name}: {e}; trying again")
            stop.wait(5.0)
            continue
        if welcome.session is not None:
            say(f"node {client.name}: joined session {welcome.session.session_id} ({welcome.session.state.value})")
            return welcome.session
        if not waiting_said:
            say(f"node {client.name}: no session yet; waiting for one")
            waiting_said = True
            continue  # long-polling at once: a session opened now must not start its phase before this node joins
        stop.wait(max(0.0, asked_s + welcome.poll_s - time.monotonic()))  # a director that did not wait
    return None


class _NodeStream:
    """One session from the node's side: its clock measurements, its sampler and its heartbeats."""

    def __init__(
        self,
        options: NodeOptions,
        client: NodeClient,
        session: NodeSession,
        components: ComponentSource | None,
        say: Callable[[str], None],
        clock_ns: Callable[[], int],
    ) -> None:
        self.options, self.client, self.session, self.components = options, client, session, components
        self.say, self.clock_ns = say, clock_ns

    def run(self, stop: threading.Event) -> dict[str, object]:
        """Stream until the session ends (or ``stop``); the sampler's statistics."""
        options, session = self.options, self.session
        self._report_clock("session", "before")  # before the first batch: the director places it with this
        sampler = None
        if options.gpus is not None or self.components is not None:
            # a random phase of the batch interval: a rack of nodes joins one session at once (bench_rack: 72 nodes
            # flushing in the same instant made each POST wait for the others' in the director's queue)
            sampler = SutSampler(options.gpus, lambda batches: self.client.node_batches(session, batches),
                                 options.gpu_rate_hz, components=self.components,
                                 component_rate_hz=options.component_rate_hz,
                                 first_batch_delay_s=random.uniform(0.0, 1.0))  # fmt: skip
            sampler.start()
        state = session.state
        if state in CLOCK_POINTS:
            self._report_clock(*CLOCK_POINTS[state])
        # the first heartbeat at a random point of the interval: a rack's nodes join at one instant, and in step their
        # heartbeats, and the clock measurements a phase change sets off, reached the director all at once
        wait_s = random.uniform(0.0, options.heartbeat_s)
        try:
            while state not in ENDED and not stop.wait(wait_s):
                wait_s = options.heartbeat_s
                state = self._beat(state, sampler)
        finally:
            if sampler is not None:
                sampler.stop(flush_timeout_s=FLUSH_AFTER_END_S if state in ENDED else FLUSH_ON_STOP_S)
        self.say(f"node {options.name}: session {session.session_id} {state.value}")
        return dataclasses.asdict(sampler.stats) if sampler is not None else {}

    def _beat(self, state: SessionState, sampler: SutSampler | None) -> SessionState:
        """One heartbeat; the session's state now (a clock measurement at each new phase state)."""
        try:
            now = self.client.node_heartbeat(self.session).state
        except SessionConflict as e:  # the director no longer knows the session (restarted)
            self.say(f"node {self.options.name}: {e}")
            return SessionState.FAILED
        except AgentError as e:
            log.warning("heartbeat failed (the next one tries again): %s", e)
            return state
        if now != state and now in CLOCK_POINTS:
            if sampler is not None:
                sampler.mark_boundary()
            self._report_clock(*CLOCK_POINTS[now])
        return now

    def _report_clock(self, phase: str, when: str) -> None:
        try:
            measured = measure_offset(self.client.server_time, self.clock_ns, self.options.clock_rounds)
            self.client.node_clock(self.session, phase, when, measured)
        except AgentError as e:  # the readings still go; the next measurement may get through
            log.warning("clock measurement %s/%s not reported: %s", phase, when, e)
