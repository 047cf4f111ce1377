"""Authorizations of the procureur du Roi: investigators request, prosecutors decide."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from veille.domain.access import Principal, Role, ScopeKind
from veille.domain.audit import Actor, AuditEntry
from veille.domain.authorizations import (
    Area,
    Authorization,
    AuthorizationError,
    AuthorizationStatus,
    validate_request,
)
from veille.domain.plates import PlateRejected, normalise
from veille.domain.retention import HoldInvalid, check_hold
from veille.service.ports import UnitOfWork


class AuthorizationNotFound(LookupError):
    pass


@dataclass(frozen=True)
class AuthorizationRequest:
    case_ref: str
    purpose: str
    justification: str
    district: str
    investigators: frozenset[int]
    plates: frozenset[str]
    camera_ids: frozenset[str]
    area: Area | None
    period_start: datetime
    period_end: datetime
    hold: bool = False


def _plate(raw: str) -> str:
    try:
        return normalise(raw)
    except PlateRejected as refused:
        raise AuthorizationError(f"plate {raw!r}: {refused.reason}") from None


def request_authorization(
    *,
    uow: UnitOfWork,
    principal: Principal,
    actor: Actor,
    request: AuthorizationRequest,
    judicial_purposes: frozenset[str],
    case_ref_ok: bool,
    now: datetime,
) -> Authorization:
    """File a request; the requesting investigator is always among the named ones."""
    if request.purpose not in judicial_purposes:
        raise AuthorizationError(
            "access beyond the open window is only for judicial missions: choose a judicial purpose"
        )
    if not case_ref_ok:
        raise AuthorizationError("a valid case reference is required")
    investigators = frozenset(request.investigators | {principal.user_id})
    plates = frozenset(p for p in map(_plate, request.plates) if p)
    validate_request(
        plates=plates,
        camera_ids=request.camera_ids,
        area=request.area,
        period_start=request.period_start,
        period_end=request.period_end,
        justification=request.justification,
        investigators=investigators,
    )
    with uow:
        for user_id in investigators:
            user = uow.users.get(user_id)
            if (
                user is None
                or not user.active
                or user.role
                not in (
                    Role.INVESTIGATOR,
                    Role.SUPERVISOR,
                )
            ):
                raise AuthorizationError(f"user {user_id} is not an active investigator")
        for camera_id in request.camera_ids:
            if uow.cameras.get(camera_id) is None:
                raise AuthorizationError(f"no camera {camera_id}")
        auth = Authorization(
            auth_id=0,
            case_ref=request.case_ref,
            purpose=request.purpose,
            justification=request.justification.strip(),
            district=request.district,
            requested_by=principal.user_id,
            requested_by_name=principal.username,
            requested_at=now,
            investigators=investigators,
            plates=plates,
            camera_ids=request.camera_ids,
            area=request.area,
            period_start=request.period_start,
            period_end=request.period_end,
            hold_requested=request.hold,
            status=AuthorizationStatus.PENDING,
        )
        auth_id = uow.authorizations.add(auth)
        uow.audit.append(
            AuditEntry(
                at=now,
                actor=actor,
                action="authorization.request",
                target=str(auth_id),
                params=summary(auth),
                purpose=auth.purpose,
                case_ref=auth.case_ref,
            )
        )
        uow.commit()
    return uow_get(uow, auth_id)


def uow_get(uow: UnitOfWork, auth_id: int) -> Authorization:
    with uow:
        auth = uow.authorizations.get(auth_id)
    if auth is None:
        raise AuthorizationNotFound(auth_id)
    return auth


def _prosecutor_district(uow: UnitOfWork, principal: Principal) -> str:
    org = uow.users.get_org(principal.org_id)
    if (
        principal.role is not Role.PROSECUTOR
        or org is None
        or org.scope.kind is not ScopeKind.DISTRICT
    ):
        raise AuthorizationError("only a prosecutor of a judicial district decides")
    return org.scope.value or ""


def decide_authorization(
    *,
    uow: UnitOfWork,
    principal: Principal,
    actor: Actor,
    auth_id: int,
    approve: bool,
    reasons: str,
    now: datetime,
    expires_at: datetime | None = None,
    conditions: str | None = None,
) -> Authorization:
    """Approve (with conditions and an expiry) or refuse (with reasons) a pending request.

    Only a prosecutor of the request's district decides. An approval that asks for a
    hold places a case hold on what it covers, so retention keeps those reads.
    """
    with uow:
        district = _prosecutor_district(uow, principal)
        auth = uow.authorizations.get(auth_id)
        if auth is None:
            raise AuthorizationNotFound(auth_id)
        if auth.district != district:
            raise AuthorizationError("this request belongs to another judicial district")
        if approve:
            if expires_at is None:
                raise AuthorizationError("an approval needs an expiry")
            decided = auth.approve(
                by=principal.user_id,
                by_name=principal.username,
                at=now,
                expires_at=expires_at,
                reasons=reasons,
                conditions=conditions,
            )
        else:
            decided = auth.refuse(
                by=principal.user_id, by_name=principal.username, at=now, reasons=reasons
            )
        uow.authorizations.update(decided)
        hold_id = None
        if approve and decided.hold_requested:
            cameras = set(decided.camera_ids)
            if decided.area is not None:
                inside = {
                    c.camera_id for c in uow.cameras.list() if decided.area.contains(c.lat, c.lon)
                }
                cameras = cameras & inside if cameras else inside
            try:
                check_hold(
                    case_ref=decided.case_ref,
                    plates=decided.plates,
                    camera_ids=cameras,
                    start=decided.period_start,
                    end=decided.period_end,
                )
            except HoldInvalid as exc:  # e.g. an area with no camera and no plate named
                raise AuthorizationError(f"cannot place the requested hold: {exc}") from None
            hold_id = uow.holds.add(
                case_ref=decided.case_ref,
                plates=decided.plates,
                camera_ids=cameras,
                period_start=decided.period_start,
                period_end=decided.period_end,
                created_by=principal.username,
                created_at=now,
                auth_id=decided.auth_id,
            )
        uow.audit.append(
            AuditEntry(
                at=now,
                actor=actor,
                action="authorization.approve" if approve else "authorization.refuse",
                target=str(auth_id),
                params={
                    "reasons": decided.decision_reasons,
                    "conditions": decided.conditions,
                    "expires_at": decided.expires_at.isoformat() if decided.expires_at else None,
                    "hold_id": hold_id,
                },
                purpose=decided.purpose,
                case_ref=decided.case_ref,
            )
        )
        uow.commit()
    return decided


def revoke_authorization(
    *,
    uow: UnitOfWork,
    principal: Principal,
    actor: Actor,
    auth_id: int,
    reasons: str,
    now: datetime,
) -> Authorization:
    with uow:
        district = _prosecutor_district(uow, principal)
        auth = uow.authorizations.get(auth_id)
        if auth is None:
            raise AuthorizationNotFound(auth_id)
        if auth.district != district:
            raise AuthorizationError("this authorization belongs to another judicial district")
        revoked = auth.revoke(
            by=principal.user_id, by_name=principal.username, at=now, reasons=reasons
        )
        uow.authorizations.update(revoked)
        uow.audit.append(
            AuditEntry(
                at=now,
                actor=actor,
                action="authorization.revoke",
                target=str(auth_id),
                params={"reasons": reasons},
                purpose=auth.purpose,
                case_ref=auth.case_ref,
            )
        )
        uow.commit()
    return revoked


def list_for_investigator(*, uow: UnitOfWork, principal: Principal) -> list[Authorization]:
    with uow:
        return uow.authorizations.list(involving_user=principal.user_id)


def list_for_prosecutor(
    *, uow: UnitOfWork, principal: Principal, status: str | None = None
) -> list[Authorization]:
    with uow:
        district = _prosecutor_district(uow, principal)
        return uow.authorizations.list(district=district, status=status)


def summary(auth: Authorization) -> dict[str, Any]:
    return {
        "auth_id": auth.auth_id,
        "case_ref": auth.case_ref,
        "purpose": auth.purpose,
        "justification": auth.justification,
        "district": auth.district,
        "requested_by": auth.requested_by_name,
        "requested_at": auth.requested_at.isoformat(),
        "investigators": sorted(auth.investigators),
        "plates": sorted(auth.plates),
        "camera_ids": sorted(auth.camera_ids),
        "area": auth.area.__dict__ if auth.area else None,
        "period_start": auth.period_start.isoformat(),
        "period_end": auth.period_end.isoformat(),
        "hold_requested": auth.hold_requested,
        "status": auth.status.value,
        "decided_by": auth.decided_by_name,
        "decided_at": auth.decided_at.isoformat() if auth.decided_at else None,
        "decision_reasons": auth.decision_reasons,
        "conditions": auth.conditions,
        "expires_at": auth.expires_at.isoformat() if auth.expires_at else None,
    }
