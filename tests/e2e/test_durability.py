"""Kill the server with SIGKILL in the middle of a sustained ingest: nothing acknowledged is
lost, images included."""

from __future__ import annotations

import base64
import hashlib
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Sized
from pathlib import Path

import httpx
import orjson
import pytest

from tests.conftest import make_read, register_cameras
from veille.adapters.sqlite.database import connect
from veille.bootstrap import bootstrap
from veille.entrypoints.server_process import free_port, start_server, stop_server
from veille.settings import Settings

pytestmark = pytest.mark.e2e


def _stored_ids(db: Path) -> list[str]:
    conn = connect(db)
    try:
        return [str(uuid.UUID(bytes=row[0])) for row in conn.execute("SELECT read_id FROM reads")]
    finally:
        conn.close()


def test_sigkill_during_sustained_ingest_loses_no_acknowledged_read(tmp_path: Path):
    data = tmp_path / "var"
    platform = bootstrap(Settings(data_dir=data))
    platform.store.initialise()
    cams = register_cameras(platform, *(f"DUR-{i}" for i in range(4)))
    platform.store.close()

    port = free_port()
    server = start_server(data, port)
    acknowledged: list[str] = []
    sent: list[list[dict]] = []
    lock = threading.Lock()
    stop = threading.Event()

    def camera_loop(cam_id: str) -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            while not stop.is_set():
                batch = [make_read(cam_id, plate=f"1-DUR-{i:03d}") for i in range(200)]
                with lock:
                    sent.append(batch)
                try:
                    resp = client.post(
                        "/api/v1/reads",
                        content=orjson.dumps({"reads": batch}),
                        headers=cams[cam_id].headers,
                    )
                except httpx.HTTPError:
                    return  # the server died mid-request: this batch was never acknowledged
                if resp.status_code == 200:
                    statuses = {r["status"] for r in resp.json()["results"]}
                    assert statuses == {"stored"}
                    with lock:
                        acknowledged.extend(r["read_id"] for r in batch)

    threads = [threading.Thread(target=camera_loop, args=(c,)) for c in cams]
    _kill_while_ingesting(server, threads, stop, acknowledged, at_least=5_000)

    assert len(acknowledged) >= 5_000, "ingest did not get going before the kill"
    in_flight = len(sent) * 200 - len(acknowledged)
    assert in_flight > 0, "the kill should land while requests are in flight"

    db = data / "veille.db"
    stored = _stored_ids(db)
    assert len(stored) == len(set(stored)), "a read was stored twice"
    missing = set(acknowledged) - set(stored)
    assert not missing, f"{len(missing)} acknowledged reads lost"

    # The cameras resend what was never acknowledged: the restarted server takes it, once.
    server = start_server(data, port)
    try:
        acked = set(acknowledged)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            for batch in sent:
                if batch[0]["read_id"] in acked:
                    continue
                resp = client.post(
                    "/api/v1/reads",
                    content=orjson.dumps({"reads": batch}),
                    headers=cams[batch[0]["camera_id"]].headers,
                )
                assert resp.status_code == 200
                assert {r["status"] for r in resp.json()["results"]} <= {"stored", "duplicate"}
    finally:
        stop_server(server)
    final = _stored_ids(db)
    assert len(final) == len(set(final)) == len(sent) * 200


def test_sigkill_during_ingest_with_images_keeps_every_acknowledged_image(tmp_path: Path):
    data = tmp_path / "var"
    platform = bootstrap(Settings(data_dir=data))
    platform.store.initialise()
    cams = register_cameras(platform, *(f"IMG-{i}" for i in range(4)))
    platform.store.close()

    port = free_port()
    server = start_server(data, port)
    acknowledged: dict[str, bytes] = {}  # read id → the image bytes it was sent with
    lock = threading.Lock()
    stop = threading.Event()

    def camera_loop(cam_id: str) -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            while not stop.is_set():
                image = b"\xff\xd8\xff\xe0" + uuid.uuid4().bytes * 200  # unique, ~3 KB
                read = make_read(cam_id, images=[{"kind": "plate", "data": b64(image)}])
                try:
                    resp = client.post(
                        "/api/v1/reads", content=orjson.dumps(read), headers=cams[cam_id].headers
                    )
                except httpx.HTTPError:
                    return  # the server died mid-request: never acknowledged
                if resp.status_code == 200:
                    assert resp.json()["stored"] == 1
                    with lock:
                        acknowledged[read["read_id"]] = image

    threads = [threading.Thread(target=camera_loop, args=(c,)) for c in cams]
    _kill_while_ingesting(server, threads, stop, acknowledged, at_least=300)
    assert len(acknowledged) >= 300, "ingest did not get going before the kill"

    # after the restart every acknowledged read's image is served from where it was put
    restarted = bootstrap(Settings(data_dir=data))
    try:
        with restarted.read_uow() as uow:
            located = uow.reads.image_locations([uuid.UUID(r) for r in acknowledged])
        for image in acknowledged.values():
            sha = hashlib.sha256(image).hexdigest()
            assert restarted.images.get(sha, located[sha]) == image
    finally:
        restarted.store.close()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _kill_while_ingesting(
    server: subprocess.Popen[bytes],
    threads: list[threading.Thread],
    stop: threading.Event,
    acknowledged: Sized,
    *,
    at_least: int,
) -> None:
    """Start the cameras, SIGKILL the server once `at_least` reads are acknowledged (or
    after 20 s), then stop the cameras."""
    for t in threads:
        t.start()
    deadline = time.monotonic() + 20
    while len(acknowledged) < at_least and time.monotonic() < deadline:
        time.sleep(0.05)
    server.send_signal(signal.SIGKILL)
    server.wait(10)
    stop.set()
    for t in threads:
        t.join(15)
