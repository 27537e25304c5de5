"""Node agents: hello (join the active session or learn there is none), sample batches, clock reports, heartbeats.

A node agent (``mlpower-agent node``) runs on every node beside the LoadGen one. ``POST /v1/nodes/{name}/hello``
answers with the active session and a secret for this node in it, or none yet; every later call into the session
goes under ``/v1/nodes/{name}/sessions/{session_id}/`` with the token and that secret
(``X-Mlpower-Node-Secret``). See docs/http-api.md.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status

from director.errors import SessionStateError
from director.routes.common import AUTH, ApiError, DirectorDep
from director.session import Session
from director.session.nodes import NODE_POLL_S, SessionNode
from powerlog.wire import (
    API_PREFIX,
    NODE_NAME_PATTERN,
    NODE_SECRET_HEADER,
    ClockReport,
    ErrorCode,
    NodeBatchesStored,
    NodeHello,
    NodeSession,
    NodeWelcome,
    SampleBatches,
)
from powerlog.wire_codec import BatchDecodeError, decode_sample_batches

__all__ = ["router"]

router = APIRouter(prefix=f"{API_PREFIX}/nodes/{{name}}", dependencies=AUTH)
NodeName = Annotated[str, Path(pattern=NODE_NAME_PATTERN, description="the node's --name")]


def _forbidden(detail: str) -> ApiError:
    return ApiError(status.HTTP_403_FORBIDDEN, ErrorCode.FORBIDDEN, detail)


async def _node_call(
    name: NodeName, session_id: str, director: DirectorDep, request: Request
) -> tuple[Session, SessionNode]:
    """The session and the node a call goes into, once the node's secret is checked."""
    session = director.session(session_id)
    node = session.nodes.get(name)
    hello = f"POST {API_PREFIX}/nodes/{name}/hello"
    if node is None:
        raise _forbidden(f"node {name!r} has not joined session {session_id}: say hello first ({hello})")
    given = request.headers.get(NODE_SECRET_HEADER)
    if given is None:
        raise _forbidden(f"missing {NODE_SECRET_HEADER} header: send the node_secret the hello returned")
    if not hmac.compare_digest(given.encode(), node.secret.encode()):  # constant time, as the token
        raise _forbidden(
            f"wrong {NODE_SECRET_HEADER} header for node {name!r} in session {session_id}: send the node_secret "
            f"its latest hello returned ({hello})"
        )
    return session, node


NodeCall = Annotated[tuple[Session, SessionNode], Depends(_node_call)]


def _expect_live(session: Session, action: str) -> None:
    if session.ended:
        why = f" ({session.error})" if session.error else ""
        raise SessionStateError(f"cannot {action}: the session has ended{why}; say hello for the next one",
                                session.state)  # fmt: skip


MAX_HELLO_WAIT_S = 60.0


@router.post("/hello")
async def hello(
    name: NodeName,
    body: NodeHello,
    director: DirectorDep,
    wait_s: Annotated[float, Query(ge=0, le=MAX_HELLO_WAIT_S, description="wait this long for a session")] = 0.0,
) -> NodeWelcome:
    """Join the active session; with none, wait up to ``wait_s`` for one to open (long polling)."""
    await director.wait_for_session(wait_s)
    session = director.node_hello(name, body)
    return NodeWelcome(node=name, session=session, poll_s=NODE_POLL_S, director_utc_ns=director.clock())


def _session_of(session: Session, node: SessionNode) -> NodeSession:
    return NodeSession(session_id=session.session_id, session_name=session.session_name, state=session.state,
                       node_secret=node.secret, lease_s=session.nodes.lease_s)  # fmt: skip


@router.post("/sessions/{session_id}/heartbeat")
async def heartbeat(call: NodeCall) -> NodeSession:
    """Keeps the node's lease; the reply's state tells the node where the session is (closed or failed: it
    leaves and says hello for the next one)."""
    session, node = call
    if not session.ended:
        session.nodes.heard(node)
    return _session_of(session, node)


@router.post("/sessions/{session_id}/clock", status_code=status.HTTP_204_NO_CONTENT)
async def clock(body: ClockReport, call: NodeCall) -> Response:
    session, node = call
    _expect_live(session, "take a node's clock report")
    session.nodes.add_clock_report(node, body)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/sessions/{session_id}/sample-batches")
async def sample_batches(request: Request, call: NodeCall) -> NodeBatchesStored:
    """The node's GPU and component batches (the body of the LoadGen node's ``sample-batches``), stored under
    ``nodes/<name>/samples/``."""
    session, node = call
    try:
        body: SampleBatches = decode_sample_batches(await request.body())
    except BatchDecodeError as e:
        where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in e.location)
        raise ApiError(
            status.HTTP_422_UNPROCESSABLE_CONTENT, ErrorCode.INVALID, f"not a sample batch{where}: {e.message}"
        ) from e
    _expect_live(session, "take node samples")
    await node.ingest.open_journals(body.batches)
    _expect_live(session, "take node samples")  # it may have ended meanwhile
    stored = session.nodes.add_batches(node, body.batches, session.feed)
    rows = sum(len(batch.columns["t_utc_ns"]) for batch in body.batches)
    return NodeBatchesStored(stored=stored, duplicates=len(body.batches) - stored, rows=rows)
