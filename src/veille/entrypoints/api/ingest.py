"""POST /api/v1/reads: cameras post reads; the answer comes only once they are durable."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from fastapi import APIRouter, Depends, HTTPException, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from veille.bootstrap import Platform
from veille.domain.cameras import Camera
from veille.domain.reads import FieldError
from veille.entrypoints.api.schemas.common import errors
from veille.entrypoints.api.schemas.ingest import IngestRead
from veille.entrypoints.api.security import camera_credential, error, json_response, platform_of
from veille.service.commands import IngestReads
from veille.service.ingest import record_rejected_request
from veille.service.writer import WriterBusy

router = APIRouter(tags=["ingest"])


async def _read_body(request: Request, limit: int) -> tuple[bytes, bool]:
    """(body, False), or (what arrived so far, True) as soon as it exceeds `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        return b"", True
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        chunks.append(chunk)
        if size > limit:
            return b"".join(chunks), True
    return b"".join(chunks), False


async def _dead_letter(
    platform: Platform, camera: Camera, payload: bytes, errors: list[FieldError]
) -> int:
    keep = payload[: platform.settings.dead_letter_payload_bytes].decode("utf-8", "replace")
    return await run_in_threadpool(
        record_rejected_request,
        uow=platform.uow(),
        now=platform.clock(),
        camera_id=camera.camera_id,
        source="api",
        payload=keep,
        errors=errors,
    )


def _busy() -> HTTPException:
    exc = error(
        503, "ingest_busy", "ingest is saturated: nothing was stored; resend these reads later"
    )
    exc.headers = {"Retry-After": "1"}
    return exc


def _timed_out(wait_s: float) -> HTTPException:
    exc = error(
        503,
        "ingest_timeout",
        f"the writer did not answer within {wait_s:g} s: these reads may or may not be"
        " stored; resend them later (a read stored already is answered as duplicate)",
    )
    exc.headers = {"Retry-After": "1"}
    return exc


def _items(document: Any) -> list[Any] | None:
    if isinstance(document, list):
        return document
    if isinstance(document, dict):
        if "reads" in document and len(document) == 1:
            return document["reads"] if isinstance(document["reads"], list) else None
        return [document]
    return None


@router.post(
    "/api/v1/reads",
    summary="Post one read or a batch of reads",
    responses={200: {"model": IngestRead}, **errors(400, 413, 503)},
)
async def post_reads(request: Request, camera: Camera = Depends(camera_credential())) -> Response:
    """Store reads from the authenticated camera.

    The body is one read object, a list of reads, or `{"reads": [...]}` with at most
    `max_batch` reads. The answer comes only after every good read is committed; each
    item gets a result: `stored`, `duplicate` (this read id is already stored) or
    `rejected` with the field and reason. Rejected items are kept as dead letters.
    """
    platform = platform_of(request)
    settings = platform.settings
    body, too_large = await _read_body(request, settings.max_body_bytes)
    if too_large:
        await _dead_letter(
            platform,
            camera,
            body,
            [FieldError("(body)", f"larger than {settings.max_body_bytes} bytes")],
        )
        raise error(413, "body_too_large", f"request body exceeds {settings.max_body_bytes} bytes")
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        dead = await _dead_letter(
            platform, camera, body, [FieldError("(body)", f"not JSON: {exc}")]
        )
        raise error(
            400, "malformed_json", f"body is not valid JSON: {exc}", dead_letter=dead
        ) from None
    items = _items(document)
    if items is None:
        reason = 'must be a read, a list of reads, or {"reads": [...]}'
        dead = await _dead_letter(platform, camera, body, [FieldError("(body)", reason)])
        raise error(400, "bad_shape", f"body {reason}", dead_letter=dead)
    if not items:
        raise error(400, "empty_batch", "no reads in the request")
    if len(items) > settings.max_batch:
        dead = await _dead_letter(
            platform,
            camera,
            body,
            [FieldError("reads", f"{len(items)} reads; at most {settings.max_batch} per request")],
        )
        raise error(
            413,
            "batch_too_large",
            f"at most {settings.max_batch} reads per request",
            dead_letter=dead,
        )
    if not platform.ingest_sink.has_room(len(items)):  # refuse before spending CPU on them
        raise _busy()
    command = IngestReads(camera_id=camera.camera_id, items=items, received_at=platform.clock())
    if any(isinstance(i, dict) and i.get("images") for i in items):
        # image bytes are decoded, hashed and fsynced off the event loop
        committed = await run_in_threadpool(platform.bus.handle, command)
    else:
        committed = platform.bus.handle(command)
    try:
        # A bounded wait: a writer that hangs must not hold every camera's request open.
        # On time-out the request is cancelled; the writer drops it if not yet taken.
        outcome = await asyncio.wait_for(
            asyncio.wrap_future(committed), timeout=settings.writer_wait_s
        )
    except WriterBusy:
        raise _busy() from None
    except TimeoutError:
        raise _timed_out(settings.writer_wait_s) from None
    except Exception as exc:
        raise HTTPException(
            503,
            detail={"code": "store_unavailable", "message": "reads not stored; resend them"},
            headers={"Retry-After": "1"},
        ) from exc
    return json_response(
        {
            "results": outcome.answers(),
            "stored": outcome.stored,
            "duplicate": outcome.duplicate,
            "rejected": outcome.rejected,
        }
    )
