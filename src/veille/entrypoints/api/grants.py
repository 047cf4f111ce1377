"""Grants of data access to accounts: a second administrator decides; the DPO sees all."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from veille.domain.access import Permission, Principal
from veille.domain.grants import GrantStatus
from veille.entrypoints.api.params import RowId
from veille.entrypoints.api.schemas.common import Cursor, decode_cursor, errors, split_page
from veille.entrypoints.api.schemas.users import GrantList, GrantPage, GrantRead
from veille.entrypoints.api.security import actor_of, platform_of, requires
from veille.service import grants as grant_service
from veille.service.commands import users as commands

router = APIRouter(prefix="/api/v1/user-grants", tags=["accounts"])


class ApproveIn(BaseModel):
    reason: str | None = Field(None, max_length=2000, description="Why (optional).")


class RefuseIn(BaseModel):
    reason: str = Field(min_length=1, max_length=2000, description="Why not (required).")


@router.get(
    "/report", summary="Every grant, requested and decided, for the DPO", response_model=GrantList
)
def report(
    request: Request,
    since: datetime | None = Query(None, description="Requested at or after (ISO 8601)."),
    until: datetime | None = Query(None, description="Requested before (ISO 8601)."),
    principal: Principal = Depends(requires(Permission.AUDIT_READ)),
) -> dict[str, Any]:
    """Who asked for which access for whom, who approved or refused it, when and why,
    including the accounts made through the privileged bootstrap path (`bootstrap`).
    The look-up is itself recorded (`user_grant.report`)."""
    grants = platform_of(request).bus.handle(
        commands.GrantReport(actor=actor_of(request, principal), since=since, until=until)
    )
    return {"grants": [grant_service.grant_json(g) for g in grants]}


@router.get("", summary="Grants of data access (administrators)", response_model=GrantPage)
def list_grants(
    request: Request,
    status: GrantStatus | None = Query(None, description="Only the grants in this state."),
    cursor: Cursor = None,
    limit: int | None = Query(
        None, ge=1, le=10_000, description="Grants per page; without it, every grant."
    ),
    _: Any = Depends(requires(Permission.USERS_MANAGE)),
) -> GrantPage:
    """Grants oldest first, a page at a time when `limit` is given."""
    grants, next_cursor = split_page(
        platform_of(request).bus.handle(
            commands.GrantsPage(
                status=status,
                after=decode_cursor(cursor, int),
                limit=None if limit is None else limit + 1,
            )
        ),
        limit,
        key=lambda g: g.grant_id,
    )
    return GrantPage.model_validate(
        {"grants": [grant_service.grant_json(g) for g in grants], "next_cursor": next_cursor}
    )


async def _decide(
    request: Request, principal: Principal, grant_id: int, *, approve: bool, reason: str | None
) -> dict[str, Any]:
    # not found 404, separation of duties 403, decided already 409, bad reason 422: the
    # error taxonomy answers each (entrypoints/api/errors.py)
    grant = await run_in_threadpool(
        platform_of(request).bus.handle,
        commands.DecideGrant(
            grant_id=grant_id, approve=approve, actor=actor_of(request, principal), reason=reason
        ),
    )
    return grant_service.grant_json(grant)


@router.post(
    "/{grant_id}/approve",
    summary="Approve a grant (another administrator)",
    response_model=GrantRead,
    responses=errors(403, 404, 409),
)
async def approve(
    grant_id: RowId,
    body: ApproveIn,
    request: Request,
    principal: Principal = Depends(requires(Permission.USERS_MANAGE)),
) -> dict[str, Any]:
    """The access takes effect now (a requested account is created). Refused (403
    `separation_of_duties`) to the administrator who asked and to the account's holder."""
    return await _decide(request, principal, grant_id, approve=True, reason=body.reason)


@router.post(
    "/{grant_id}/refuse",
    summary="Refuse a grant, with a reason",
    response_model=GrantRead,
    responses=errors(403, 404, 409),
)
async def refuse(
    grant_id: RowId,
    body: RefuseIn,
    request: Request,
    principal: Principal = Depends(requires(Permission.USERS_MANAGE)),
) -> dict[str, Any]:
    return await _decide(request, principal, grant_id, approve=False, reason=body.reason)
