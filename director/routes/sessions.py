"""Sessions: open, read, close, abort, and the result."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status

from director.routes.common import AUTH, DirectorDep
from powerlog.wire import API_PREFIX, OpenSessionRequest, SessionOpened, SessionStatus

__all__ = ["router"]

router = APIRouter(prefix=f"{API_PREFIX}/sessions", dependencies=AUTH)


@router.post("", status_code=status.HTTP_201_CREATED)
async def open_session(body: OpenSessionRequest, director: DirectorDep) -> SessionOpened:
    received_utc_ns = director.clock()
    session = await director.open_session(body)
    new = f"new,{body.agent.label},{body.client_uuid}"
    session.record_message(new, f"OK {session.session_name}", received_utc_ns)
    return SessionOpened(
        session_id=session.session_id,
        session_name=session.session_name,
        server_uuid=session.server_uuid,
        settle_s=director.config.settle_s,
        state=session.state,
    )


@router.get("")
async def list_sessions(director: DirectorDep) -> list[SessionStatus]:
    return [s.status() for s in director.sessions.values()]


@router.get("/{session_id}")
async def session_status(session_id: str, director: DirectorDep) -> SessionStatus:
    return director.session(session_id).status()


@router.post("/{session_id}/close")
async def close_session(session_id: str, director: DirectorDep) -> dict[str, Any]:
    result = await director.session(session_id).close(director.analyze)
    return result.to_json_obj()


@router.post("/{session_id}/abort")
async def abort_session(session_id: str, director: DirectorDep) -> SessionStatus:
    session = director.session(session_id)
    await session.cancel("aborted by the agent")
    return session.status()


@router.get("/{session_id}/result")
async def session_result(session_id: str, director: DirectorDep) -> dict[str, Any]:
    return director.session(session_id).closed_result().to_json_obj()
