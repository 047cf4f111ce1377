"""Hotlist routes: lists of the manager's organisation, their entries, full imports."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from veille.domain.access import Permission, Principal
from veille.domain.hotlists import Category
from veille.entrypoints.api.errors import refused_with_report
from veille.entrypoints.api.schemas.common import Cursor, decode_cursor, errors, split_page
from veille.entrypoints.api.schemas.hotlists import (
    Deleted,
    EntryImportReport,
    EntryPage,
    EntryRead,
    HotlistList,
    HotlistRead,
)
from veille.entrypoints.api.security import actor_of, error, json_response, platform_of, requires
from veille.service import hotlists as hotlist_service
from veille.service.commands.hotlists import (
    DeleteHotlist,
    DeleteHotlistEntry,
    ExpireHotlistEntry,
    HotlistEntriesPage,
    HotlistsOfOrg,
    ImportHotlist,
    PutHotlistEntry,
    SaveHotlist,
)

router = APIRouter(prefix="/api/v1/hotlists", tags=["hotlists"])
MANAGE = requires(Permission.HOTLISTS_MANAGE)


class ListIn(BaseModel):
    name: str = Field(min_length=2, max_length=200)
    category: Category
    max_edits: int = Field(0, ge=0, le=2, description="Differences tolerated (0–2).")
    lookalike: bool = Field(True, description="Match look-alike characters (O/0, 1/I, 8/B …).")
    max_wildcards: int = Field(10, ge=0, le=100)
    default_priority: int = Field(3, ge=1, le=5)


@router.get("", summary="Hotlists of my organisation", response_model=HotlistList)
def list_hotlists(request: Request, principal: Principal = Depends(MANAGE)) -> dict[str, Any]:
    found = platform_of(request).bus.handle(HotlistsOfOrg(org_id=principal.org_id))
    return {
        "hotlists": [{**hotlist_service.list_json(s.hotlist), "entries": s.entries} for s in found]
    }


@router.put(
    "/{list_id}",
    summary="Create or change a hotlist",
    response_model=HotlistRead,
    responses={201: {"model": HotlistRead, "description": "Created"}, **errors(404, 422)},
)
def save_hotlist(
    list_id: str, body: ListIn, request: Request, principal: Principal = Depends(MANAGE)
) -> Response:
    saved = platform_of(request).bus.handle(
        SaveHotlist(
            list_id=list_id,
            owner_org=principal.org_id,
            actor=actor_of(request, principal),
            org_id=principal.org_id,
            **body.model_dump(),
        )
    )
    return json_response(
        hotlist_service.list_json(saved.hotlist), status=201 if saved.created else 200
    )


@router.delete(
    "/{list_id}",
    summary="Delete a hotlist and its entries",
    response_model=Deleted,
    responses=errors(404),
)
def delete_hotlist(
    list_id: str, request: Request, principal: Principal = Depends(MANAGE)
) -> dict[str, Any]:
    platform_of(request).bus.handle(
        DeleteHotlist(list_id=list_id, actor=actor_of(request, principal), org_id=principal.org_id)
    )
    return {"deleted": list_id}


@router.get(
    "/{list_id}/entries",
    summary="Entries of a hotlist",
    responses={200: {"model": EntryPage}, **errors(404)},
)
def list_entries(
    list_id: str,
    request: Request,
    cursor: Cursor = None,
    limit: int | None = Query(
        None, ge=1, le=10_000, description="Entries per page; without it, every entry."
    ),
    principal: Principal = Depends(MANAGE),
) -> Response:
    """The list's entries in id order, a page at a time when `limit` is given
    (`next_cursor`)."""
    entries, next_cursor = split_page(
        platform_of(request).bus.handle(
            HotlistEntriesPage(
                list_id=list_id,
                org_id=principal.org_id,
                after=decode_cursor(cursor, str),
                limit=None if limit is None else limit + 1,
            )
        ),
        limit,
        key=lambda e: e.entry_id,
    )
    return json_response(
        {"entries": hotlist_service.entries_json(entries), "next_cursor": next_cursor}
    )


@router.post(
    "/{list_id}/entries",
    summary="Add or edit one entry",
    response_model=EntryRead,
    status_code=201,
    responses=errors(400, 404, 422),
)
async def put_entry(
    list_id: str, request: Request, principal: Principal = Depends(MANAGE)
) -> dict[str, Any]:
    """Body: plate, country, priority, valid_from, valid_until, source_ref, instructions,
    covert (and entry_id to edit an entry). Takes effect on every process within a second."""
    try:
        record = await request.json()
    except ValueError:
        raise error(400, "malformed_json", "body is not valid JSON") from None
    if not isinstance(record, dict):
        raise error(400, "bad_shape", "body must be one entry object")
    entry = await run_in_threadpool(
        platform_of(request).bus.handle,
        PutHotlistEntry(
            list_id=list_id,
            record=record,
            actor=actor_of(request, principal),
            org_id=principal.org_id,
        ),
    )
    return hotlist_service.entry_json(entry)


@router.post(
    "/{list_id}/entries/{entry_id}/expire",
    summary="End an entry's validity now",
    response_model=EntryRead,
    responses=errors(404),
)
def expire_entry(
    list_id: str, entry_id: str, request: Request, principal: Principal = Depends(MANAGE)
) -> dict[str, Any]:
    entry = platform_of(request).bus.handle(
        ExpireHotlistEntry(
            list_id=list_id,
            entry_id=entry_id,
            actor=actor_of(request, principal),
            org_id=principal.org_id,
        )
    )
    return hotlist_service.entry_json(entry)


@router.delete(
    "/{list_id}/entries/{entry_id}",
    summary="Delete an entry",
    response_model=Deleted,
    responses=errors(404),
)
def delete_entry(
    list_id: str, entry_id: str, request: Request, principal: Principal = Depends(MANAGE)
) -> dict[str, Any]:
    platform_of(request).bus.handle(
        DeleteHotlistEntry(
            list_id=list_id,
            entry_id=entry_id,
            actor=actor_of(request, principal),
            org_id=principal.org_id,
        )
    )
    return {"deleted": entry_id}


@router.put(
    "/{list_id}/entries",
    summary="Replace the whole list (CSV or JSON import)",
    response_model=EntryImportReport,
    responses=errors(400, 404, 422),
)
async def import_entries(
    list_id: str, request: Request, principal: Principal = Depends(MANAGE)
) -> Response:
    """Send `text/csv` (header: plate,country,priority,valid_from,valid_until,source_ref,
    instructions,covert,entry_id) or JSON (`[...]` or `{"entries": [...]}`). All or nothing:
    a bad line answers 422 with its line number and changes nothing; otherwise the answer
    says how many entries were added, changed and removed."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        text = (await request.body()).decode("utf-8")
    except UnicodeDecodeError:
        raise error(400, "bad_encoding", "import files must be UTF-8") from None
    report = await run_in_threadpool(
        platform_of(request).bus.handle,
        ImportHotlist(
            list_id=list_id,
            text=text,
            fmt="csv" if ctype in ("text/csv", "application/csv") else "json",
            actor=actor_of(request, principal),
            org_id=principal.org_id,
        ),
    )
    if not report.applied:
        return refused_with_report(
            422, "import_refused", "nothing was changed: fix every problem", report.as_dict()
        )
    return json_response(report.as_dict())
