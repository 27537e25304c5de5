"""HTTP(S) to a Redfish service: TLS, credentials, timeouts, error translation and the log of every exchange.

The Redfish driver (:mod:`director.meters.redfish`) asks for resources by path and gets their JSON; it never
touches httpx. Credentials come from a file (``credentials=PATH``) or from ``MLPOWER_REDFISH_USER`` and
``MLPOWER_REDFISH_PASSWORD``, are read at :meth:`RedfishTransport.open`, and appear in no message, exchange,
``repr`` or log: an error says where the credentials came from (the file's path, the variables' names), never
what they are.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import ssl
import stat
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx

from director.errors import (
    MeterConfigError,
    MeterConnectionError,
    MeterErrorReply,
    MeterProtocolError,
    MeterTimeoutError,
)
from director.meters.transport import Exchange

__all__ = [
    "PASSWORD_VARIABLE",
    "USER_VARIABLE",
    "CredentialSource",
    "RedfishCredentials",
    "RedfishReply",
    "RedfishTransport",
]

USER_VARIABLE = "MLPOWER_REDFISH_USER"
PASSWORD_VARIABLE = "MLPOWER_REDFISH_PASSWORD"
SERVICE_ROOT = "/redfish/v1"
_log = logging.getLogger(__name__)
DEFAULT_SESSIONS = "/redfish/v1/SessionService/Sessions"
MAX_BODY_BYTES = 4 << 20
Clock = Callable[[], int]
AuthMode = Literal["basic", "session"]


@functools.lru_cache(maxsize=16)
def _tls_context(verify: bool, ca_file: tuple[str, int] | None) -> ssl.SSLContext:
    """One TLS context per trust setting (a CA file is known by its path and modification time), shared by every
    Redfish connection: a context that trusts the system's CAs loads the whole store, about 17 ms holding the GIL,
    and a rack's 72 BMCs connecting at a session's open made that over a second in which the director's event loop
    answered no one. A context is safe to share between connections and threads."""
    if not verify:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # any certificate: nothing to load
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    return ssl.create_default_context(cafile=None if ca_file is None else ca_file[0])


@dataclass(frozen=True)
class RedfishCredentials:
    """A user and a password, and where they came from (said in errors instead of them)."""

    user: str
    password: str = field(repr=False)
    source: str


@dataclass(frozen=True)
class CredentialSource:
    """Where the credentials are: a file (first line the user, second the password, or one ``user:password``
    line), else the two environment variables; neither: no credentials. Read by :meth:`load`, not before."""

    path: Path | None = None
    environ: Mapping[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def from_environment(cls, path: Path | None = None) -> CredentialSource:
        names = (USER_VARIABLE, PASSWORD_VARIABLE)
        return cls(path, {k: v for k, v in os.environ.items() if k in names})

    def load(self) -> RedfishCredentials | None:
        if self.path is not None:
            return self._from_file(self.path)
        user, password = self.environ.get(USER_VARIABLE), self.environ.get(PASSWORD_VARIABLE)
        if user is None and password is None:
            return None
        if not user or password is None:
            raise MeterConfigError(f"set both {USER_VARIABLE} and {PASSWORD_VARIABLE} (or give credentials=PATH)")
        return RedfishCredentials(user, password, f"{USER_VARIABLE}/{PASSWORD_VARIABLE}")

    @staticmethod
    def _from_file(path: Path) -> RedfishCredentials:
        try:
            text = path.read_text(encoding="utf-8")
            mode = stat.S_IMODE(path.stat().st_mode)
        except (OSError, UnicodeDecodeError) as e:
            reason = e.strerror if isinstance(e, OSError) and e.strerror else type(e).__name__
            raise MeterConfigError(f"cannot read the credentials file {path}: {reason}") from None
        if mode & 0o077:  # a warning, not a refusal: a read-only BMC account is not an ssh key
            _log.warning(
                "the credentials file %s can be read or written by others than its owner (mode %04o): chmod 600 %s",
                path,
                mode,
                path,
            )
        lines = [line.rstrip("\r") for line in text.split("\n")]
        lines = [line for line in lines if line.strip()]
        if len(lines) >= 2:
            user, password = lines[0].strip(), lines[1]
        elif len(lines) == 1 and ":" in lines[0]:
            user, _, password = lines[0].partition(":")
            user = user.strip()
        else:
            user, password = "", ""
        if not user or not password:
            raise MeterConfigError(
                f"the credentials file {path} holds no user and password: write the user on the first line and "
                "the password on the second (or one user:password line)"
            )
        return RedfishCredentials(user, password, f"the credentials file {path}")


@dataclass(frozen=True)
class RedfishReply:
    """One resource as the service gave it: its JSON, its ETag (header or ``@odata.etag``) and when it was asked."""

    path: str
    body: dict[str, Any]
    etag: str | None
    sent_utc_ns: int
    received_utc_ns: int


class RedfishTransport:
    """GETs of Redfish resources over one keep-alive HTTP(S) connection; nothing connects before :meth:`open`.

    ``verify``: True (the system's trust store), False (``insecure=1``: any certificate) or a CA file's path.
    ``auth="session"`` logs in with a Redfish session (``X-Auth-Token``) and logs out at :meth:`close`; ``"basic"``
    sends Basic authentication with every request."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        https: bool = True,
        verify: bool | Path = True,
        timeout_s: float = 5.0,
        credentials: CredentialSource | None = None,
        auth: AuthMode = "basic",
        name: str | None = None,
        clock: Clock = time.time_ns,
    ) -> None:
        scheme = "https" if https else "http"
        netloc = f"[{host}]" if ":" in host else host
        self.base_url = f"{scheme}://{netloc}:{port}"
        self.name = name or f"redfish://{netloc}:{port}"  # what errors start with: the meter, never credentials
        self.https = https
        self.verify = verify
        self.timeout_s = timeout_s
        self.credentials = credentials or CredentialSource()
        self.auth: AuthMode = auth
        self.clock = clock
        self.exchanges: list[Exchange] = []
        self.unrecorded: dict[str, int] = {}  # polled resources: how often each was asked for
        self._client: httpx.Client | None = None
        self._creds: RedfishCredentials | None = None
        self._session_uri: str | None = None
        self._lock = threading.Lock()

    # connection ------------------------------------------------------------------------
    def open(self) -> None:
        self.close()
        self._creds = self.credentials.load()
        basic = (
            httpx.BasicAuth(self._creds.user, self._creds.password) if self._creds and self.auth == "basic" else None
        )
        self._client = httpx.Client(
            base_url=self.base_url,
            auth=basic,
            verify=self._ssl_context() if self.https else _tls_context(True, None),  # plain HTTP: never used
            timeout=httpx.Timeout(self.timeout_s),
            trust_env=False,  # no proxy from the environment between the director and its meter
            headers={"Accept": "application/json", "OData-Version": "4.0"},
            follow_redirects=False,
        )
        if self._creds is not None and self.auth == "session":
            self._login()

    def _ssl_context(self) -> ssl.SSLContext:
        if isinstance(self.verify, bool):
            return _tls_context(self.verify, None)
        try:
            return _tls_context(True, (str(self.verify), self.verify.stat().st_mtime_ns))
        except (OSError, ssl.SSLError) as e:
            raise MeterConfigError(f"cannot use ca={self.verify} as a CA certificate: {e}", meter=self.name) from e

    def close(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        session_uri, self._session_uri = self._session_uri, None
        try:
            if session_uri is not None:  # log out, so the BMC's few session slots do not fill up
                with contextlib.suppress(httpx.HTTPError):
                    client.delete(session_uri, timeout=min(self.timeout_s, 2.0))
        finally:
            client.close()

    def _drop(self) -> None:
        """Close without logging out: the service is not answering (its session times out by itself)."""
        client, self._client, self._session_uri = self._client, None, None
        if client is not None:
            client.close()

    @property
    def is_open(self) -> bool:
        return self._client is not None

    def _login(self) -> None:
        assert self._creds is not None
        body = {"UserName": self._creds.user, "Password": self._creds.password}
        try:
            response = self._request("POST", DEFAULT_SESSIONS, json=body)
        except MeterErrorReply as e:
            if (e.reply or "").startswith(("HTTP 401", "HTTP 403")):
                raise
            raise MeterErrorReply(
                f"the Redfish session login failed ({e.reply}): use auth=basic", meter=self.name,
                command=e.command, reply=e.reply,
            ) from None  # fmt: skip
        token = response.headers.get("X-Auth-Token")
        if not token:
            raise MeterProtocolError(
                f"the Redfish session login answered HTTP {response.status_code} without an X-Auth-Token: "
                "use auth=basic",
                meter=self.name,
                command=f"POST {DEFAULT_SESSIONS}",
            )
        assert self._client is not None
        self._client.headers["X-Auth-Token"] = token
        location = response.headers.get("Location")
        self._session_uri = httpx.URL(location).path if location else None

    # requests --------------------------------------------------------------------------
    def get(self, path: str, record: bool = True) -> RedfishReply:
        """The resource at ``path`` (``/redfish/v1/...``). ``record=False`` keeps polling out of the exchange log
        (it is counted instead). A Redfish session that expired is logged into again once."""
        sent_ns = self.clock()
        try:
            response = self._request("GET", path)
        except MeterErrorReply as e:
            if not (e.reply or "").startswith("HTTP 401") or self.auth != "session" or self._creds is None:
                raise
            self._login()  # the BMC restarted or dropped the session: log in again, once
            response = self._request("GET", path)
        received_ns = self.clock()
        command = f"GET {path}"
        if record:
            self.exchanges.append(Exchange(command, _status(response), sent_ns, received_ns))
        else:
            self.unrecorded[command] = self.unrecorded.get(command, 0) + 1
        body = self._json(response, command)
        etag = response.headers.get("ETag") or body.get("@odata.etag")
        return RedfishReply(path, body, str(etag) if etag else None, sent_ns, received_ns)

    def _request(self, method: str, path: str, json: dict[str, str] | None = None) -> httpx.Response:
        command = f"{method} {path}"
        with self._lock:
            client = self._client
            if client is None:
                raise MeterConnectionError("not connected (call open() first)", meter=self.name, command=command)
            try:
                response = client.request(method, path, json=json)
            except httpx.TimeoutException as e:
                self._drop()  # a late reply is no use: connect afresh
                raise MeterTimeoutError(
                    f"no reply within {self.timeout_s:g} s (timeout=S in the URL gives the BMC longer)",
                    meter=self.name,
                    command=command,
                ) from e
            except httpx.TransportError as e:
                self._drop()
                raise self._transport_error(e, command) from e
        if response.status_code >= 400:
            raise self._status_error(response, command)
        return response

    def _transport_error(self, error: httpx.TransportError, command: str) -> MeterConnectionError | MeterConfigError:
        cause: BaseException | None = error
        while cause is not None and not isinstance(cause, ssl.SSLError):
            cause = cause.__cause__ or cause.__context__
        if isinstance(cause, ssl.SSLCertVerificationError):
            return MeterConfigError(
                f"the BMC's TLS certificate is not trusted ({cause.verify_message}): give ca=PATH (the "
                "certificate, or the CA that signed it) or, on a network you trust, insecure=1",
                meter=self.name,
                command=command,
            )
        if isinstance(cause, ssl.SSLError):
            return MeterConnectionError(
                f"the TLS handshake failed ({cause.reason or cause}): if the service speaks plain HTTP, add "
                "protocol=http",
                meter=self.name,
                command=command,
            )
        reason = str(error) or type(error).__name__
        return MeterConnectionError(
            f"cannot reach the Redfish service at {self.base_url}: {reason}. Check the BMC's address and port and "
            "that it is up",
            meter=self.name,
            command=command,
        )

    def _status_error(self, response: httpx.Response, command: str) -> MeterConnectionError | MeterErrorReply:
        status = _status(response)
        code = response.status_code
        where = self._creds.source if self._creds is not None else None
        if code == 401:
            what = (
                f"the Redfish service refused the credentials from {where} ({status}): check the user and password"
                if where
                else f"the Redfish service asks for credentials ({status}): give credentials=PATH (a file with "
                f"the user and the password) or set {USER_VARIABLE} and {PASSWORD_VARIABLE}"
            )
            return MeterErrorReply(what, meter=self.name, command=command, reply=status)
        if code == 403:
            return MeterErrorReply(
                f"the account from {where or 'no credentials'} may not read this ({status}): give it a role that "
                "can read the chassis (ReadOnly is enough)",
                meter=self.name,
                command=command,
                reply=status,
            )
        if code in (502, 503, 504):
            self._drop()
            return MeterConnectionError(
                f"the Redfish service is busy or restarting ({status})", meter=self.name, command=command
            )
        return MeterErrorReply(
            f"the Redfish service answered {status}{_message_of(response)}",
            meter=self.name,
            command=command,
            reply=status,
        )

    def _json(self, response: httpx.Response, command: str) -> dict[str, Any]:
        content = response.content
        if len(content) > MAX_BODY_BYTES:
            raise MeterProtocolError(f"a reply of {len(content)} bytes is not a resource", meter=self.name)
        try:
            body = json.loads(content)
        except ValueError:
            raise MeterProtocolError(
                f"the reply is not JSON (is this a Redfish service?): {content[:80]!r}",
                meter=self.name,
                command=command,
                reply=content[:200].decode("utf-8", "replace"),
            ) from None
        if not isinstance(body, dict):
            raise MeterProtocolError(
                "the reply is JSON but not a resource (an object)", meter=self.name, command=command
            )
        return body


def _status(response: httpx.Response) -> str:
    return f"HTTP {response.status_code} {response.reason_phrase}".rstrip()


def _message_of(response: httpx.Response) -> str:
    """The Redfish error's message, if the body has one (``{"error": {"message": ...}}``)."""
    with contextlib.suppress(ValueError, AttributeError, TypeError):
        message = response.json()["error"]["message"]
        if isinstance(message, str) and message:
            return f": {message[:200]}"
    return ""
