"""Prosecutor authorizations and the slices of stored reads a user may see (pure policy)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from veille.domain.geography import haversine_m


class AuthorizationStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REFUSED = "refused"
    REVOKED = "revoked"


class AuthorizationError(ValueError):
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
class Authorization:
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
        by: int,
        by_name: str,
        at: datetime,
        expires_at: datetime,
        reasons: str,
        conditions: str | None,
    ) -> Authorization:
        self._require_pending()
        if expires_at <= at:
            raise AuthorizationError("an approval needs an expiry in the future")
        if not reasons.strip():
            raise AuthorizationError("a decision must give its reasons")
        return replace(
            self,
            status=AuthorizationStatus.APPROVED,
            decided_by=by,
            decided_by_name=by_name,
            decided_at=at,
            decision_reasons=reasons.strip(),
            conditions=(conditions or "").strip() or None,
            expires_at=expires_at,
        )

    def refuse(self, *, by: int, by_name: str, at: datetime, reasons: str) -> Authorization:
        self._require_pending()
        if not reasons.strip():
            raise AuthorizationError("a refusal must give its reasons")
        return replace(
            self,
            status=AuthorizationStatus.REFUSED,
            decided_by=by,
            decided_by_name=by_name,
            decided_at=at,
            decision_reasons=reasons.strip(),
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
) -> list[Slice]:
    """What a user may see now: the open window within their scope, plus, for each
    authorization usable by them, what it covers (still within their scope)."""
    window_start = now - policy.open_window
    end = now + policy.future_margin
    slices = [Slice(start=window_start, end=end, camera_ids=scope_cameras)]
    oldest = now - policy.max_retention
    for auth in authorizations:
        if not auth.usable_by(user_id, now):
            continue
        start = max(auth.period_start, oldest)
        stop = min(auth.period_end, end)
        if stop <= start:
            continue
        cameras: frozenset[str] | None = auth.camera_ids or None
        if scope_cameras is not None:
            cameras = scope_cameras if cameras is None else cameras & scope_cameras
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
