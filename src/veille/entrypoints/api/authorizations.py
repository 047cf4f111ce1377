"""Authorization routes: investigators request access beyond the window, prosecutors decide."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from veille.bootstrap import Platform
from veille.domain.access import Permission, Principal
from veille.domain.authorizations import Area, AuthorizationError
from veille.domain.districts import CrossDistrictRule
from veille.entrypoints.api.params import RowId
from veille.entrypoints.api.schemas.authorizations import AuthorizationList, AuthorizationRead
from veille.entrypoints.api.schemas.common import errors
from veille.entrypoints.api.security import actor_of, error, platform_of, requires
from veille.service import authorizations as auth_service
from veille.service.commands import DecideAuthorization, RequestAuthorization, RevokeAuthorization

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


@router.get(
    "/mine",
    summary="My requests and the authorizations naming me",
    response_model=AuthorizationList,
)
def mine(
    request: Request,
    principal: Principal = Depends(requires(Permission.AUTHORIZATIONS_REQUEST)),
) -> dict[str, Any]:
    found = auth_service.list_for_investigator(
        uow=platform_of(request).read_uow(), principal=principal
    )
    return {"authorizations": [auth_service.summary(a) for a in found]}


@router.get(
    "/district",
    summary="Requests of my judicial district (prosecutors)",
    response_model=AuthorizationList,
)
def district(
    request: Request,
    status: str | None = Query(None, pattern="^(pending|approved|refused|revoked)$"),
    principal: Principal = Depends(requires(Permission.AUTHORIZATIONS_DECIDE)),
) -> dict[str, Any]:
    try:
        platform = platform_of(request)
        found = auth_service.list_for_prosecutor(
            uow=platform.read_uow(),
            principal=principal,
            districts=platform.districts,
            rule=_rule(platform),
            status=status,
        )
    except AuthorizationError as exc:
        raise error(403, "forbidden", str(exc)) from None
    return {"authorizations": [auth_service.summary(a) for a in found]}


def _rule(platform: Platform) -> CrossDistrictRule:
    return CrossDistrictRule(platform.settings.cross_district_approval)


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
