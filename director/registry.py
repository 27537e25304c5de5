"""What the director serves: one meter, the run folder root, and its sessions (one measuring at a time)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from director.errors import MeterBusyError, UnknownSessionError
from director.live import LiveFeed
from director.meters.base import Meter
from director.recovery import Interrupted
from director.session import Analyze, Session, SessionConfig
from director.session.config import Clock
from powerlog.wire import MAX_UPLOAD_BYTES, ClockReport, OpenSessionRequest

__all__ = ["Director"]


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
    interrupted: dict[str, Interrupted] = field(default_factory=dict)  # sessions a crash cut short
    stopping: bool = False
    clock: Clock = time.time_ns  # the director's clock, UTC ns: every time it records or serves

    def check_meter_free(self) -> None:
        """Raises :class:`MeterBusyError` while a session that has not ended holds the meter."""
        busy = self.active
        if busy is not None and not busy.ended:
            raise MeterBusyError(
                f"meter busy: session {busy.session_id} (agent {busy.agent.label or busy.agent.host!r}) is measuring; "
                "wait for it to finish",
                busy.session_id,
            )

    async def open_session(self, request: OpenSessionRequest) -> Session:
        """A new session holding a fresh meter connection, opened (folder made, meter identified). The caller
        records the ``new`` message in the protocol it speaks."""
        self.check_meter_free()
        session = Session(
            self.meter_factory(),
            self.meter_url,
            self.config,
            request.agent,
            request.client_uuid,
            clock=self.clock,
            feed=self.feed,
        )
        self.sessions[session.session_id] = session
        self.active = session
        await session.open()
        if request.clock is not None:
            session.add_clock_report(ClockReport(phase="session", when="before", clock=request.clock))
        return session

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
