"""The node agent's calls to the director: hello, sample batches, clock reports and heartbeats under
``/v1/nodes/{name}/``, with the errors of :class:`~agent.client.DirectorClient`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx

from agent.client import QUICK_CALL_TIMEOUT_S, DirectorClient
from powerlog.wire import (
    API_PREFIX,
    NODE_SECRET_HEADER,
    ClockMeasurement,
    ClockReport,
    NodeHello,
    NodeSession,
    NodeWelcome,
    SampleBatch,
    SampleBatches,
)

__all__ = ["NodeClient"]


class NodeClient(DirectorClient):
    """A :class:`DirectorClient` for one node agent (``name``): nothing connects before the first call."""

    def __init__(self, base_url: str, token: str, name: str, **kwargs: Any) -> None:
        super().__init__(base_url, token, **kwargs)
        self.name = name

    def hello(self, body: NodeHello, wait_s: float = 0.0) -> NodeWelcome:
        """The active session to join; with none, the director waits up to ``wait_s`` for one to open."""
        path = f"{API_PREFIX}/nodes/{self.name}/hello"
        return self._model(NodeWelcome, "POST", path, json=body.model_dump(mode="json"), params={"wait_s": wait_s},
                           timeout=wait_s + QUICK_CALL_TIMEOUT_S)  # fmt: skip

    def _node_call(self, session: NodeSession, tail: str, **kwargs: Any) -> httpx.Response:
        headers = {NODE_SECRET_HEADER: session.node_secret, "Content-Type": "application/json"}
        path = f"{API_PREFIX}/nodes/{self.name}/sessions/{session.session_id}/{tail}"
        return self._request("POST", path, headers=headers, timeout=QUICK_CALL_TIMEOUT_S, **kwargs)

    def node_batches(self, session: NodeSession, batches: Sequence[SampleBatch]) -> None:
        # no retry here: the sampler keeps the batches and sends them again with the next ones
        self._node_call(
            session, "sample-batches", retry=False, content=SampleBatches(batches=list(batches)).model_dump_json()
        )

    def node_clock(self, session: NodeSession, phase: str, when: str, clock: ClockMeasurement) -> None:
        body = ClockReport(phase=phase, when=when, clock=clock)  # type: ignore[arg-type]
        self._node_call(session, "clock", content=body.model_dump_json())

    def node_heartbeat(self, session: NodeSession) -> NodeSession:
        """The lease kept; the session as it stands (its state tells the node what to do)."""
        reply = self._node_call(session, "heartbeat", retry=False)
        return NodeSession.model_validate(reply.json())
