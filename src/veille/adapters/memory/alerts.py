"""In-memory alerts, their hits and history, webhooks and their delivery log."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from veille.adapters.memory.store import ConstraintViolated
from veille.domain.access import Scope, ScopeKind
from veille.domain.alerts import STILL_OPEN, Alert, AlertCount, AlertHit, AlertStep, CameraMisreads
from veille.domain.audit import Actor
from veille.domain.webhooks import Webhook, WebhookDelivery

if TYPE_CHECKING:
    from veille.adapters.memory.store import MemoryUnitOfWork


def _visible(
    alert: Alert, *, zone: str | None, province: str | None, viewer_org: str | None
) -> bool:
    """What SQLite's `_visible_where` selects: the zone or province (neither: national),
    and covert alerts only of the viewer's organisation (None: no covert at all)."""
    return (
        (zone is None or alert.zone == zone)
        and (province is None or alert.province == province)
        and (not alert.covert or (viewer_org is not None and alert.owner_org == viewer_org))
    )


def _listed(
    statuses: tuple[str, ...] | None,
    *,
    zone: str | None,
    province: str | None,
    viewer_org: str | None,
) -> Callable[[Alert], bool]:
    """What a listing (`find`, `page`) keeps before its own bound: visible, of a status."""
    return lambda a: (
        _visible(a, zone=zone, province=province, viewer_org=viewer_org)
        and (not statuses or a.status.value in statuses)
    )


def _nulls_first(value: str | None) -> tuple[bool, str]:
    """A sort key that puts an absent value before any other, as SQLite orders NULL."""
    return (value is not None, value or "")


def _copy(alert: Alert) -> Alert:
    """The entry snapshot is a dict: never share it with a caller who might change it."""
    return replace(alert, entry=dict(alert.entry))


class MemoryAlertRepository:
    def __init__(self, uow: MemoryUnitOfWork):
        self.uow = uow

    # --- alerts --------------------------------------------------------------------------

    def add(self, alert: Alert) -> int:
        alert_id = self.uow.next_id("alerts")
        self.uow.writable("alerts")[alert_id] = _copy(replace(alert, alert_id=alert_id))
        return alert_id

    def update(self, alert: Alert) -> None:
        """Replace the stored alert of the same id; an unknown id changes nothing."""
        if alert.alert_id in self.uow.table("alerts"):
            self.uow.writable("alerts")[alert.alert_id] = _copy(alert)

    def get(self, alert_id: int) -> Alert | None:
        found: Alert | None = self.uow.table("alerts").get(alert_id)
        return _copy(found) if found is not None else None

    def _newest_first(self, keep: Callable[[Alert], bool], limit: int) -> list[Alert]:
        alerts: Iterable[Alert] = self.uow.table("alerts").values()
        found = sorted((a for a in alerts if keep(a)), key=lambda a: a.alert_id, reverse=True)
        return [_copy(a) for a in found[:limit]]

    def open_for(self, entry_id: str, plate: str, *, zone: str, province: str) -> Alert | None:
        found = self._newest_first(
            lambda a: (
                a.status in STILL_OPEN
                and (a.entry_id, a.plate, a.zone, a.province) == (entry_id, plate, zone, province)
            ),
            1,
        )
        return found[0] if found else None

    def find(
        self,
        *,
        statuses: tuple[str, ...] | None = None,
        since: datetime | None = None,
        limit: int = 200,
        zone: str | None = None,
        province: str | None = None,
        viewer_org: str | None = None,
    ) -> list[Alert]:
        listed = _listed(statuses, zone=zone, province=province, viewer_org=viewer_org)
        return self._newest_first(
            lambda a: listed(a) and (since is None or a.opened_at >= since), limit
        )

    def page(
        self,
        *,
        statuses: tuple[str, ...] | None = None,
        before: int | None = None,
        limit: int = 200,
        zone: str | None = None,
        province: str | None = None,
        viewer_org: str | None = None,
    ) -> list[Alert]:
        listed = _listed(statuses, zone=zone, province=province, viewer_org=viewer_org)
        return self._newest_first(
            lambda a: listed(a) and (before is None or a.alert_id < before), limit
        )

    def _require_alert(self, alert_id: int) -> None:
        if alert_id not in self.uow.table("alerts"):
            raise ConstraintViolated(f"no alert {alert_id}")

    # --- hits and history ----------------------------------------------------------------

    def add_hit(self, alert_id: int, hit: AlertHit) -> None:
        """The same read twice in one alert is kept once (SQLite: INSERT OR IGNORE)."""
        self._require_alert(alert_id)
        hits: tuple[AlertHit, ...] = self.uow.table("alert_hits").get(alert_id, ())
        if all(h.read_id != hit.read_id for h in hits):
            self.uow.writable("alert_hits")[alert_id] = (*hits, hit)

    def hits(self, alert_id: int) -> list[AlertHit]:
        hits: tuple[AlertHit, ...] = self.uow.table("alert_hits").get(alert_id, ())
        return sorted(hits, key=lambda h: h.captured_at)

    def add_event(
        self,
        alert_id: int,
        *,
        at: datetime,
        actor: Actor,
        action: str,
        reason: str | None = None,
        outcome: str | None = None,
        note: str | None = None,
    ) -> None:
        self._require_alert(alert_id)
        event_id = self.uow.next_id("alert_events")
        step = AlertStep(at, actor.username, actor.role, action, reason, outcome, note)
        self.uow.writable("alert_events")[event_id] = (alert_id, step)

    def events(self, alert_id: int) -> list[AlertStep]:
        table: dict[int, tuple[int, AlertStep]] = dict(self.uow.table("alert_events"))
        return [step for _, (of, step) in sorted(table.items()) if of == alert_id]

    # --- reports -------------------------------------------------------------------------

    def _opened_in(
        self,
        since: datetime,
        until: datetime,
        *,
        zone: str | None,
        province: str | None,
        viewer_org: str | None,
    ) -> list[Alert]:
        alerts: Iterable[Alert] = self.uow.table("alerts").values()
        return [
            a
            for a in alerts
            if since <= a.opened_at < until
            and _visible(a, zone=zone, province=province, viewer_org=viewer_org)
        ]

    def report(
        self,
        *,
        since: datetime,
        until: datetime,
        zone: str | None = None,
        province: str | None = None,
        viewer_org: str | None = None,
    ) -> list[AlertCount]:
        counts: dict[tuple[str, str, str, str | None, str | None], int] = {}
        for a in self._opened_in(since, until, zone=zone, province=province, viewer_org=viewer_org):
            key = (a.list_id, a.zone, a.status.value, a.outcome, a.reason)
            counts[key] = counts.get(key, 0) + 1

        def order(key: tuple[str, str, str, str | None, str | None]) -> tuple[Any, ...]:
            list_id, of_zone, status, outcome, reason = key
            return (list_id, of_zone, status, _nulls_first(outcome), _nulls_first(reason))

        return [AlertCount(*key, alerts=counts[key]) for key in sorted(counts, key=order)]

    def misreads_by_camera(
        self,
        *,
        since: datetime,
        until: datetime,
        zone: str | None = None,
        province: str | None = None,
        viewer_org: str | None = None,
    ) -> list[CameraMisreads]:
        tally: dict[str, tuple[int, int]] = {}
        for a in self._opened_in(since, until, zone=zone, province=province, viewer_org=viewer_org):
            decided, misreads = tally.get(a.camera_id, (0, 0))
            tally[a.camera_id] = (
                decided + (a.decision is not None),
                misreads + (a.decision == "rejected" and a.reason == "misread"),
            )
        return [CameraMisreads(c, d, m) for c, (d, m) in sorted(tally.items())]

    # --- webhooks ------------------------------------------------------------------------

    def add_webhook(
        self,
        *,
        name: str,
        url: str,
        secret: str,
        scope_kind: str,
        scope_value: str | None,
        now: datetime,
    ) -> int:
        webhook_id = self.uow.next_id("webhooks")
        scope = Scope(ScopeKind(scope_kind), scope_value)
        self.uow.writable("webhooks")[webhook_id] = Webhook(
            webhook_id, name, url, secret, scope, active=True, created_at=now
        )
        return webhook_id

    def webhooks(self) -> list[Webhook]:
        return [w for _, w in sorted(self.uow.table("webhooks").items())]

    def set_webhook_active(self, webhook_id: int, active: bool) -> int:
        found: Webhook | None = self.uow.table("webhooks").get(webhook_id)
        if found is None:
            return 0
        self.uow.writable("webhooks")[webhook_id] = replace(found, active=active)
        return 1

    def record_delivery(
        self,
        *,
        webhook_id: int,
        alert_id: int,
        event: str,
        attempts: int,
        status: str,
        http_status: int | None,
        error: str | None,
        now: datetime,
    ) -> None:
        if webhook_id not in self.uow.table("webhooks"):
            raise ConstraintViolated(f"no webhook {webhook_id}")
        delivery_id = self.uow.next_id("webhook_deliveries")
        self.uow.writable("webhook_deliveries")[delivery_id] = WebhookDelivery(
            delivery_id, webhook_id, alert_id, event, attempts, status, http_status, error, now
        )

    def deliveries_page(
        self, *, status: str | None = None, before: int | None = None, limit: int = 200
    ) -> list[WebhookDelivery]:
        table: dict[int, WebhookDelivery] = dict(self.uow.table("webhook_deliveries"))
        return [
            d
            for _, d in sorted(table.items(), reverse=True)
            if (status is None or d.status == status) and (before is None or d.delivery_id < before)
        ][:limit]

    def deliveries(self, *, status: str | None = None, limit: int = 200) -> list[WebhookDelivery]:
        return self.deliveries_page(status=status, limit=limit)
