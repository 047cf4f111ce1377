"""Dead-letter routes: inspect rejected payloads, replay or discard them.

Each route hands the bus one message (`service/commands/dead_letters.py`).
"""

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
from veille.entrypoints.api.security import actor_of, json_response, platform_of, requires
from veille.service.commands.dead_letters import (
    DeadLettersPage,
    DiscardDeadLetter,
    ReplayDeadLetter,
)
from veille.service.dead_letters import dead_letter_to_json

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
    query = DeadLettersPage(
        status=None if status == "all" else status,
        after=decode_cursor(cursor, int),
        limit=limit + 1,
    )
    items, next_cursor = split_page(
        platform_of(request).bus.handle(query), limit, key=lambda d: d.id
    )
    return json_response(
        {
            "dead_letters": [dead_letter_to_json(d) for d in items],
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
    command = ReplayDeadLetter(dead_letter_id=dead_letter_id, actor=actor_of(request, principal))
    outcome = await run_in_threadpool(platform_of(request).bus.handle, command)
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
    platform_of(request).bus.handle(
        DiscardDeadLetter(
            dead_letter_id=dead_letter_id, reason=reason, actor=actor_of(request, principal)
        )
    )
    return {"discarded": dead_letter_id}
