"""Alerts: hits become alerts in the ingest transaction; officers work them through."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from veille.domain.access import Permission, Principal, Scope, ScopeKind
from veille.domain.access import decide as decide_access
from veille.domain.alerts import (
    Alert,
    AlertHit,
    AlertStatus,
    AlertStep,
    AlertTiming,
    HitsReport,
    Lateness,
    Outcome,
    RejectReason,
    WorkflowError,
)
from veille.domain.audit import Actor, AuditEntry
from veille.domain.cameras import Camera
from veille.domain.errors import Problem
from veille.domain.hotlists import Hit
from veille.domain.reads import Read
from veille.domain.times import iso, iso_or_none
from veille.domain.webhooks import TargetRefused, Webhook, WebhookDelivery
from veille.service import users as user_service
from veille.service.errors import Invalid, NotFound
from veille.service.events import HotlistHit
from veille.service.ports import ImageLocation, UnitOfWork

Matcher = Callable[..., list[Hit]]


# What record_hits raises: the event the live channel and outside systems get after commit.
AlertEvent = HotlistHit


class AlertNotFound(NotFound, LookupError):
    def __init__(self, alert_id: object):
        super().__init__(f"no alert {alert_id}")


class ImageNotFound(NotFound, LookupError):
    def __init__(self, sha256: object):
        super().__init__("no such image for this alert")


class WebhookNotFound(NotFound, LookupError):
    def __init__(self, webhook_id: object):
        super().__init__(f"no webhook {webhook_id}")


@dataclass(frozen=True)
class AlertPage:
    """A page of alerts, newest first; `next_before` continues below it (None: the end)."""

    alerts: list[Alert]
    next_before: int | None


@dataclass(frozen=True)
class AlertEvidence:
    """An alert with what its viewer may be shown now: the first read (when inside the
    window and their scope), the hits, how many hits are older than the window, and the
    alert's history."""

    alert: Alert
    read: Read | None
    hits: list[AlertHit]
    hits_outside_window: int
    history: list[AlertStep]


@dataclass(frozen=True)
class DeliveryPage:
    """A page of the webhook delivery log, newest first; `next_before` continues below it."""

    deliveries: list[WebhookDelivery]
    next_before: int | None


@dataclass(frozen=True)
class StreamAccess:
    """Whether a live stream may go on (`refusal` None) and when its viewer's training
    ends, which moves the next check forward."""

    refusal: str | None
    training_expires: datetime | None = None


def visible_to(alert: Alert, principal: Principal) -> bool:
    """Operators see the alerts of cameras in their scope; covert ones only if they own it.

    Every hit of an alert lies in the alert's zone and province (hits are grouped per
    zone), so whoever may see the alert may see each of its reads.
    """
    if alert.covert and principal.org_id != alert.owner_org:
        return False
    return principal.scope.covers(zone=alert.zone, province=alert.province)


def hit_visible_to(hit: AlertHit, principal: Principal) -> bool:
    """A second check per read: hits stored before grouping was per zone may lie elsewhere."""
    return principal.scope.covers(zone=hit.zone, province=hit.province)


def _scope_filter(scope: Scope) -> dict[str, str] | None:
    """The scope as repository filters (no filter: national); None when it covers no camera."""
    if scope.kind is ScopeKind.NATIONAL:
        return {}
    if scope.kind is ScopeKind.ZONE and scope.value:
        return {"zone": scope.value}
    if scope.kind is ScopeKind.PROVINCE and scope.value:
        return {"province": scope.value}
    return None


def record_hits(
    *,
    uow: UnitOfWork,
    reads: Sequence[Read],
    match: Matcher,
    cameras: Callable[[str], Camera | None],
    now: datetime,
    timing: AlertTiming,
) -> list[AlertEvent]:
    """Match fresh reads and turn hits into alerts, inside the caller's transaction.

    A repeat hit of the same plate and entry in the same police zone, while its alert is
    still open, joins that alert (its count grows) instead of ringing a new one. Grouping
    never crosses zones: each zone's operators get their own alert, and an alert never
    carries a read that one of its viewers may not see. Reads older than the open window
    are stored but never ring; late ones ring marked as late.
    """
    events: list[AlertEvent] = []
    oldest = timing.oldest_that_rings(now)  # `timing.may_ring`, worked out once
    for read in reads:
        # most reads hit nothing: the age test and the match come before any allocation
        if read.captured_at < oldest:
            continue
        # validity is judged when the alert would ring: an entry expired since the capture
        # must not send officers after a vehicle that is no longer wanted
        hits = match(
            plate=read.plate,
            plate_canonical=read.plate_canonical,
            country=read.country,
            now=now,
        )
        if not hits:
            continue
        lateness = timing.judge(captured_at=read.captured_at, now=now)
        assert lateness is not None  # may_ring said so
        camera = cameras(read.camera_id)
        # a camera unknown here is seen by national scopes only
        zone = camera.zone if camera else "unknown"
        province = camera.province if camera else "unknown"
        for hit in hits:
            existing = uow.alerts.open_for(
                hit.entry.entry_id, read.plate, zone=zone, province=province
            )
            if existing is not None:
                alert = existing.repeat(read.captured_at)
                uow.alerts.update(alert)
                kind = "repeat"
            else:
                alert = new_alert(read, hit, camera, now, lateness)
                alert = replace(alert, alert_id=uow.alerts.add(alert))
                kind = "new"
            uow.alerts.add_hit(
                alert.alert_id,
                AlertHit(
                    read_id=read.read_id,
                    camera_id=read.camera_id,
                    captured_at=read.captured_at,
                    match_kind=hit.kind.value,
                    zone=zone,
                    province=province,
                    late=lateness.late,
                    age_s=lateness.age_s,
                ),
            )
            events.append(AlertEvent(kind, alert, read, lateness))
    return events


def new_alert(
    read: Read, hit: Hit, camera: Camera | None, now: datetime, lateness: Lateness | None = None
) -> Alert:
    e = hit.entry
    return Alert(
        alert_id=0,
        opened_at=now,
        last_hit_at=read.captured_at,
        status=AlertStatus.OPEN,
        read_id=read.read_id,
        camera_id=read.camera_id,
        zone=camera.zone if camera else "unknown",
        province=camera.province if camera else "unknown",
        plate=read.plate,
        country=read.country,
        list_id=hit.list.list_id,
        entry_id=e.entry_id,
        category=hit.list.category.value,
        priority=e.priority,
        match_kind=hit.kind.value,
        distance=hit.distance,
        covert=e.covert,
        owner_org=hit.list.owner_org,
        hit_count=1,
        entry={
            "plate": e.plate,
            "country": e.country,
            "list_name": hit.list.name,
            "source_ref": e.source_ref,
            "instructions": e.instructions,
            "valid_until": iso_or_none(e.valid_until),
        },
        late=lateness.late if lateness else False,
        age_s=lateness.age_s if lateness else None,
    )


def _load_visible(uow: UnitOfWork, alert_id: int, principal: Principal) -> Alert:
    alert = uow.alerts.get(alert_id)
    if alert is None or not visible_to(alert, principal):
        raise AlertNotFound(alert_id)  # an alert one may not see does not exist for them
    return alert


def decide(
    *,
    uow: UnitOfWork,
    alert_id: int,
    principal: Principal,
    actor: Actor,
    action: str,
    now: datetime,
    reason: RejectReason | None = None,
    outcome: Outcome | None = None,
    note: str | None = None,
) -> Alert:
    """One workflow step (acknowledge, confirm, reject, outcome), stored with who and when
    and audited in the same transaction."""
    with uow:
        alert = _load_visible(uow, alert_id, principal)
        if action == "acknowledge":
            changed = alert.acknowledge()
        elif action == "confirm":
            changed = alert.confirm()
        elif action == "reject":
            if reason is None:
                raise WorkflowError("a rejection needs a reason")
            changed = alert.reject(reason, now)
        elif action == "outcome":
            if outcome is None:
                raise WorkflowError("an outcome is required")
            changed = alert.record_outcome(outcome, now)
        else:
            raise WorkflowError(f"unknown action {action}")
        uow.alerts.update(changed)
        uow.alerts.add_event(
            alert_id,
            at=now,
            actor=actor,
            action=action,
            reason=reason.value if reason else None,
            outcome=outcome.value if outcome else None,
            note=note,
        )
        uow.audit.append(
            AuditEntry(
                at=now,
                actor=actor,
                action=f"alert.{action}",
                target=str(alert_id),
                params={
                    "plate": alert.plate,
                    "list_id": alert.list_id,
                    "reason": reason.value if reason else None,
                    "outcome": outcome.value if outcome else None,
                    "note": note,
                },
            )
        )
        uow.commit()
    return changed


def alerts_for(
    *, uow: UnitOfWork, principal: Principal, statuses: tuple[str, ...] | None, limit: int = 200
) -> list[Alert]:
    """The newest alerts the principal may see; the scope is applied by the query, so
    other zones' alerts never crowd theirs out of the page."""
    where = _scope_filter(principal.scope)
    if where is None:
        return []
    with uow:
        found = uow.alerts.find(
            statuses=statuses,
            limit=limit,
            viewer_org=principal.org_id,
            zone=where.get("zone"),
            province=where.get("province"),
        )
    return [a for a in found if visible_to(a, principal)]


def alerts_page(
    *,
    uow: UnitOfWork,
    principal: Principal,
    statuses: tuple[str, ...] | None,
    before: int | None,
    limit: int,
) -> AlertPage:
    """A page of the newest alerts the principal may see, below alert id `before`, and
    the id to continue below (None at the end). The query fetches `limit + 1` rows; the
    key comes from the rows fetched, so a covert alert left out never ends paging."""
    where = _scope_filter(principal.scope)
    if where is None:
        return AlertPage([], None)
    with uow:
        found = uow.alerts.page(
            statuses=statuses, before=before, limit=limit + 1, viewer_org=principal.org_id, **where
        )
    rows: list[Alert] = found[:limit]
    last = rows[-1].alert_id if len(found) > limit else None
    return AlertPage([a for a in rows if visible_to(a, principal)], last)


def _evidence(
    uow: UnitOfWork, alert_id: int, principal: Principal, *, now: datetime, open_window: timedelta
) -> tuple[list[AlertHit], int]:
    """The alert's hits the principal may be shown, and how many are older than the window.

    An alert is no way around the query service: once a read is older than the open
    window, it (and its images) is shown only through a search, with an authorization.
    """
    hits = [h for h in uow.alerts.hits(alert_id) if hit_visible_to(h, principal)]
    fresh = [h for h in hits if now - h.captured_at <= open_window]
    return fresh, len(hits) - len(fresh)


def alert_detail(
    *,
    uow: UnitOfWork,
    alert_id: int,
    principal: Principal,
    now: datetime,
    open_window: timedelta,
) -> AlertEvidence:
    """The alert with the reads, images and history its viewer may be shown now."""
    with uow:
        alert = _load_visible(uow, alert_id, principal)
        hits, outside = _evidence(uow, alert_id, principal, now=now, open_window=open_window)
        history = uow.alerts.events(alert_id)
        first = None
        if any(h.read_id == alert.read_id for h in hits):
            first = uow.reads.get(alert.read_id)
    return AlertEvidence(alert, first, hits, outside, history)


def open_image(
    *,
    uow: UnitOfWork,
    alert_id: int,
    sha256: str,
    principal: Principal,
    actor: Actor,
    now: datetime,
    open_window: timedelta,
) -> ImageLocation | None:
    """Allow one view of an image of an alert's read, and audit it before it is served;
    answers where its bytes are (None: a single file).

    Only images of the alert's reads that lie in the principal's scope and inside the
    open window qualify.
    """
    with uow:
        _load_visible(uow, alert_id, principal)
        hits, _ = _evidence(uow, alert_id, principal, now=now, open_window=open_window)
        read_ids = [h.read_id for h in hits]
        locations = uow.reads.image_locations(read_ids)
        if sha256 not in locations:
            raise ImageNotFound(sha256)
        uow.audit.append(
            AuditEntry(
                at=now,
                actor=actor,
                action="alert.image_view",
                target=str(alert_id),
                params={"sha256": sha256},
            )
        )
        uow.commit()
    return locations[sha256]


def alert_json(alert: Alert, read: Read | None = None) -> dict[str, Any]:
    """An alert as the live channel, webhooks and MQTT carry it."""
    out: dict[str, Any] = {
        "alert_id": alert.alert_id,
        "status": alert.status.value,
        "opened_at": iso(alert.opened_at),
        "last_hit_at": iso(alert.last_hit_at),
        "hit_count": alert.hit_count,
        "plate": alert.plate,
        "country": alert.country,
        "camera_id": alert.camera_id,
        "zone": alert.zone,
        "province": alert.province,
        "list_id": alert.list_id,
        "category": alert.category,
        "priority": alert.priority,
        "match": {"kind": alert.match_kind, "distance": alert.distance},
        "entry": alert.entry,
        "covert": alert.covert,
        "late": alert.late,
        "age_s": alert.age_s,
        "decision": alert.decision,
        "reason": alert.reason,
        "outcome": alert.outcome,
    }
    if read is not None:
        out["read"] = {
            "read_id": str(read.read_id),
            "camera_id": read.camera_id,
            "captured_at": iso(read.captured_at),
            "received_at": iso(read.received_at),
            "plate_raw": read.plate_raw,
            "confidence": read.confidence,
            "direction": read.direction,
            "vehicle": {
                "make": read.vehicle_make,
                "colour": read.vehicle_colour,
                "type": read.vehicle_type,
            },
            "images": [
                {
                    "kind": i.kind,
                    "content_type": i.content_type,
                    "sha256": i.sha256,
                    "uri": i.uri,
                    "href": f"/api/v1/alerts/{alert.alert_id}/images/{i.sha256}"
                    if i.sha256
                    else None,
                }
                for i in read.images
            ],
        }
    return out


def event_json(event: AlertEvent) -> dict[str, Any]:
    """An alert event as the live channel, webhooks and MQTT carry it; `late` and `age_s`
    describe this event's read (a repeat may be late when the first hit was not)."""
    out = alert_json(event.alert, event.read)
    if event.lateness is not None:
        out["late"], out["age_s"] = event.lateness.late, event.lateness.age_s
    return out


def webhook_targets(*, uow: UnitOfWork, alert: Alert) -> list[Webhook]:
    """Active webhooks whose scope covers the alert's camera; never for covert hits."""
    if alert.covert:
        return []
    with uow:
        hooks = uow.alerts.webhooks()
    return [h for h in hooks if h.receives(alert)]


def webhooks(*, uow: UnitOfWork) -> list[Webhook]:
    with uow:
        return uow.alerts.webhooks()


def create_webhook(
    *,
    uow: UnitOfWork,
    name: str,
    url: str,
    scope: Scope,
    actor: Actor,
    now: datetime,
    check: Callable[[str], object] | None,
) -> Webhook:
    """Register a webhook with a fresh signing secret, audited in the same transaction.

    `check` refuses internal targets (`TargetRefused`); it resolves the name, so it runs
    before the write transaction begins.
    """
    if check is not None:
        try:
            check(url)
        except TargetRefused as refused:
            raise Invalid(
                str(refused),
                problems=[Problem("body.url", str(refused))],
                code="webhook_target_refused",
            ) from None
    secret = secrets.token_urlsafe(32)
    with uow:
        webhook_id = uow.alerts.add_webhook(
            name=name,
            url=url,
            secret=secret,
            scope_kind=scope.kind.value,
            scope_value=scope.value,
            now=now,
        )
        uow.audit.append(
            AuditEntry(
                at=now,
                actor=actor,
                action="webhook.add",
                target=str(webhook_id),
                params={"name": name, "url": url, "scope": scope.kind.value},
            )
        )
        uow.commit()
    return Webhook(webhook_id, name, url, secret, scope, active=True, created_at=now)


def disable_webhook(*, uow: UnitOfWork, webhook_id: int, actor: Actor, now: datetime) -> None:
    """Stop delivering to a webhook, audited in the same transaction."""
    with uow:
        if not uow.alerts.set_webhook_active(webhook_id, False):
            raise WebhookNotFound(webhook_id)
        uow.audit.append(
            AuditEntry(at=now, actor=actor, action="webhook.disable", target=str(webhook_id))
        )
        uow.commit()


def deliveries_page(
    *, uow: UnitOfWork, status: str | None, before: int | None, limit: int
) -> DeliveryPage:
    """A page of the delivery log, newest first, below delivery id `before`."""
    with uow:
        found = uow.alerts.deliveries_page(status=status, before=before, limit=limit + 1)
    rows = found[:limit]
    return DeliveryPage(rows, rows[-1].delivery_id if len(found) > limit else None)


def record_delivery(*, uow: UnitOfWork, **fields: Any) -> None:
    """Keep the final result of one webhook delivery in the delivery log."""
    with uow:
        uow.alerts.record_delivery(**fields)
        uow.commit()


def hits_report(
    *, uow: UnitOfWork, since: datetime, until: datetime, scope: Scope, viewer_org: str | None
) -> HitsReport:
    """Hits by list, zone and outcome; the misreads per camera.

    Only alerts of cameras in `scope`; covert alerts only of `viewer_org`'s own lists
    (None: none at all), so a covert list's id, hits and misreads stay with its owners.
    """
    where = _scope_filter(scope)
    if where is None:
        return HitsReport(since, until, (), ())
    with uow:
        counts = uow.alerts.report(since=since, until=until, viewer_org=viewer_org, **where)
        cameras = uow.alerts.misreads_by_camera(
            since=since, until=until, viewer_org=viewer_org, **where
        )
    return HitsReport(since, until, tuple(counts), tuple(cameras))


def stream_access(
    *, uow: UnitOfWork, credential: str, opened_as: Principal, now: datetime
) -> StreamAccess:
    """Whether a live stream opened as `opened_as` may go on. A revoked token, a deleted
    user or an expired training ends it; so does a change of role, organisation or scope,
    since the stream filters by the old one."""
    identity = user_service.identify(uow=uow, token=credential, now=now)
    if identity is None:
        return StreamAccess("signed out, token revoked or expired, or account deleted")
    current = identity.principal
    expires = current.training_expires  # an extended training moves the check
    if (current.role, current.org_id, current.scope) != (
        opened_as.role,
        opened_as.org_id,
        opened_as.scope,
    ):
        return StreamAccess("role, organisation or scope changed: reconnect", expires)
    return StreamAccess(decide_access(current, Permission.ALERTS_VIEW, now), expires)
