"""The agent's HTTP client for the director's ``/v1`` API (httpx), with errors a person can act on."""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel

from agent.errors import (
    AuthenticationFailed,
    DirectorFailed,
    DirectorUnreachable,
    DirectorUntrusted,
    MeterBusy,
    SessionConflict,
    TokenAuthenticationFailed,
)
from powerlog.errors import FormatError
from powerlog.layout import IDLE
from powerlog.powerdev_records import PowerDevMessage
from powerlog.result_record import ResultJson, parse_result_json
from powerlog.wire import (
    API_PREFIX,
    ERROR_CODE_OF_STATUS,
    SESSION_SECRET_HEADER,
    AbortRequest,
    ClockMeasurement,
    ClockReport,
    ErrorCode,
    ErrorReply,
    GivenRanges,
    OpenSessionRequest,
    PhaseReply,
    PhaseRequest,
    SampleBatch,
    SampleBatches,
    SessionOpened,
    SessionStatus,
    TimeReply,
)

__all__ = ["DirectorClient"]

log = logging.getLogger("mlpower.agent.client")
QUICK_CALL_TIMEOUT_S = 10.0  # sample batches and status polls: a lost request must not hold its thread long

M = TypeVar("M", bound=BaseModel)


class DirectorClient:
    """Talks to one director. Nothing connects before the first call."""

    def __init__(
        self,
        base_url: str,
        token: str,
        timeout_s: float = 120.0,
        clock_ns: Callable[[], int] = time.time_ns,
        transport: httpx.BaseTransport | None = None,
        retry_s: float = 60.0,
        ca_file: Path | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.retry_s = retry_s
        self.clock_ns = clock_ns
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=httpx.Timeout(timeout_s, connect=10.0),
            transport=transport,
            # https: the system's CAs, or the director's own certificate (--ca-file) for a self-signed one
            verify=ssl.create_default_context(cafile=str(ca_file)) if ca_file is not None else True,
        )
        self.messages: list[PowerDevMessage] = []  # client.json "messages"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> DirectorClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _request(
        self, method: str, path: str, retry: bool = True, retry_s: float | None = None, **kwargs: Any
    ) -> httpx.Response:
        """One call. While the director cannot be connected to (the request never left), it is tried again
        with backoff for up to ``retry_s`` (the client's own unless given): a network outage delays the run instead
        of ending it."""
        deadline = time.monotonic() + ((self.retry_s if retry_s is None else retry_s) if retry else 0.0)
        delay_s = 0.5
        while True:
            try:
                return self._request_once(method, path, **kwargs)
            except DirectorUnreachable as e:
                connect_failed = isinstance(e.__cause__, httpx.ConnectError) and not isinstance(e, DirectorUntrusted)
                if not connect_failed or time.monotonic() + delay_s > deadline:
                    raise
                log.warning("%s %s: director unreachable, trying again in %.1f s", method, path, delay_s)
                time.sleep(delay_s)
                delay_s = min(delay_s * 2, 5.0)

    def _request_once(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.ConnectError as e:
            if "CERTIFICATE_VERIFY_FAILED" in str(e):
                raise DirectorUntrusted(
                    f"the director at {self.base_url} has a certificate this agent does not trust ({e}): "
                    "give the director's certificate (its --tls-cert) with --ca-file"
                ) from e
            raise DirectorUnreachable(
                f"cannot reach the director at {self.base_url}: {e}. Is `mlpower-director serve` running there?"
            ) from e
        except httpx.TimeoutException as e:
            raise DirectorUnreachable(f"the director at {self.base_url} did not answer {method} {path} in time") from e
        except httpx.TransportError as e:
            raise DirectorUnreachable(f"connection to the director at {self.base_url} failed: {e}") from e
        if response.status_code < 400:
            return response
        reply = _error_reply(response)
        detail, code = reply.detail, reply.code
        if code is ErrorCode.UNAUTHORIZED:
            raise TokenAuthenticationFailed(f"the director refused the token: {detail}")
        if code is ErrorCode.FORBIDDEN:
            raise AuthenticationFailed(f"the director refused this agent's call into the session: {detail}")
        if code is ErrorCode.METER_BUSY:
            raise MeterBusy(detail)
        if code is ErrorCode.UNKNOWN_SESSION:
            raise SessionConflict(f"the director does not know this session (was it restarted?): {detail}")
        if code is ErrorCode.SESSION_CONFLICT:
            raise SessionConflict(detail)
        if code is ErrorCode.METER_FAILED:
            raise DirectorFailed(f"the director's wall meter failed: {detail}")
        if code is ErrorCode.STORAGE_FULL:
            raise DirectorFailed(f"the director cannot store the run: {detail}")
        if code is ErrorCode.BATCH_CONFLICT:
            raise DirectorFailed(
                f"the director holds another batch under the same source and sequence number: {detail} "
                "(two agents streaming under one source name?)"
            )
        raise DirectorFailed(f"{method} {path} failed with {response.status_code}: {detail}")

    def _model(self, model: type[M], method: str, path: str, **kwargs: Any) -> M:
        return model.model_validate(self._request(method, path, **kwargs).json())

    # the API ---------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        result: dict[str, Any] = self._request("GET", "/health", retry=False).json()
        return result

    def server_time(self) -> TimeReply:
        return self._model(TimeReply, "GET", f"{API_PREFIX}/time")

    def open_session(self, body: OpenSessionRequest) -> SessionOpened:
        sent = self.clock_ns()
        opened = self._model(SessionOpened, "POST", f"{API_PREFIX}/sessions", json=body.model_dump(mode="json"))
        self._record(f"new,{body.agent.label},{body.client_uuid}", f"OK {opened.session_name}", sent)
        return opened

    def _into(
        self, session: SessionOpened, method: str, tail: str, content_type: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        """A call into the session: with its secret (the token alone does not let one agent into another's)."""
        headers = {SESSION_SECRET_HEADER: session.session_secret}
        if content_type is not None:
            headers["Content-Type"] = content_type
        return self._request(method, f"{API_PREFIX}/sessions/{session.session_id}/{tail}", headers=headers, **kwargs)

    def phase(
        self, session: SessionOpened, phase: str, action: str, ranges: GivenRanges | None = None
    ) -> tuple[PhaseReply, int, int]:
        """Start or stop a phase (testing may start on given ``ranges``, without ranging); returns the reply and the
        agent's send and receive times."""
        sent = self.clock_ns()
        request = PhaseRequest(agent_utc_ns=sent, ranges=ranges).model_dump(exclude_none=True)
        started = self._into(session, "POST", f"phases/{phase}/{action}", json=request)
        reply = PhaseReply.model_validate(started.json())
        received = self.clock_ns()
        if phase != IDLE:  # client.json's messages: the official phases only, as the director's server.json
            self._record(f"session,{session.session_name},{action},{phase}", "OK", sent, received)
        checkpoint = PhaseRequest(agent_utc_ns=received).model_dump()
        self._into(session, "POST", f"phases/{phase}/checkpoint", json=checkpoint)
        return reply, sent, received

    def report_clock(self, session: SessionOpened, phase: str, when: str, clock: ClockMeasurement) -> None:
        body = ClockReport(phase=phase, when=when, clock=clock)  # type: ignore[arg-type]
        self._into(session, "POST", "clock", json=body.model_dump())

    def send_samples(self, session: SessionOpened, batch: SampleBatch) -> None:
        # no retry here: the sampler keeps the batch and sends it again with the next one
        self._into(session, "POST", "samples", "application/json", retry=False, content=batch.model_dump_json(),
                   timeout=QUICK_CALL_TIMEOUT_S)  # fmt: skip

    def send_sample_batches(self, session: SessionOpened, batches: Sequence[SampleBatch]) -> None:
        """Several sources' batches in one request (no retry here either)."""
        body = SampleBatches(batches=list(batches))
        self._into(session, "POST", "sample-batches", "application/json", retry=False, content=body.model_dump_json(),
                   timeout=QUICK_CALL_TIMEOUT_S)  # fmt: skip

    def heartbeat(self, session: SessionOpened) -> None:
        """Keep the session's lease while the workload runs (no retry: the next heartbeat is the retry)."""
        self._into(session, "POST", "heartbeat", retry=False, timeout=QUICK_CALL_TIMEOUT_S)

    def upload(self, session: SessionOpened, folder: str, path: Path) -> None:
        self._into(session, "PUT", f"files/{folder}/{path.name}", "application/octet-stream", content=path.read_bytes())

    def close_session(self, session: SessionOpened) -> ResultJson:
        """Close the session; the director's analysis of the run (its result.json)."""
        reply = self._into(session, "POST", "close").json()
        try:
            return parse_result_json(reply, "the director's result")
        except FormatError as e:
            raise DirectorFailed(f"the director closed the session but its result does not read: {e}") from e

    def status(self, session: SessionOpened) -> SessionStatus:
        path = f"{API_PREFIX}/sessions/{session.session_id}"
        return self._model(SessionStatus, "GET", path, retry=False, timeout=QUICK_CALL_TIMEOUT_S)

    def abort_session(self, session: SessionOpened, reason: str, within_s: float | None = None) -> SessionStatus:
        """Abort the session; ``reason`` (the real cause) becomes its error on the director. ``within_s`` bounds
        the whole call, retries and the wait for the reply (a stopped agent must end soon, director or not)."""
        body = AbortRequest(reason=reason[:500]).model_dump()
        bounded: dict[str, Any] = {} if within_s is None else {"retry_s": within_s, "timeout": within_s}
        return SessionStatus.model_validate(self._into(session, "POST", "abort", json=body, **bounded).json())

    def _record(self, cmd: str, reply: str, sent_ns: int, received_ns: int | None = None) -> None:
        received_ns = received_ns if received_ns is not None else self.clock_ns()
        self.messages.append(PowerDevMessage.exchanged(cmd, sent_ns, reply, received_ns))


def _error_reply(response: httpx.Response) -> ErrorReply:
    """The director's :class:`ErrorReply`; from the status alone when the body is not one."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("detail"), str) and "code" in body:
        try:
            return ErrorReply.model_validate({"detail": body["detail"][:500], "code": body["code"]})
        except ValueError:
            pass
    detail = body.get("detail") if isinstance(body, dict) else (body if body is not None else response.text[:300])
    return ErrorReply(detail=str(detail)[:500], code=ERROR_CODE_OF_STATUS.get(response.status_code, ErrorCode.FAILED))
