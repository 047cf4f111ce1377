"""Alerts leave the system: signed webhooks to a real HTTP receiver, MQTT to the real broker."""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import threading
import time
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import orjson
import pytest
from fastapi.testclient import TestClient

from tests.conftest import make_read, register_cameras
from veille.adapters.dispatch import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature
from veille.adapters.webhook_targets import check_target
from veille.bootstrap import bootstrap
from veille.domain.audit import system_actor
from veille.domain.hotlists import Category, Hotlist
from veille.domain.users import FEDERAL
from veille.domain.webhooks import TargetAllowList
from veille.entrypoints.api.app import create_app
from veille.service import hotlists as hotlist_service
from veille.service import users as user_service
from veille.service.events import HotlistHit

pytestmark = pytest.mark.integration
ACTOR = system_actor("test")
MQTT_HOST, MQTT_PORT = "127.0.0.1", 1883


def require_server(host: str, port: int, name: str) -> None:
    """Tests that need a real server: in CI an unreachable server fails, elsewhere skips."""
    try:
        socket.create_connection((host, port), timeout=2).close()
    except OSError:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{name} is not reachable on {host}:{port} (CI requires it)")
        pytest.skip(f"{name} is not reachable on {host}:{port}")


def stolen_list(platform, *plates: str) -> None:
    now = platform.clock()
    user_service.ensure_organisation(uow=platform.uow(), org=replace(FEDERAL, created_at=now))
    hotlist_service.save_list(
        uow=platform.uow(),
        now=now,
        actor=ACTOR,
        hotlist=Hotlist("stolen", "Stolen vehicles", Category.STOLEN_VEHICLE, "federal"),
    )
    hotlist_service.import_list(
        uow=platform.uow(),
        snapshot=platform.read_uow,
        list_id="stolen",
        now=now,
        actor=ACTOR,
        records=[
            (f"line {i}", {"plate": p, "instructions": "stop with care"})
            for i, p in enumerate(plates, start=2)
        ],
    )
    platform.matcher.refresh(platform.read_uow)


class Receiver(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[dict[str, str], bytes]]] = []
    fail_first = 0

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        cls = type(self)
        if cls.fail_first > 0:
            cls.fail_first -= 1
            self.send_response(503)
            self.end_headers()
            return
        cls.received.append((dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return


def admin_headers(platform) -> dict[str, str]:
    now = platform.clock()
    admin = user_service.create_first_admin(
        uow=platform.uow(), username="admin", password="admin password long", now=now
    )
    token, _ = user_service.issue_token(uow=platform.uow(), user_id=admin.user_id, now=now)
    return {"Authorization": f"Bearer {token}"}


def test_signed_webhook_with_retries_and_failure_log(tmp_path, settings):
    settings.webhook_backoff_s = 0.05
    settings.webhook_allowed_targets = ["127.0.0.1"]  # the receiver is local
    Receiver.received, Receiver.fail_first = [], 2  # two 503s, then accepted
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    dead_port = closed.getsockname()[1]
    closed.close()  # nothing listens there: every attempt fails
    platform = bootstrap(settings)
    platform.store.initialise()
    try:
        with TestClient(create_app(platform)) as client:
            admin = admin_headers(platform)
            good = client.post(
                "/api/v1/webhooks",
                headers=admin,
                json={"name": "dispatch", "url": f"http://127.0.0.1:{server.server_port}/hook"},
            )
            secret = good.json()["secret"]
            client.post(
                "/api/v1/webhooks",
                headers=admin,
                json={"name": "gone", "url": f"http://127.0.0.1:{dead_port}/hook"},
            )
            cam = register_cameras(platform, "CAM-A")["CAM-A"]
            stolen_list(platform, "1ABC123")
            read = make_read("CAM-A", plate="1ABC123")
            client.post("/api/v1/reads", content=orjson.dumps(read), headers=cam.headers)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                log = client.get("/api/v1/webhooks/deliveries", headers=admin).json()
                if len(log["deliveries"]) == 2:
                    break
                time.sleep(0.05)
            by_hook = {d["webhook_id"]: d for d in log["deliveries"]}
            assert by_hook[1]["status"] == "delivered" and by_hook[1]["attempts"] == 3
            assert by_hook[2]["status"] == "failed" and by_hook[2]["attempts"] == 5
            assert "ConnectError" in by_hook[2]["error"]
            listed = client.get("/api/v1/webhooks", headers=admin).json()["webhooks"]
            assert all("secret" not in h for h in listed)
    finally:
        server.shutdown()
    assert len(Receiver.received) == 1
    headers, body = Receiver.received[0]
    assert verify_signature(secret, headers[TIMESTAMP_HEADER], body, headers[SIGNATURE_HEADER])
    assert not verify_signature(
        "wrong secret", headers[TIMESTAMP_HEADER], body, headers[SIGNATURE_HEADER]
    )
    event = json.loads(body)
    assert event["event"] == "new" and event["plate"] == "1ABC123"
    assert event["read"]["read_id"] == read["read_id"]


def test_alerts_are_published_to_the_real_mqtt_broker(settings):
    require_server(MQTT_HOST, MQTT_PORT, "Mosquitto")
    import paho.mqtt.client as mqtt

    settings.mqtt_host, settings.mqtt_port = MQTT_HOST, MQTT_PORT
    settings.mqtt_topic_prefix = f"veille-test-{os.getpid()}/alerts"
    messages: list[tuple[str, bytes]] = []
    subscribed = threading.Event()
    listener = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    listener.on_connect = lambda c, *a: c.subscribe(f"{settings.mqtt_topic_prefix}/#", qos=1)
    listener.on_subscribe = lambda *a: subscribed.set()
    listener.on_message = lambda c, u, m: messages.append((m.topic, m.payload))
    listener.connect(MQTT_HOST, MQTT_PORT)
    listener.loop_start()
    assert subscribed.wait(5)
    platform = bootstrap(settings)
    platform.store.initialise()
    try:
        with TestClient(create_app(platform)) as client:
            cam = register_cameras(platform, "CAM-A")["CAM-A"]
            stolen_list(platform, "1ABC123")
            deadline = time.monotonic() + 10
            read = make_read("CAM-A", plate="1-ABC-123")
            client.post("/api/v1/reads", content=orjson.dumps(read), headers=cam.headers)
            while not messages and time.monotonic() < deadline:
                time.sleep(0.05)
    finally:
        listener.loop_stop()
        listener.disconnect()
    assert messages, "no MQTT message arrived"
    topic, payload = messages[0]
    assert topic == f"{settings.mqtt_topic_prefix}/bruxelles-capitale/bruxelles-capitale-ixelles"
    event = json.loads(payload)
    assert event["plate"] == "1ABC123" and event["read"]["read_id"] == read["read_id"]


def deliveries(client, admin, count: int) -> list[dict]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = client.get("/api/v1/webhooks/deliveries", headers=admin).json()["deliveries"]
        if len(found) >= count:
            return found
        time.sleep(0.05)
    raise AssertionError(f"fewer than {count} deliveries logged")


def test_webhooks_to_internal_targets_are_refused_at_creation(settings):
    platform = bootstrap(settings)
    platform.store.initialise()
    with TestClient(create_app(platform)) as client:
        admin = admin_headers(platform)
        for url in (
            "http://169.254.169.254/latest/meta-data",
            "http://127.0.0.1:9/h",
            "http://[::1]/h",
            "http://10.0.0.7/h",
            "http://localhost:8080/h",
        ):
            resp = client.post("/api/v1/webhooks", headers=admin, json={"name": "xx", "url": url})
            assert resp.status_code == 422, (url, resp.text)
            err = resp.json()["error"]
            assert err["code"] == "webhook_target_refused"
            assert err["problems"][0]["field"] == "body.url"
            assert "VEILLE_WEBHOOK_ALLOWED_TARGETS" in err["message"]
        assert client.get("/api/v1/webhooks", headers=admin).json()["webhooks"] == []
        settings.webhook_allowed_targets = ["127.0.0.0/8"]
        resp = client.post(
            "/api/v1/webhooks", headers=admin, json={"name": "xx", "url": "http://127.0.0.1:9/h"}
        )
        assert resp.status_code == 201


def test_a_name_re_pointed_inside_after_creation_is_refused_at_delivery(settings):
    """DNS rebinding: the name was public when the webhook was registered; when the alert
    goes out it resolves to the local receiver. Nothing is sent, and the log says why."""
    Receiver.received, Receiver.fail_first = [], 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    dns = {"hooks.example": ["193.191.245.10"]}
    platform = bootstrap(settings)
    platform.store.initialise()
    platform.webhooks.check = lambda url: check_target(
        url,
        allow=TargetAllowList.parse(settings.webhook_allowed_targets),
        resolve=lambda host, port: [ipaddress.ip_address(a) for a in dns.get(host, [])],
    )
    try:
        with TestClient(create_app(platform)) as client:
            admin = admin_headers(platform)
            url = f"http://hooks.example:{server.server_port}/hook"
            resp = client.post(
                "/api/v1/webhooks", headers=admin, json={"name": "dispatch", "url": url}
            )
            assert resp.status_code == 201, resp.text
            dns["hooks.example"] = ["127.0.0.1"]  # re-pointed after the check
            cam = register_cameras(platform, "CAM-A")["CAM-A"]
            stolen_list(platform, "1ABC123")
            client.post(
                "/api/v1/reads", json=make_read("CAM-A", plate="1ABC123"), headers=cam.headers
            )
            [log] = deliveries(client, admin, 1)
            assert log["status"] == "failed" and log["attempts"] == 1
            assert log["error"].startswith("refused: hooks.example resolves to 127.0.0.1")
            # allowed by address: delivered to the very address checked, under its name
            settings.webhook_allowed_targets = ["127.0.0.1/32"]
            client.post(
                "/api/v1/reads", json=make_read("CAM-A", plate="1ABC123"), headers=cam.headers
            )
            logs = deliveries(client, admin, 2)
            assert {d["status"] for d in logs} == {"failed", "delivered"}
    finally:
        server.shutdown()
    [(headers, _)] = Receiver.received  # hooks.example is no real name: pinned to 127.0.0.1
    assert headers["Host"] == f"hooks.example:{server.server_port}"


def test_webhooks_and_mqtt_carry_only_reads_of_their_own_zone(platform, client):
    from veille.adapters.dispatch import MqttPublisher
    from veille.service import alerts as alert_service

    cams = register_cameras(platform, "PB-1", zone="Polbruno")
    midi_cam = register_cameras(platform, "MIDI-2", zone="Midi")["MIDI-2"]
    with platform.uow() as uow:
        for name, kind, value in (
            ("midi", "zone", "Midi"),
            ("polbruno", "zone", "Polbruno"),
            ("brussels", "province", "Bruxelles-Capitale"),
        ):
            uow.alerts.add_webhook(
                name=name,
                url=f"https://{name}.invalid/hook",
                secret="s",
                scope_kind=kind,
                scope_value=value,
                now=platform.clock(),
            )
        uow.commit()
    stolen_list(platform, "1ABC123")
    events: list = []
    platform.bus.subscribe(HotlistHit, lambda hit, raised: events.append(hit))
    for cam, camera_id in ((midi_cam, "MIDI-2"), (cams["PB-1"], "PB-1")):
        read = make_read(camera_id, plate="1ABC123")
        resp = client.post("/api/v1/reads", content=orjson.dumps(read), headers=cam.headers)
        assert resp.status_code == 200, resp.text
    platform.writer.stop()  # publishing runs after the answer: let the writer finish it
    assert len(events) == 2

    delivered = {
        e.read.camera_id: sorted(
            h.name for h in alert_service.webhook_targets(uow=platform.read_uow(), alert=e.alert)
        )
        for e in events
    }
    assert delivered == {"MIDI-2": ["brussels", "midi"], "PB-1": ["brussels", "polbruno"]}

    mqtt = MqttPublisher(
        host="127.0.0.1", port=1, prefix="veille/alerts", to_json=alert_service.event_json
    )
    published = {
        (json.loads(p)["read"]["camera_id"], json.loads(p)["zone"]): t
        for t, p in mqtt.messages(events)
    }
    assert published == {
        ("MIDI-2", "Midi"): "veille/alerts/bruxelles-capitale/midi",
        ("PB-1", "Polbruno"): "veille/alerts/bruxelles-capitale/polbruno",
    }
