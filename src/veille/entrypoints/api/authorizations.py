"""Authorization routes: investigators request access beyond the window, prosecutors decide."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from veille.domain.access import Permission, Principal
from veille.domain.authorizations import Area, Authorization
from veille.entrypoints.api.params import RowId
from veille.entrypoints.api.schemas.authorizations import AuthorizationList, AuthorizationRead
from veille.entrypoints.api.schemas.common import Cursor, decode_cursor, errors, split_page
from veille.entrypoints.api.security import actor_of, platform_of, requires
from veille.service import authorizations as auth_service
from veille.service.commands import (
    AuthorizationsOfInvestigator,
    AuthorizationsToDecide,
    DecideAuthorization,
    RequestAuthorization,
    RevokeAuthorization,
)

router = APIRouter(prefix="/api/v1/authorizations", tags=["authorizations"])


class AreaIn(BaseModel):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    radius_m: float = Field(gt=0, le=50_000)


class RequestIn(BaseModel):
    case_ref: str
    purpose: str
    justification: str = Field(min_length=20, max_length=10_000)
    district: str | None = Field(
        None,
        min_length=2,
        max_length=100,
        description="Optional. The judicial districts are derived from the cameras the request"
        " reaches; a district named here only narrows a request that names no camera (plates"
        " or an area) to that district's cameras, and a mismatch with named cameras is refused.",
    )
    investigators: list[int] = Field(default_factory=list, description="Other user ids.")
    plates: list[str] = Field(default_factory=list, max_length=100)
    camera_ids: list[str] = Field(default_factory=list, max_length=1000)
    area: AreaIn | None = None
    period_start: datetime
    period_end: datetime
    hold: bool = Field(False, description="Also keep these reads past the maximum retention.")


class ApproveIn(BaseModel):
    reasons: str = Field(min_length=10, max_length=10_000)
    expires_at: datetime
    conditions: str | None = Field(None, max_length=10_000)


class ReasonsIn(BaseModel):
    reasons: str = Field(min_length=10, max_length=10_000)


@router.post(
    "",
    summary="Request access to reads older than the open window",
    response_model=AuthorizationRead,
    status_code=201,
)
def request_authorization(
    body: RequestIn,
    request: Request,
    principal: Principal = Depends(requires(Permission.AUTHORIZATIONS_REQUEST)),
) -> dict[str, Any]:
    """A written, reasoned request bound to a case, a judicial purpose, plates and/or
    areas and a period; it goes to the prosecutors of the judicial districts of the
    cameras it reaches (`districts` in the answer)."""
    auth = platform_of(request).bus.handle(
        RequestAuthorization(
            request=auth_service.AuthorizationRequest(
                case_ref=body.case_ref,
                purpose=body.purpose,
                justification=body.justification,
                district=body.district,
                investigators=frozenset(body.investigators),
                plates=frozenset(body.plates),
                camera_ids=frozenset(body.camera_ids),
                area=Area(**body.area.model_dump()) if body.area else None,
                period_start=body.period_start,
                period_end=body.period_end,
                hold=body.hold,
            ),
            principal=principal,
            actor=actor_of(request, principal),
        )
    )
    return auth_service.summary(auth)


PageLimit = Annotated[
    int | None,
    Query(ge=1, le=1000, description="Authorizations per page; without it, every one."),
]


@router.get(
    "/mine",
    summary="My requests and the authorizations naming me",
    response_model=AuthorizationList,
)
def mine(
    request: Request,
    cursor: Cursor = None,
    limit: PageLimit = None,
    principal: Principal = Depends(requires(Permission.AUTHORIZATIONS_REQUEST)),
) -> dict[str, Any]:
    """Newest first, a page at a time when `limit` is given (`next_cursor`)."""
    return _page(
        request,
        AuthorizationsOfInvestigator(
            principal=principal, before=decode_cursor(cursor, int), limit=_fetch(limit)
        ),
        limit,
    )


@router.get(
    "/district",
    summary="Requests of my judicial district (prosecutors)",
    response_model=AuthorizationList,
)
def district(
    request: Request,
    status: str | None = Query(None, pattern="^(pending|approved|refused|revoked)$"),
    cursor: Cursor = None,
    limit: PageLimit = None,
    principal: Principal = Depends(requires(Permission.AUTHORIZATIONS_DECIDE)),
) -> dict[str, Any]:
    """Newest first, a page at a time when `limit` is given (`next_cursor`)."""
    return _page(
        request,
        AuthorizationsToDecide(
            principal=principal,
            status=status,
            before=decode_cursor(cursor, int),
            limit=_fetch(limit),
        ),
        limit,
    )


def _fetch(limit: int | None) -> int | None:
    return None if limit is None else limit + 1  # one more: is there a next page?


def _page(
    request: Request,
    query: AuthorizationsOfInvestigator | AuthorizationsToDecide,
    limit: int | None,
) -> dict[str, Any]:
    found, next_cursor = split_page(platform_of(request).bus.handle(query), limit, _auth_id)
    return {
        "authorizations": [auth_service.summary(a) for a in found],
        "next_cursor": next_cursor,
    }


def _auth_id(auth: Authorization) -> int:
    return auth.auth_id


def _decide(
    request: Request,
    principal: Principal,
    auth_id: int,
    *,
    approve: bool,
    reasons: str,
    expires_at: datetime | None = None,
    conditions: str | None = None,
) -> dict[str, Any]:
    auth = platform_of(request).bus.handle(
        DecideAuthorization(
            auth_id=auth_id,
            approve=approve,
            reasons=reasons,
            principal=principal,
            actor=actor_of(request, principal),
            expires_at=expires_at,
            conditions=conditions,
        )
    )
    return auth_service.summary(auth)


@router.post(
    "/{auth_id}/approve",
    summary="Approve a request (prosecutor of its district)",
    response_model=AuthorizationRead,
    responses=errors(404, 409),
)
def approve(
    auth_id: RowId,
    body: ApproveIn,
    request: Request,
    principal: Principal = Depends(requires(Permission.AUTHORIZATIONS_DECIDE)),
) -> dict[str, Any]:
    return _decide(
        request,
        principal,
        auth_id,
        approve=True,
        reasons=body.reasons,
        expires_at=body.expires_at,
        conditions=body.conditions,
    )


@router.post(
    "/{auth_id}/refuse",
    summary="Refuse a request, with reasons",
    response_model=AuthorizationRead,
    responses=errors(404, 409),
)
def refuse(
    auth_id: RowId,
    body: ReasonsIn,
    request: Request,
    principal: Principal = Depends(requires(Permission.AUTHORIZATIONS_DECIDE)),
) -> dict[str, Any]:
    return _decide(request, principal, auth_id, approve=False, reasons=body.reasons)


@router.post(
    "/{auth_id}/revoke",
    summary="Revoke an approved authorization",
    response_model=AuthorizationRead,
    responses=errors(404, 409),
)
def revoke(
    auth_id: RowId,
    body: ReasonsIn,
    request: Request,
    principal: Principal = Depends(requires(Permission.AUTHORIZATIONS_DECIDE)),
) -> dict[str, Any]:
    auth = platform_of(request).bus.handle(
        RevokeAuthorization(
            auth_id=auth_id,
            reasons=body.reasons,
            principal=principal,
            actor=actor_of(request, principal),
        )
    )
    return auth_service.summary(auth)
