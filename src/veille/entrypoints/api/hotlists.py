"""Hotlist routes: lists of the manager's organisation, their entries, full imports."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from veille.domain.access import Permission, Principal
from veille.domain.hotlists import Category, EntryInvalid, Hotlist
from veille.entrypoints.api.errors import refused_with_report
from veille.entrypoints.api.schemas.common import errors
from veille.entrypoints.api.schemas.hotlists import (
    Deleted,
    EntryImportReport,
    EntryList,
    EntryRead,
    HotlistList,
    HotlistRead,
)
from veille.entrypoints.api.security import actor_of, error, json_response, platform_of, requires
from veille.service import hotlists as hotlist_service

router = APIRouter(prefix="/api/v1/hotlists", tags=["hotlists"])
MANAGE = requires(Permission.HOTLISTS_MANAGE)


class ListIn(BaseModel):
    name: str = Field(min_length=2, max_length=200)
    category: Category
    max_edits: int = Field(0, ge=0, le=2, description="Differences tolerated (0–2).")
    lookalike: bool = Field(True, description="Match look-alike characters (O/0, 1/I, 8/B …).")
    max_wildcards: int = Field(10, ge=0, le=100)
    default_priority: int = Field(3, ge=1, le=5)


def _own_list(request: Request, principal: Principal, list_id: str) -> Hotlist:
    with platform_of(request).read_uow() as uow:
        hotlist = uow.hotlists.get_list(list_id)
    if hotlist is None or hotlist.owner_org != principal.org_id:
        raise error(404, "not_found", f"no hotlist {list_id} of your organisation")
    return hotlist


def _refused(exc: Exception) -> Exception:
    if isinstance(exc, EntryInvalid):
        return error(422, "invalid_entry", str(exc), field=exc.field)
    return error(422, "invalid_change", str(exc))


@router.get("", summary="Hotlists of my organisation", response_model=HotlistList)
def list_hotlists(request: Request, principal: Principal = Depends(MANAGE)) -> dict[str, Any]:
    with platform_of(request).read_uow() as uow:
        found = [
            {**hotlist_service.list_json(h), "entries": uow.hotlists.count_entries(h.list_id)}
            for h in uow.hotlists.lists()
            if h.owner_org == principal.org_id
        ]
    return {"hotlists": found}


@router.put(
    "/{list_id}",
    summary="Create or change a hotlist",
    response_model=HotlistRead,
    responses={201: {"model": HotlistRead, "description": "Created"}},
)
def save_hotlist(
    list_id: str, body: ListIn, request: Request, principal: Principal = Depends(MANAGE)
) -> Response:
    platform = platform_of(request)
    with platform.read_uow() as uow:
        existing = uow.hotlists.get_list(list_id)
    if existing is not None and existing.owner_org != principal.org_id:
        raise error(404, "not_found", f"no hotlist {list_id} of your organisation")
    try:
        hotlist = Hotlist(list_id=list_id, owner_org=principal.org_id, **body.model_dump())
        hotlist_service.save_list(
            uow=platform.uow(),
            hotlist=hotlist,
            now=platform.clock(),
            actor=actor_of(request, principal),
        )
    except (ValueError, hotlist_service.HotlistError) as exc:
        raise _refused(exc) from None
    return json_response(
        hotlist_service.list_json(hotlist), status=201 if existing is None else 200
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
    platform = platform_of(request)
    _own_list(request, principal, list_id)
    hotlist_service.delete_list(
        uow=platform.uow(),
        list_id=list_id,
        now=platform.clock(),
        actor=actor_of(request, principal),
    )
    return {"deleted": list_id}


@router.get(
    "/{list_id}/entries",
    summary="Entries of a hotlist",
    responses={200: {"model": EntryList}, **errors(404)},
)
def list_entries(
    list_id: str, request: Request, principal: Principal = Depends(MANAGE)
) -> Response:
    _own_list(request, principal, list_id)
    with platform_of(request).read_uow() as uow:
        entries = uow.hotlists.entries(list_id)
    return json_response({"entries": hotlist_service.entries_json(entries)})


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
    platform = platform_of(request)
    _own_list(request, principal, list_id)
    try:
        record = await request.json()
    except ValueError:
        raise error(400, "malformed_json", "body is not valid JSON") from None
    if not isinstance(record, dict):
        raise error(400, "bad_shape", "body must be one entry object")
    try:
        entry = await run_in_threadpool(
            lambda: hotlist_service.put_entry(
                uow=platform.uow(),
                list_id=list_id,
                record=record,
                now=platform.clock(),
                actor=actor_of(request, principal),
            )
        )
    except (EntryInvalid, hotlist_service.HotlistError) as exc:
        raise _refused(exc) from None
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
    platform = platform_of(request)
    _own_list(request, principal, list_id)
    try:
        entry = hotlist_service.expire_entry(
            uow=platform.uow(),
            list_id=list_id,
            entry_id=entry_id,
            now=platform.clock(),
            actor=actor_of(request, principal),
        )
    except hotlist_service.HotlistError as exc:
        raise error(404, "not_found", str(exc)) from None
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
    platform = platform_of(request)
    _own_list(request, principal, list_id)
    try:
        hotlist_service.delete_entry(
            uow=platform.uow(),
            list_id=list_id,
            entry_id=entry_id,
            now=platform.clock(),
            actor=actor_of(request, principal),
        )
    except hotlist_service.HotlistError as exc:
        raise error(404, "not_found", str(exc)) from None
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
    platform = platform_of(request)
    _own_list(request, principal, list_id)
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    fmt = "csv" if ctype in ("text/csv", "application/csv") else "json"
    try:
        text = (await request.body()).decode("utf-8")
        records = hotlist_service.decode_entries(text, fmt)
    except UnicodeDecodeError:
        raise error(400, "bad_encoding", "import files must be UTF-8") from None
    except hotlist_service.HotlistError as exc:
        raise error(422, "bad_import_file", str(exc)) from None
    report = await run_in_threadpool(
        lambda: hotlist_service.import_list(
            uow=platform.uow(),
            list_id=list_id,
            records=records,
            now=platform.clock(),
            actor=actor_of(request, principal),
        )
    )
    if not report.applied:
        return refused_with_report(
            422, "import_refused", "nothing was changed: fix every problem", report.as_dict()
        )
    return json_response(report.as_dict())
