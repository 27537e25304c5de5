"""Sessions: open, read, keep (heartbeat), close, abort, and the result."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response, status

from director.routes.common import AUTH, AgentSessionDep, DirectorDep, SecretHeader, check_session_secret
from powerlog.wire import API_PREFIX, AbortRequest, OpenSessionRequest, SessionOpened, SessionStatus

__all__ = ["router"]

router = APIRouter(prefix=f"{API_PREFIX}/sessions", dependencies=AUTH)


@router.post("", status_code=status.HTTP_201_CREATED)
async def open_session(body: OpenSessionRequest, director: DirectorDep) -> SessionOpened:
    received_utc_ns = director.clock()
    session = await director.open_session(body, leased=True)
    new = f"new,{body.agent.label},{body.client_uuid}"
    session.record_message(new, f"OK {session.session_name}", received_utc_ns)
    assert session.secret is not None and session.lease_s is not None  # a leased session has both
    return SessionOpened(
        session_id=session.session_id,
        session_name=session.session_name,
        server_uuid=session.server_uuid,
        settle_s=director.config.settle_s,
        state=session.state,
        session_secret=session.secret,
        lease_s=session.lease_s,
    )


@router.get("")
async def list_sessions(director: DirectorDep) -> list[SessionStatus]:
    return [s.status() for s in director.sessions.values()]


@router.get("/{session_id}")
async def session_status(session_id: str, director: DirectorDep) -> SessionStatus:
    """What every token holder sees in the list (and the dashboard): no secret needed."""
    return director.session(session_id).status()


@router.post("/{session_id}/heartbeat", status_code=status.HTTP_204_NO_CONTENT)
async def heartbeat(session: AgentSessionDep) -> Response:
    session.heartbeat()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{session_id}/close")
async def close_session(session: AgentSessionDep, director: DirectorDep) -> dict[str, Any]:
    result = await session.close(director.analyze)
    return result.to_json_obj()


@router.post("/{session_id}/abort")
async def abort_session(
    session_id: str, director: DirectorDep, secret: SecretHeader = None, body: AbortRequest | None = None
) -> SessionStatus:
    """The agent aborts its session with the session's secret; an operator (the token alone, e.g. the dashboard
    or curl) may abort any session from outside, and the reason says so."""
    session = director.session(session_id)
    why = f": {body.reason}" if body is not None and body.reason else ""
    if secret is None:
        reason = f"aborted from outside (by a token holder, not its agent){why}"
    else:
        check_session_secret(session, secret)
        reason = f"aborted by the agent{why}"
    await session.cancel(reason)
    return session.status()


@router.get("/{session_id}/result")
async def session_result(session: AgentSessionDep) -> dict[str, Any]:
    return session.closed_result().to_json_obj()
