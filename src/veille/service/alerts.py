"""Alerts: hits become alerts in the ingest transaction; officers work them through."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from veille.domain.access import Principal, Scope, ScopeKind
from veille.domain.alerts import Alert, AlertStatus, Outcome, RejectReason, WorkflowError
from veille.domain.audit import Actor, AuditEntry
from veille.domain.cameras import Camera
from veille.domain.hotlists import Hit
from veille.domain.reads import Read
from veille.service.ports import UnitOfWork

Matcher = Callable[..., list[Hit]]


@dataclass(frozen=True)
class AlertEvent:
    """Something to tell the live channel and outside systems after the commit."""

    kind: str  # new | repeat | update
    alert: Alert
    read: Read | None = None


class AlertNotFound(LookupError):
    pass


def visible_to(alert: Alert, principal: Principal) -> bool:
    """Operators see the alerts of cameras in their scope; covert ones only if they own it."""
    if alert.covert and principal.org_id != alert.owner_org:
        return False
    if principal.scope.kind is ScopeKind.NATIONAL:
        return True
    return principal.scope.covers(zone=alert.zone, province=alert.province)


def record_hits(
    *,
    uow: UnitOfWork,
    reads: Sequence[Read],
    match: Matcher,
    cameras: Callable[[str], Camera | None],
    now: datetime,
) -> list[AlertEvent]:
    """Match fresh reads and turn hits into alerts, inside the caller's transaction.

    A repeat hit of the same plate and entry while its alert is still open joins that
    alert (its count grows) instead of ringing a new one.
    """
    events: list[AlertEvent] = []
    for read in reads:
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
        camera = cameras(read.camera_id)
        for hit in hits:
            existing = uow.alerts.open_for(hit.entry.entry_id, read.plate)
            if existing is not None:
                alert = existing.repeat(read.captured_at)
                uow.alerts.update(alert)
                kind = "repeat"
            else:
                alert = new_alert(read, hit, camera, now)
                alert = replace(alert, alert_id=uow.alerts.add(alert))
                kind = "new"
            uow.alerts.add_hit(
                alert.alert_id, read.read_id.bytes, read.camera_id, read.captured_at, hit.kind.value
            )
            events.append(AlertEvent(kind, alert, read))
    return events


def new_alert(read: Read, hit: Hit, camera: Camera | None, now: datetime) -> Alert:
    e = hit.entry
    return Alert(
        alert_id=0,
        opened_at=now,
        last_hit_at=read.captured_at,
        status=AlertStatus.OPEN,
        read_id=read.read_id.bytes,
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
            "valid_until": e.valid_until.isoformat() if e.valid_until else None,
        },
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
    with uow:
        found = uow.alerts.list(statuses=statuses, limit=limit * 4)
    return [a for a in found if visible_to(a, principal)][:limit]


def alert_detail(*, uow: UnitOfWork, alert_id: int, principal: Principal) -> dict[str, Any]:
    with uow:
        alert = _load_visible(uow, alert_id, principal)
        hits = uow.alerts.hits(alert_id)
        events = uow.alerts.events(alert_id)
        first = uow.reads.get(uuid.UUID(bytes=alert.read_id))
    return {
        **alert_json(alert, first),
        "hits": [
            {"read_id": str(uuid.UUID(bytes=h[0])), "camera_id": h[1], "match_kind": h[3]}
            for h in hits
        ],
        "events": events,
    }


def alert_json(alert: Alert, read: Read | None = None) -> dict[str, Any]:
    """An alert as the live channel, webhooks and MQTT carry it."""
    out: dict[str, Any] = {
        "alert_id": alert.alert_id,
        "status": alert.status.value,
        "opened_at": alert.opened_at.isoformat(),
        "last_hit_at": alert.last_hit_at.isoformat(),
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
        "decision": alert.decision,
        "reason": alert.reason,
        "outcome": alert.outcome,
    }
    if read is not None:
        out["read"] = {
            "read_id": str(read.read_id),
            "camera_id": read.camera_id,
            "captured_at": read.captured_at.isoformat(),
            "received_at": read.received_at.isoformat(),
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
    """An alert event as the live channel, webhooks and MQTT carry it."""
    return alert_json(event.alert, event.read)


def webhook_targets(*, uow: UnitOfWork, alert: Alert) -> list[dict[str, Any]]:
    """Active webhooks whose scope covers the alert's camera; never for covert hits."""
    if alert.covert:
        return []
    with uow:
        hooks = uow.alerts.webhooks()
    return [
        h
        for h in hooks
        if h["active"]
        and Scope(ScopeKind(h["scope_kind"]), h["scope_value"]).covers(
            zone=alert.zone, province=alert.province
        )
    ]


def record_delivery(*, uow: UnitOfWork, **fields: Any) -> None:
    """Keep the final result of one webhook delivery in the delivery log."""
    with uow:
        uow.alerts.record_delivery(**fields)
        uow.commit()


def hits_report(*, uow: UnitOfWork, since: datetime, until: datetime) -> dict[str, Any]:
    """Hits by list, zone and outcome; the misread rate per camera."""
    with uow:
        rows = uow.alerts.report(since=since, until=until)
        cameras = uow.alerts.misreads_by_camera(since=since, until=until)
    return {
        "since": since.isoformat(),
        "until": until.isoformat(),
        "by_list_zone_status": [
            {
                "list_id": r[0],
                "zone": r[1],
                "status": r[2],
                "outcome": r[3] or None,
                "reason": r[4] or None,
                "alerts": r[5],
            }
            for r in rows
        ],
        "misread_rate_by_camera": [
            {
                "camera_id": c,
                "decided": d or 0,
                "misreads": m or 0,
                "misread_rate": round((m or 0) / d, 3) if d else None,
            }
            for c, d, m in cameras
        ],
    }
