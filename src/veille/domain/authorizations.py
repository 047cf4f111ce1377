"""Prosecutor authorizations and the slices of stored reads a user may see (pure policy)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from veille.domain.access import Scope
from veille.domain.cameras import Camera
from veille.domain.districts import CrossDistrictRule, DistrictMap
from veille.domain.errors import Invalid
from veille.domain.geography import haversine_m


class AuthorizationStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REFUSED = "refused"
    REVOKED = "revoked"


class AuthorizationError(Invalid, ValueError):
    """A request or decision that the rules do not allow; the message says why."""


@dataclass(frozen=True)
class Area:
    """A circle on the map: the cameras inside it are covered."""

    lat: float
    lon: float
    radius_m: float

    def contains(self, lat: float, lon: float) -> bool:
        return haversine_m(self.lat, self.lon, lat, lon) <= self.radius_m


@dataclass(frozen=True)
class DistrictApproval:
    """One prosecutor's approval, in the name of one district (or of the federal office)."""

    district: str
    by: int
    by_name: str
    at: datetime
    reasons: str
    conditions: str | None
    expires_at: datetime


@dataclass(frozen=True)
class Authorization:
    """A request for reads older than the open window, and the prosecutors' decision.

    `districts` are the judicial districts of the cameras the request can reach, derived
    when it is filed (`district` is only what the requester declared, kept as filed). An
    approved authorization opens reads only at cameras of those districts, and only to
    searches citing its case reference and its purpose.
    """

    auth_id: int
    case_ref: str
    purpose: str
    justification: str
    district: str
    requested_by: int
    requested_by_name: str
    requested_at: datetime
    investigators: frozenset[int]
    plates: frozenset[str]
    camera_ids: frozenset[str]
    area: Area | None
    period_start: datetime
    period_end: datetime
    hold_requested: bool
    status: AuthorizationStatus
    decided_by: int | None = None
    decided_by_name: str | None = None
    decided_at: datetime | None = None
    decision_reasons: str | None = None
    conditions: str | None = None
    expires_at: datetime | None = None
    districts: frozenset[str] = frozenset()
    approvals: tuple[DistrictApproval, ...] = ()

    @property
    def approved_districts(self) -> frozenset[str]:
        """The districts whose cameras this authorization opens (none until approved)."""
        return self.districts if self.status is AuthorizationStatus.APPROVED else frozenset()

    def opens_for(self, *, case_ref: str | None, purpose: str | None) -> bool:
        """Whether a search citing this case and purpose may use the authorization.

        The prosecutor authorized one judicial mission: the search must cite the same
        case reference and the same (judicial) purpose the request was approved for."""
        return case_ref == self.case_ref and purpose == self.purpose

    def deciding_as(
        self, *, prosecutor_district: str, federal: str | None, rule: CrossDistrictRule
    ) -> str:
        """The district in whose name this prosecutor may decide (or revoke), or why not."""
        spans = len(self.districts) > 1
        if federal is not None and prosecutor_district == federal:
            if not spans:
                raise AuthorizationError(
                    "a request within one district is decided by that district's prosecutor"
                )
            if rule is CrossDistrictRule.EACH_DISTRICT:
                raise AuthorizationError(
                    "a request spanning districts is approved by each district's prosecutor"
                )
            return prosecutor_district
        if prosecutor_district not in self.districts:
            raise AuthorizationError("this request belongs to another judicial district")
        if spans and rule is CrossDistrictRule.FEDERAL:
            raise AuthorizationError(
                "a request spanning districts is decided by the federal prosecutor"
            )
        return prosecutor_district

    def usable_by(self, user_id: int, now: datetime) -> bool:
        """Approved, not expired, and the user is one of the named investigators."""
        return (
            self.status is AuthorizationStatus.APPROVED
            and self.expires_at is not None
            and now < self.expires_at
            and user_id in self.investigators
        )

    def covers(
        self, *, plate: str, camera_id: str, lat: float, lon: float, captured_at: datetime
    ) -> bool:
        """Whether one read falls inside what the prosecutor authorized."""
        if not self.period_start <= captured_at < self.period_end:
            return False
        if self.plates and plate not in self.plates:
            return False
        if self.camera_ids and camera_id not in self.camera_ids:
            return False
        return not (self.area and not self.area.contains(lat, lon))

    def approve(
        self,
        *,
        district: str,
        by: int,
        by_name: str,
        at: datetime,
        expires_at: datetime,
        reasons: str,
        conditions: str | None,
    ) -> Authorization:
        """Record one district's approval (`district` from `deciding_as`).

        The authorization is approved once every district of the request has approved,
        or at once when the federal office (not one of the districts) approves. Until
        then it stays pending and opens nothing. It expires at the earliest expiry given.
        """
        self._require_pending()
        if expires_at <= at:
            raise AuthorizationError("an approval needs an expiry in the future")
        if not reasons.strip():
            raise AuthorizationError("a decision must give its reasons")
        if any(a.district == district for a in self.approvals):
            raise AuthorizationError(f"district {district} has already approved this request")
        approval = DistrictApproval(
            district=district,
            by=by,
            by_name=by_name,
            at=at,
            reasons=reasons.strip(),
            conditions=(conditions or "").strip() or None,
            expires_at=expires_at,
        )
        approvals = (*self.approvals, approval)
        approved = {a.district for a in approvals}
        if district in self.districts and not self.districts <= approved:
            return replace(self, approvals=approvals)
        several = len(approvals) > 1
        return replace(
            self,
            approvals=approvals,
            status=AuthorizationStatus.APPROVED,
            decided_by=by,
            decided_by_name=by_name,
            decided_at=at,
            decision_reasons="\n".join(
                f"[{a.district}] {a.reasons}" if several else a.reasons for a in approvals
            ),
            conditions="\n".join(
                f"[{a.district}] {a.conditions}" if several else a.conditions
                for a in approvals
                if a.conditions
            )
            or None,
            expires_at=min(a.expires_at for a in approvals),
        )

    def refuse(
        self, *, district: str, by: int, by_name: str, at: datetime, reasons: str
    ) -> Authorization:
        """One district's refusal refuses the whole request; a narrower one may be filed."""
        self._require_pending()
        if not reasons.strip():
            raise AuthorizationError("a refusal must give its reasons")
        text = reasons.strip()
        return replace(
            self,
            status=AuthorizationStatus.REFUSED,
            decided_by=by,
            decided_by_name=by_name,
            decided_at=at,
            decision_reasons=f"[{district}] {text}" if len(self.districts) > 1 else text,
        )

    def revoke(self, *, by: int, by_name: str, at: datetime, reasons: str) -> Authorization:
        if self.status is not AuthorizationStatus.APPROVED:
            raise AuthorizationError("only an approved authorization can be revoked")
        return replace(
            self,
            status=AuthorizationStatus.REVOKED,
            expires_at=at,
            decision_reasons=f"{self.decision_reasons or ''}\nrevoked by {by_name}: {reasons}",
        )

    def _require_pending(self) -> None:
        if self.status is not AuthorizationStatus.PENDING:
            raise AuthorizationError(f"authorization is {self.status.value}, not pending")


def validate_request(
    *,
    plates: frozenset[str],
    camera_ids: frozenset[str],
    area: Area | None,
    period_start: datetime,
    period_end: datetime,
    justification: str,
    investigators: frozenset[int],
) -> None:
    """A request must say what it covers: no blanket access to everything."""
    if not plates and not camera_ids and area is None:
        raise AuthorizationError("name plates, cameras or an area: blanket access is not granted")
    if period_end <= period_start:
        raise AuthorizationError("the period must end after it starts")
    if len(justification.strip()) < 20:
        raise AuthorizationError("the justification must be a reasoned text (20+ characters)")
    if not investigators:
        raise AuthorizationError("name at least one investigator")
    if area is not None and not 0 < area.radius_m <= 50_000:
        raise AuthorizationError("an area radius must be between 0 and 50 km")


def reachable_cameras(
    *,
    cameras: Iterable[Camera],
    camera_ids: frozenset[str],
    area: Area | None,
    scopes: Iterable[Scope],
) -> frozenset[str]:
    """The cameras a request could ever open: those it names (or all, if it names none),
    inside its area if it has one, and inside the scope of at least one named investigator
    (searches never reach past the searcher's scope)."""
    scopes = list(scopes)
    return frozenset(
        c.camera_id
        for c in cameras
        if (not camera_ids or c.camera_id in camera_ids)
        and (area is None or area.contains(c.lat, c.lon))
        and any(s.covers(zone=c.zone, province=c.province) for s in scopes)
    )


def request_districts(
    *,
    cameras: Mapping[str, Camera],
    reachable: frozenset[str],
    named: frozenset[str],
    declared: str | None,
    districts: DistrictMap,
) -> frozenset[str]:
    """The judicial districts of a request, from the cameras it reaches.

    A declared district no longer decides anything: it may only narrow a request that
    names no camera (plates only, or an area) to the cameras of that district; any other
    mismatch with the cameras is refused, so the requester learns where it really goes.
    """
    for camera_id in sorted(named):
        if districts.of_camera(cameras[camera_id]) is None:
            raise AuthorizationError(f"camera {camera_id} lies in no configured judicial district")
    found = {d for c in reachable if (d := districts.of_camera(cameras[c])) is not None}
    if declared is not None and declared.strip():
        wanted = districts.resolve(declared)
        if wanted is None or wanted not in districts.districts:
            raise AuthorizationError(f"{declared!r} is not a configured judicial district")
        if named and found != {wanted}:
            raise AuthorizationError(
                f"the cameras of this request lie in {', '.join(sorted(found))}, not {wanted}"
            )
        found &= {wanted}
    if not found:
        raise AuthorizationError(
            "no camera within the investigators' scope matches this request"
            + (" in that district" if declared else "")
        )
    return frozenset(found)


def with_resolved_districts(auth: Authorization, districts: DistrictMap) -> Authorization:
    """The authorization with its districts as the mapping names them now.

    Records filed before districts were derived hold the district the requester
    declared (say "Bruxelles"); it is read through the aliases, and a name the mapping
    does not know is dropped, so such an authorization opens nothing and nobody decides it.
    """
    known = frozenset(d for name in auth.districts if (d := districts.resolve(name)))
    return auth if known == auth.districts else replace(auth, districts=known)


@dataclass(frozen=True)
class Slice:
    """A part of the stored reads a query may return.

    `None` for plates or camera_ids means "any"; the time range is [start, end).
    """

    start: datetime
    end: datetime
    plates: frozenset[str] | None = None
    camera_ids: frozenset[str] | None = None
    area: Area | None = None
    auth_id: int | None = None  # the authorization that opened it, None for the open window

    def contains(
        self, *, plate: str, camera_id: str, lat: float, lon: float, captured_at: datetime
    ) -> bool:
        if not self.start <= captured_at < self.end:
            return False
        if self.plates is not None and plate not in self.plates:
            return False
        if self.camera_ids is not None and camera_id not in self.camera_ids:
            return False
        return not (self.area and not self.area.contains(lat, lon))


@dataclass(frozen=True)
class WindowPolicy:
    open_window: timedelta = timedelta(days=30)
    max_retention: timedelta = timedelta(days=365)
    future_margin: timedelta = timedelta(minutes=10)


def visible_slices(
    *,
    user_id: int,
    now: datetime,
    policy: WindowPolicy,
    scope_cameras: frozenset[str] | None,
    authorizations: list[Authorization],
    case_ref: str | None,
    purpose: str | None,
    authorization_purposes: frozenset[str],
    district_cameras: Mapping[str, frozenset[str]],
) -> list[Slice]:
    """What a user may see now: the open window within their scope, plus, for each
    authorization usable by them *for this search*, what it covers.

    An authorization counts only for a search citing its case and its purpose, when that
    purpose is one an authorization may be given for (never an administrative one), and
    it opens only cameras of the districts that approved it (`district_cameras`: the
    cameras of each district now, so a camera moved elsewhere closes) — still within the
    user's scope."""
    window_start = now - policy.open_window
    end = now + policy.future_margin
    slices = [Slice(start=window_start, end=end, camera_ids=scope_cameras)]
    oldest = now - policy.max_retention
    if purpose not in authorization_purposes:
        return slices
    for auth in authorizations:
        if not auth.usable_by(user_id, now) or not auth.opens_for(
            case_ref=case_ref, purpose=purpose
        ):
            continue
        start = max(auth.period_start, oldest)
        stop = min(auth.period_end, end)
        if stop <= start:
            continue
        cameras = frozenset[str]().union(
            *(district_cameras.get(d, frozenset()) for d in auth.approved_districts)
        )
        if auth.camera_ids:
            cameras &= auth.camera_ids
        if scope_cameras is not None:
            cameras &= scope_cameras
        if not cameras:
            continue
        slices.append(
            Slice(
                start=start,
                end=stop,
                plates=auth.plates or None,
                camera_ids=cameras,
                area=auth.area,
                auth_id=auth.auth_id,
            )
        )
    return slices


@dataclass(frozen=True)
class PeriodClip:
    """How a requested period was cut to what the caller may see.

    `not_open` are the parts of the request that neither the open window nor an
    authorization opens; `visible_from` is the earliest moment something is open (None if
    nothing is). It says only what the caller's own access covers, never whether reads
    exist beyond it. An authorization's period opens only what it names (plates,
    cameras, area), so its parts count as open here, not as fully visible.
    """

    requested_start: datetime
    requested_end: datetime
    visible_from: datetime | None
    not_open: tuple[tuple[datetime, datetime], ...]


def period_clip(
    slices: Iterable[Slice],
    *,
    start: datetime,
    end: datetime,
    tolerance: timedelta = timedelta(0),
) -> PeriodClip | None:
    """The clip of [start, end) to the slices' periods, or None when nothing was cut.

    What lies after the last slice (the future past the margin) holds no read yet and is
    not reported as clipped. Cuts no longer than `tolerance` are not reported either: a
    "last 30 days" start, worked out by a client a moment before the server's clock,
    would otherwise always read as clipped by those milliseconds."""
    slices = list(slices)
    stop = min(end, max((s.end for s in slices), default=start))
    spans = sorted((max(s.start, start), min(s.end, stop)) for s in slices)
    spans = [(lo, hi) for lo, hi in spans if lo < hi]
    gaps: list[tuple[datetime, datetime]] = []
    cursor = start
    for lo, hi in [*spans, (stop, stop)]:
        if lo - cursor > tolerance:
            gaps.append((cursor, lo))
        cursor = max(cursor, hi)
    if not gaps:
        return None
    return PeriodClip(start, end, spans[0][0] if spans else None, tuple(gaps))
