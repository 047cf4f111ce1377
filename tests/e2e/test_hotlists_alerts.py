"""Hotlists and alerts over HTTP: imports, matching on ingest, live channel, workflow."""

from __future__ import annotations

import base64
import threading
import time
from dataclasses import replace
from datetime import timedelta

import orjson
import pytest

from tests.conftest import make_read, register_cameras
from veille.domain.access import Role, Scope, ScopeKind
from veille.domain.audit import system_actor
from veille.domain.users import FEDERAL
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
    out = {}
    for name, role, org in (
        ("hana", Role.HOTLIST_MANAGER, "federal"),
        ("otto", Role.OPERATOR, "federal"),
        ("mila", Role.OPERATOR, "pz-midi"),
        ("hugo", Role.HOTLIST_MANAGER, "pz-midi"),
        ("sam", Role.SUPERVISOR, "federal"),
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


def test_live_channel_closes_when_access_is_withdrawn(client, platform, people, monkeypatch):
    from veille.entrypoints.api import alerts as alerts_api

    monkeypatch.setattr(alerts_api, "HEARTBEAT_S", 0.2)
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
    assert client.post("/api/v1/auth/sign-out", headers=people["otto"]).status_code == 200
    assert done.wait(5), "the stream stayed open after the token was revoked"
    assert "event: closed" in lines
    deadline = time.monotonic() + 2
    while platform.alert_bus.subscriber_count and time.monotonic() < deadline:
        time.sleep(0.02)
    assert platform.alert_bus.subscriber_count == 0
