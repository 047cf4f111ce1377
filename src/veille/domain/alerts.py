"""Alerts and the officer's workflow: acknowledge, confirm or reject, record the outcome."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from veille.domain.errors import Conflict


class AlertStatus(StrEnum):
    OPEN = "open"  # rung, nobody has taken it yet
    ACKNOWLEDGED = "acknowledged"  # an operator is on it
    CONFIRMED = "confirmed"  # image compared with the entry: it is the wanted vehicle
    REJECTED = "rejected"  # not a real hit (closed)
    CLOSED = "closed"  # confirmed and its outcome recorded


class RejectReason(StrEnum):
    MISREAD = "misread"
    WRONG_COUNTRY = "wrong_country"
    VEHICLE_MISMATCH = "vehicle_mismatch"
    ENTRY_OUTDATED = "entry_outdated"


class Outcome(StrEnum):
    INTERCEPTED = "intercepted"
    NOT_FOUND = "not_found"
    NO_ACTION = "no_action"
    OTHER = "other"


# Statuses during which a repeat hit of the same plate and entry, in the same police zone,
# joins the alert.
STILL_OPEN = frozenset({AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED, AlertStatus.CONFIRMED})


class WorkflowError(Conflict, ValueError):
    """A step the workflow does not allow from the alert's current status."""

    code = "workflow"


@dataclass(frozen=True)
class Lateness:
    """How old a read was when it was matched, and whether that counts as late."""

    age_s: float  # seconds from capture to matching (negative if the camera clock is ahead)
    late: bool


@dataclass(frozen=True)
class AlertTiming:
    """Which reads may still ring, and which of those ring marked as late.

    A read older than the open window is outside what an operator may see without the
    query service (and, beyond it, a prosecutor's authorization), so it is stored but
    never rings; a read delayed on its way (a camera back online, a replayed dead letter)
    rings, marked late, so nobody rushes to where the vehicle was an hour ago.
    """

    open_window: timedelta
    late_after: timedelta

    def may_ring(self, *, captured_at: datetime, now: datetime) -> bool:
        """Whether a read is recent enough to ring at all."""
        return captured_at >= self.oldest_that_rings(now)

    def oldest_that_rings(self, now: datetime) -> datetime:
        """The capture time before which a read no longer rings: matching a group commit
        works it out once and compares each read's capture time with it."""
        return now - self.open_window

    def judge(self, *, captured_at: datetime, now: datetime) -> Lateness | None:
        """None when the read is too old to ring at all."""
        age = now - captured_at
        if age > self.open_window:
            return None
        return Lateness(age_s=round(age.total_seconds(), 3), late=age > self.late_after)


@dataclass(frozen=True)
class AlertHit:
    """One read that hit an alert, with the place its camera had when it was seen."""

    read_id: uuid.UUID
    camera_id: str
    captured_at: datetime
    match_kind: str
    zone: str
    province: str
    late: bool = False
    age_s: float | None = None


@dataclass(frozen=True)
class Alert:
    alert_id: int
    opened_at: datetime
    last_hit_at: datetime
    status: AlertStatus
    read_id: uuid.UUID  # the first read that rang it
    camera_id: str
    zone: str
    province: str
    plate: str
    country: str | None
    list_id: str
    entry_id: str
    category: str
    priority: int
    match_kind: str
    distance: int
    covert: bool
    owner_org: str
    hit_count: int
    entry: dict[str, Any]  # the entry as it was when the alert rang (instructions, source)
    decision: str | None = None
    reason: str | None = None
    outcome: str | None = None
    closed_at: datetime | None = None
    late: bool = False  # the read that rang it was late (see AlertTiming)
    age_s: float | None = None  # that read's age when it was matched

    def acknowledge(self) -> Alert:
        if self.status is not AlertStatus.OPEN:
            raise WorkflowError(f"only an open alert can be acknowledged (it is {self.status})")
        return replace(self, status=AlertStatus.ACKNOWLEDGED)

    def confirm(self) -> Alert:
        if self.status not in (AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED):
            raise WorkflowError(f"cannot confirm an alert that is {self.status}")
        return replace(self, status=AlertStatus.CONFIRMED, decision="confirmed")

    def reject(self, reason: RejectReason, at: datetime) -> Alert:
        if self.status not in (AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED):
            raise WorkflowError(f"cannot reject an alert that is {self.status}")
        return replace(
            self,
            status=AlertStatus.REJECTED,
            decision="rejected",
            reason=reason.value,
            closed_at=at,
        )

    def record_outcome(self, outcome: Outcome, at: datetime) -> Alert:
        if self.status is not AlertStatus.CONFIRMED:
            raise WorkflowError("record the outcome of a confirmed alert (confirm it first)")
        return replace(self, status=AlertStatus.CLOSED, outcome=outcome.value, closed_at=at)

    def repeat(self, at: datetime) -> Alert:
        return replace(self, hit_count=self.hit_count + 1, last_hit_at=max(at, self.last_hit_at))


@dataclass(frozen=True)
class AlertStep:
    """One line of an alert's history: a workflow step, who took it and when."""

    at: datetime
    by: str  # the actor's username
    role: str
    action: str  # acknowledge | confirm | reject | outcome
    reason: str | None = None
    outcome: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class AlertCount:
    """How many alerts of one list and zone were opened in a period, by status, outcome
    and rejection reason (a line of the hits report)."""

    list_id: str
    zone: str
    status: str
    outcome: str | None
    reason: str | None
    alerts: int


@dataclass(frozen=True)
class CameraMisreads:
    """Of one camera's alerts in a period: how many were decided, how many were rejected
    as misreads."""

    camera_id: str
    decided: int
    misreads: int

    @property
    def misread_rate(self) -> float | None:
        """Misreads per decided alert (None when nothing was decided)."""
        return round(self.misreads / self.decided, 3) if self.decided else None


@dataclass(frozen=True)
class HitsReport:
    """Hits by list, zone and outcome, and the misreads per camera, over a period."""

    since: datetime
    until: datetime
    by_list_zone_status: tuple[AlertCount, ...]
    misreads_by_camera: tuple[CameraMisreads, ...]
