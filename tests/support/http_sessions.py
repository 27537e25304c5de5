"""Raw-HTTP tests as an agent: a client that carries the secret of the session it opened on every later call.

The agent's own client does this (``agent.client``); tests that speak the API by hand install
:func:`carry_session_secret` on their httpx client (or FastAPI's TestClient) instead of adding the header
at every call.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import TypeVar

import httpx

from powerlog.wire import API_PREFIX, SESSION_SECRET_HEADER

__all__ = ["agent_http_client", "carry_session_secret", "open_http_session", "secret_headers"]

OPEN_PATH = f"{API_PREFIX}/sessions"
C = TypeVar("C", httpx.Client, httpx.AsyncClient)


def _opened(response: httpx.Response) -> bool:
    """Whether ``response`` opened a session (only that one is read here: others may be endless streams)."""
    return response.request.method == "POST" and response.request.url.path == OPEN_PATH and response.status_code == 201


def _remember(client: httpx.Client | httpx.AsyncClient, body: bytes) -> None:
    client.headers[SESSION_SECRET_HEADER] = json.loads(body)["session_secret"]


def carry_session_secret(client: C) -> C:
    """From now on ``client`` sends the secret of the last session it opened (its ``session_secret``)."""
    if isinstance(client, httpx.AsyncClient):

        async def remember_async(response: httpx.Response) -> None:
            if _opened(response):
                _remember(client, await response.aread())

        client.event_hooks["response"].append(remember_async)
    else:

        def remember(response: httpx.Response) -> None:
            if _opened(response):
                _remember(client, response.read())

        client.event_hooks["response"].append(remember)
    return client


def secret_headers(opened: httpx.Response, token: str) -> dict[str, str]:
    """The headers of a call into the session ``opened`` (the reply to its opening) made with ``token``."""
    return {"Authorization": f"Bearer {token}", SESSION_SECRET_HEADER: opened.json()["session_secret"]}


def agent_http_client(url: str, runs: Path) -> httpx.Client:
    """An httpx client for the director at ``url`` with the token ``serve`` wrote into ``runs``, carrying the
    secret of the session it opens."""
    token = (runs / "director.token").read_text().strip()
    return carry_session_secret(httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60))


def open_http_session(client: httpx.Client, label: str) -> str:
    """Opens a session as an agent labelled ``label``; its route (``/v1/sessions/ID``)."""
    opened = client.post(OPEN_PATH, json={"agent": {"label": label, "host": "h"}, "client_uuid": str(uuid.uuid4())})
    assert opened.status_code == 201, opened.text
    return f"{OPEN_PATH}/{opened.json()['session_id']}"
