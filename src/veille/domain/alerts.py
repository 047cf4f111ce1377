"""Alerts and the officer's workflow: acknowledge, confirm or reject, record the outcome."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any


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


# Statuses during which a repeat hit of the same plate and entry joins the alert.
STILL_OPEN = frozenset({AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED, AlertStatus.CONFIRMED})


class WorkflowError(ValueError):
    """A step the workflow does not allow from the alert's current status."""


@dataclass(frozen=True)
class Alert:
    alert_id: int
    opened_at: datetime
    last_hit_at: datetime
    status: AlertStatus
    read_id: bytes  # the first read that rang it
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
