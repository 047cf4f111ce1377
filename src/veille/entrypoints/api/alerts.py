"""Alert routes: the live channel (SSE), the alert list, evidence, the officer's decisions."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

import orjson
from fastapi import APIRouter, Depends, Header, Query, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response, StreamingResponse

from veille.adapters.live import Closed, Gap, LiveEvent, Recheck
from veille.domain.access import Permission, Principal, Scope, ScopeKind
from veille.domain.alerts import Outcome, RejectReason
from veille.entrypoints.api.params import RowId
from veille.entrypoints.api.schemas.alerts import (
    AlertDetailRead,
    AlertPage,
    AlertRead,
    DeliveryPage,
    HitsReport,
    WebhookCreated,
    WebhookDisabled,
    WebhookList,
    delivery_json,
    detail_json,
    report_json,
    webhook_json,
)
from veille.entrypoints.api.schemas.common import Cursor, decode_cursor, encode_cursor, errors
from veille.entrypoints.api.security import (
    SESSION_COOKIE,
    actor_of,
    bearer_token,
    json_response,
    platform_of,
    requires,
)
from veille.service import alerts as alert_service
from veille.service import users as user_service
from veille.service.commands import alerts as messages

router = APIRouter(prefix="/api/v1", tags=["alerts"])
VIEW = requires(Permission.ALERTS_VIEW)
DECIDE = requires(Permission.ALERTS_DECIDE)
MANAGE = requires(Permission.INTEGRATIONS_MANAGE)


class RejectIn(BaseModel):
    reason: RejectReason
    note: str | None = Field(None, max_length=2000)


class OutcomeIn(BaseModel):
    outcome: Outcome
    note: str | None = Field(None, max_length=2000)


class NoteIn(BaseModel):
    note: str | None = Field(None, max_length=2000)


class WebhookIn(BaseModel):
    name: str = Field(min_length=2, max_length=100)
    url: str = Field(pattern=r"^https?://", max_length=2000)
    scope_kind: ScopeKind = ScopeKind.NATIONAL
    scope_value: str | None = None


@router.get(
    "/alerts/stream",
    summary="Live alerts (server-sent events)",
    responses={
        200: {
            "content": {
                "text/event-stream": {
                    "schema": {
                        "type": "string",
                        "description": "`event: alert` lines, each `data:` an AlertRead",
                    }
                }
            },
            "description": "Server-sent events",
        }
    },
)
async def stream(
    request: Request,
    principal: Principal = Depends(VIEW),
    last_event_id: str | None = Header(
        None,
        alias="Last-Event-ID",
        description="Resume after this event: the buffered events after it are sent first.",
    ),
) -> StreamingResponse:
    """Each `event: alert` is one JSON document, with an `id:` to resume from: the alert
    (new, or a repeat hit added to an open alert), the read with links to its images, and
    the entry's details and instructions. Only alerts of cameras in the caller's scope;
    covert ones only for their owners. `event: gap` means alerts were missed (reload
    `GET /api/v1/alerts`); `event: closed` ends the stream with its reason."""
    platform = platform_of(request)
    bus = platform.alert_bus
    period = platform.settings.alert_stream_check_s
    credential = bearer_token(request) or request.cookies.get(SESSION_COOKIE) or ""
    sub, replay = bus.subscribe(
        lambda alert: alert_service.visible_to(alert, principal),
        user_id=principal.user_id,
        credential=user_service.hash_token(credential),
        last_event_id=last_event_id,
    )

    training_expires = principal.training_expires  # as of the last check

    def refusal() -> str | None:
        """Why the stream may no longer run, if it may not (see `stream_access`)."""
        nonlocal training_expires
        access: alert_service.StreamAccess = platform.bus.handle(
            messages.LiveStreamAccess(credential=credential, opened_as=principal)
        )
        if access.refusal is None:  # an extended training moves the check
            training_expires = access.training_expires
        return access.refusal

    def next_check_in() -> float:
        """Seconds to the next access check: the period, or sooner if training ends."""
        if training_expires is None:
            return period
        left = (training_expires - platform.clock()).total_seconds()
        return max(min(period, left), 0.01)

    async def events() -> AsyncIterator[bytes]:
        sent = 0  # the newest seq sent: live events already replayed are not sent twice
        try:
            yield b": connected\n\n"
            if isinstance(replay, Gap):
                yield _gap(replay)
            else:
                for event in replay:
                    sent = event.seq
                    yield _alert(bus.event_id(event.seq), event.payload)
            deadline = time.monotonic() + next_check_in()
            idle_since = time.monotonic()
            while True:
                # one timer, whatever the traffic: events never push the check back
                item = await sub.next(min(deadline, idle_since + period) - time.monotonic())
                if isinstance(item, Closed):
                    yield _closed(item.reason)
                    return
                if isinstance(item, Recheck) or time.monotonic() >= deadline:
                    if await request.is_disconnected():
                        return
                    why = await run_in_threadpool(refusal)
                    if why is not None:
                        yield _closed(why)
                        return
                    deadline = time.monotonic() + next_check_in()
                if isinstance(item, LiveEvent) and item.seq > sent:
                    sent = item.seq
                    idle_since = time.monotonic()
                    yield _alert(bus.event_id(item.seq), item.payload)
                elif isinstance(item, Gap):
                    idle_since = time.monotonic()
                    yield _gap(item, bus.event_id)
                elif time.monotonic() >= idle_since + period:
                    idle_since = time.monotonic()
                    yield b": heartbeat\n\n"
        finally:
            bus.unsubscribe(sub)

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


def _alert(event_id: str, payload: bytes) -> bytes:
    return b"id: " + event_id.encode() + b"\nevent: alert\ndata: " + payload + b"\n\n"


def _closed(reason: str) -> bytes:
    return b"event: closed\ndata: " + orjson.dumps({"reason": reason}) + b"\n\n"


def _gap(gap: Gap, event_id: Callable[[int], str] | None = None) -> bytes:
    """No `id:` line: the console's Last-Event-ID stays at the last alert it received."""
    body: dict[str, object] = {"reason": gap.reason, "reload": "/api/v1/alerts"}
    if event_id is not None and gap.first is not None and gap.last is not None:
        body |= {"first_missed": event_id(gap.first), "last_missed": event_id(gap.last)}
    return b"event: gap\ndata: " + orjson.dumps(body) + b"\n\n"


@router.get(
    "/alerts", summary="Alerts I may see, newest first", responses={200: {"model": AlertPage}}
)
def list_alerts(
    request: Request,
    status: str = Query("open,acknowledged,confirmed", description="Comma-separated statuses."),
    limit: int = Query(100, ge=1, le=1000),
    cursor: Cursor = None,
    principal: Principal = Depends(VIEW),
) -> Response:
    """A page of `limit` alerts (`next_cursor` for older ones); a page can hold fewer
    when some are not for the caller's eyes."""
    page: alert_service.AlertPage = platform_of(request).bus.handle(
        messages.AlertsPage(
            principal=principal,
            statuses=tuple(s for s in status.split(",") if s) or None,
            before=decode_cursor(cursor, int),
            limit=limit,
        )
    )
    return json_response(
        {
            "alerts": [alert_service.alert_json(a) for a in page.alerts],
            "next_cursor": _cursor(page.next_before),
        }
    )


def _cursor(key: int | None) -> str | None:
    return None if key is None else encode_cursor(key)


@router.get(
    "/alerts/{alert_id}",
    summary="One alert with its reads, evidence and history",
    responses={200: {"model": AlertDetailRead}, **errors(404)},
)
def show_alert(alert_id: RowId, request: Request, principal: Principal = Depends(VIEW)) -> Response:
    """Reads and images older than the open window are left out (search for them)."""
    evidence = platform_of(request).bus.handle(
        messages.AlertDetail(alert_id=alert_id, principal=principal)
    )
    return json_response(detail_json(evidence))


@router.get(
    "/alerts/{alert_id}/images/{sha256}",
    summary="An image of an alert's read",
    responses={
        200: {
            "content": {"image/jpeg": {}, "image/png": {}, "image/webp": {}},
            "description": "The image bytes (audited), labelled by what they are",
        },
        **errors(404),
    },
)
def alert_image(
    alert_id: RowId, sha256: str, request: Request, principal: Principal = Depends(VIEW)
) -> Response:
    """Only images of the alert's reads in the caller's scope and inside the open window;
    every view is audited."""
    image = platform_of(request).bus.handle(
        messages.AlertImage(
            alert_id=alert_id,
            sha256=sha256,
            principal=principal,
            actor=actor_of(request, principal),
        )
    )
    return Response(
        image.data,
        media_type=image.media_type,  # what the bytes are, not always JPEG
        headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
    )


def _decide(
    request: Request,
    principal: Principal,
    alert_id: int,
    action: str,
    *,
    reason: RejectReason | None = None,
    outcome: Outcome | None = None,
    note: str | None = None,
) -> dict[str, Any]:
    alert = platform_of(request).bus.handle(
        messages.DecideHit(
            alert_id=alert_id,
            action=action,
            principal=principal,
            actor=actor_of(request, principal),
            reason=reason,
            outcome=outcome,
            note=note,
        )
    )
    return alert_service.alert_json(alert)


@router.post(
    "/alerts/{alert_id}/acknowledge",
    summary="Take the alert",
    response_model=AlertRead,
    responses=errors(404, 409),
)
def acknowledge(
    alert_id: RowId, body: NoteIn, request: Request, principal: Principal = Depends(DECIDE)
) -> dict[str, Any]:
    return _decide(request, principal, alert_id, "acknowledge", note=body.note)


@router.post(
    "/alerts/{alert_id}/confirm",
    summary="Confirm: the image matches the entry",
    response_model=AlertRead,
    responses=errors(404, 409),
)
def confirm(
    alert_id: RowId, body: NoteIn, request: Request, principal: Principal = Depends(DECIDE)
) -> dict[str, Any]:
    return _decide(request, principal, alert_id, "confirm", note=body.note)


@router.post(
    "/alerts/{alert_id}/reject",
    summary="Reject: misread, wrong country …",
    response_model=AlertRead,
    responses=errors(404, 409),
)
def reject(
    alert_id: RowId, body: RejectIn, request: Request, principal: Principal = Depends(DECIDE)
) -> dict[str, Any]:
    return _decide(request, principal, alert_id, "reject", reason=body.reason, note=body.note)


@router.post(
    "/alerts/{alert_id}/outcome",
    summary="Record what happened",
    response_model=AlertRead,
    responses=errors(404, 409),
)
def outcome(
    alert_id: RowId, body: OutcomeIn, request: Request, principal: Principal = Depends(DECIDE)
) -> dict[str, Any]:
    return _decide(request, principal, alert_id, "outcome", outcome=body.outcome, note=body.note)


@router.get(
    "/alert-reports",
    summary="Hits by list, zone and outcome; misreads per camera",
    response_model=HitsReport,
)
def reports(
    request: Request,
    since: datetime | None = None,
    until: datetime | None = None,
    principal: Principal = Depends(requires(Permission.INGEST_MONITOR)),
) -> dict[str, Any]:
    """Only alerts of cameras in the caller's scope; a covert list appears only to members
    of the organisation that owns it. The period defaults to the last 30 days."""
    report = platform_of(request).bus.handle(
        messages.HitsReport(
            scope=principal.scope, viewer_org=principal.org_id, since=since, until=until
        )
    )
    return report_json(report)


@router.get("/webhooks", summary="Webhooks to outside dispatch systems", response_model=WebhookList)
def list_webhooks(request: Request, principal: Principal = Depends(MANAGE)) -> dict[str, Any]:
    hooks = platform_of(request).bus.handle(messages.Webhooks())
    return {"webhooks": [webhook_json(h) for h in hooks]}


@router.post(
    "/webhooks",
    summary="Register a webhook (its signing secret is shown once)",
    response_model=WebhookCreated,
    status_code=201,
    responses=errors(422),
)
def add_webhook(
    body: WebhookIn, request: Request, principal: Principal = Depends(MANAGE)
) -> dict[str, Any]:
    """Loopback, private, link-local and other internal targets (or names resolving to
    one) are refused unless `VEILLE_WEBHOOK_ALLOWED_TARGETS` names them; every delivery
    checks again."""
    webhook = platform_of(request).bus.handle(  # resolves the name: this runs in a thread
        messages.CreateWebhook(
            name=body.name,
            url=body.url,
            scope=Scope(body.scope_kind, body.scope_value),
            actor=actor_of(request, principal),
        )
    )
    return {"webhook_id": webhook.webhook_id, "secret": webhook.secret}


@router.post(
    "/webhooks/{webhook_id}/disable",
    summary="Stop delivering to a webhook",
    response_model=WebhookDisabled,
    responses=errors(404),
)
def disable_webhook(
    webhook_id: RowId, request: Request, principal: Principal = Depends(MANAGE)
) -> dict[str, Any]:
    platform_of(request).bus.handle(
        messages.DisableWebhook(webhook_id=webhook_id, actor=actor_of(request, principal))
    )
    return {"disabled": webhook_id}


@router.get(
    "/webhooks/deliveries",
    summary="Webhook delivery log (failures first)",
    response_model=DeliveryPage,
)
def deliveries(
    request: Request,
    status: str | None = Query(None, pattern="^(delivered|failed)$"),
    limit: int = Query(200, ge=1, le=1000),
    cursor: Cursor = None,
    principal: Principal = Depends(MANAGE),
) -> Response:
    """Newest first, `limit` a page (`next_cursor` for older ones)."""
    page = platform_of(request).bus.handle(
        messages.WebhookDeliveries(status=status, before=decode_cursor(cursor, int), limit=limit)
    )
    return json_response(
        {
            "deliveries": [delivery_json(d) for d in page.deliveries],
            "next_cursor": _cursor(page.next_before),
        }
    )
