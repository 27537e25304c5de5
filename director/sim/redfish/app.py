"""The simulated BMC over HTTP: FastAPI in front of :class:`~director.sim.redfish.device.SimulatedBmc`.

Authentication as a BMC does it: the service root (``/redfish``, ``/redfish/v1``) is open to anyone; every
other resource wants HTTP Basic credentials or the ``X-Auth-Token`` of a Redfish session (``POST
/redfish/v1/SessionService/Sessions`` with ``UserName`` and ``Password``; ``DELETE`` its ``Location`` to log
out). Without a user configured nothing asks for credentials. Faults: ``slow_s`` delays every reply,
``auth_fault`` (401 or 403) refuses every request that needs authentication, right credentials or not.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import itertools
import secrets
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from director.sim.redfish.device import ROOT, SimulatedBmc, chassis_collection

__all__ = ["SimAuth", "SimFaults", "create_app"]

SESSIONS = f"{ROOT}/SessionService/Sessions"
OPEN_PATHS = ("/redfish", ROOT)
REALM = 'Basic realm="mlpower redfish-sim (SIMULATED)"'


@dataclass
class SimAuth:
    """Who may read: ``user`` and ``password`` (None: anyone), and whether Redfish sessions are offered."""

    user: str | None = None
    password: str | None = field(default=None, repr=False)
    sessions: bool = True


@dataclass
class SimFaults:
    """Changeable while serving: a delay before every reply, a refusal of every authenticated request, and the
    number of requests per path seen (for tests)."""

    slow_s: float = 0.0
    auth_fault: int | None = None  # 401 or 403
    requests: Counter[str] = field(default_factory=Counter)


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"error": {"code": f"Base.1.16.{code}", "message": message,
                      "@Message.ExtendedInfo": [{"MessageId": f"Base.1.16.{code}", "Message": message}]}}  # fmt: skip
    return JSONResponse(body, status_code=status, headers=headers)


def _resources(bmcs: Sequence[SimulatedBmc]) -> Callable[[str], tuple[dict[str, Any], str | None] | None]:
    """What answers a path: the chassis it names, the collection of them all, or the first BMC's service."""
    by_chassis = {bmc.chassis_id: bmc for bmc in bmcs}
    if len(by_chassis) != len(bmcs):
        raise ValueError("simulated BMCs served together need chassis ids of their own")
    prefix = f"{ROOT}/Chassis/"

    def resource(path: str) -> tuple[dict[str, Any], str | None] | None:
        path = path.rstrip("/") or "/"
        if path.startswith(prefix):
            owner = by_chassis.get(path[len(prefix) :].split("/", 1)[0])
            return owner.resource(path) if owner is not None else None
        if path == f"{ROOT}/Chassis":
            return chassis_collection(list(by_chassis)), None
        return bmcs[0].resource(path)

    return resource


def create_app(bmc: SimulatedBmc | Sequence[SimulatedBmc], auth: SimAuth, faults: SimFaults) -> FastAPI:
    """One service answering for ``bmc``, or for several chassis (one BMC each, as a multi-node enclosure's)."""
    resource_at = _resources([bmc] if isinstance(bmc, SimulatedBmc) else list(bmc))
    app = FastAPI(title="mlpower redfish-sim (SIMULATED)", docs_url=None, redoc_url=None, openapi_url=None)
    tokens: dict[str, str] = {}  # token -> session path
    numbers = itertools.count(1)

    def _basic_ok(header: str) -> bool:
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(encoded, validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return secrets.compare_digest(user.encode(), (auth.user or "").encode()) & secrets.compare_digest(
            password.encode(), (auth.password or "").encode()
        )

    def _refusal(request: Request) -> JSONResponse | None:
        if faults.auth_fault == 403:
            return _error(403, "InsufficientPrivilege", "SIMULATED: the account may not read this resource")
        if faults.auth_fault == 401:
            return _error(401, "NoValidSession", "SIMULATED: credentials refused", {"WWW-Authenticate": REALM})
        if auth.user is None:
            return None
        token = request.headers.get("X-Auth-Token")
        if token is not None and token in tokens:
            return None
        if _basic_ok(request.headers.get("Authorization", "")):
            return None
        return _error(401, "NoValidSession", "no valid credentials or session token", {"WWW-Authenticate": REALM})

    async def _delayed() -> None:
        if faults.slow_s > 0:
            await asyncio.sleep(faults.slow_s)

    @app.post(SESSIONS)
    async def login(request: Request) -> Response:
        faults.requests[f"POST {SESSIONS}"] += 1
        await _delayed()
        if not auth.sessions:
            return _error(405, "OperationNotAllowed", "this simulated BMC offers no sessions: use Basic auth")
        try:
            body: Any = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return _error(400, "MalformedJSON", "the body must be a JSON object with UserName and Password")
        given_user, given_password = str(body.get("UserName", "")), str(body.get("Password", ""))
        right = auth.user is None or (
            secrets.compare_digest(given_user.encode(), auth.user.encode())
            & secrets.compare_digest(given_password.encode(), (auth.password or "").encode())
        )
        if faults.auth_fault is not None or not right:
            return _error(401, "NoValidSession", "SIMULATED: credentials refused", {"WWW-Authenticate": REALM})
        token = secrets.token_hex(16)
        path = f"{SESSIONS}/{next(numbers)}"
        tokens[token] = path
        session = {"@odata.id": path, "@odata.type": "#Session.v1_7_0.Session", "Id": path.rsplit("/", 1)[-1],
                   "Name": "User Session (SIMULATED)", "UserName": given_user}  # fmt: skip
        return JSONResponse(session, status_code=201, headers={"X-Auth-Token": token, "Location": path})

    @app.delete(SESSIONS + "/{number}")
    async def logout(number: str, request: Request) -> Response:
        faults.requests[f"DELETE {SESSIONS}/{number}"] += 1
        refusal = _refusal(request)
        if refusal is not None:
            return refusal
        path = f"{SESSIONS}/{number}"
        for token, session_path in list(tokens.items()):
            if session_path == path:
                del tokens[token]
                return Response(status_code=204)
        return _error(404, "ResourceMissingAtURI", f"no session {path}")

    @app.get("/{path:path}")
    async def resource(path: str, request: Request) -> Response:
        path = "/" + path.rstrip("/")
        faults.requests[f"GET {path}"] += 1
        await _delayed()
        if path not in OPEN_PATHS:
            refusal = _refusal(request)
            if refusal is not None:
                return refusal
        found = resource_at(path)
        if found is None:
            return _error(404, "ResourceMissingAtURI", f"the resource at {path} does not exist")
        body, etag = found
        headers = {"OData-Version": "4.0"}
        if etag is not None:
            headers["ETag"] = etag
        return JSONResponse(body, headers=headers)

    return app
