"""The director in-process: a ``Director`` on a meter URL and its API through FastAPI's TestClient, as the
API and fault tests use them (the meter a real simulator; only uvicorn is left out)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from director.app import create_app
from director.meters.urls import open_meter
from director.registry import Director
from director.session.config import SessionConfig
from powerlog.wire import MAX_UPLOAD_BYTES
from tests.support.fake_result import unanalyzed
from tests.support.http_sessions import carry_session_secret

__all__ = ["TOKEN", "api_client", "director_on"]

TOKEN = "t" * 32


def director_on(
    meter_url: str,
    runs_dir: Path,
    *,
    token: str = TOKEN,
    analyze: Callable[[Path], Any] = unanalyzed,
    max_upload_bytes: int = MAX_UPLOAD_BYTES,
    **config: Any,
) -> Director:
    """A director measuring with ``meter_url`` into ``runs_dir`` (made here), no settling wait; ``config``: any
    other ``SessionConfig`` field (``interval_ms``, ``lease_s``, ...)."""
    runs_dir.mkdir(parents=True, exist_ok=True)
    return Director(
        meter_factory=lambda: open_meter(meter_url),
        meter_url=meter_url,
        config=SessionConfig(runs_dir=runs_dir, **{"settle_s": 0.0, **config}),
        token=token,
        analyze=analyze,
        max_upload_bytes=max_upload_bytes,
    )


def api_client(director: Director, token: str = TOKEN) -> TestClient:
    """The director's API as an agent calls it: the token on every call, the session secret once opened."""
    client = TestClient(create_app(director), headers={"Authorization": f"Bearer {token}"})
    carry_session_secret(client)
    return client
