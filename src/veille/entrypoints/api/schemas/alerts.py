"""Answers of the alert and webhook routes, and the domain values turned into them."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from veille.domain import alerts as alert_domain
from veille.domain.webhooks import Webhook, WebhookDelivery
from veille.entrypoints.api.schemas.common import NEXT_CURSOR_DOC
from veille.service.alerts import AlertEvidence, alert_json


class MatchRead(BaseModel):
    kind: str
    distance: int | None


class ImageRead(BaseModel):
    kind: str
    content_type: str | None
    sha256: str | None
    uri: str | None
    href: str | None = Field(description="Where to fetch the image (audited).")


class VehicleRead(BaseModel):
    make: str | None
    colour: str | None
    type: str | None


class AlertReadOfRead(BaseModel):
    read_id: str
    camera_id: str
    captured_at: str
    received_at: str
    plate_raw: str | None
    confidence: float | None
    direction: str | None
    vehicle: VehicleRead
    images: list[ImageRead]


class AlertRead(BaseModel):
    alert_id: int
    status: str
    opened_at: str
    last_hit_at: str
    hit_count: int
    plate: str
    country: str | None
    camera_id: str
    zone: str | None
    province: str | None
    list_id: str
    category: str | None
    priority: int | None
    match: MatchRead
    entry: dict[str, Any] | None = Field(description="The entry's details and instructions.")
    covert: bool
    late: bool
    age_s: float | None
    decision: str | None
    reason: str | None
    outcome: str | None
    read: AlertReadOfRead | None = Field(None, description="The first read, when shown.")


class AlertPage(BaseModel):
    alerts: list[AlertRead]
    next_cursor: str | None = Field(None, description=NEXT_CURSOR_DOC)


class HitRead(BaseModel):
    read_id: str
    camera_id: str
    captured_at: str
    match_kind: str
    late: bool
    age_s: float | None


class AlertStepRead(BaseModel):
    at: str
    by: str = Field(description="Who took the step (username).")
    role: str
    action: str
    reason: str | None
    outcome: str | None
    note: str | None


class AlertDetailRead(AlertRead):
    hits: list[HitRead]
    hits_outside_window: int = Field(description="Hits older than the open window.")
    events: list[AlertStepRead] = Field(description="The alert's history, oldest first.")


class ListZoneStatusRow(BaseModel):
    list_id: str
    zone: str | None
    status: str
    outcome: str | None
    reason: str | None
    alerts: int


class CameraMisreadRow(BaseModel):
    camera_id: str
    decided: int
    misreads: int
    misread_rate: float | None


class HitsReport(BaseModel):
    since: str
    until: str
    by_list_zone_status: list[ListZoneStatusRow]
    misread_rate_by_camera: list[CameraMisreadRow]


class WebhookRead(BaseModel):
    webhook_id: int
    name: str
    url: str
    scope_kind: str
    scope_value: str | None
    active: bool


class WebhookList(BaseModel):
    webhooks: list[WebhookRead]


class WebhookCreated(BaseModel):
    webhook_id: int
    secret: str = Field(description="The signing secret, shown once.")


class WebhookDisabled(BaseModel):
    disabled: int


class DeliveryRead(BaseModel):
    delivery_id: int
    webhook_id: int
    alert_id: int
    event: str
    attempts: int
    status: str
    http_status: int | None
    error: str | None
    at: str


class DeliveryPage(BaseModel):
    deliveries: list[DeliveryRead]
    next_cursor: str | None = Field(None, description=NEXT_CURSOR_DOC)


# --- domain values as the routes answer them (and `veille alerts report` prints them) -----


def step_json(step: alert_domain.AlertStep) -> dict[str, Any]:
    return {
        "at": step.at.isoformat(),
        "by": step.by,
        "role": step.role,
        "action": step.action,
        "reason": step.reason,
        "outcome": step.outcome,
        "note": step.note,
    }


def detail_json(evidence: AlertEvidence) -> dict[str, Any]:
    """An `AlertDetailRead`."""
    return {
        **alert_json(evidence.alert, evidence.read),
        "hits": [
            {
                "read_id": str(h.read_id),
                "camera_id": h.camera_id,
                "captured_at": h.captured_at.isoformat(),
                "match_kind": h.match_kind,
                "late": h.late,
                "age_s": h.age_s,
            }
            for h in evidence.hits
        ],
        "hits_outside_window": evidence.hits_outside_window,
        "events": [step_json(s) for s in evidence.history],
    }


def report_json(report: alert_domain.HitsReport) -> dict[str, Any]:
    """A `HitsReport`."""
    return {
        "since": report.since.isoformat(),
        "until": report.until.isoformat(),
        "by_list_zone_status": [
            {
                "list_id": c.list_id,
                "zone": c.zone,
                "status": c.status,
                "outcome": c.outcome,
                "reason": c.reason,
                "alerts": c.alerts,
            }
            for c in report.by_list_zone_status
        ],
        "misread_rate_by_camera": [
            {
                "camera_id": c.camera_id,
                "decided": c.decided,
                "misreads": c.misreads,
                "misread_rate": c.misread_rate,
            }
            for c in report.misreads_by_camera
        ],
    }


def webhook_json(webhook: Webhook) -> dict[str, Any]:
    """A `WebhookRead`: never its secret."""
    return {
        "webhook_id": webhook.webhook_id,
        "name": webhook.name,
        "url": webhook.url,
        "scope_kind": webhook.scope.kind.value,
        "scope_value": webhook.scope.value,
        "active": webhook.active,
    }


def delivery_json(delivery: WebhookDelivery) -> dict[str, Any]:
    """A `DeliveryRead`."""
    return {
        "delivery_id": delivery.delivery_id,
        "webhook_id": delivery.webhook_id,
        "alert_id": delivery.alert_id,
        "event": delivery.event,
        "attempts": delivery.attempts,
        "status": delivery.status,
        "http_status": delivery.http_status,
        "error": delivery.error,
        "at": delivery.at.isoformat(),
    }
