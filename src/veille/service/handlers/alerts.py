"""Alert handlers: the officer's workflow, what an alert shows, reports and webhooks;
`HotlistHit` goes to the publishers."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from veille.domain.alerts import Alert, HitsReport
from veille.domain.images import sniff_image_type
from veille.domain.webhooks import Webhook
from veille.service import alerts as alert_service
from veille.service.commands import Command, Query
from veille.service.commands import alerts as messages
from veille.service.errors import NotFound
from veille.service.events import HitDecided, HotlistHit
from veille.service.handlers.deps import Dependencies
from veille.service.messagebus import CommandHandler, EventHandler, MessageBus, Raised
from veille.service.ports import ImageStore, UnitOfWork, WebhookTargetCheck
from veille.settings import Settings

_SHA256 = re.compile(r"[0-9a-f]{64}")
REPORT_PERIOD = timedelta(days=30)  # a report's period when it names no start


@dataclass(frozen=True)
class AlertImageFile:
    """An image's bytes and what they are (from their signature, not the camera's word)."""

    data: bytes
    media_type: str


def register(bus: MessageBus, deps: Dependencies) -> None:
    """Register every handler of this area on `bus`, with `deps` bound."""
    uow, read, clock, settings = deps.uow, deps.read_uow, deps.clock, deps.settings
    handlers: list[tuple[type[Command] | type[Query], CommandHandler]] = [
        (messages.DecideHit, partial(decide_hit, uow=uow, clock=clock)),
        (messages.AlertsPage, partial(alerts_page, uow=read)),
        (messages.AlertDetail, partial(alert_detail, uow=read, clock=clock, settings=settings)),
        (
            messages.AlertImage,
            partial(alert_image, uow=uow, clock=clock, settings=settings, images=deps.images),
        ),
        (messages.LiveStreamAccess, partial(live_stream_access, uow=read, clock=clock)),
        (messages.HitsReport, partial(hits_report, uow=read, clock=clock)),
        (
            messages.CreateWebhook,
            partial(create_webhook, uow=uow, clock=clock, check=deps.webhook_check),
        ),
        (messages.DisableWebhook, partial(disable_webhook, uow=uow, clock=clock)),
        (messages.Webhooks, partial(webhooks, uow=read)),
        (messages.WebhookTargets, partial(webhook_targets, uow=read)),
        (messages.WebhookDeliveries, partial(webhook_deliveries, uow=read)),
        (messages.RecordDelivery, partial(record_delivery, uow=uow)),
    ]
    for message, handler in handlers:
        bus.register(message, handler)


Uow = Callable[[], UnitOfWork]
Clock = Callable[[], datetime]


def decide_hit(cmd: messages.DecideHit, raised: Raised, *, uow: Uow, clock: Clock) -> Alert:
    """One workflow step on an alert the caller may see, audited in its transaction."""
    alert = alert_service.decide(
        uow=uow(),
        alert_id=cmd.alert_id,
        principal=cmd.principal,
        actor=cmd.actor,
        action=cmd.action,
        now=clock(),
        reason=cmd.reason,
        outcome=cmd.outcome,
        note=cmd.note,
    )
    raised.append(HitDecided(cmd.action, alert))
    return alert


def alerts_page(query: messages.AlertsPage, raised: Raised, *, uow: Uow) -> alert_service.AlertPage:
    return alert_service.alerts_page(
        uow=uow(),
        principal=query.principal,
        statuses=query.statuses,
        before=query.before,
        limit=query.limit,
    )


def alert_detail(
    query: messages.AlertDetail,
    raised: Raised,
    *,
    uow: Uow,
    clock: Clock,
    settings: Callable[[], Settings],
) -> alert_service.AlertEvidence:
    """Reads and images older than the open window are left out (a search shows them)."""
    return alert_service.alert_detail(
        uow=uow(),
        alert_id=query.alert_id,
        principal=query.principal,
        now=clock(),
        open_window=settings().alert_timing().open_window,
    )


def alert_image(
    query: messages.AlertImage,
    raised: Raised,
    *,
    uow: Uow,
    clock: Clock,
    settings: Callable[[], Settings],
    images: Callable[[], ImageStore],
) -> AlertImageFile:
    """The view is audited (committed) before the bytes are read and answered."""
    if not _SHA256.fullmatch(query.sha256):
        raise NotFound("no such image")
    at = alert_service.open_image(
        uow=uow(),
        alert_id=query.alert_id,
        sha256=query.sha256,
        principal=query.principal,
        actor=query.actor,
        now=clock(),
        open_window=settings().alert_timing().open_window,
    )
    data = images().get(query.sha256, at)
    if data is None:
        raise NotFound("image file missing")
    return AlertImageFile(data, sniff_image_type(data))


def live_stream_access(
    query: messages.LiveStreamAccess, raised: Raised, *, uow: Uow, clock: Clock
) -> alert_service.StreamAccess:
    return alert_service.stream_access(
        uow=uow(), credential=query.credential, opened_as=query.opened_as, now=clock()
    )


def hits_report(
    query: messages.HitsReport, raised: Raised, *, uow: Uow, clock: Clock
) -> HitsReport:
    until = query.until or clock()
    return alert_service.hits_report(
        uow=uow(),
        since=query.since or until - REPORT_PERIOD,
        until=until,
        scope=query.scope,
        viewer_org=query.viewer_org,
    )


def create_webhook(
    cmd: messages.CreateWebhook,
    raised: Raised,
    *,
    uow: Uow,
    clock: Clock,
    check: Callable[[], WebhookTargetCheck | None],
) -> Webhook:
    return alert_service.create_webhook(
        uow=uow(),
        name=cmd.name,
        url=cmd.url,
        scope=cmd.scope,
        actor=cmd.actor,
        now=clock(),
        check=check(),
    )


def disable_webhook(
    cmd: messages.DisableWebhook, raised: Raised, *, uow: Uow, clock: Clock
) -> None:
    alert_service.disable_webhook(
        uow=uow(), webhook_id=cmd.webhook_id, actor=cmd.actor, now=clock()
    )


def webhooks(query: messages.Webhooks, raised: Raised, *, uow: Uow) -> list[Webhook]:
    return alert_service.webhooks(uow=uow())


def webhook_targets(query: messages.WebhookTargets, raised: Raised, *, uow: Uow) -> list[Webhook]:
    return alert_service.webhook_targets(uow=uow(), alert=query.alert)


def webhook_deliveries(
    query: messages.WebhookDeliveries, raised: Raised, *, uow: Uow
) -> alert_service.DeliveryPage:
    return alert_service.deliveries_page(
        uow=uow(), status=query.status, before=query.before, limit=query.limit
    )


def record_delivery(cmd: messages.RecordDelivery, raised: Raised, *, uow: Uow) -> None:
    alert_service.record_delivery(
        uow=uow(),
        webhook_id=cmd.webhook_id,
        alert_id=cmd.alert_id,
        event=cmd.event,
        attempts=cmd.attempts,
        status=cmd.status,
        http_status=cmd.http_status,
        error=cmd.error,
        now=cmd.now,
    )


def publisher(publish: Callable[[list[Any]], None]) -> EventHandler:
    """A `HotlistHit` handler that hands the hit to a channel taking lists of events (the
    live channel, webhooks, MQTT)."""

    def handle(event: HotlistHit, raised: Raised) -> None:
        publish([event])

    return handle
