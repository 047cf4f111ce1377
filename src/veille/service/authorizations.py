"""Authorizations of the procureur du Roi: investigators request, prosecutors decide."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from veille.domain.access import Principal, Role, Scope, ScopeKind
from veille.domain.audit import Actor, AuditEntry
from veille.domain.authorizations import (
    Area,
    Authorization,
    AuthorizationError,
    AuthorizationStatus,
    reachable_cameras,
    request_districts,
    validate_request,
    with_resolved_districts,
)
from veille.domain.districts import CrossDistrictRule, DistrictMap
from veille.domain.plates import PlateRejected, normalise
from veille.domain.retention import HoldInvalid, check_hold
from veille.domain.times import iso, iso_or_none
from veille.service.errors import NotFound
from veille.service.ports import UnitOfWork


class AuthorizationNotFound(NotFound, LookupError):
    pass


@dataclass(frozen=True)
class AuthorizationRequest:
    case_ref: str
    purpose: str
    justification: str
    district: str | None  # as declared: narrows a request naming no camera, never decides
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
    districts: DistrictMap,
    now: datetime,
) -> Authorization:
    """File a request; the requesting investigator is always among the named ones.

    Its judicial districts are those of the cameras it reaches (see `_derive_districts`);
    it goes to those districts' prosecutors."""
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
            district=(request.district or "").strip(),
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
        auth = _derive_districts(uow, auth, districts)
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
        raise AuthorizationNotFound(f"no authorization {auth_id}")
    return auth


def _investigator_scopes(uow: UnitOfWork, auth: Authorization) -> list[Scope]:
    scopes = []
    for user_id in sorted(auth.investigators):
        user = uow.users.get(user_id)
        org = uow.users.get_org(user.org_id) if user is not None else None
        if org is not None:
            scopes.append(org.scope)
    return scopes


def _derive_districts(
    uow: UnitOfWork, auth: Authorization, districts: DistrictMap, *, old: bool = False
) -> Authorization:
    """The request with the districts of the cameras it reaches.

    Cameras named (or all, if none are named), inside its area if any, inside the scope
    of a named investigator — so a request naming only plates reaches the cameras its
    investigators could search, and a national investigator's goes to every district
    that has cameras unless it declares one district to narrow it. For an `old` request
    (filed when a district had to be declared) the declaration narrows where it can, and
    where it contradicts the cameras, the cameras decide."""
    cameras = {c.camera_id: c for c in uow.cameras.find()}
    reachable = reachable_cameras(
        cameras=cameras.values(),
        camera_ids=auth.camera_ids,
        area=auth.area,
        scopes=_investigator_scopes(uow, auth),
    )

    def derive(declared: str | None) -> frozenset[str]:
        return request_districts(
            cameras=cameras,
            reachable=reachable,
            named=auth.camera_ids,
            declared=declared,
            districts=districts,
        )

    try:
        found = derive(auth.district or None)
    except AuthorizationError:
        if not old:
            raise
        found = derive(None)
    return replace(auth, districts=found)


def _prosecutor_district(uow: UnitOfWork, principal: Principal, districts: DistrictMap) -> str:
    """The district (or the federal office) in whose name this prosecutor decides."""
    org = uow.users.get_org(principal.org_id)
    if (
        principal.role is not Role.PROSECUTOR
        or org is None
        or org.scope.kind is not ScopeKind.DISTRICT
    ):
        raise AuthorizationError("only a prosecutor of a judicial district decides")
    district = districts.resolve(org.scope.value)
    if district is None:
        raise AuthorizationError(
            f"the prosecutor's organisation names {org.scope.value!r},"
            " which is not a configured judicial district"
        )
    return district


def _load(
    uow: UnitOfWork, auth_id: int, districts: DistrictMap, *, derive: bool = False
) -> Authorization:
    auth = uow.authorizations.get(auth_id)
    if auth is None:
        raise AuthorizationNotFound(f"no authorization {auth_id}")
    auth = with_resolved_districts(auth, districts)
    if derive and auth.status is AuthorizationStatus.PENDING and not auth.districts:
        auth = _derive_districts(uow, auth, districts, old=True)  # filed before they were
    return auth


def decide_authorization(
    *,
    uow: UnitOfWork,
    principal: Principal,
    actor: Actor,
    auth_id: int,
    approve: bool,
    reasons: str,
    now: datetime,
    districts: DistrictMap,
    rule: CrossDistrictRule,
    expires_at: datetime | None = None,
    conditions: str | None = None,
) -> Authorization:
    """Approve (with conditions and an expiry) or refuse (with reasons) a pending request.

    Only a prosecutor of one of the request's districts decides, in that district's
    name; a request spanning districts is approved once each has approved, or by the
    federal prosecutor, as `rule` says. An approval that asks for a hold places a case
    hold on what it covers, so retention keeps those reads.
    """
    with uow:
        mine = _prosecutor_district(uow, principal, districts)
        auth = _load(uow, auth_id, districts, derive=True)
        district = auth.deciding_as(
            prosecutor_district=mine,
            federal=districts.federal,
            rule=rule,
        )
        if approve:
            if expires_at is None:
                raise AuthorizationError("an approval needs an expiry")
            decided = auth.approve(
                district=district,
                by=principal.user_id,
                by_name=principal.username,
                at=now,
                expires_at=expires_at,
                reasons=reasons,
                conditions=conditions,
            )
        else:
            decided = auth.refuse(
                district=district,
                by=principal.user_id,
                by_name=principal.username,
                at=now,
                reasons=reasons,
            )
        uow.authorizations.update(decided)
        hold_id = None
        final = decided.status is not AuthorizationStatus.PENDING
        if final and approve and decided.hold_requested:
            cameras = set(decided.camera_ids)
            if decided.area is not None:
                inside = {
                    c.camera_id for c in uow.cameras.find() if decided.area.contains(c.lat, c.lon)
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
                    "district": district,
                    "districts": sorted(decided.districts),
                    "status": decided.status.value,
                    "reasons": reasons.strip(),
                    "conditions": (conditions or "").strip() or None,
                    "expires_at": expires_at.isoformat() if approve and expires_at else None,
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
    districts: DistrictMap,
    rule: CrossDistrictRule,
) -> Authorization:
    """Any prosecutor who could decide it may revoke it: revoking only closes data."""
    with uow:
        mine = _prosecutor_district(uow, principal, districts)
        auth = _load(uow, auth_id, districts)
        district = auth.deciding_as(
            prosecutor_district=mine,
            federal=districts.federal,
            rule=rule,
        )
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
                params={"reasons": reasons, "district": district},
                purpose=auth.purpose,
                case_ref=auth.case_ref,
            )
        )
        uow.commit()
    return revoked


UNDERIVED_BATCH = 200  # requests filed before districts were derived, routed a batch at a time


def list_for_investigator(
    *,
    uow: UnitOfWork,
    principal: Principal,
    before: int | None = None,
    limit: int | None = None,
) -> list[Authorization]:
    """The requests this investigator filed or is named in, newest first from just below
    `before`, at most `limit` (None: all)."""
    with uow:
        return uow.authorizations.page(involving_user=principal.user_id, before=before, limit=limit)


def list_for_prosecutor(
    *,
    uow: UnitOfWork,
    principal: Principal,
    districts: DistrictMap,
    rule: CrossDistrictRule,
    status: str | None = None,
    before: int | None = None,
    limit: int | None = None,
) -> list[Authorization]:
    """The requests this prosecutor may decide: those reaching their district, or, for
    the federal prosecutor (when the rule gives them a say), those spanning districts.
    Newest first from just below `before`, at most `limit` (None: all)."""
    with uow:
        district = _prosecutor_district(uow, principal, districts)
        if district == districts.federal:
            if rule is CrossDistrictRule.EACH_DISTRICT:
                return []
            found = uow.authorizations.page(
                spanning=True, status=status, before=before, limit=limit
            )
        else:
            # every spelling of the district: decided records keep the name they were filed with
            names = frozenset(
                {district, *(a for a, d in districts.aliases.items() if d == district)}
            )
            found = uow.authorizations.page(
                districts=names, status=status, before=before, limit=limit
            )
        found = [with_resolved_districts(a, districts) for a in found]
        found.extend(_underived_for(uow, district, districts, status, before, limit))
        found.sort(key=lambda a: a.auth_id, reverse=True)
        return found if limit is None else found[:limit]


def _underived_for(
    uow: UnitOfWork,
    district: str,
    districts: DistrictMap,
    status: str | None,
    before: int | None,
    limit: int | None,
) -> list[Authorization]:
    """Requests filed before districts were derived that reach `district` (routed by
    their cameras now), newest first below `before`: the first `limit` of them, derived a
    batch at a time, since which ones qualify is known only once derived."""
    kept: list[Authorization] = []
    while limit is None or len(kept) < limit:
        batch = uow.authorizations.page(
            underived=True, status=status, before=before, limit=UNDERIVED_BATCH
        )
        for old in batch:
            try:
                derived = _derive_districts(uow, old, districts, old=True)
            except AuthorizationError:
                continue  # reaches no camera of any district: nobody can decide it
            if district in derived.districts or (
                district == districts.federal and len(derived.districts) > 1
            ):
                kept.append(derived)
        if len(batch) < UNDERIVED_BATCH:
            break
        before = batch[-1].auth_id
    return kept if limit is None else kept[:limit]


def summary(auth: Authorization) -> dict[str, Any]:
    return {
        "auth_id": auth.auth_id,
        "case_ref": auth.case_ref,
        "purpose": auth.purpose,
        "justification": auth.justification,
        "district": next(iter(auth.districts)) if len(auth.districts) == 1 else None,
        "districts": sorted(auth.districts),
        "declared_district": auth.district or None,
        "requested_by": auth.requested_by_name,
        "requested_at": iso(auth.requested_at),
        "investigators": sorted(auth.investigators),
        "plates": sorted(auth.plates),
        "camera_ids": sorted(auth.camera_ids),
        "area": auth.area.__dict__ if auth.area else None,
        "period_start": iso(auth.period_start),
        "period_end": iso(auth.period_end),
        "hold_requested": auth.hold_requested,
        "status": auth.status.value,
        "decided_by": auth.decided_by_name,
        "decided_at": iso_or_none(auth.decided_at),
        "decision_reasons": auth.decision_reasons,
        "conditions": auth.conditions,
        "expires_at": iso_or_none(auth.expires_at),
        "approvals": [
            {
                "district": a.district,
                "by": a.by_name,
                "at": iso(a.at),
                "reasons": a.reasons,
                "conditions": a.conditions,
                "expires_at": iso(a.expires_at),
            }
            for a in auth.approvals
        ],
    }
