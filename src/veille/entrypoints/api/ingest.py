"""POST /api/v1/reads: cameras post reads; the answer comes only once they are durable."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from veille.bootstrap import Platform
from veille.domain.cameras import Camera
from veille.domain.reads import FieldError
from veille.entrypoints.api.schemas.common import errors
from veille.entrypoints.api.schemas.ingest import IngestRead
from veille.entrypoints.api.security import camera_credential, error, json_response, platform_of
from veille.service.commands import IngestReads, KeepRejectedDelivery
from veille.service.ports import DecodeContext, DeliveryRefused
from veille.service.writer import WriterBusy

router = APIRouter(tags=["ingest"])

# The status of each way a delivery is refused as a whole (400 for the others).
_REFUSED_STATUS = {
    "batch_too_large": 413,
    "unsupported_media_type": 415,
    "unsupported_protocol": 415,
}


async def _read_body(
    chunks: AsyncIterator[bytes], declared: str | None, limit: int
) -> tuple[bytes, bool]:
    """(body, False), or (what arrived so far, True) as soon as it exceeds `limit` bytes."""
    if declared and declared.isdigit() and int(declared) > limit:
        return b"", True
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        parts.append(chunk)
        if size > limit:
            return b"".join(parts), True
    return b"".join(parts), False


async def _dead_letter(
    platform: Platform, camera: Camera, payload: bytes, problem: FieldError, received_at: datetime
) -> int:
    command = KeepRejectedDelivery(
        camera_id=camera.camera_id, payload=payload, problem=problem, received_at=received_at
    )
    dead_id: int = await run_in_threadpool(platform.bus.handle, command)
    return dead_id


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


# Up to this size a delivery is decoded on the event loop, as JSON was parsed before the
# decoder port; a larger one (image bytes to decode and hash) on a worker thread.
_DECODE_INLINE_BYTES = 1 << 20


@router.post(
    "/api/v1/reads",
    summary="Post one read or a batch of reads",
    responses={200: {"model": IngestRead}, **errors(400, 413, 415, 503)},
)
async def post_reads(request: Request, camera: Camera = Depends(camera_credential())) -> Response:
    """Store reads from the authenticated camera, decoded by its protocol's decoder.

    For the native protocol (`veille-json`) the body is one read object, a list of
    reads, or `{"reads": [...]}` with at most `max_batch` reads. The answer comes only
    after every good read is committed; each item gets a result: `stored`,
    `duplicate` (this read id is already stored) or `rejected` with the field and
    reason. Rejected items are kept as dead letters.
    """
    headers = request.headers
    return await store_delivery(
        platform_of(request),
        camera,
        request.stream(),
        declared_length=headers.get("content-length"),
        content_type=headers.get("content-type", ""),
    )


async def store_delivery(
    platform: Platform,
    camera: Camera,
    chunks: AsyncIterator[bytes],
    *,
    declared_length: str | None,
    content_type: str,
) -> Response:
    """One camera's delivery read, decoded, stored and answered: the route's work, shared
    by FastAPI's route and the lean ingest lane (`ingest_lane.py`). Every refusal is an
    HTTPException whose detail is the documented error."""
    settings = platform.settings
    body, too_large = await _read_body(chunks, declared_length, settings.max_body_bytes)
    received_at = platform.clock()
    if too_large:
        await _dead_letter(
            platform,
            camera,
            body,
            FieldError("(body)", f"larger than {settings.max_body_bytes} bytes"),
            received_at,
        )
        raise error(413, "body_too_large", f"request body exceeds {settings.max_body_bytes} bytes")
    if not platform.ingest_sink.has_room(1):  # refuse before spending CPU on them
        raise _busy()
    context = DecodeContext(
        received_at=received_at, rules=platform.read_rules, max_items=settings.max_batch
    )
    try:
        decoder = platform.decoders.decoder_for(camera.protocol)
        if len(body) <= _DECODE_INLINE_BYTES:
            decoded = decoder.decode(body, content_type, camera, context)
        else:
            decoded = await run_in_threadpool(decoder.decode, body, content_type, camera, context)
    except DeliveryRefused as refused:
        extra: dict[str, Any] = {}
        if refused.keep:
            extra["dead_letter"] = await _dead_letter(
                platform, camera, body, refused.problem, received_at
            )
        raise error(
            _REFUSED_STATUS.get(refused.code, 400), refused.code, str(refused), **extra
        ) from None
    if not platform.ingest_sink.has_room(decoded.size):
        raise _busy()
    command = IngestReads(camera_id=camera.camera_id, decoded=decoded, received_at=received_at)
    # the image bytes travel with the batch: the writer appends them in its group commit
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
