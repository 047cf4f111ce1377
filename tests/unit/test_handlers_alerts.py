"""Alert handlers on the in-memory store: the officer's workflow, what an alert shows,
reports, webhooks, and a read that rings an alert from ingest to the alert list."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from tests.conftest import make_read
from tests.contract.builders import a_camera, a_hit, a_read, a_user, an_alert, an_image, an_org
from tests.unit.fakes import FakePlatform, memory_bus
from veille.adapters.decoders.native_json import decode_items
from veille.domain.access import Principal, Role, Scope, ScopeKind
from veille.domain.alerts import Alert, AlertStatus, AlertStep, Outcome, RejectReason
from veille.domain.audit import Actor, AuditEntry
from veille.domain.hotlists import Category, Hotlist, HotlistEntry
from veille.domain.matcher import HotlistIndex
from veille.domain.reads import ReadRules
from veille.domain.webhooks import TargetRefused
from veille.service import users as user_service
from veille.service.commands import IngestReads
from veille.service.commands.alerts import (
    AlertDetail,
    AlertImage,
    AlertsPage,
    CreateWebhook,
    DecideHit,
    DisableWebhook,
    HitsReport,
    LiveStreamAccess,
    RecordDelivery,
    WebhookDeliveries,
    Webhooks,
    WebhookTargets,
)
from veille.service.errors import Conflict, Invalid, NotFound
from veille.service.events import HitDecided, HotlistHit, ReadsStored
from veille.service.handlers import alerts
from veille.service.handlers.ingest import ingest_reads, match_stored_reads
from veille.service.messagebus import Raised
from veille.service.writer import GroupCommitWriter

pytestmark = pytest.mark.unit

MIDI = Scope(ScopeKind.ZONE, "Midi")
OFFICER = Actor(username="olivia", role="operator", user_id=4, org_id="zone-midi")
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 60
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 60


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def officer(scope: Scope = MIDI, org_id: str = "zone-midi") -> Principal:
    return Principal(
        user_id=4,
        username="olivia",
        role=Role.OPERATOR,
        org_id=org_id,
        scope=scope,
        designated=True,
        training_expires=None,
    )


@pytest.fixture
def fake() -> FakePlatform:
    return memory_bus(alerts.register)


def stored(fake: FakePlatform, *alerts_: Alert) -> list[Alert]:
    with fake.store.uow() as uow:
        found = [replace(a, alert_id=uow.alerts.add(a)) for a in alerts_]
        uow.commit()
    return found


def audit(fake: FakePlatform) -> list[AuditEntry]:
    """What was audited, in order."""
    with fake.store.uow(write=False) as uow:
        return [r.entry for r in uow.audit.iter_all()]


def decide(fake: FakePlatform, alert_id: int, action: str, **fields: Any) -> Alert:
    fields.setdefault("principal", officer())
    result: Alert = fake.bus.handle(
        DecideHit(alert_id=alert_id, action=action, actor=OFFICER, **fields)
    )
    return result


def current(fake: FakePlatform, alert_id: int) -> Alert:
    with fake.store.uow(write=False) as uow:
        found = uow.alerts.get(alert_id)
    assert found is not None
    return found


# --- the officer's workflow --------------------------------------------------------------


def test_each_step_is_stored_with_who_and_when_and_audited(fake: FakePlatform):
    decided: list[HitDecided] = []
    fake.bus.subscribe(HitDecided, lambda event, raised: decided.append(event))
    (alert,) = stored(fake, an_alert(opened_at=fake.now))
    decide(fake, alert.alert_id, "acknowledge", note="on my way")
    decide(fake, alert.alert_id, "confirm")
    fake.now += timedelta(minutes=5)
    closed = decide(fake, alert.alert_id, "outcome", outcome=Outcome.INTERCEPTED)

    assert closed == current(fake, alert.alert_id)
    assert (closed.status, closed.decision, closed.outcome) == (
        AlertStatus.CLOSED,
        "confirmed",
        "intercepted",
    )
    assert closed.closed_at == fake.now
    with fake.store.uow(write=False) as uow:
        history = uow.alerts.events(alert.alert_id)
    assert [(s.action, s.by, s.note) for s in history] == [
        ("acknowledge", "olivia", "on my way"),
        ("confirm", "olivia", None),
        ("outcome", "olivia", None),
    ]
    assert history[-1] == AlertStep(fake.now, "olivia", "operator", "outcome", None, "intercepted")
    records = audit(fake)
    assert [r.action for r in records] == ["alert.acknowledge", "alert.confirm", "alert.outcome"]
    assert {r.target for r in records} == {str(alert.alert_id)}
    assert records[-1].params["outcome"] == "intercepted"
    assert records[0].params["note"] == "on my way"
    assert [e.action for e in decided] == ["acknowledge", "confirm", "outcome"]


def test_a_rejection_closes_the_alert_with_its_reason(fake: FakePlatform):
    (alert,) = stored(fake, an_alert(opened_at=fake.now))
    rejected = decide(fake, alert.alert_id, "reject", reason=RejectReason.MISREAD, note="1ABC128")
    assert (rejected.status, rejected.decision, rejected.reason) == (
        AlertStatus.REJECTED,
        "rejected",
        "misread",
    )
    assert rejected.closed_at == fake.now
    (record,) = audit(fake)
    assert (record.action, record.params["reason"], record.params["plate"]) == (
        "alert.reject",
        "misread",
        "1ABC123",
    )


@pytest.mark.parametrize(
    ("before", "action", "fields"),
    [
        ([], "outcome", {"outcome": Outcome.INTERCEPTED}),  # not confirmed yet
        (["acknowledge"], "acknowledge", {}),
        (["confirm"], "reject", {"reason": RejectReason.MISREAD}),
        (["reject"], "confirm", {}),
        ([], "reject", {}),  # a rejection needs a reason
        (["confirm"], "outcome", {}),  # an outcome needs one
        ([], "forget", {}),
    ],
)
def test_a_step_the_workflow_refuses_is_a_workflow_conflict_and_changes_nothing(
    fake: FakePlatform, before: list[str], action: str, fields: dict[str, Any]
):
    (alert,) = stored(fake, an_alert(opened_at=fake.now))
    for step in before:
        extra = {"reason": RejectReason.WRONG_COUNTRY} if step == "reject" else {}
        decide(fake, alert.alert_id, step, **extra)
    was, audited = current(fake, alert.alert_id), len(audit(fake))
    with pytest.raises(Conflict) as refused:
        decide(fake, alert.alert_id, action, **fields)
    assert refused.value.code == "workflow"
    assert current(fake, alert.alert_id) == was
    assert len(audit(fake)) == audited
    with fake.store.uow(write=False) as uow:
        assert len(uow.alerts.events(alert.alert_id)) == len(before)


@pytest.mark.parametrize(
    "alert_fields",
    [
        {"zone": "Polbruno"},  # another zone's camera
        {"covert": True, "owner_org": "zone-polbruno"},  # another organisation's covert list
    ],
)
def test_an_alert_out_of_the_officer_s_sight_is_not_found_and_nothing_is_audited(
    fake: FakePlatform, alert_fields: dict[str, Any]
):
    (alert,) = stored(fake, an_alert(opened_at=fake.now, **alert_fields))
    with pytest.raises(NotFound):
        decide(fake, alert.alert_id, "acknowledge")
    with pytest.raises(NotFound):
        decide(fake, alert.alert_id + 1, "acknowledge")  # no such alert at all
    with pytest.raises(NotFound):
        fake.bus.handle(AlertDetail(alert_id=alert.alert_id, principal=officer()))
    assert current(fake, alert.alert_id).status is AlertStatus.OPEN
    assert audit(fake) == []
    # the owners, or a national scope for a non-covert one, do see it
    national = officer(Scope(ScopeKind.NATIONAL), org_id=alert.owner_org)
    assert decide(fake, alert.alert_id, "acknowledge", principal=national).status is (
        AlertStatus.ACKNOWLEDGED
    )


# --- what an alert shows -----------------------------------------------------------------


def test_the_list_pages_through_only_what_the_officer_may_see(fake: FakePlatform):
    mine = stored(
        fake,
        an_alert(opened_at=fake.now),
        an_alert(opened_at=fake.now, zone="Polbruno"),
        an_alert(opened_at=fake.now),
        an_alert(opened_at=fake.now, covert=True, owner_org="zone-polbruno"),
        an_alert(opened_at=fake.now),
    )
    first = fake.bus.handle(AlertsPage(principal=officer(), limit=2))
    assert [a.alert_id for a in first.alerts] == [mine[4].alert_id, mine[2].alert_id]
    second = fake.bus.handle(AlertsPage(principal=officer(), before=first.next_before, limit=2))
    assert [a.alert_id for a in second.alerts] == [mine[0].alert_id]
    assert second.next_before is None
    decide(fake, mine[0].alert_id, "reject", reason=RejectReason.MISREAD)
    only_open = fake.bus.handle(AlertsPage(principal=officer(), statuses=("open",)))
    assert [a.alert_id for a in only_open.alerts] == [mine[4].alert_id, mine[2].alert_id]
    nowhere = officer(Scope(ScopeKind.ZONE, None))  # a scope that covers no camera
    assert fake.bus.handle(AlertsPage(principal=nowhere)).alerts == []


def test_the_detail_leaves_out_hits_older_than_the_open_window(fake: FakePlatform):
    window = fake.settings.alert_timing().open_window
    old = a_read(at=fake.now - window - timedelta(hours=1))
    fresh = a_read(at=fake.now - timedelta(minutes=1))
    (alert,) = stored(fake, an_alert(opened_at=fake.now, read_id=old.read_id))
    with fake.store.uow() as uow:
        uow.reads.add_many([old, fresh])
        uow.alerts.add_hit(alert.alert_id, a_hit(alert, at=old.captured_at, read_id=old.read_id))
        uow.alerts.add_hit(
            alert.alert_id, a_hit(alert, at=fresh.captured_at, read_id=fresh.read_id)
        )
        uow.commit()
    decide(fake, alert.alert_id, "acknowledge")
    shown = fake.bus.handle(AlertDetail(alert_id=alert.alert_id, principal=officer()))
    assert shown.alert == current(fake, alert.alert_id)
    assert [h.read_id for h in shown.hits] == [fresh.read_id]
    assert shown.hits_outside_window == 1
    assert shown.read is None  # the first read is outside the window: not shown
    assert [s.action for s in shown.history] == ["acknowledge"]


@pytest.fixture
def imaged(fake: FakePlatform) -> Iterator[Alert]:
    """An alert whose read carries a JPEG (kept) and a PNG (its file lost)."""
    read = a_read(
        at=fake.now - timedelta(minutes=1), images=(an_image(sha(JPEG)), an_image(sha(PNG)))
    )
    fake.images.put(sha(JPEG), JPEG)
    (alert,) = stored(fake, an_alert(opened_at=fake.now, read_id=read.read_id))
    with fake.store.uow() as uow:
        uow.reads.add_many([read])
        uow.alerts.add_hit(alert.alert_id, a_hit(alert, at=read.captured_at, read_id=read.read_id))
        uow.commit()
    yield alert


def image(fake: FakePlatform, alert: Alert, sha256: str, who: Principal | None = None) -> Any:
    return fake.bus.handle(
        AlertImage(
            alert_id=alert.alert_id, sha256=sha256, principal=who or officer(), actor=OFFICER
        )
    )


def test_an_image_of_the_alert_s_read_is_answered_as_what_it_is_once_audited(
    fake: FakePlatform, imaged: Alert
):
    got = image(fake, imaged, sha(JPEG))
    assert (got.data, got.media_type) == (JPEG, "image/jpeg")
    (record,) = audit(fake)
    assert (record.action, record.target, record.params) == (
        "alert.image_view",
        str(imaged.alert_id),
        {"sha256": sha(JPEG)},
    )


@pytest.mark.parametrize(
    "asked",
    [
        "not-a-digest",
        sha(b"an image of another read"),
    ],
)
def test_an_image_not_of_the_alert_s_reads_is_not_found_and_not_audited(
    fake: FakePlatform, imaged: Alert, asked: str
):
    with pytest.raises(NotFound):
        image(fake, imaged, asked)
    with pytest.raises(NotFound):
        image(fake, imaged, sha(JPEG), officer(Scope(ScopeKind.ZONE, "Polbruno")))
    assert audit(fake) == []


def test_an_image_whose_file_is_lost_is_not_found_after_its_view_was_audited(
    fake: FakePlatform, imaged: Alert
):
    with pytest.raises(NotFound, match="image file missing"):
        image(fake, imaged, sha(PNG))
    assert [r.action for r in audit(fake)] == ["alert.image_view"]


# --- reports -----------------------------------------------------------------------------


def test_the_report_covers_the_last_30_days_of_the_viewer_s_scope(fake: FakePlatform):
    stored(
        fake,
        an_alert(opened_at=fake.now - timedelta(days=1)),
        an_alert(opened_at=fake.now - timedelta(days=31)),
        an_alert(opened_at=fake.now - timedelta(days=1), zone="Polbruno", camera_id="CAM-P"),
        an_alert(opened_at=fake.now - timedelta(days=1), covert=True, owner_org="zone-midi"),
    )
    report = fake.bus.handle(HitsReport(scope=MIDI, viewer_org="zone-midi"))
    assert (report.since, report.until) == (fake.now - timedelta(days=30), fake.now)
    assert [(c.zone, c.alerts) for c in report.by_list_zone_status] == [("Midi", 2)]
    everyone = fake.bus.handle(HitsReport(since=fake.now - timedelta(days=40)))
    assert [(c.zone, c.alerts) for c in everyone.by_list_zone_status] == [
        ("Midi", 2),
        ("Polbruno", 1),
    ]  # no organisation: no covert alert
    assert [c.camera_id for c in everyone.misreads_by_camera] == ["CAM-A", "CAM-P"]


# --- webhooks ----------------------------------------------------------------------------


def create(fake: FakePlatform, url: str = "https://dispatch.example/a", scope: Scope = MIDI) -> Any:
    return fake.bus.handle(CreateWebhook(name="dispatch", url=url, scope=scope, actor=OFFICER))


def test_a_webhook_is_registered_with_a_secret_audited_and_can_be_disabled(fake: FakePlatform):
    hook = create(fake)
    assert len(hook.secret) >= 32
    assert fake.bus.handle(Webhooks()) == [hook]
    (record,) = audit(fake)
    assert (record.action, record.target, record.params) == (
        "webhook.add",
        str(hook.webhook_id),
        {"name": "dispatch", "url": "https://dispatch.example/a", "scope": "zone"},
    )
    fake.bus.handle(DisableWebhook(webhook_id=hook.webhook_id, actor=OFFICER))
    assert [h.active for h in fake.bus.handle(Webhooks())] == [False]
    assert [r.action for r in audit(fake)] == ["webhook.add", "webhook.disable"]
    with pytest.raises(NotFound):
        fake.bus.handle(DisableWebhook(webhook_id=hook.webhook_id + 1, actor=OFFICER))
    assert len(audit(fake)) == 2


def test_an_internal_target_is_refused_naming_the_url_and_nothing_is_stored(fake: FakePlatform):
    def refuse(url: str) -> None:
        raise TargetRefused(f"{url} is a loopback address; VEILLE_WEBHOOK_ALLOWED_TARGETS")

    fake.webhook_check = refuse
    with pytest.raises(Invalid) as refused:
        create(fake, "http://127.0.0.1/h")
    assert refused.value.code == "webhook_target_refused"
    assert [(p.field, p.reason) for p in refused.value.problems] == [
        ("body.url", "http://127.0.0.1/h is a loopback address; VEILLE_WEBHOOK_ALLOWED_TARGETS")
    ]
    assert fake.bus.handle(Webhooks()) == [] and audit(fake) == []


def test_an_alert_goes_to_the_active_webhooks_of_its_zone_never_a_covert_one(fake: FakePlatform):
    midi = create(fake)
    create(fake, scope=Scope(ScopeKind.ZONE, "Polbruno"))
    national = create(fake, scope=Scope(ScopeKind.NATIONAL))
    off = create(fake)
    fake.bus.handle(DisableWebhook(webhook_id=off.webhook_id, actor=OFFICER))
    alert, covert = stored(fake, an_alert(), an_alert(covert=True, owner_org="zone-midi"))
    assert fake.bus.handle(WebhookTargets(alert)) == [midi, national]
    assert fake.bus.handle(WebhookTargets(covert)) == []


def test_deliveries_are_logged_and_paged_newest_first(fake: FakePlatform):
    hook = create(fake)
    for n in range(3):
        fake.bus.handle(
            RecordDelivery(
                webhook_id=hook.webhook_id,
                alert_id=n + 1,
                event="new",
                attempts=1,
                status="delivered",
                http_status=200,
                error=None,
                now=fake.now,
            )
        )
    first = fake.bus.handle(WebhookDeliveries(limit=2))
    assert [d.alert_id for d in first.deliveries] == [3, 2]
    rest = fake.bus.handle(WebhookDeliveries(before=first.next_before, limit=2))
    assert [d.alert_id for d in rest.deliveries] == [1] and rest.next_before is None
    assert fake.bus.handle(WebhookDeliveries(status="failed")).deliveries == []


# --- the live stream's access check ------------------------------------------------------


def test_a_live_stream_goes_on_only_while_its_credential_and_access_hold(fake: FakePlatform):
    org = an_org("zone-midi", MIDI)
    user = a_user("olivia", org_id="zone-midi", role=Role.OPERATOR)
    with fake.store.uow() as uow:
        uow.users.add_org(org)
        user = replace(user, user_id=uow.users.add(user))
        uow.users.add_token(
            token_hash=user_service.hash_token("tok"),
            user_id=user.user_id,
            kind="api",
            name="console",
            created_at=fake.now,
            expires_at=None,
        )
        uow.commit()
    opened_as = user.principal(org)

    def check(principal: Principal = opened_as) -> Any:
        return fake.bus.handle(LiveStreamAccess(credential="tok", opened_as=principal))

    assert check().refusal is None
    assert check().training_expires == user.training_expires
    moved = replace(opened_as, scope=Scope(ScopeKind.ZONE, "Polbruno"))
    assert "scope changed" in (check(moved).refusal or "")
    fake.now = user.training_expires + timedelta(seconds=1)  # type: ignore[operator]
    assert "training" in (check().refusal or "")
    with fake.store.uow() as uow:
        uow.users.revoke_token(user_service.hash_token("tok"), fake.now)
        uow.commit()
    assert "revoked" in (check().refusal or "")


# --- from a stored read to an alert, on the memory store --------------------------------


def test_a_stored_read_that_hits_a_hotlist_rings_an_alert_committed_with_it(fake: FakePlatform):
    """Ingest → `ReadsStored` in the writer's transaction → `HotlistHit` after commit, with
    the matcher's index built straight from the entries (no hotlist repository)."""
    stolen = Hotlist("stolen", "Stolen vehicles", Category.STOLEN_VEHICLE, "federal")
    entry = HotlistEntry("e1", "stolen", "1ABC123", "BE", priority=1, instructions="careful")
    index = HotlistIndex.build([stolen], [entry])
    with fake.store.uow() as uow:
        uow.cameras.add(a_camera("CAM-A"))
        uow.commit()
    writer = GroupCommitWriter(fake.store.uow, bus=fake.bus)
    hits: list[HotlistHit] = []

    def ingest(cmd: IngestReads, raised: Raised) -> Any:
        return ingest_reads(cmd, raised, images=None, encode=None, submit=writer.submit)

    fake.bus.register(IngestReads, ingest)
    fake.bus.subscribe_in_transaction(
        ReadsStored,
        lambda event, uow, raised: match_stored_reads(
            event,
            uow,
            raised,
            match=index.match,
            clock=lambda: fake.now,
            timing=fake.settings.alert_timing(),
        ),
    )
    fake.bus.subscribe(HotlistHit, lambda event, raised: hits.append(event))
    writer.start()
    try:
        at = (fake.now - timedelta(seconds=5)).isoformat()
        for plate in ("1-ABC-123", "9-ZZZ-999", "1-ABC-123"):
            fake.bus.handle(
                IngestReads(
                    camera_id="CAM-A",
                    decoded=decode_items(
                        [make_read("CAM-A", plate=plate, captured_at=at)],
                        camera_id="CAM-A",
                        now=fake.now,
                        rules=ReadRules(),
                    ),
                    received_at=fake.now,
                )
            ).result(timeout=10)
    finally:
        writer.stop()  # publishing runs after the answers: let the writer finish it
    assert [(h.kind, h.alert.hit_count) for h in hits] == [("new", 1), ("repeat", 2)]
    (alert,) = fake.bus.handle(AlertsPage(principal=officer())).alerts
    assert (alert.plate, alert.list_id, alert.zone, alert.hit_count) == (
        "1ABC123",
        "stolen",
        "Midi",
        2,
    )
    assert alert.entry["instructions"] == "careful"
    shown = fake.bus.handle(AlertDetail(alert_id=alert.alert_id, principal=officer()))
    assert len(shown.hits) == 2 and shown.read is not None and shown.read.plate == "1ABC123"
