"""Hotlists and alerts over HTTP: imports, matching on ingest, live channel, workflow."""

from __future__ import annotations

import base64
import hashlib
import threading
import time
from dataclasses import replace
from datetime import timedelta

import orjson
import pytest
from typer.testing import CliRunner

from tests.conftest import make_read, register_cameras, user_with_token
from veille.domain.access import Role, Scope, ScopeKind
from veille.domain.audit import system_actor
from veille.domain.users import FEDERAL
from veille.entrypoints.cli import app
from veille.service import users as user_service

pytestmark = pytest.mark.e2e

ACTOR = system_actor("test")
PASSWORD = "hotlists are serious 1"

CSV_GOOD = (
    "plate,country,priority,source_ref,instructions,covert\n"
    "1-ABC-123,BE,1,PV 2026/123,Armed suspect: do not stop alone,\n"
    "2-XYZ-999,,3,SIS II,Inform the Sirene bureau,\n"
)


@pytest.fixture
def people(platform):
    now = platform.clock()
    user_service.ensure_organisation(uow=platform.uow(), org=replace(FEDERAL, created_at=now))
    user_service.create_organisation(
        uow=platform.uow(),
        org_id="pz-midi",
        name="Zone Midi",
        kind="local_zone",
        scope=Scope(ScopeKind.ZONE, "Midi"),
        now=now,
        actor=ACTOR,
    )
    for org_id, kind, scope in (
        ("pz-polbruno", "local_zone", Scope(ScopeKind.ZONE, "Polbruno")),
        ("bxl-dispatch", "other", Scope(ScopeKind.PROVINCE, "Bruxelles-Capitale")),
    ):
        user_service.create_organisation(
            uow=platform.uow(),
            org_id=org_id,
            name=org_id,
            kind=kind,
            scope=scope,
            now=now,
            actor=ACTOR,
        )
    out = {}
    for name, role, org in (
        ("hana", Role.HOTLIST_MANAGER, "federal"),
        ("otto", Role.OPERATOR, "federal"),
        ("mila", Role.OPERATOR, "pz-midi"),
        ("hugo", Role.HOTLIST_MANAGER, "pz-midi"),
        ("sam", Role.SUPERVISOR, "federal"),
        ("pia", Role.OPERATOR, "pz-polbruno"),
        ("max", Role.SUPERVISOR, "pz-midi"),
        ("pat", Role.OPERATOR, "bxl-dispatch"),
    ):
        user = user_service.create_user(
            uow=platform.uow(),
            username=name,
            password=PASSWORD,
            role=role,
            org_id=org,
            now=now,
            designated=True,
            training_expires=now + timedelta(days=300),
            actor=ACTOR,
        )
        token, _ = user_service.issue_token(uow=platform.uow(), user_id=user.user_id, now=now)
        out[name] = {"Authorization": f"Bearer {token}"}
    return out


def make_list(client, headers, list_id="stolen", **kw):
    body = {"name": "Stolen vehicles", "category": "stolen_vehicle", **kw}
    resp = client.put(f"/api/v1/hotlists/{list_id}", json=body, headers=headers)
    assert resp.status_code in (200, 201), resp.text
    return resp


def import_csv(client, headers, text, list_id="stolen"):
    return client.put(
        f"/api/v1/hotlists/{list_id}/entries",
        content=text.encode(),
        headers={**headers, "Content-Type": "text/csv"},
    )


def wait_for_matcher(platform, timeout=2.0):
    """Changes reach the matcher through the watcher; refresh now instead of waiting."""
    platform.matcher.refresh(platform.read_uow)


def post(client, cam, *reads):
    resp = client.post("/api/v1/reads", content=orjson.dumps(list(reads)), headers=cam.headers)
    assert resp.status_code == 200, resp.text
    return resp.json()


def alerts(client, headers, status="open,acknowledged,confirmed,rejected,closed"):
    resp = client.get(f"/api/v1/alerts?status={status}", headers=headers)
    assert resp.status_code == 200, resp.text
    return resp.json()["alerts"]


def test_import_is_atomic_reports_lines_and_differences(client, platform, people):
    make_list(client, people["hana"])
    bad = CSV_GOOD + "3-??-1,BE,9,x,y,\n"
    refused = import_csv(client, people["hana"], bad)
    assert refused.status_code == 422
    problems = refused.json()["problems"]
    assert problems[0]["where"] == "line 4"
    assert (
        client.get("/api/v1/hotlists/stolen/entries", headers=people["hana"]).json()["entries"]
        == []
    )
    ok = import_csv(client, people["hana"], CSV_GOOD)
    assert ok.status_code == 200 and (ok.json()["added"], ok.json()["removed"]) == (2, 0)
    again = import_csv(
        client,
        people["hana"],
        "plate,country,priority,instructions\n"
        "1-ABC-123,BE,2,Armed suspect: do not stop alone\n"
        "3-DEF-456,,3,\n",
    )
    report = again.json()
    assert (report["added"], report["changed"], report["removed"]) == (1, 1, 1)
    plates = {
        e["plate"]
        for e in client.get("/api/v1/hotlists/stolen/entries", headers=people["hana"]).json()[
            "entries"
        ]
    }
    assert plates == {"1ABC123", "3DEF456"}


def test_managers_see_only_their_organisations_lists(client, platform, people):
    make_list(client, people["hana"])
    assert client.get("/api/v1/hotlists", headers=people["hugo"]).json()["hotlists"] == []
    assert client.get("/api/v1/hotlists/stolen/entries", headers=people["hugo"]).status_code == 404
    assert import_csv(client, people["hugo"], CSV_GOOD).status_code == 404


def test_a_listed_plate_rings_an_alert_with_entry_details_and_repeats_join_it(
    client, platform, people
):
    cam = register_cameras(platform, "CAM-A")["CAM-A"]
    make_list(client, people["hana"])
    import_csv(client, people["hana"], CSV_GOOD)
    wait_for_matcher(platform)
    jpeg = b"\xff\xd8\xff" + b"plate-crop" * 50
    first = make_read(
        "CAM-A",
        plate="1-ABC-123",
        images=[
            {"kind": "plate", "content_type": "image/jpeg", "data": base64.b64encode(jpeg).decode()}
        ],
    )
    post(client, cam, first, make_read("CAM-A", plate="9-NOT-000"))
    found = alerts(client, people["otto"])
    assert len(found) == 1
    alert = found[0]
    assert alert["plate"] == "1ABC123" and alert["match"]["kind"] == "exact"
    assert alert["entry"]["instructions"] == "Armed suspect: do not stop alone"
    assert alert["priority"] == 1 and alert["category"] == "stolen_vehicle"
    post(client, cam, make_read("CAM-A", plate="1ABC123"))
    again = alerts(client, people["otto"])
    assert len(again) == 1 and again[0]["hit_count"] == 2

    detail = client.get(f"/api/v1/alerts/{alert['alert_id']}", headers=people["otto"]).json()
    assert len(detail["hits"]) == 2
    image = detail["read"]["images"][0]
    got = client.get(image["href"], headers=people["otto"])
    assert got.status_code == 200 and got.content == jpeg
    assert got.headers["content-type"] == "image/jpeg"


def test_alert_images_are_served_as_what_their_bytes_are(client, platform, people):
    cam = register_cameras(platform, "CAM-A")["CAM-A"]
    make_list(client, people["hana"])
    import_csv(client, people["hana"], CSV_GOOD)
    wait_for_matcher(platform)
    png = b"\x89PNG\r\n\x1a\n" + b"overview" * 40
    webp = b"RIFF\x00\x01\x00\x00WEBPVP8 " + b"plate" * 40
    opaque = b"neither jpeg nor png" * 10
    images = [  # the camera declares nothing, or the wrong type: the bytes decide
        {"kind": "overview", "data": base64.b64encode(png).decode()},
        {"kind": "plate", "content_type": "image/jpeg", "data": base64.b64encode(webp).decode()},
        {"kind": "other", "content_type": "image/png", "data": base64.b64encode(opaque).decode()},
    ]
    post(client, cam, make_read("CAM-A", plate="1-ABC-123", images=images))
    [alert] = alerts(client, people["otto"])
    detail = client.get(f"/api/v1/alerts/{alert['alert_id']}", headers=people["otto"]).json()
    served = [client.get(i["href"], headers=people["otto"]) for i in detail["read"]["images"]]
    assert [r.status_code for r in served] == [200, 200, 200]
    assert [r.headers["content-type"] for r in served] == [
        "image/png",
        "image/webp",
        "application/octet-stream",
    ]
    assert all(r.headers["x-content-type-options"] == "nosniff" for r in served)


def test_lookalike_and_country_rules(client, platform, people):
    cam = register_cameras(platform, "CAM-A")["CAM-A"]
    make_list(client, people["hana"])
    import_csv(client, people["hana"], CSV_GOOD)
    wait_for_matcher(platform)
    post(client, cam, make_read("CAM-A", plate="I-A8C-I23", country="BE"))  # look-alike
    post(client, cam, make_read("CAM-A", plate="1-ABC-123", country="FR"))  # wrong country
    found = alerts(client, people["otto"])
    assert [(a["plate"], a["match"]["kind"]) for a in found] == [("IA8CI23", "lookalike")]


def test_scope_and_covert_entries(client, platform, people):
    cams = register_cameras(platform, "CAM-A")  # zone Bruxelles-Capitale/Ixelles
    make_list(client, people["hana"])
    import_csv(client, people["hana"], CSV_GOOD)
    make_list(client, people["hugo"], list_id="midi-covert", category="investigation")
    assert (
        import_csv(
            client, people["hugo"], "plate,covert\n5-COV-555,yes\n", list_id="midi-covert"
        ).status_code
        == 200
    )
    wait_for_matcher(platform)
    post(
        client,
        cams["CAM-A"],
        make_read("CAM-A", plate="1ABC123"),
        make_read("CAM-A", plate="5COV555"),
    )
    federal = {a["plate"] for a in alerts(client, people["otto"])}
    assert federal == {"1ABC123"}  # national scope, but the covert hit belongs to Midi
    # Midi's operator owns the covert list but the camera is outside the Midi zone
    assert alerts(client, people["mila"]) == []


def test_workflow_with_history_and_reports(client, platform, people):
    cam = register_cameras(platform, "CAM-A")["CAM-A"]
    make_list(client, people["hana"])
    import_csv(client, people["hana"], CSV_GOOD)
    wait_for_matcher(platform)
    post(client, cam, make_read("CAM-A", plate="1ABC123"), make_read("CAM-A", plate="2XYZ999"))
    by_plate = {a["plate"]: a["alert_id"] for a in alerts(client, people["otto"])}
    first, second = by_plate["1ABC123"], by_plate["2XYZ999"]
    otto = people["otto"]
    assert (
        client.post(
            f"/api/v1/alerts/{first}/outcome", headers=otto, json={"outcome": "intercepted"}
        ).status_code
        == 409
    )
    assert (
        client.post(f"/api/v1/alerts/{first}/acknowledge", headers=otto, json={}).json()["status"]
        == "acknowledged"
    )
    assert (
        client.post(
            f"/api/v1/alerts/{first}/confirm", headers=otto, json={"note": "image matches"}
        ).json()["status"]
        == "confirmed"
    )
    closed = client.post(
        f"/api/v1/alerts/{first}/outcome",
        headers=otto,
        json={"outcome": "intercepted", "note": "stopped at Midi station"},
    )
    assert closed.json()["status"] == "closed" and closed.json()["outcome"] == "intercepted"
    rejected = client.post(
        f"/api/v1/alerts/{second}/reject", headers=otto, json={"reason": "misread"}
    )
    assert rejected.json()["status"] == "rejected"
    history = client.get(f"/api/v1/alerts/{first}", headers=otto).json()["events"]
    assert [(e["action"], e["by"]) for e in history] == [
        ("acknowledge", "otto"),
        ("confirm", "otto"),
        ("outcome", "otto"),
    ]
    # a new hit after the alert closed rings again
    post(client, cam, make_read("CAM-A", plate="1ABC123"))
    assert len([a for a in alerts(client, otto, "open") if a["plate"] == "1ABC123"]) == 1

    report = client.get("/api/v1/alert-reports", headers=people["sam"]).json()
    rows = {
        (r["list_id"], r["status"], r["outcome"], r["reason"]): r["alerts"]
        for r in report["by_list_zone_status"]
    }
    assert rows[("stolen", "closed", "intercepted", None)] == 1
    assert rows[("stolen", "rejected", None, "misread")] == 1
    cams = {c["camera_id"]: c for c in report["misread_rate_by_camera"]}
    assert cams["CAM-A"]["misread_rate"] == 0.5
    with platform.read_uow() as uow:
        actions = [r.entry.action for r in uow.audit.iter_all()]
    for action in (
        "hotlist.import",
        "alert.acknowledge",
        "alert.confirm",
        "alert.outcome",
        "alert.reject",
    ):
        assert action in actions


class RefreshCounter:
    """Counts the hotlist watcher's completed refreshes, so a test waits for cycles, not time."""

    def __init__(self, platform, monkeypatch):
        self._refresh = platform.matcher.refresh
        self._done = 0
        self._cond = threading.Condition()
        monkeypatch.setattr(platform.matcher, "refresh", self)

    def __call__(self, uow_factory):
        try:
            return self._refresh(uow_factory)
        finally:
            with self._cond:
                self._done += 1
                self._cond.notify_all()

    @property
    def done(self) -> int:
        with self._cond:
            return self._done

    def wait_for(self, count: int) -> bool:
        with self._cond:  # a generous cap: reached only if the watcher has stopped
            return self._cond.wait_for(lambda: self._done >= count, timeout=60)


def test_entry_change_takes_effect_without_restart(client, platform, people, monkeypatch):
    cam = register_cameras(platform, "CAM-A")["CAM-A"]
    make_list(client, people["hana"])
    refreshes = RefreshCounter(platform, monkeypatch)
    assert (
        client.post(
            "/api/v1/hotlists/stolen/entries",
            headers=people["hana"],
            json={"plate": "7-NEW-777", "instructions": "new"},
        ).status_code
        == 201
    )
    # No explicit refresh: the watcher's own cycles pick the change up. The second cycle
    # after the change began after it was committed, so it must have seen it.
    assert refreshes.wait_for(refreshes.done + 2), "the hotlist watcher stopped"
    post(client, cam, make_read("CAM-A", plate="7NEW777"))
    assert alerts(client, people["otto"]), "the new entry never hit"
    entry_id = client.get("/api/v1/hotlists/stolen/entries", headers=people["hana"]).json()[
        "entries"
    ][0]["entry_id"]
    assert (
        client.post(
            f"/api/v1/hotlists/stolen/entries/{entry_id}/expire", headers=people["hana"]
        ).status_code
        == 200
    )
    wait_for_matcher(platform)
    aid = alerts(client, people["otto"])[0]["alert_id"]
    client.post(
        f"/api/v1/alerts/{aid}/reject", headers=people["otto"], json={"reason": "entry_outdated"}
    )
    post(client, cam, make_read("CAM-A", plate="7NEW777"))
    assert alerts(client, people["otto"], "open") == []


def test_live_channel_pushes_alerts_to_operators_in_scope(client, platform, people):
    cam = register_cameras(platform, "CAM-A")["CAM-A"]
    make_list(client, people["hana"])
    import_csv(client, people["hana"], CSV_GOOD)
    wait_for_matcher(platform)
    received: list[dict] = []

    def listen() -> None:
        with client.stream("GET", "/api/v1/alerts/stream", headers=people["otto"]) as resp:
            assert resp.status_code == 200
            for line in resp.iter_lines():
                if line.startswith("data: "):
                    received.append(orjson.loads(line[6:]))
                    return

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    deadline = time.monotonic() + 5
    while platform.alert_bus.subscriber_count == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    read = make_read("CAM-A", plate="1ABC123")
    post(client, cam, read)
    listener.join(5)
    assert received, "no live event arrived"
    event = received[0]
    assert event["event"] == "new" and event["plate"] == "1ABC123"
    assert event["read"]["read_id"] == read["read_id"]
    assert event["entry"]["instructions"] == "Armed suspect: do not stop alone"


class Listener:
    """Reads a live stream on a thread and collects its events as (event, id, data)."""

    def __init__(self, client, platform, headers, last_event_id=None):
        self.events: list[tuple[str, str | None, dict]] = []
        self.status: int | None = None
        self.error: Exception | None = None
        self.ended = threading.Event()
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self._platform = platform
        before = platform.alert_bus.subscriber_count
        if last_event_id is not None:
            headers = {**headers, "Last-Event-ID": last_event_id}
        threading.Thread(target=self._listen, args=(client, headers), daemon=True).start()
        # until the stream is subscribed (or refused): an event, bounded only so that a
        # broken stream fails the test instead of hanging it
        deadline = time.monotonic() + 30
        while (
            platform.alert_bus.subscriber_count == before
            and not self.ended.is_set()
            and time.monotonic() < deadline
        ):
            time.sleep(0.01)

    def _listen(self, client, headers) -> None:
        try:
            with client.stream("GET", "/api/v1/alerts/stream", headers=headers) as resp:
                self.status = resp.status_code
                kind, event_id = "message", None
                for line in resp.iter_lines():
                    if line.startswith("event: "):
                        kind = line[7:]
                    elif line.startswith("id: "):
                        event_id = line[4:]
                    elif line.startswith("data: "):
                        with self._changed:
                            self.events.append((kind, event_id, orjson.loads(line[6:])))
                            self._changed.notify_all()
                        if kind == "closed" or self._stop.is_set():
                            return
                        kind, event_id = "message", None
        except Exception as exc:  # the test ended and its client closed under an open stream
            self.error = exc
        finally:
            self.ended.set()
            with self._changed:
                self._changed.notify_all()

    def wait_for(self, count=1, kind="alert", timeout=10.0) -> list[tuple[str, str | None, dict]]:
        """The first `count` events of this kind, waiting for them with a generous bound."""
        with self._changed:
            self._changed.wait_for(
                lambda: len(self.of(kind)) >= count or self.ended.is_set(), timeout
            )
        return self.of(kind)

    def of(self, kind):
        return [e for e in self.events if e[0] == kind]

    def stop_after_next(self) -> None:
        self._stop.set()


def live_setup(client, platform, people):
    cam = register_cameras(platform, "CAM-A")["CAM-A"]
    make_list(client, people["hana"])
    import_csv(client, people["hana"], CSV_GOOD)
    wait_for_matcher(platform)
    return cam


def test_live_channel_closes_on_its_timer_when_access_is_withdrawn_elsewhere(
    client, platform, people
):
    """The CLI runs in another process and cannot reach the server's streams: the timed
    re-check (a setting) is what ends them."""
    platform.settings.alert_stream_check_s = 0.2
    listener = Listener(client, platform, people["otto"])
    token = people["otto"]["Authorization"].removeprefix("Bearer ")
    user_service.revoke_token(uow=platform.uow(), token=token, now=platform.clock(), actor=ACTOR)
    (closed,) = listener.wait_for(kind="closed")
    assert "revoked" in closed[2]["reason"]
    deadline = time.monotonic() + 2
    while platform.alert_bus.subscriber_count and time.monotonic() < deadline:
        time.sleep(0.02)
    assert platform.alert_bus.subscriber_count == 0


@pytest.mark.parametrize(
    "how", ["sign-out", "delete", "withdraw designation", "training", "approved move"]
)
def test_revocation_deletion_and_changes_close_the_users_streams_at_once(
    client, platform, people, admin_token, how
):
    platform.settings.alert_stream_check_s = 600  # far longer than the wait below
    admin = {"Authorization": f"Bearer {admin_token}"}
    otto = user_service.identify(
        uow=platform.read_uow(),
        token=people["otto"]["Authorization"].removeprefix("Bearer "),
        now=platform.clock(),
    ).principal
    listener = Listener(client, platform, people["otto"])
    other = Listener(client, platform, people["mila"])
    if how == "sign-out":
        resp = client.post("/api/v1/auth/sign-out", headers=people["otto"])
    elif how == "delete":
        resp = client.delete(f"/api/v1/users/{otto.user_id}", headers=admin)
    elif how == "withdraw designation":
        resp = client.patch(
            f"/api/v1/users/{otto.user_id}", json={"designated": False}, headers=admin
        )
    elif how == "approved move":  # four eyes: to zone Midi once a second administrator agrees
        moved = client.patch(
            f"/api/v1/users/{otto.user_id}", json={"org_id": "pz-midi"}, headers=admin
        )
        assert moved.status_code == 202, moved.text
        _, bob = user_with_token(platform, "bob", Role.ADMINISTRATOR, designated=False)
        grant_id = moved.json()["grant"]["grant_id"]
        resp = client.post(f"/api/v1/user-grants/{grant_id}/approve", json={}, headers=bob)
    else:  # the training expired yesterday
        expired = (platform.clock() - timedelta(days=1)).isoformat()
        body = {"training_expires": expired}
        resp = client.patch(f"/api/v1/users/{otto.user_id}", json=body, headers=admin)
    assert resp.status_code == 200, resp.text
    (closed,) = listener.wait_for(kind="closed")
    assert closed[2]["reason"]
    assert other.of("closed") == [], "another user's stream was closed too"


def test_an_account_deleted_from_the_cli_loses_its_stream_at_the_next_check(
    client, platform, people
):
    """The CLI is another process: it cannot reach this server's streams, the timed
    re-check ends them (VEILLE_ALERT_STREAM_CHECK_S)."""
    platform.settings.alert_stream_check_s = 0.3
    listener = Listener(client, platform, people["otto"])
    data_dir = str(platform.settings.data_dir)
    deleted = CliRunner().invoke(app, ["users", "delete", "otto", "--data-dir", data_dir])
    assert deleted.exit_code == 0, deleted.output
    (closed,) = listener.wait_for(kind="closed")
    assert "deleted" in closed[2]["reason"]


def test_the_stream_closes_when_the_training_expires(client, platform, people, admin_token):
    admin = {"Authorization": f"Bearer {admin_token}"}
    platform.settings.alert_stream_check_s = 600  # the expiry, not the period, ends it
    listener = Listener(client, platform, people["otto"])
    assert listener.status == 200
    otto = user_service.identify(
        uow=platform.read_uow(),
        token=people["otto"]["Authorization"].removeprefix("Bearer "),
        now=platform.clock(),
    ).principal
    # the stream is open and allowed; its training now ends in a second, with no other
    # change after that: the stream's own expiry timer must close it
    soon = (platform.clock() + timedelta(seconds=1)).isoformat()
    resp = client.patch(
        f"/api/v1/users/{otto.user_id}", json={"training_expires": soon}, headers=admin
    )
    assert resp.status_code == 200, resp.text
    (closed,) = listener.wait_for(kind="closed", timeout=30)
    assert "training" in closed[2]["reason"]


def test_events_carry_ids_and_a_reconnect_resumes_without_loss_or_duplicate(
    client, platform, people
):
    cam = live_setup(client, platform, people)
    first = Listener(client, platform, people["otto"])
    post(client, cam, make_read("CAM-A", plate="1ABC123"))
    (seen,) = first.wait_for(1)
    first.stop_after_next()
    post(client, cam, make_read("CAM-A", plate="2XYZ999"))  # wakes it, so it hangs up
    first.ended.wait(5)
    # while the console is away
    post(client, cam, make_read("CAM-A", plate="1ABC123"))
    post(client, cam, make_read("CAM-A", plate="2XYZ999"))
    again = Listener(client, platform, people["otto"], last_event_id=seen[1])
    post(client, cam, make_read("CAM-A", plate="1ABC123"))  # live, after the replay
    got = again.wait_for(4)
    assert len(got) == 4 and again.of("gap") == []
    ids = [event_id for _, event_id, _ in got]
    epochs = {i.rsplit("-", 1)[0] for i in ids} | {seen[1].rsplit("-", 1)[0]}
    numbers = [int(seen[1].rsplit("-", 1)[1])] + [int(i.rsplit("-", 1)[1]) for i in ids]
    assert len(epochs) == 1 and numbers == list(range(numbers[0], numbers[0] + 5))
    assert [d["plate"] for _, _, d in got] == ["2XYZ999", "1ABC123", "2XYZ999", "1ABC123"]


def test_replay_is_scoped_to_the_principal_at_reconnect(client, platform, people):
    live_setup(client, platform, people)
    midi = register_cameras(platform, "MIDI-1", zone="Midi")["MIDI-1"]
    cam = register_cameras(platform, "CAM-B")["CAM-B"]
    watcher = Listener(client, platform, people["otto"])
    post(client, cam, make_read("CAM-B", plate="1ABC123"))
    (start,) = watcher.wait_for(1)
    post(client, cam, make_read("CAM-B", plate="2XYZ999"))  # outside Midi
    post(client, midi, make_read("MIDI-1", plate="1ABC123"))
    watcher.wait_for(3)
    mila = Listener(client, platform, people["mila"], last_event_id=start[1])
    (replayed,) = mila.wait_for(1)
    assert replayed[2]["camera_id"] == "MIDI-1"
    assert replayed[1] == watcher.of("alert")[2][1]


@pytest.mark.parametrize("last_event_id", ["0badc0de-1", "garbage", "EPOCH-999999"])
def test_an_unknown_last_event_id_is_answered_with_a_gap(client, platform, people, last_event_id):
    last_event_id = last_event_id.replace("EPOCH", platform.alert_bus.epoch)
    listener = Listener(client, platform, people["otto"], last_event_id=last_event_id)
    (gap,) = listener.wait_for(kind="gap")
    assert gap[1] is None and gap[2]["reload"] == "/api/v1/alerts"


def jpeg_image(tag: str) -> tuple[bytes, dict[str, str]]:
    data = b"\xff\xd8\xff" + tag.encode() * 40
    return data, {
        "kind": "plate",
        "content_type": "image/jpeg",
        "data": base64.b64encode(data).decode(),
    }


def zone_cameras(platform):
    midi = register_cameras(platform, "MIDI-1", zone="Midi")["MIDI-1"]
    polbruno = register_cameras(platform, "PB-1", zone="Polbruno")["PB-1"]
    return midi, polbruno


def hit_ids(client, headers, alert):
    detail = client.get(f"/api/v1/alerts/{alert['alert_id']}", headers=headers).json()
    return {h["camera_id"] for h in detail["hits"]}, detail


def test_each_zone_gets_its_own_alert_and_sees_only_its_own_reads(client, platform, people):
    midi, polbruno = zone_cameras(platform)
    make_list(client, people["hana"])
    import_csv(client, people["hana"], CSV_GOOD)
    wait_for_matcher(platform)
    _, midi_image = jpeg_image("midi")
    polbruno_jpeg, polbruno_image = jpeg_image("polbruno")
    post(client, midi, make_read("MIDI-1", plate="1ABC123", images=[midi_image]))
    post(client, polbruno, make_read("PB-1", plate="1ABC123", images=[polbruno_image]))

    # Midi's operator sees only the Midi read, and cannot fetch the Polbruno image
    (mila_alert,) = alerts(client, people["mila"])
    polbruno_sha = hashlib.sha256(polbruno_jpeg).hexdigest()
    stolen = client.get(
        f"/api/v1/alerts/{mila_alert['alert_id']}/images/{polbruno_sha}", headers=people["mila"]
    )
    assert stolen.status_code == 404
    assert mila_alert["zone"] == "Midi" and mila_alert["hit_count"] == 1
    cameras, _ = hit_ids(client, people["mila"], mila_alert)
    assert cameras == {"MIDI-1"}

    # Polbruno's own operators are alerted for the Polbruno hit
    (pia_alert,) = alerts(client, people["pia"])
    assert pia_alert["camera_id"] == "PB-1" and pia_alert["hit_count"] == 1
    cameras, detail = hit_ids(client, people["pia"], pia_alert)
    assert cameras == {"PB-1"}
    image = detail["read"]["images"][0]
    assert image["sha256"] == polbruno_sha
    assert client.get(image["href"], headers=people["pia"]).content == polbruno_jpeg

    # wider scopes still see every hit they may: one alert per zone
    for wide in ("pat", "otto"):
        seen = alerts(client, people[wide])
        assert sorted(a["zone"] for a in seen) == ["Midi", "Polbruno"], wide
        assert all(a["hit_count"] == 1 for a in seen)

    # a repeat in a zone joins that zone's alert only
    post(client, polbruno, make_read("PB-1", plate="1ABC123"))
    assert alerts(client, people["pia"])[0]["hit_count"] == 2
    assert alerts(client, people["mila"])[0]["hit_count"] == 1


def test_a_covert_hit_outside_its_owners_scope_is_never_shown_to_them(client, platform, people):
    midi, polbruno = zone_cameras(platform)
    make_list(client, people["hugo"], list_id="midi-covert", category="investigation")
    import_csv(client, people["hugo"], "plate,covert\n5-COV-555,yes\n", list_id="midi-covert")
    wait_for_matcher(platform)
    post(client, midi, make_read("MIDI-1", plate="5COV555"))
    post(client, polbruno, make_read("PB-1", plate="5COV555"))
    (owned,) = alerts(client, people["mila"])
    cameras, detail = hit_ids(client, people["mila"], owned)
    assert cameras == {"MIDI-1"} and owned["hit_count"] == 1
    assert detail["read"]["camera_id"] == "MIDI-1"
    for other in ("pia", "pat", "otto"):  # not owners: nothing, even in their own scope
        assert alerts(client, people[other]) == [], other


def test_the_alert_list_is_not_crowded_out_by_other_zones(client, platform, people):
    midi, polbruno = zone_cameras(platform)
    make_list(client, people["hana"])
    plates = [f"1PBX{n:03d}" for n in range(6)]
    import_csv(
        client,
        people["hana"],
        "plate\n1MID001\n" + "".join(f"{p}\n" for p in plates),
    )
    wait_for_matcher(platform)
    post(client, midi, make_read("MIDI-1", plate="1MID001"))
    post(client, polbruno, *[make_read("PB-1", plate=p) for p in plates])
    got = client.get("/api/v1/alerts?limit=1", headers=people["mila"]).json()["alerts"]
    assert [a["plate"] for a in got] == ["1MID001"]


def test_alert_reports_are_scoped_and_never_reveal_covert_lists(
    client, platform, people, admin_token
):
    midi, polbruno = zone_cameras(platform)
    make_list(client, people["hana"])
    import_csv(client, people["hana"], CSV_GOOD)
    make_list(client, people["hugo"], list_id="midi-covert", category="investigation")
    import_csv(client, people["hugo"], "plate,covert\n5-COV-555,yes\n", list_id="midi-covert")
    wait_for_matcher(platform)
    post(client, midi, make_read("MIDI-1", plate="1ABC123"), make_read("MIDI-1", plate="5COV555"))
    post(client, polbruno, make_read("PB-1", plate="2XYZ999"))
    covert_id = next(a["alert_id"] for a in alerts(client, people["mila"]) if a["covert"])
    client.post(
        f"/api/v1/alerts/{covert_id}/reject", headers=people["mila"], json={"reason": "misread"}
    )

    def report(headers):
        resp = client.get("/api/v1/alert-reports", headers=headers)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        rows = {(r["list_id"], r["zone"]): r["alerts"] for r in body["by_list_zone_status"]}
        cams = {
            c["camera_id"]: (c["decided"], c["misreads"]) for c in body["misread_rate_by_camera"]
        }
        return rows, cams

    # Midi's supervisor: Midi only, with Midi's own covert list
    rows, cams = report(people["max"])
    assert rows == {("stolen", "Midi"): 1, ("midi-covert", "Midi"): 1}
    assert cams == {"MIDI-1": (1, 1)}
    # national supervisors and administrators: every zone, but no trace of the covert list
    for headers in (people["sam"], {"Authorization": f"Bearer {admin_token}"}):
        rows, cams = report(headers)
        assert rows == {("stolen", "Midi"): 1, ("stolen", "Polbruno"): 1}
        assert cams == {"MIDI-1": (0, 0), "PB-1": (0, 0)}
        text = client.get("/api/v1/alert-reports", headers=headers).text
        assert "midi-covert" not in text
    # the command line acts for no organisation: every zone, no covert list
    done = CliRunner().invoke(
        app, ["alerts", "report", "--data-dir", str(platform.settings.data_dir)]
    )
    assert done.exit_code == 0, done.output
    assert "midi-covert" not in done.output
    listed = orjson.loads(done.output)["by_list_zone_status"]
    assert sorted((r["list_id"], r["zone"]) for r in listed) == [
        ("stolen", "Midi"),
        ("stolen", "Polbruno"),
    ]


def test_stale_reads_never_alert_and_late_reads_are_marked_with_their_age(client, platform, people):
    cam = register_cameras(platform, "CAM-A")["CAM-A"]
    make_list(client, people["hana"])
    import_csv(client, people["hana"], CSV_GOOD)
    wait_for_matcher(platform)
    now = platform.clock()

    def at(age: timedelta) -> str:
        return (now - age).isoformat().replace("+00:00", "Z")

    stale = make_read("CAM-A", plate="1ABC123", captured_at=at(timedelta(days=40)))
    answer = post(client, cam, stale)
    assert answer["stored"] == 1  # still stored: only the alert is withheld
    assert alerts(client, people["otto"]) == []

    post(client, cam, make_read("CAM-A", plate="1ABC123", captured_at=at(timedelta(minutes=20))))
    post(client, cam, make_read("CAM-A", plate="2XYZ999"))
    by_plate = {a["plate"]: a for a in alerts(client, people["otto"])}
    late, fresh = by_plate["1ABC123"], by_plate["2XYZ999"]
    assert late["late"] is True and 20 * 60 <= late["age_s"] < 20 * 60 + 300
    assert fresh["late"] is False and fresh["age_s"] < 600
    detail = client.get(f"/api/v1/alerts/{late['alert_id']}", headers=people["otto"]).json()
    assert [h["late"] for h in detail["hits"]] == [True]
    assert late["hit_count"] == 1  # the 40-day-old read never joined it


def test_an_alerts_reads_and_images_close_with_the_open_window(client, platform, people):
    cam = register_cameras(platform, "CAM-A")["CAM-A"]
    make_list(client, people["hana"])
    import_csv(client, people["hana"], CSV_GOOD)
    wait_for_matcher(platform)
    real_now = platform.clock()
    jpeg, image = jpeg_image("old")
    captured = (real_now - timedelta(days=29)).isoformat().replace("+00:00", "Z")
    post(client, cam, make_read("CAM-A", plate="1ABC123", captured_at=captured, images=[image]))
    (alert,) = alerts(client, people["otto"])
    detail = client.get(f"/api/v1/alerts/{alert['alert_id']}", headers=people["otto"]).json()
    href = detail["read"]["images"][0]["href"]
    assert client.get(href, headers=people["otto"]).content == jpeg

    # two days on, the read is 31 days old: only the query service may show it now
    platform.clock = lambda: real_now + timedelta(days=2)
    later = client.get(f"/api/v1/alerts/{alert['alert_id']}", headers=people["otto"]).json()
    assert "read" not in later and later["hits"] == []
    assert later["hits_outside_window"] == 1
    assert client.get(href, headers=people["otto"]).status_code == 404


def test_live_channel_closes_when_the_users_scope_changes_even_while_busy(client, platform, people):
    platform.settings.alert_stream_check_s = 1.0
    cam = register_cameras(platform, "CAM-A")["CAM-A"]
    make_list(client, people["hana"])
    import_csv(client, people["hana"], CSV_GOOD)
    wait_for_matcher(platform)
    lines: list[str] = []
    done = threading.Event()

    def listen() -> None:
        with client.stream("GET", "/api/v1/alerts/stream", headers=people["otto"]) as resp:
            for line in resp.iter_lines():
                lines.append(line)
                if line.startswith("event: closed"):
                    break
        done.set()

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    deadline = time.monotonic() + 5
    while platform.alert_bus.subscriber_count == 0 and time.monotonic() < deadline:
        time.sleep(0.02)

    def ring() -> None:  # repeat hits more often than the heartbeat: the stream never idles
        while not done.is_set() and time.monotonic() < deadline + 20:
            post(client, cam, make_read("CAM-A", plate="1ABC123"))

    ringer = threading.Thread(target=ring, daemon=True)
    ringer.start()
    with platform.read_uow() as uow:
        otto = uow.users.by_username("otto")
    # moved from the federal police (national) to zone Midi: national alerts must stop
    user_service.update_user(
        uow=platform.uow(),
        user_id=otto.user_id,
        org_id="pz-midi",
        now=platform.clock(),
        actor=ACTOR,
    )
    assert done.wait(10), "the stream kept the national scope after the user moved to Midi"
    ringer.join(10)
    assert sum(1 for line in lines if line.startswith("event: alert")) > 2  # it was busy
    assert any(line.startswith("event: closed") for line in lines)
