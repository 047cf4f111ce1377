"""Dead-letter routes: inspect rejected payloads, replay or discard them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from veille.domain.access import Permission, Principal
from veille.entrypoints.api.errors import refused_with_report
from veille.entrypoints.api.params import RowId
from veille.entrypoints.api.schemas.common import Cursor, decode_cursor, errors, split_page
from veille.entrypoints.api.schemas.dead_letters import (
    DeadLetterDiscarded,
    DeadLetterPage,
    ReplayRead,
)
from veille.entrypoints.api.security import actor_of, error, json_response, platform_of, requires
from veille.service import dead_letters as dl_service
from veille.service.writer import WriterBusy

router = APIRouter(prefix="/api/v1/dead-letters", tags=["dead letters"])


@router.get("", summary="List dead letters", responses={200: {"model": DeadLetterPage}})
def list_dead_letters(
    request: Request,
    status: str = Query("open", pattern="^(open|replayed|discarded|all)$"),
    limit: int = Query(100, ge=1, le=1000),
    cursor: Cursor = None,
    _: Any = Depends(requires(Permission.DEAD_LETTERS_MANAGE)),
) -> Response:
    """Oldest first, `limit` a page (`next_cursor` for the next one)."""
    items, next_cursor = split_page(
        dl_service.page_dead_letters(
            uow=platform_of(request).read_uow(),
            status=None if status == "all" else status,
            after=decode_cursor(cursor, int),
            limit=limit + 1,
        ),
        limit,
        key=lambda d: d.id,
    )
    return json_response(
        {
            "dead_letters": [dl_service.dead_letter_to_json(d) for d in items],
            "next_cursor": next_cursor,
        }
    )


@router.post(
    "/{dead_letter_id}/replay",
    summary="Replay a dead letter through ingest",
    response_model=ReplayRead,
    responses=errors(404, 409, 503),
)
async def replay(
    dead_letter_id: RowId,
    request: Request,
    principal: Principal = Depends(requires(Permission.DEAD_LETTERS_MANAGE)),
) -> Response:
    platform = platform_of(request)
    wait_s = platform.settings.writer_wait_s

    def via_writer(batch: Any) -> list[Any]:
        future = platform.ingest_sink.submit(batch)
        try:
            return future.result(timeout=wait_s).results()
        except TimeoutError:
            future.cancel()  # the writer drops it if it has not taken it yet
            raise

    try:
        outcome = await run_in_threadpool(
            dl_service.replay,
            uow_factory=platform.uow,
            dead_letter_id=dead_letter_id,
            now=platform.clock(),
            rules=platform.read_rules,
            images=platform.images,
            actor=actor_of(request, principal),
            decoders=platform.decoders,
            commit=via_writer,
        )
    except WriterBusy:
        raise error(503, "ingest_busy", "ingest is saturated: replay again later") from None
    except TimeoutError:  # the letter stays open: replaying it again is safe
        exc = error(503, "ingest_timeout", f"the writer did not answer within {wait_s:g} s")
        exc.headers = {"Retry-After": "1"}
        raise exc from None
    if outcome.status == "not_found":
        raise error(404, "not_found", f"no dead letter {dead_letter_id}")
    if outcome.status != "replayed":
        message = (
            "the dead letter is not open"
            if outcome.status == "not_open"
            else "still rejected: the dead letter stays open with the new reasons"
        )
        return refused_with_report(409, outcome.status, message, outcome.as_dict())
    return json_response(outcome.as_dict())


@router.post(
    "/{dead_letter_id}/discard",
    summary="Discard a dead letter",
    response_model=DeadLetterDiscarded,
    responses=errors(409),
)
def discard(
    dead_letter_id: RowId,
    request: Request,
    reason: str = Query(..., min_length=3, max_length=500),
    principal: Principal = Depends(requires(Permission.DEAD_LETTERS_MANAGE)),
) -> dict[str, Any]:
    platform = platform_of(request)
    if not dl_service.discard(
        uow=platform.uow(),
        dead_letter_id=dead_letter_id,
        now=platform.clock(),
        reason=reason,
        actor=actor_of(request, principal),
    ):
        raise error(409, "not_open", "no open dead letter with that id")
    return {"discarded": dead_letter_id}
