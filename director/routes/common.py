"""What every route shares: the director, the token rule, and director errors as error replies.

Every error body is an :class:`ErrorReply` with its :class:`ErrorCode`; a route raises the director's own
exceptions (or :class:`ApiError` for a request that is malformed) and :func:`install_error_replies` maps
them, so the same failure gives the same reply wherever it happens.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request, Response, status
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException

from director.errors import (
    DirectorError,
    MeterBusyError,
    MeterError,
    SessionStateError,
    StorageError,
    UnknownSessionError,
)
from director.registry import Director
from powerlog.wire import ERROR_CODE_OF_STATUS, PHASES, ErrorCode, ErrorReply

__all__ = [
    "AUTH",
    "READ_AUTH",
    "ApiError",
    "DirectorDep",
    "check_phase",
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
    director: DirectorDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    if not director.read_without_token:
        await _authorized(director, credentials)


AUTH = [Depends(_authorized)]
READ_AUTH = [Depends(_read_authorized)]  # the dashboard's read-only routes: no token on a loopback director


def check_phase(phase: str) -> None:
    if phase not in PHASES:
        raise ApiError(status.HTTP_404_NOT_FOUND, ErrorCode.NOT_FOUND, f"no phase {phase!r}: use ranging or testing")


# the director's exceptions as replies, most specific first: (type, status, code, prefix of the message)
_REPLIES: tuple[tuple[type[DirectorError], int, ErrorCode, str], ...] = (
    (UnknownSessionError, status.HTTP_404_NOT_FOUND, ErrorCode.UNKNOWN_SESSION, ""),
    (MeterBusyError, status.HTTP_409_CONFLICT, ErrorCode.METER_BUSY, ""),
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


def install_error_replies(app: FastAPI) -> None:
    app.add_exception_handler(StarletteHTTPException, _http_error_reply)
    app.add_exception_handler(DirectorError, _director_error_reply)
