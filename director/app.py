"""The director's HTTP API (FastAPI): sessions, phases, clock, uploads, results.

Every endpoint but ``GET /health`` needs ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request, Response, status
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException

from director.dashboard import add_dashboard
from director.errors import DirectorError, MeterBusyError, MeterError, SessionStateError, StorageError
from director.limits import MAX_JSON_BODY_BYTES, BodyLimit
from director.live import LiveFeed
from director.meters.base import Meter
from director.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from director.metrics import render_metrics
from director.recovery import Interrupted
from director.session import Session, SessionConfig
from powerlog.cli_support import package_version
from powerlog.wire import (
    API_PREFIX,
    ERROR_CODE_OF_STATUS,
    MAX_UPLOAD_BYTES,
    PHASES,
    UPLOAD_NAMES,
    ClockReport,
    ErrorCode,
    ErrorReply,
    OpenSessionRequest,
    PhaseReply,
    PhaseRequest,
    SampleBatch,
    SampleBatches,
    SessionOpened,
    SessionState,
    SessionStatus,
    TimeReply,
)

__all__ = ["ApiError", "Director", "create_app"]

log = logging.getLogger("mlpower.director")
Analyze = Callable[[Path], dict[str, Any]]


@dataclass
class Director:
    """What the app serves: one meter, the run folder root, and the sessions."""

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

    def check_meter_free(self) -> None:
        """Raises :class:`MeterBusyError` while a session that has not ended holds the meter."""
        busy = self.active
        if busy is not None and busy.state not in (SessionState.CLOSED, SessionState.FAILED):
            raise MeterBusyError(
                f"meter busy: session {busy.session_id} (agent {busy.agent.label or busy.agent.host!r}) is measuring; "
                "wait for it to finish",
                busy.session_id,
            )


class ApiError(HTTPException):
    """An error reply with its :class:`ErrorCode` (every error body is an :class:`ErrorReply`)."""

    def __init__(self, status_code: int, code: ErrorCode, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(status_code, detail=detail, headers=headers)
        self.code = code


async def _error_reply(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = getattr(exc, "code", None) or ERROR_CODE_OF_STATUS.get(exc.status_code, ErrorCode.FAILED)
    body = ErrorReply(detail=str(exc.detail), code=code)
    return JSONResponse(body.model_dump(mode="json"), status_code=exc.status_code, headers=exc.headers)


_bearer = HTTPBearer(auto_error=False)


async def _authorized(  # async: no thread-pool hop per request for a comparison
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    token: str = request.app.state.director.token
    given = credentials.credentials if credentials is not None else ""
    # constant time: the comparison must not tell how much of a guess was right
    if not hmac.compare_digest(given.encode(), token.encode()):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="missing or wrong token: pass the director's token as 'Authorization: Bearer <token>'",
            headers={"WWW-Authenticate": "Bearer"},
        )


async def _read_authorized(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    if not request.app.state.director.read_without_token:
        await _authorized(request, credentials)


def _conflict(message: str, state: SessionState | None = None) -> HTTPException:
    detail = message if state is None else f"{message}; session state: {state.value}"
    return ApiError(status.HTTP_409_CONFLICT, ErrorCode.SESSION_CONFLICT, detail)


def create_app(director: Director) -> FastAPI:
    app = FastAPI(
        title="mlpower director",
        version=package_version(),
        description="Wall-power measurement sessions for MLPerf Inference (ranging and testing phases).",
    )
    app.state.director = director
    app.add_exception_handler(StarletteHTTPException, _error_reply)
    app.add_middleware(BodyLimit, max_bytes=MAX_JSON_BODY_BYTES, exempt=lambda path: "/files/" in path)
    auth = [Depends(_authorized)]
    read_auth = [Depends(_read_authorized)]
    add_dashboard(app, director, read_auth)

    def session_of(session_id: str) -> Session:
        session = director.sessions.get(session_id)
        if session is None:
            interrupted = director.interrupted.get(session_id)
            detail = f"no session {session_id!r}"
            if interrupted is not None:
                detail += (
                    f": it was {interrupted.state} when the director stopped; it is marked interrupted and "
                    f"everything recorded is kept in {interrupted.folder}. Start a new run"
                )
            raise ApiError(status.HTTP_404_NOT_FOUND, ErrorCode.UNKNOWN_SESSION, detail)
        return session

    def live_session_of(session_id: str) -> Session:
        session = session_of(session_id)
        if session.state in (SessionState.CLOSED, SessionState.FAILED):
            raise _conflict("the session has ended", session.state)
        return session

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "version": package_version()}

    @app.get(f"{API_PREFIX}/time", dependencies=auth, response_model=TimeReply)
    async def server_time() -> Response:
        # async and pre-serialised: no thread hop or validation between the two timestamps and the socket
        received = time.time_ns()
        return Response(
            f'{{"receive_utc_ns":{received},"send_utc_ns":{time.time_ns()}}}', media_type="application/json"
        )

    @app.post(f"{API_PREFIX}/sessions", dependencies=auth, status_code=status.HTTP_201_CREATED)
    async def open_session(body: OpenSessionRequest) -> SessionOpened:
        received = time.time_ns()
        try:
            director.check_meter_free()
        except MeterBusyError as e:
            raise ApiError(status.HTTP_409_CONFLICT, ErrorCode.METER_BUSY, str(e)) from e
        session = Session(
            director.meter_factory(),
            director.meter_url,
            director.config,
            body.agent,
            body.client_uuid,
            feed=director.feed,
        )
        director.sessions[session.session_id] = session
        director.active = session
        try:
            await session.open()
        except MeterError as e:
            raise HTTPException(status.HTTP_502_BAD_GATEWAY, detail=f"meter: {e}") from e
        if body.clock is not None:
            session.add_clock_report(ClockReport(phase="session", when="before", clock=body.clock))
        session.record_message(f"new,{body.agent.label},{body.client_uuid}", f"OK {session.session_name}", received)
        return SessionOpened(
            session_id=session.session_id,
            session_name=session.session_name,
            server_uuid=session.server_uuid,
            settle_s=director.config.settle_s,
            state=session.state,
        )

    async def _phase(session: Session, phase: str, action: str, body: PhaseRequest) -> PhaseReply:
        if phase not in PHASES:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no phase {phase!r}: use ranging or testing")
        received = time.time_ns()
        try:
            if action == "start":
                ranges = await session.start_phase(phase, body.agent_utc_ns)
            else:
                await session.stop_phase(phase, body.agent_utc_ns)
                ranges = session.ranges[phase]
        except SessionStateError as e:
            raise _conflict(str(e)) from e
        except StorageError as e:
            raise HTTPException(status.HTTP_507_INSUFFICIENT_STORAGE, detail=f"run folder: {e}") from e
        except MeterError as e:
            raise HTTPException(status.HTTP_502_BAD_GATEWAY, detail=f"meter: {e}") from e
        session.record_message(f"session,{session.session_name},{action},{phase}", "OK", received)
        return PhaseReply(
            phase=phase,  # type: ignore[arg-type]
            state=session.state,
            mark=f"{session.session_name}_{phase}",
            ranges={"volts_v": ranges.volts_v, "amps_a": ranges.amps_a},
            director_utc_ns=time.time_ns(),
            samples=session.samples[phase],
        )

    @app.post(f"{API_PREFIX}/sessions/{{session_id}}/phases/{{phase}}/start", dependencies=auth)
    async def start_phase(session_id: str, phase: str, body: PhaseRequest) -> PhaseReply:
        return await _phase(session_of(session_id), phase, "start", body)

    @app.post(f"{API_PREFIX}/sessions/{{session_id}}/phases/{{phase}}/stop", dependencies=auth)
    async def stop_phase(session_id: str, phase: str, body: PhaseRequest) -> PhaseReply:
        return await _phase(session_of(session_id), phase, "stop", body)

    @app.post(f"{API_PREFIX}/sessions/{{session_id}}/phases/{{phase}}/checkpoint", dependencies=auth)
    async def agent_checkpoint(session_id: str, phase: str, body: PhaseRequest) -> dict[str, str]:
        session = session_of(session_id)
        if phase not in PHASES:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no phase {phase!r}")
        if len(session.phase_times[phase].agent_utc_ns) not in (1, 3):
            raise _conflict(f"no {phase} start or stop waiting for the agent's checkpoint", session.state)
        session.add_agent_checkpoint(phase, body.agent_utc_ns)
        return {"status": "ok"}

    @app.post(f"{API_PREFIX}/sessions/{{session_id}}/clock", dependencies=auth)
    async def clock_report(session_id: str, body: ClockReport) -> dict[str, str]:
        live_session_of(session_id).add_clock_report(body)
        return {"status": "ok"}

    @app.post(f"{API_PREFIX}/sessions/{{session_id}}/samples", dependencies=auth)
    async def samples(session_id: str, body: SampleBatch) -> dict[str, Any]:
        # on the event loop, one batch at a time: a re-send racing its original cannot be stored twice
        stored = live_session_of(session_id).add_samples(body)
        return {"status": "stored" if stored else "duplicate", "rows": len(body.columns["t_utc_ns"])}

    @app.post(f"{API_PREFIX}/sessions/{{session_id}}/sample-batches", dependencies=auth)
    async def sample_batches(session_id: str, body: SampleBatches) -> dict[str, Any]:
        session = live_session_of(session_id)
        stored = sum(1 for batch in body.batches if session.add_samples(batch))
        rows = sum(len(batch.columns["t_utc_ns"]) for batch in body.batches)
        return {"status": "ok", "stored": stored, "duplicates": len(body.batches) - stored, "rows": rows}

    @app.put(f"{API_PREFIX}/sessions/{{session_id}}/files/{{folder}}/{{name}}", dependencies=auth)
    async def upload(session_id: str, folder: str, name: str, request: Request) -> dict[str, Any]:
        session = session_of(session_id)
        allowed = UPLOAD_NAMES.get(folder, ())
        if name not in allowed:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                detail=f"{folder}/{name} is not an accepted upload; accepted: "
                + ", ".join(f"{f}/{n}" for f, names in UPLOAD_NAMES.items() for n in names),
            )
        ready = {
            "ranging": (SessionState.RANGED, SessionState.TESTING, SessionState.TESTED),
            "run_1": (SessionState.TESTED,),
            "power": (SessionState.TESTED,),
        }[folder]
        if session.state not in ready:
            raise _conflict(f"{folder}/{name} cannot be uploaded yet", session.state)
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > director.max_upload_bytes:
            raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, detail=_too_large(director))
        data = bytearray()
        async for chunk in request.stream():
            data += chunk
            if len(data) > director.max_upload_bytes:
                raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, detail=_too_large(director))
        target = session.folder / folder / name
        target.write_bytes(bytes(data))
        session.log.info("upload %s/%s: %d bytes", folder, name, len(data))
        if name == "mlperf_log_detail.txt":
            session.loadgen_window(folder, bytes(data))
        return {"status": "ok", "bytes": len(data)}

    @app.post(f"{API_PREFIX}/sessions/{{session_id}}/close", dependencies=auth)
    async def close_session(session_id: str) -> dict[str, Any]:
        session = session_of(session_id)
        try:
            return await session.close(director.analyze)
        except SessionStateError as e:
            raise _conflict(str(e)) from e
        except DirectorError as e:
            raise HTTPException(status.HTTP_502_BAD_GATEWAY, detail=str(e)) from e

    @app.post(f"{API_PREFIX}/sessions/{{session_id}}/abort", dependencies=auth)
    async def abort_session(session_id: str) -> SessionStatus:
        session = live_session_of(session_id)
        await session.abort("aborted by the agent")
        return session.status()

    @app.get(f"{API_PREFIX}/sessions/{{session_id}}", dependencies=auth)
    async def session_status(session_id: str) -> SessionStatus:
        return session_of(session_id).status()

    @app.get(f"{API_PREFIX}/sessions/{{session_id}}/result", dependencies=auth)
    async def session_result(session_id: str) -> dict[str, Any]:
        session = session_of(session_id)
        if session.result is None:
            raise _conflict("no result yet: close the session first", session.state)
        return session.result

    @app.get("/metrics", dependencies=auth, response_class=Response)
    async def metrics() -> Response:
        return Response(render_metrics(lambda: director), media_type=METRICS_CONTENT_TYPE)

    @app.get(f"{API_PREFIX}/sessions", dependencies=auth)
    async def list_sessions() -> list[SessionStatus]:
        return [s.status() for s in director.sessions.values()]

    return app


def _too_large(director: Director) -> str:
    return f"upload larger than {director.max_upload_bytes} bytes; LoadGen logs of a normal run are far smaller"
