"""Answers of the alert and webhook routes."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from veille.entrypoints.api.schemas.common import NEXT_CURSOR_DOC


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


class AlertDetailRead(AlertRead):
    hits: list[HitRead]
    hits_outside_window: int = Field(description="Hits older than the open window.")
    events: list[dict[str, Any]] = Field(description="The alert's history, oldest first.")


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
    active: bool | int


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
