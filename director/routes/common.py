"""What every route shares: the director, the token rule, and director errors as error replies.

Every error body is an :class:`ErrorReply` with its :class:`ErrorCode`; a route raises the director's own
exceptions (or :class:`ApiError` for a request that is malformed) and :func:`install_error_replies` maps
them, so the same failure gives the same reply wherever it happens.
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, FastAPI, Header, HTTPException, Request, Response, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException

from director.dashboard import is_loopback_host, require_loopback_host
from director.errors import (
    BatchConflictError,
    DirectorError,
    MeterBusyError,
    MeterError,
    SessionStateError,
    StorageError,
    UnknownSessionError,
)
from director.registry import Director
from director.session import Session
from powerlog.cli_support import json_safe
from powerlog.layout import IDLE
from powerlog.wire import ERROR_CODE_OF_STATUS, PHASES, SESSION_SECRET_HEADER, ErrorCode, ErrorReply

__all__ = [
    "AUTH",
    "READ_AUTH",
    "AgentSessionDep",
    "ApiError",
    "DirectorDep",
    "SecretHeader",
    "check_phase",
    "check_session_secret",
    "install_error_replies",
]


class ApiError(HTTPException):
    """An error reply with its :class:`ErrorCode` (every error body is an :class:`ErrorReply`)."""

    def __init__(self, status_code: int, code: ErrorCode, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(status_code, detail=detail, headers=headers)
        self.code = code


async def _director(request: Request) -> Director:  # async: a sync dependency would hop to a thread
    director: Director = request.app.state.director
    return director


DirectorDep = Annotated[Director, Depends(_director)]
_bearer = HTTPBearer(auto_error=False)


async def _authorized(  # async: no thread-pool hop per request for a comparison
    director: DirectorDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    given = credentials.credentials if credentials is not None else ""
    # constant time: the comparison must not tell how much of a guess was right
    if not hmac.compare_digest(given.encode(), director.token.encode()):
        raise ApiError(
            status.HTTP_401_UNAUTHORIZED,
            ErrorCode.UNAUTHORIZED,
            "missing or wrong token: pass the director's token as 'Authorization: Bearer <token>'",
            headers={"WWW-Authenticate": "Bearer"},
        )


async def _read_authorized(
    request: Request,
    director: DirectorDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    if not director.read_without_token:
        await _authorized(director, credentials)
    elif credentials is not None and not is_loopback_host(request.headers.get("host")):
        await _authorized(director, credentials)  # the token opens them through any Host
    else:
        await require_loopback_host(request)  # token-less: a loopback Host only (DNS rebinding)


AUTH = [Depends(_authorized)]
READ_AUTH = [Depends(_read_authorized)]  # the dashboard's read-only routes: no token on a loopback director


SecretHeader = Annotated[str | None, Header(alias=SESSION_SECRET_HEADER)]


def check_session_secret(session: Session, given: str | None) -> None:
    """403 unless ``given`` is the session's secret (the token alone does not let one agent into another's
    session)."""
    if session.secret is None:
        raise ApiError(
            status.HTTP_403_FORBIDDEN,
            ErrorCode.FORBIDDEN,
            f"session {session.session_id} belongs to a power-dev client: it takes no calls over HTTP",
        )
    if given is None:
        raise ApiError(
            status.HTTP_403_FORBIDDEN,
            ErrorCode.FORBIDDEN,
            f"missing {SESSION_SECRET_HEADER} header: every call into session {session.session_id} carries the "
            "session_secret its opening returned",
        )
    # constant time, as the token: the comparison must not tell how much of a guess was right
    if not hmac.compare_digest(given.encode(), session.secret.encode()):
        raise ApiError(
            status.HTTP_403_FORBIDDEN,
            ErrorCode.FORBIDDEN,
            f"wrong {SESSION_SECRET_HEADER} header for session {session.session_id}: send the session_secret its "
            "opening returned (only the agent that opened a session may call into it)",
        )


async def _agent_session(session_id: str, director: DirectorDep, secret: SecretHeader = None) -> AsyncIterator[Session]:
    """The session a call from its agent goes into, once the secret is checked; the agent is heard from the
    request's start to its end (a phase start that waits on the meter is no silence)."""
    session = director.session(session_id)
    check_session_secret(session, secret)
    session.agent_call_started()
    try:
        yield session
    finally:
        session.agent_call_ended()


AgentSessionDep = Annotated[Session, Depends(_agent_session)]


def check_phase(phase: str) -> None:
    if phase not in (IDLE, *PHASES):
        raise ApiError(
            status.HTTP_404_NOT_FOUND, ErrorCode.NOT_FOUND, f"no phase {phase!r}: use idle, ranging or testing"
        )


# the director's exceptions as replies, most specific first: (type, status, code, prefix of the message)
_REPLIES: tuple[tuple[type[DirectorError], int, ErrorCode, str], ...] = (
    (UnknownSessionError, status.HTTP_404_NOT_FOUND, ErrorCode.UNKNOWN_SESSION, ""),
    (MeterBusyError, status.HTTP_409_CONFLICT, ErrorCode.METER_BUSY, ""),
    (BatchConflictError, status.HTTP_409_CONFLICT, ErrorCode.BATCH_CONFLICT, ""),
    (SessionStateError, status.HTTP_409_CONFLICT, ErrorCode.SESSION_CONFLICT, ""),
    (StorageError, status.HTTP_507_INSUFFICIENT_STORAGE, ErrorCode.STORAGE_FULL, "run folder: "),
    (MeterError, status.HTTP_502_BAD_GATEWAY, ErrorCode.METER_FAILED, "meter: "),
    (DirectorError, status.HTTP_502_BAD_GATEWAY, ErrorCode.FAILED, ""),
)


async def _http_error_reply(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = getattr(exc, "code", None) or ERROR_CODE_OF_STATUS.get(exc.status_code, ErrorCode.FAILED)
    body = ErrorReply(detail=str(exc.detail), code=code)
    return JSONResponse(body.model_dump(mode="json"), status_code=exc.status_code, headers=exc.headers)


async def _director_error_reply(request: Request, exc: Exception) -> Response:
    for kind, status_code, code, prefix in _REPLIES:
        if isinstance(exc, kind):
            return await _http_error_reply(request, ApiError(status_code, code, f"{prefix}{exc}"))
    raise exc  # not a director error: the server's own 500


async def _validation_error_reply(request: Request, exc: Exception) -> Response:
    """FastAPI's 422 for a body that does not validate, with NaN and infinities in it quoted as null: the
    default reply quotes the input, and a NaN there made the reply itself fail (a 500)."""
    assert isinstance(exc, RequestValidationError)
    detail = json_safe(jsonable_encoder(exc.errors()))
    return JSONResponse({"detail": detail}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)


def install_error_replies(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_error_reply)
    app.add_exception_handler(StarletteHTTPException, _http_error_reply)
    app.add_exception_handler(DirectorError, _director_error_reply)
