"""What the SUT sends: GPU sample batches while it runs, LoadGen logs and its own records after a phase."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, status

from director.routes.common import AUTH, ApiError, DirectorDep
from powerlog.wire import API_PREFIX, UPLOAD_NAMES, ErrorCode, SampleBatch, SampleBatches

__all__ = ["router"]

router = APIRouter(prefix=f"{API_PREFIX}/sessions/{{session_id}}", dependencies=AUTH)


@router.post("/samples")
async def samples(session_id: str, body: SampleBatch, director: DirectorDep) -> dict[str, Any]:
    stored = director.session(session_id).add_samples(body)
    return {"status": "stored" if stored else "duplicate", "rows": len(body.columns["t_utc_ns"])}


@router.post("/sample-batches")
async def sample_batches(session_id: str, body: SampleBatches, director: DirectorDep) -> dict[str, Any]:
    session = director.session(session_id)
    stored = sum(1 for batch in body.batches if session.add_samples(batch))
    rows = sum(len(batch.columns["t_utc_ns"]) for batch in body.batches)
    return {"status": "ok", "stored": stored, "duplicates": len(body.batches) - stored, "rows": rows}


@router.put("/files/{folder}/{name}")
async def upload(session_id: str, folder: str, name: str, request: Request, director: DirectorDep) -> dict[str, Any]:
    session = director.session(session_id)
    if name not in UPLOAD_NAMES.get(folder, ()):
        accepted = ", ".join(f"{f}/{n}" for f, names in UPLOAD_NAMES.items() for n in names)
        raise ApiError(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            ErrorCode.INVALID,
            f"{folder}/{name} is not an accepted upload; accepted: {accepted}",
        )
    limit = director.max_upload_bytes
    too_large = ApiError(
        status.HTTP_413_CONTENT_TOO_LARGE,
        ErrorCode.TOO_LARGE,
        f"upload larger than {limit} bytes; LoadGen logs of a normal run are far smaller",
    )
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > limit:
            raise too_large
    session.add_upload(folder, name, bytes(data))
    return {"status": "ok", "bytes": len(data)}
