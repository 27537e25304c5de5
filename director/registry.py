"""What the director serves: one meter, the run folder root, and its sessions (one measuring at a time)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from director.errors import MeterBusyError, UnknownSessionError
from director.live import LiveFeed
from director.loop_lag import LoopLag
from director.meters.base import Meter
from director.recovery import Interrupted
from director.session import Analyze, Session, SessionConfig
from director.session.config import Clock
from director.session.wall_sources import WallMeterPlan
from powerlog.system_record import SystemRecord
from powerlog.wire import (
    API_PREFIX,
    MAX_UPLOAD_BYTES,
    ClockReport,
    NodeHello,
    NodeSession,
    NodeSources,
    OpenSessionRequest,
)

__all__ = ["Director"]

log = logging.getLogger("mlpower.director")
MAX_LEASE_CHECK_S = 1.0  # the leases are checked this often (or four times a lease, if shorter)


@dataclass
class Director:
    meter_factory: Callable[[], Meter]
    meter_url: str
    config: SessionConfig
    token: str
    analyze: Analyze
    max_upload_bytes: int = MAX_UPLOAD_BYTES
    read_without_token: bool = False  # only when listening on loopback: the dashboard's read-only routes
    sessions: dict[str, Session] = field(default_factory=dict)
    active: Session | None = None
    feed: LiveFeed = field(default_factory=LiveFeed)
    loop_lag: LoopLag = field(default_factory=LoopLag)  # measured while serving (``serve`` starts it)
    interrupted: dict[str, Interrupted] = field(default_factory=dict)  # sessions a crash cut short
    stopping: bool = False
    clock: Clock = time.time_ns  # the director's clock, UTC ns: every time it records or serves
    lease_task: asyncio.Task[None] | None = None  # expires the leases of silent agents (see open_session)
    nodes_seen: dict[str, NodeSources] = field(default_factory=dict)  # every node agent that said hello
    session_opened: asyncio.Event | None = None  # set when the next session opens (node agents long-poll on it)
    wall_meters: tuple[WallMeterPlan, ...] = ()  # a multi-node system's meters beside the LoadGen node's
    system: SystemRecord | None = None  # the system served (serve --system), written into each run folder

    def check_meter_free(self) -> None:
        """Raises :class:`MeterBusyError` while a session that has not ended holds the meter."""
        busy = self.active
        if busy is None or busy.ended:
            return
        holder = f"session {busy.session_id} (agent {busy.agent.label or busy.agent.host!r}) is {busy.state.value}"
        route = f"{API_PREFIX}/sessions/{busy.session_id}/abort"
        abort = f"curl -X POST -H 'Authorization: Bearer <token>' <director URL>{route}"
        if busy.lease_s is None:
            held = "held by a power-dev client: it ends when the client disconnects"
        else:
            silent_s = busy.agent_silent_s
            held = (
                f"its agent was last heard {silent_s:.0f} s ago; its lease expires after {busy.lease_s:g} s of "
                f"silence (in {max(0.0, busy.lease_s - silent_s):.0f} s unless the agent calls again)"
            )
        raise MeterBusyError(
            f"meter busy: {holder}; {held}. Wait for it to finish, or abort it: {abort}", busy.session_id
        )

    async def open_session(self, request: OpenSessionRequest, leased: bool = False) -> Session:
        """A new session holding a fresh meter connection, opened (folder made, meter identified). The caller
        records the ``new`` message in the protocol it speaks. A ``leased`` session (an HTTP agent's) gets a
        secret for every later call into it, and is aborted when its agent is silent for the configured lease."""
        self.check_meter_free()
        session = Session(
            self.meter_factory(),
            self.meter_url,
            self.config,
            request.agent,
            request.client_uuid,
            clock=self.clock,
            feed=self.feed,
            wall_meters=self.wall_meters,
            system=self.system,
        )
        if leased:
            session.secret = secrets.token_urlsafe(32)
            session.lease_s = self.config.lease_s
            self._watch_leases()
        self.sessions[session.session_id] = session
        self.active = session
        session.nodes.expect(self.expected_nodes())
        await session.open()
        opened, self.session_opened = self.session_opened, None
        if opened is not None:
            opened.set()
        if request.clock is not None:
            session.add_clock_report(ClockReport(phase="session", when="before", clock=request.clock))
        return session

    def expected_nodes(self) -> list[str]:
        """The node agents a session waits for: every node of the served system but the LoadGen node (whose
        agent is the session's own), and any other node agent that said hello."""
        described = [n.name for n in self.system.nodes if n.name != self.system.loadgen_node] if self.system else []
        return list(dict.fromkeys([*described, *self.nodes_seen]))

    async def wait_for_session(self, wait_s: float) -> None:
        """Return once a session is active, or after ``wait_s`` (a node agent's long-polling hello)."""
        if wait_s <= 0 or (self.active is not None and not self.active.ended):
            return
        if self.session_opened is None:
            self.session_opened = asyncio.Event()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.session_opened.wait(), wait_s)

    def node_hello(self, name: str, hello: NodeHello) -> NodeSession | None:
        """A node agent says hello: it joins the active session (its clock report recorded for it), or there is
        none to join yet."""
        self.nodes_seen[name] = hello.sources
        session = self.active
        if session is None or session.ended:
            return None
        session.nodes.expect([name])
        node = session.nodes.join(name, hello, session.state)
        if hello.clock is not None:
            session.nodes.add_clock_report(node, ClockReport(phase="session", when="before", clock=hello.clock))
        return NodeSession(session_id=session.session_id, session_name=session.session_name, state=session.state,
                           node_secret=node.secret, lease_s=session.nodes.lease_s)  # fmt: skip

    def session(self, session_id: str) -> Session:
        session = self.sessions.get(session_id)
        if session is not None:
            return session
        interrupted = self.interrupted.get(session_id)
        detail = f"no session {session_id!r}"
        if interrupted is not None:
            detail += (
                f": it was {interrupted.state} when the director stopped; it is marked interrupted and "
                f"everything recorded is kept in {interrupted.folder}. Start a new run"
            )
        raise UnknownSessionError(detail)

    def _watch_leases(self) -> None:
        """Start the lease watcher on this event loop, unless it runs there already."""
        loop = asyncio.get_running_loop()
        task = self.lease_task
        if task is None or task.done() or task.get_loop() is not loop:
            self.lease_task = loop.create_task(self._lease_watcher(), name="mlpower-director-leases")

    async def _lease_watcher(self) -> None:
        period_s = min(self.config.lease_s / 4, MAX_LEASE_CHECK_S)
        while True:
            await asyncio.sleep(period_s)
            try:
                await self.expire_leases()
            except Exception:  # the watcher must outlive one failed abort: the next sessions need it
                log.exception("expiring a silent agent's session failed")

    async def expire_leases(self) -> list[Session]:
        """Abort every session whose agent has been silent longer than its lease (the meter is stopped and
        freed, everything received is kept); the sessions aborted."""
        for live in self.sessions.values():
            if not live.ended:
                live.nodes.check_leases()
        expired = [s for s in self.sessions.values() if s.lease_expired()]
        for session in expired:
            silent_s = session.agent_silent_s
            log.warning("session %s: agent silent for %.1f s (lease %g s): aborting", session.session_id,
                        silent_s, session.lease_s)  # fmt: skip
            await session.abort(f"agent silent for {silent_s:.0f} s")
        return expired
