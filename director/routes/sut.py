"""What the SUT sends: GPU sample batches while it runs, LoadGen logs and its own records after a phase."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter, Request, status

from director.errors import StorageError
from director.routes.common import AUTH, AgentSessionDep, ApiError, DirectorDep
from powerlog.wire import API_PREFIX, UPLOAD_NAMES, ErrorCode, SampleBatch, SampleBatches
from powerlog.wire_codec import BatchDecodeError, decode_sample_batch, decode_sample_batches

__all__ = ["router"]

T = TypeVar("T")

router = APIRouter(prefix=f"{API_PREFIX}/sessions/{{session_id}}", dependencies=AUTH)


def _body_schema(model: type[SampleBatch] | type[SampleBatches]) -> dict[str, Any]:
    """The model's JSON schema for the API's documentation, its own definitions inlined (the routes read the
    body themselves, so FastAPI does not list the model in the OpenAPI components)."""
    schema = model.model_json_schema()
    definitions = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return inline(definitions[ref.removeprefix("#/$defs/")])
            return {key: inline(value) for key, value in node.items()}
        return [inline(item) for item in node] if isinstance(node, list) else node

    body = {"required": True, "content": {"application/json": {"schema": inline(schema)}}}
    return {"requestBody": body}


async def _decoded(request: Request, decode: Callable[[bytes], T]) -> T:
    try:
        return decode(await request.body())
    except BatchDecodeError as e:
        where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in e.location)
        raise ApiError(
            status.HTTP_422_UNPROCESSABLE_CONTENT, ErrorCode.INVALID, f"not a sample batch{where}: {e.message}"
        ) from e


# The batches are decoded by powerlog.wire_codec, not by FastAPI through pydantic: they are most of what the
# director parses (see that module), and they are refused with the same rules.
@router.post("/samples", openapi_extra=_body_schema(SampleBatch))
async def samples(request: Request, session: AgentSessionDep) -> dict[str, Any]:
    body = await _decoded(request, decode_sample_batch)
    stored = session.add_samples(body)
    return {"status": "stored" if stored else "duplicate", "rows": len(body.columns["t_utc_ns"])}


@router.post("/sample-batches", openapi_extra=_body_schema(SampleBatches))
async def sample_batches(request: Request, session: AgentSessionDep) -> dict[str, Any]:
    body = await _decoded(request, decode_sample_batches)
    try:  # the journals of sources new to the session, opened off the event loop
        await session.sut.open_journals(body.batches)
    except StorageError as e:
        raise session.sut_storage_failed(e) from e
    stored = sum(1 for batch in body.batches if session.add_samples(batch))
    rows = sum(len(batch.columns["t_utc_ns"]) for batch in body.batches)
    return {"status": "ok", "stored": stored, "duplicates": len(body.batches) - stored, "rows": rows}


@router.put("/files/{folder}/{name}")
async def upload(
    folder: str, name: str, request: Request, session: AgentSessionDep, director: DirectorDep
) -> dict[str, Any]:
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
