"""Alerts, their hits and history, reports, webhooks and their delivery log."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from tests.contract.builders import NOW, Store, a_hit, an_alert, committed, seen
from tests.contract.conftest import Backend
from veille.domain.access import Scope, ScopeKind
from veille.domain.alerts import (
    Alert,
    AlertCount,
    AlertStatus,
    AlertStep,
    CameraMisreads,
    RejectReason,
)
from veille.domain.audit import Actor
from veille.domain.webhooks import Webhook, WebhookDelivery

pytestmark = pytest.mark.integration

S = timedelta(seconds=1)
OFFICER = Actor(username="olivia", role="operator", user_id=4, org_id="zone-midi")


def add(store: Store, *alerts: Alert) -> list[Alert]:
    """Store the alerts; answer them with the ids they got."""

    def write(uow: Any) -> list[Alert]:
        return [replace(a, alert_id=uow.alerts.add(a)) for a in alerts]

    return committed(store, write)


def ids(alerts: list[Alert]) -> list[int]:
    return [a.alert_id for a in alerts]


# --- alerts ------------------------------------------------------------------------------


def test_an_alert_comes_back_as_stored_with_the_id_it_got(store: Store):
    first, second = add(store, an_alert(late=True, age_s=812.5), an_alert("2XYZ999"))
    assert 0 < first.alert_id < second.alert_id
    assert seen(store, lambda uow: uow.alerts.get(first.alert_id)) == first
    assert seen(store, lambda uow: uow.alerts.get(second.alert_id)) == second
    assert seen(store, lambda uow: uow.alerts.get(second.alert_id + 100)) is None


def test_an_update_replaces_the_alert_and_an_unknown_id_changes_nothing(store: Store):
    (alert,) = add(store, an_alert())
    rejected = alert.reject(RejectReason.MISREAD, NOW + 60 * S)
    committed(store, lambda uow: uow.alerts.update(rejected))
    committed(store, lambda uow: uow.alerts.update(replace(rejected, alert_id=999)))
    assert seen(store, lambda uow: uow.alerts.get(alert.alert_id)) == rejected
    assert seen(store, lambda uow: uow.alerts.get(999)) is None


def test_a_changed_entry_snapshot_never_reaches_the_stored_alert(store: Store):
    (alert,) = add(store, an_alert())
    got = seen(store, lambda uow: uow.alerts.get(alert.alert_id))
    got.entry["instructions"] = "changed by a caller"
    assert seen(store, lambda uow: uow.alerts.get(alert.alert_id)).entry == alert.entry


def test_the_open_alert_of_an_entry_and_plate_is_the_newest_still_open_in_that_zone(
    store: Store,
):
    older, newer, elsewhere, other_plate = add(
        store,
        an_alert(),
        an_alert(status=AlertStatus.CONFIRMED),
        an_alert(zone="Polbruno"),
        an_alert("2XYZ999"),
    )

    def open_for(plate: str = "1ABC123", zone: str = "Midi") -> Alert | None:
        return seen(
            store,
            lambda uow: uow.alerts.open_for("e1", plate, zone=zone, province="Bruxelles-Capitale"),
        )

    assert open_for() == newer
    assert open_for(zone="Polbruno") == elsewhere
    assert open_for("2XYZ999") == other_plate
    committed(store, lambda uow: uow.alerts.update(replace(newer, status=AlertStatus.CLOSED)))
    assert open_for() == older  # confirmed still groups; closed and rejected never do
    committed(store, lambda uow: uow.alerts.update(replace(older, status=AlertStatus.REJECTED)))
    assert open_for() is None
    assert (
        seen(store, lambda uow: uow.alerts.open_for("e1", "1ABC123", zone="Midi", province="Liège"))
        is None
    )


def test_listing_is_newest_first_by_status_and_period_and_pages_below_an_id(store: Store):
    a1, a2, a3, a4 = add(
        store,
        an_alert(opened_at=NOW - 3 * S),
        an_alert(opened_at=NOW - 2 * S, status=AlertStatus.REJECTED),
        an_alert(opened_at=NOW - S),
        an_alert(opened_at=NOW),
    )

    def find(**filters: Any) -> list[int]:
        return ids(seen(store, lambda uow: uow.alerts.find(**filters)))

    def page(**filters: Any) -> list[int]:
        return ids(seen(store, lambda uow: uow.alerts.page(**filters)))

    assert find() == ids([a4, a3, a2, a1])
    assert find(limit=2) == ids([a4, a3])
    assert find(statuses=("open",)) == ids([a4, a3, a1])
    assert find(statuses=("rejected", "closed")) == ids([a2])
    assert find(since=NOW - S) == ids([a4, a3])  # opened at or after
    assert page(limit=2) == ids([a4, a3])
    assert page(before=a3.alert_id, limit=2) == ids([a2, a1])
    assert page(before=a3.alert_id, statuses=("open",)) == ids([a1])
    assert page(before=a1.alert_id) == []


@pytest.mark.parametrize("method", ["find", "page"])
def test_listing_shows_a_viewer_only_its_zone_or_province_and_its_own_covert_alerts(
    store: Store, method: str
):
    midi, polbruno, liege, covert_midi, covert_other = add(
        store,
        an_alert(),
        an_alert(zone="Polbruno"),
        an_alert(zone="Liège", province="Liège"),
        an_alert(covert=True, owner_org="zone-midi"),
        an_alert(covert=True, owner_org="zone-polbruno"),
    )

    def listed(**filters: Any) -> list[int]:
        return ids(seen(store, lambda uow: getattr(uow.alerts, method)(**filters)))

    assert listed() == ids([liege, polbruno, midi])  # no organisation: no covert alert
    assert listed(zone="Midi") == ids([midi])
    assert listed(province="Bruxelles-Capitale") == ids([polbruno, midi])
    assert listed(zone="Midi", viewer_org="zone-midi") == ids([covert_midi, midi])
    assert listed(viewer_org="zone-polbruno") == ids([covert_other, liege, polbruno, midi])


# --- hits and history --------------------------------------------------------------------


def test_hits_come_back_oldest_first_and_the_same_read_is_kept_once(store: Store):
    (alert,) = add(store, an_alert())
    later = a_hit(alert, at=NOW, late=True, age_s=700.0)
    first = a_hit(alert, at=NOW - 10 * S)
    committed(store, lambda uow: uow.alerts.add_hit(alert.alert_id, later))
    committed(store, lambda uow: uow.alerts.add_hit(alert.alert_id, first))
    committed(store, lambda uow: uow.alerts.add_hit(alert.alert_id, replace(first, late=True)))
    assert seen(store, lambda uow: uow.alerts.hits(alert.alert_id)) == [first, later]
    assert seen(store, lambda uow: uow.alerts.hits(alert.alert_id + 1)) == []


def test_a_hit_or_a_step_needs_an_existing_alert(store: Store, backend: Backend):
    (alert,) = add(store, an_alert())
    with pytest.raises(backend.conflict):
        committed(store, lambda uow: uow.alerts.add_hit(alert.alert_id + 1, a_hit(alert)))
    with pytest.raises(backend.conflict):
        committed(
            store,
            lambda uow: uow.alerts.add_event(
                alert.alert_id + 1, at=NOW, actor=OFFICER, action="acknowledge"
            ),
        )


def test_the_history_of_an_alert_is_its_steps_in_the_order_taken(store: Store):
    alert, other = add(store, an_alert(), an_alert("2XYZ999"))

    def steps(uow: Any) -> None:
        uow.alerts.add_event(alert.alert_id, at=NOW, actor=OFFICER, action="acknowledge")
        uow.alerts.add_event(other.alert_id, at=NOW, actor=OFFICER, action="confirm")
        uow.alerts.add_event(
            alert.alert_id,
            at=NOW - S,  # the order taken, not the clock, orders the history
            actor=OFFICER,
            action="reject",
            reason="misread",
            note="plate is 1ABC128",
        )

    committed(store, steps)
    assert seen(store, lambda uow: uow.alerts.events(alert.alert_id)) == [
        AlertStep(NOW, "olivia", "operator", "acknowledge"),
        AlertStep(NOW - S, "olivia", "operator", "reject", "misread", None, "plate is 1ABC128"),
    ]
    assert seen(store, lambda uow: uow.alerts.events(other.alert_id + 1)) == []


def test_alerts_and_hits_of_a_unit_of_work_left_without_commit_are_gone(store: Store):
    def abandoned() -> None:
        with store.uow() as uow:
            alert_id = uow.alerts.add(an_alert())
            uow.alerts.add_hit(alert_id, a_hit(an_alert()))

    abandoned()
    assert seen(store, lambda uow: uow.alerts.find()) == []
    (alert,) = add(store, an_alert())
    assert seen(store, lambda uow: uow.alerts.hits(alert.alert_id)) == []


# --- reports -----------------------------------------------------------------------------


def decided(alert: Alert, how: str) -> Alert:
    if how == "misread":
        return alert.reject(RejectReason.MISREAD, NOW)
    if how == "wrong_country":
        return alert.reject(RejectReason.WRONG_COUNTRY, NOW)
    return alert.confirm()


def test_the_report_counts_the_period_s_alerts_by_list_zone_status_outcome_and_reason(
    store: Store,
):
    add(
        store,
        an_alert(),
        an_alert(),
        decided(an_alert(), "misread"),
        decided(an_alert(camera_id="CAM-B"), "misread"),
        decided(an_alert(), "wrong_country"),
        decided(an_alert(zone="Polbruno", camera_id="CAM-P"), "confirm"),
        an_alert(list_id="alpha"),
        an_alert(opened_at=NOW - 10 * S),  # before the period
        an_alert(opened_at=NOW + 10 * S),  # at its end: the end is left out
        an_alert(covert=True, owner_org="zone-midi"),
    )

    def report(**filters: Any) -> list[AlertCount]:
        return seen(
            store, lambda uow: uow.alerts.report(since=NOW - S, until=NOW + 10 * S, **filters)
        )

    def mine(**filters: Any) -> list[CameraMisreads]:
        return seen(
            store,
            lambda uow: uow.alerts.misreads_by_camera(since=NOW - S, until=NOW + 10 * S, **filters),
        )

    assert report() == [
        AlertCount("alpha", "Midi", "open", None, None, 1),
        AlertCount("stolen", "Midi", "open", None, None, 2),
        AlertCount("stolen", "Midi", "rejected", None, "misread", 2),
        AlertCount("stolen", "Midi", "rejected", None, "wrong_country", 1),
        AlertCount("stolen", "Polbruno", "confirmed", None, None, 1),
    ]
    assert report(zone="Polbruno") == [AlertCount("stolen", "Polbruno", "confirmed", None, None, 1)]
    assert report(zone="Midi", viewer_org="zone-midi")[1] == AlertCount(
        "stolen", "Midi", "open", None, None, 3
    )
    assert report(province="Liège") == []
    assert mine() == [
        CameraMisreads("CAM-A", decided=2, misreads=1),
        CameraMisreads("CAM-B", decided=1, misreads=1),
        CameraMisreads("CAM-P", decided=1, misreads=0),
    ]
    assert mine(zone="Midi", viewer_org="zone-midi")[0] == CameraMisreads("CAM-A", 2, 1)
    assert mine()[0].misread_rate == 0.5 and mine(zone="Nowhere") == []


def test_a_camera_with_nothing_decided_has_no_misread_rate(store: Store):
    add(store, an_alert())
    found = seen(store, lambda uow: uow.alerts.misreads_by_camera(since=NOW - S, until=NOW + S))
    assert found == [CameraMisreads("CAM-A", 0, 0)] and found[0].misread_rate is None


# --- webhooks ----------------------------------------------------------------------------


def add_webhook(store: Store, name: str = "dispatch", **fields: Any) -> int:
    hook: dict[str, Any] = {
        "url": "https://dispatch.example/alerts",
        "secret": "s3cret",
        "scope_kind": "zone",
        "scope_value": "Midi",
        "now": NOW,
    }
    hook.update(fields)
    return int(committed(store, lambda uow: uow.alerts.add_webhook(name=name, **hook)))


def test_a_webhook_comes_back_as_registered_and_can_be_disabled(store: Store):
    first = add_webhook(store)
    second = add_webhook(store, "national", scope_kind="national", scope_value=None)
    assert seen(store, lambda uow: uow.alerts.webhooks()) == [
        Webhook(
            first,
            "dispatch",
            "https://dispatch.example/alerts",
            "s3cret",
            Scope(ScopeKind.ZONE, "Midi"),
            active=True,
            created_at=NOW,
        ),
        Webhook(
            second,
            "national",
            "https://dispatch.example/alerts",
            "s3cret",
            Scope(ScopeKind.NATIONAL),
            active=True,
            created_at=NOW,
        ),
    ]
    assert committed(store, lambda uow: uow.alerts.set_webhook_active(first, False)) == 1
    assert committed(store, lambda uow: uow.alerts.set_webhook_active(first, False)) == 1
    assert committed(store, lambda uow: uow.alerts.set_webhook_active(second + 1, False)) == 0
    assert [h.active for h in seen(store, lambda uow: uow.alerts.webhooks())] == [False, True]


def test_deliveries_page_newest_first_by_status(store: Store, backend: Backend):
    hook = add_webhook(store)

    def record(n: int) -> None:
        committed(
            store,
            lambda uow: uow.alerts.record_delivery(
                webhook_id=hook,
                alert_id=n,
                event="new",
                attempts=n,
                status="failed" if n % 2 else "delivered",
                http_status=500 if n % 2 else 200,
                error="HTTP 500" if n % 2 else None,
                now=NOW + n * S,
            ),
        )

    for n in range(1, 6):
        record(n)
    everything = seen(store, lambda uow: uow.alerts.deliveries_page())
    assert [d.alert_id for d in everything] == [5, 4, 3, 2, 1]
    assert everything[0] == WebhookDelivery(
        everything[0].delivery_id, hook, 5, "new", 5, "failed", 500, "HTTP 500", NOW + 5 * S
    )
    assert everything[1].error is None and everything[1].http_status == 200
    failed = seen(store, lambda uow: uow.alerts.deliveries_page(status="failed", limit=2))
    assert [d.alert_id for d in failed] == [5, 3]
    below = seen(
        store,
        lambda uow: uow.alerts.deliveries_page(status="failed", before=failed[-1].delivery_id),
    )
    assert [d.alert_id for d in below] == [1]
    assert seen(store, lambda uow: uow.alerts.deliveries(status="delivered", limit=1)) == [
        everything[1]
    ]
    with pytest.raises(backend.conflict):
        committed(
            store,
            lambda uow: uow.alerts.record_delivery(
                webhook_id=hook + 1,
                alert_id=1,
                event="new",
                attempts=1,
                status="delivered",
                http_status=200,
                error=None,
                now=NOW,
            ),
        )
