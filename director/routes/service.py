"""The director itself: health, its clock, and its metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from director.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from director.metrics import render_metrics
from director.routes.common import AUTH, DirectorDep
from powerlog.cli_support import package_version
from powerlog.wire import API_PREFIX, TimeReply

__all__ = ["router"]

router = APIRouter()


@router.get("/health")
async def health() -> dict[str, Any]:
    return {"status": "ok", "version": package_version()}


@router.get(f"{API_PREFIX}/time", dependencies=AUTH, response_model=TimeReply)
async def server_time(director: DirectorDep) -> Response:
    # async and pre-serialised: no thread hop or validation between the two timestamps and the socket
    received = director.clock()
    return Response(f'{{"receive_utc_ns":{received},"send_utc_ns":{director.clock()}}}', media_type="application/json")


@router.get("/metrics", dependencies=AUTH, response_class=Response)
async def metrics(director: DirectorDep) -> Response:
    return Response(render_metrics(director), media_type=METRICS_CONTENT_TYPE)
