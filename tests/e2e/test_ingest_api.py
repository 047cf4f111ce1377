"""POST /api/v1/reads end to end: per-item results, bad input, credentials, dead letters."""

from __future__ import annotations

import base64
import hashlib
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta

import orjson
import pytest
from fastapi.testclient import TestClient

from tests.conftest import BlockedUnitOfWork, CameraCred, make_read, register_cameras
from veille.adapters.decoders.native_json import validate_batch
from veille.bootstrap import Platform, bootstrap
from veille.entrypoints.api.app import create_app
from veille.settings import Settings

pytestmark = pytest.mark.e2e


@pytest.fixture
def settings(settings_on_each_store: Settings) -> Settings:
    """Every test here runs on the embedded store and on PostgreSQL."""
    return settings_on_each_store


def post(client: TestClient, cam: CameraCred, body: object) -> tuple[int, dict]:
    resp = client.post("/api/v1/reads", content=orjson.dumps(body), headers=cam.headers)
    return resp.status_code, resp.json()


def stored_count(platform: Platform) -> int:
    with platform.read_uow() as uow:
        return uow.reads.count()


def open_dead_letters(platform: Platform) -> list:
    with platform.read_uow() as uow:
        return uow.dead_letters.find(status="open")


def test_single_read_is_stored_and_acknowledged(client, platform, cams):
    read = make_read("CAM-A", plate="1-abc-123")
    status, body = post(client, cams["CAM-A"], read)
    assert status == 200
    assert body["stored"] == 1
    assert body["results"] == [{"index": 0, "status": "stored", "read_id": read["read_id"]}]
    with platform.read_uow() as uow:
        stored = uow.reads.get(uuid.UUID(read["read_id"]))
    assert stored is not None
    assert stored.plate == "1ABC123" and stored.plate_raw == "1-abc-123"
    assert stored.camera_id == "CAM-A"


def test_batch_keeps_good_items_when_others_are_bad(client, platform, cams):
    good = [make_read("CAM-A") for _ in range(5)]
    bad_time = make_read("CAM-A", captured_at="2026-02-30T10:00:00Z")
    bad_conf = make_read("CAM-A", confidence="high")
    missing_plate = make_read("CAM-A", plate=...)
    items = [good[0], bad_time, good[1], bad_conf, good[2], missing_plate, good[3], good[4]]
    status, body = post(client, cams["CAM-A"], {"reads": items})
    assert status == 200
    assert (body["stored"], body["rejected"]) == (5, 3)
    by_index = {r["index"]: r for r in body["results"]}
    assert by_index[1]["errors"][0]["field"] == "captured_at"
    assert "ISO 8601" in by_index[1]["errors"][0]["reason"]
    assert by_index[3]["errors"][0] == {
        "field": "confidence",
        "reason": "must be a number, got str",
    }
    assert by_index[5]["errors"][0]["field"] == "plate"
    assert stored_count(platform) == 5
    dead = open_dead_letters(platform)
    assert len(dead) == 3
    assert {d.errors[0]["field"] for d in dead} == {"captured_at", "confidence", "plate"}
    assert orjson.loads(dead[0].payload)["read_id"] == bad_time["read_id"]


def test_duplicates_within_and_across_batches_are_stored_once(client, platform, cams):
    first = make_read("CAM-A")
    status, body = post(client, cams["CAM-A"], [first, first])
    assert [r["status"] for r in body["results"]] == ["stored", "duplicate"]
    status, body = post(client, cams["CAM-A"], [first, make_read("CAM-A")])
    assert status == 200
    assert [r["status"] for r in body["results"]] == ["duplicate", "stored"]
    assert stored_count(platform) == 2


def test_malformed_json_is_refused_and_kept(client, platform, cams):
    resp = client.post(
        "/api/v1/reads", content=b'{"reads": [ {"plate": "1ABC123",', headers=cams["CAM-A"].headers
    )
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] == "malformed_json"
    dead = open_dead_letters(platform)
    assert len(dead) == 1 and dead[0].payload.startswith('{"reads"')
    assert dead[0].errors[0]["field"] == "(body)"


def test_wrong_shape_and_empty_and_oversized_batches(client, platform, cams):
    status, body = post(client, cams["CAM-A"], "just a string")
    assert status == 400 and body["error"]["code"] == "bad_shape"
    status, body = post(client, cams["CAM-A"], [])
    assert status == 400 and body["error"]["code"] == "empty_batch"
    too_many = [make_read("CAM-A") for _ in range(platform.settings.max_batch + 1)]
    status, body = post(client, cams["CAM-A"], too_many)
    assert status == 413 and body["error"]["code"] == "batch_too_large"
    assert stored_count(platform) == 0


def test_oversized_body_is_refused(client, platform, cams):
    platform.settings.max_body_bytes = 10_000
    big = [make_read("CAM-A", extra={"pad": "x" * 20_000})]
    status, body = post(client, cams["CAM-A"], big)
    assert status == 413 and body["error"]["code"] == "body_too_large"
    assert stored_count(platform) == 0
    assert open_dead_letters(platform)[0].errors[0]["field"] == "(body)"


def test_images_inline_are_stored_content_addressed_and_oversized_ones_refused(
    client, platform, cams
):
    jpeg = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8
    small = make_read(
        "CAM-A",
        images=[
            {
                "kind": "plate",
                "content_type": "image/jpeg",
                "data": base64.b64encode(jpeg).decode(),
            },
            {"kind": "overview", "uri": "https://nvr.zone.example/clip/123.jpg"},
        ],
    )
    huge = make_read(
        "CAM-A",
        images=[{"kind": "overview", "data": base64.b64encode(b"x" * (600 * 1024)).decode()}],
    )
    status, body = post(client, cams["CAM-A"], [small, huge])
    assert status == 200
    assert [r["status"] for r in body["results"]] == ["stored", "rejected"]
    assert body["results"][1]["errors"][0]["field"] == "images[0].data"
    assert "larger than" in body["results"][1]["errors"][0]["reason"]
    digest = hashlib.sha256(jpeg).hexdigest()
    with platform.read_uow() as uow:
        read = uow.reads.get(uuid.UUID(small["read_id"]))
        located = uow.reads.image_locations([uuid.UUID(small["read_id"])])
    assert platform.images.get(digest, located[digest]) == jpeg
    assert read is not None
    assert [(i.kind, i.sha256, i.uri) for i in read.images] == [
        ("plate", digest, None),
        ("overview", None, "https://nvr.zone.example/clip/123.jpg"),
    ]


def test_a_camera_posts_only_as_itself(client, platform, cams):
    status, body = post(client, cams["CAM-A"], make_read("CAM-B"))
    assert status == 200
    assert body["results"][0]["status"] == "rejected"
    assert body["results"][0]["errors"][0]["field"] == "camera_id"
    assert stored_count(platform) == 0


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer vc_not-a-real-token"}, {"Authorization": "Basic abc"}],
)
def test_missing_or_wrong_credentials_get_401(client, platform, cams, headers):
    resp = client.post("/api/v1/reads", content=orjson.dumps(make_read("CAM-A")), headers=headers)
    assert resp.status_code == 401
    assert resp.headers["www-authenticate"] == "Bearer"
    assert stored_count(platform) == 0


def test_user_token_is_not_a_camera_credential(client, platform, cams, admin_token):
    resp = client.post(
        "/api/v1/reads",
        content=orjson.dumps(make_read("CAM-A")),
        headers={"Authorization": f"Bearer {admin_token}"},
    )
    assert resp.status_code == 401


def test_retired_and_planned_cameras_cannot_post(client, platform, cams, admin_token):
    admin = {"Authorization": f"Bearer {admin_token}"}
    assert client.post("/api/v1/cameras/CAM-A/retire", headers=admin).status_code == 200
    status, _ = post(client, cams["CAM-A"], make_read("CAM-A"))
    assert status == 401
    planned = register_cameras(platform, "CAM-P", phase="planned")["CAM-P"]
    status, body = post(client, planned, make_read("CAM-P"))
    assert status == 403 and body["error"]["code"] == "camera_not_posting"
    assert stored_count(platform) == 0


def test_rotated_token_replaces_the_old_one(client, platform, cams, admin_token):
    resp = client.post(
        "/api/v1/cameras/CAM-A/token", headers={"Authorization": f"Bearer {admin_token}"}
    )
    new = CameraCred("CAM-A", resp.json()["token"])
    assert post(client, cams["CAM-A"], make_read("CAM-A"))[0] == 401
    assert post(client, new, make_read("CAM-A"))[0] == 200


def test_dead_letter_replay_after_the_cause_is_fixed(client, platform, cams, admin_token):
    admin = {"Authorization": f"Bearer {admin_token}"}
    # A camera clock 10 minutes fast is refused; once server time catches up, replay stores it.
    real_now = platform.clock()
    ahead = (real_now + timedelta(minutes=10)).isoformat()
    future = make_read("CAM-A", captured_at=ahead)
    post(client, cams["CAM-A"], future)
    dead = client.get("/api/v1/dead-letters", headers=admin).json()["dead_letters"]
    assert len(dead) == 1 and dead[0]["errors"][0]["field"] == "captured_at"
    again = client.post(f"/api/v1/dead-letters/{dead[0]['id']}/replay", headers=admin)
    assert again.status_code == 409 and again.json()["status"] == "still_rejected"
    platform.clock = lambda: real_now + timedelta(minutes=11)
    with pytest.MonkeyPatch.context() as patch:  # a saturated writer: try again later
        patch.setattr(platform.writer, "has_room", lambda rows: False)
        busy = client.post(f"/api/v1/dead-letters/{dead[0]['id']}/replay", headers=admin)
    assert busy.status_code == 503 and busy.json()["error"]["code"] == "ingest_busy"
    assert stored_count(platform) == 0
    done = client.post(f"/api/v1/dead-letters/{dead[0]['id']}/replay", headers=admin)
    assert done.status_code == 200 and done.json()["stored"] == 1
    assert stored_count(platform) == 1
    assert client.get("/api/v1/dead-letters", headers=admin).json()["dead_letters"] == []


def test_phase_changes_over_the_api(client, platform, admin_token):
    admin = {"Authorization": f"Bearer {admin_token}"}
    cam = register_cameras(platform, "CAM-P", phase="planned")["CAM-P"]
    assert post(client, cam, make_read("CAM-P"))[0] == 403
    moved = client.post("/api/v1/cameras/CAM-P/phase/testing", headers=admin)
    assert moved.status_code == 200 and moved.json()["phase"] == "testing"
    assert post(client, cam, make_read("CAM-P"))[0] == 200  # takes effect at once
    assert client.post("/api/v1/cameras/CAM-P/retire", headers=admin).status_code == 200
    back = client.post("/api/v1/cameras/CAM-P/phase/live", headers=admin)
    assert back.status_code == 409 and "retired" in back.json()["error"]["message"]
    assert client.post("/api/v1/cameras/NOPE/phase/live", headers=admin).status_code == 404


def test_ingest_stats_show_totals_and_the_writers_load(client, platform, cams, admin_token):
    items = [make_read("CAM-A") for _ in range(20)]
    assert post(client, cams["CAM-A"], {"reads": items})[0] == 200
    assert post(client, cams["CAM-A"], {"reads": items[:5]})[0] == 200
    resp = client.get("/api/v1/ingest/stats", headers={"Authorization": f"Bearer {admin_token}"})
    assert resp.status_code == 200
    stats = resp.json()
    assert (stats["stored"], stats["duplicate"], stats["requests"]) == (20, 5, 2)
    assert (stats["refused_unauthenticated"], stats["refused_not_posting"]) == (0, 0)
    assert stats["commits"] >= 1 and stats["writer_busy_s"] > 0
    assert 0 < stats["writer_busy_share_1m"] <= 1
    assert stats["stored_per_s_1m"] > 0
    assert stats["writer_queued_reads"] == 0  # every request was answered: nothing waits
    # every commit counted once by size and once by the time it took
    assert sum(stats["commit_ms_le"].values()) == sum(stats["commit_reads_le"].values())
    assert sum(stats["commit_ms_le"].values()) == stats["commits"]
    # the live channel's counters: no stream open, none fell behind
    live = ("live_subscribers", "live_events_dropped", "live_overflows")
    assert tuple(stats[k] for k in live) == (0, 0, 0)
    assert client.get("/api/v1/ingest/stats", headers=cams["CAM-A"].headers).status_code == 401


def test_ingest_stats_count_cameras_refused_for_their_credential(client, platform, admin_token):
    cam = register_cameras(platform, "CAM-R")["CAM-R"]
    planned = register_cameras(platform, "CAM-Q", phase="planned")["CAM-Q"]
    rotated = client.post(
        "/api/v1/cameras/CAM-R/token", headers={"Authorization": f"Bearer {admin_token}"}
    )
    assert rotated.status_code == 200
    for headers in (cam.headers, {"Authorization": "Bearer vc_unknown"}, {}):
        read = make_read("CAM-R")
        resp = client.post("/api/v1/reads", content=orjson.dumps(read), headers=headers)
        assert resp.status_code == 401
    assert post(client, planned, make_read("CAM-Q"))[0] == 403
    stats = client.get(
        "/api/v1/ingest/stats", headers={"Authorization": f"Bearer {admin_token}"}
    ).json()
    assert (stats["refused_unauthenticated"], stats["refused_not_posting"]) == (3, 1)


def test_a_saturated_writer_refuses_with_503_and_keeps_nothing(client, platform, cams, monkeypatch):
    before_letters = len(open_dead_letters(platform))
    monkeypatch.setattr(platform.writer, "has_room", lambda rows: False)
    resp = client.post(
        "/api/v1/reads",
        content=orjson.dumps({"reads": [make_read("CAM-A") for _ in range(3)]}),
        headers=cams["CAM-A"].headers,
    )
    assert resp.status_code == 503
    assert resp.headers["Retry-After"] == "1"
    assert resp.json()["error"]["code"] == "ingest_busy"
    # not stored and not a dead letter: the camera still holds the reads and resends them
    assert stored_count(platform) == 0
    assert len(open_dead_letters(platform)) == before_letters
    monkeypatch.undo()
    read = make_read("CAM-A")
    assert post(client, cams["CAM-A"], read)[1]["stored"] == 1


def test_a_batch_refused_at_submit_is_answered_503(client, platform, cams, monkeypatch):
    from concurrent.futures import Future

    from veille.service.writer import WriterBusy

    def refuse(batch):
        future = Future()
        future.set_exception(WriterBusy("64000 reads already wait for the writer"))
        return future

    monkeypatch.setattr(platform.writer, "submit", refuse)
    status, body = post(client, cams["CAM-A"], make_read("CAM-A"))
    assert status == 503 and body["error"]["code"] == "ingest_busy"
    assert stored_count(platform) == 0


@pytest.fixture
def gated_platform(settings) -> Iterator[tuple[Platform, threading.Event, threading.Event]]:
    """A platform whose writer waits at each commit until the gate opens, answering fast."""
    gated = settings.model_copy(
        update={
            "writer_wait_s": 0.3,
            "writer_stuck_s": 0.0,  # any work waiting without a commit counts as stuck
        }
    )
    platform = bootstrap(gated)
    platform.store.initialise()
    gate, entered = threading.Event(), threading.Event()
    real = platform.writer._uow_factory
    platform.writer._uow_factory = lambda: BlockedUnitOfWork(real(), gate, entered)
    yield platform, gate, entered
    gate.set()
    platform.stop()


def test_a_hung_writer_answers_503_in_time_and_health_fails_until_it_commits(gated_platform):
    platform, gate, entered = gated_platform
    cam = register_cameras(platform, "CAM-A")["CAM-A"]
    with TestClient(create_app(platform)) as client:
        assert client.get("/health").status_code == 200
        held = validate_batch(
            [make_read("CAM-A")],
            camera_id="CAM-A",
            now=platform.clock(),
            rules=platform.read_rules,
            images=None,
            encode=platform.encode_read,
        )
        first = platform.writer.submit(held)
        assert entered.wait(30)  # the writer hangs in this commit: what follows waits
        queued = make_read("CAM-A")
        resp = client.post("/api/v1/reads", content=orjson.dumps(queued), headers=cam.headers)
        assert resp.status_code == 503, resp.text  # after VEILLE_WRITER_WAIT_S, not never
        assert resp.headers["Retry-After"] == "1"
        assert resp.json()["error"]["code"] == "ingest_timeout"
        health = client.get("/health")
        assert health.status_code == 503
        assert health.json()["status"] == "stuck"
        assert health.json()["writer"]["alive"] is True
        assert health.json()["writer"]["waiting_requests"] == 2
        gate.set()  # the writer commits the first and drops the cancelled request
        assert first.result(timeout=30).stored == 1
        for _ in range(3000):  # until the writer has let go of the dropped request too
            if not platform.writer.health().waiting_jobs:
                break
            time.sleep(0.01)
        assert stored_count(platform) == 1
        status, body = post(client, cam, queued)  # the camera resends: the writer lives
        assert status == 200 and body["stored"] == 1
        health = client.get("/health").json()
        assert health["status"] == "ok" and health["writer"]["last_commit_s_ago"] >= 0


def test_health_fails_when_the_writer_thread_is_dead(client, platform):
    assert client.get("/health").json()["writer"]["alive"] is True
    platform.writer.stop()  # as if it had died
    resp = client.get("/health")
    assert resp.status_code == 503
    assert resp.json() == {
        "status": "stuck",
        "writer": resp.json()["writer"] | {"alive": False, "stuck": True},
    }


def test_a_camera_that_hangs_up_mid_body_is_no_server_error(platform, cams, caplog):
    # found by the national bench: cameras that time out hang up while their body is still
    # arriving; each hang-up was logged as an unhandled error with its traceback, on the
    # event loop, which slowed an overloaded server further
    app = create_app(platform)
    body = orjson.dumps(make_read("CAM-A"))
    messages = [
        {"type": "http.request", "body": body[:10], "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[dict] = []

    async def receive():
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/v1/reads",
        "raw_path": b"/api/v1/reads",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"authorization", cams["CAM-A"].headers["Authorization"].encode()),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8600),
    }
    import asyncio

    caplog.set_level("ERROR")
    asyncio.run(app(scope, receive, send))  # no exception escapes to the server
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
    with platform.uow() as uow:
        assert uow.reads.count() == 0
