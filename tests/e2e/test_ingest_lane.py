"""The lean ingest lane answers exactly as FastAPI's ingest route does (decision 0018).

The same script of camera requests, good and bad, goes to two servers on identical
stores: one with the lane (the default), one with `ingest_lane=false`. Every answer
(status, body, the headers a camera acts on) and what each store kept must be the same;
and the lane must really be the one serving.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from tests.conftest import make_read, register_cameras
from veille.bootstrap import Platform, bootstrap
from veille.entrypoints.api.app import create_app
from veille.entrypoints.api.ingest_lane import IngestLane
from veille.settings import Settings

pytestmark = pytest.mark.e2e

MAX_BODY = 64 * 1024
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
LATER = datetime.now(UTC) + timedelta(days=1)


@dataclass
class Server:
    platform: Platform
    client: TestClient
    tokens: dict[str, str]


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[dict[str, Server]]:
    opened: dict[str, Server] = {}
    for name, lane in (("lane", True), ("fastapi", False)):
        settings = Settings(
            data_dir=tmp_path / name,
            image_fsync=False,
            run_jobs=False,
            ingest_lane=lane,
            max_body_bytes=MAX_BODY,
            max_batch=10,
        )
        platform = bootstrap(settings)
        platform.store.initialise()
        creds = register_cameras(platform, "CAM-A", "CAM-B")
        creds |= register_cameras(platform, "CAM-PLANNED", phase="planned")
        client = TestClient(create_app(platform)).__enter__()
        opened[name] = Server(platform, client, {c: k.token for c, k in creds.items()})
    yield opened
    for server in opened.values():
        server.client.__exit__(None, None, None)
        server.platform.stop()


def _script() -> list[dict[str, Any]]:
    """Requests as (camera or a token kind, body bytes, extra headers, path, method)."""
    good = make_read("CAM-A", plate="1-abc-123")
    batch = [make_read("CAM-A"), make_read("CAM-A", confidence="high"), make_read("CAM-A")]
    uri_image = make_read("CAM-B")
    uri_image["images"] = [{"kind": "plate", "uri": "https://cam.example/1.jpg"}]
    return [
        {"who": "CAM-A", "body": orjson.dumps(good)},
        {"who": "CAM-A", "body": orjson.dumps(good)},  # the resend: duplicate
        {"who": "CAM-A", "body": orjson.dumps({"reads": batch})},
        {"who": "CAM-B", "body": orjson.dumps(uri_image)},
        {"who": "CAM-A", "body": b'{"read_id": '},  # not JSON: a dead letter
        {"who": "CAM-A", "body": orjson.dumps([make_read("CAM-A")] * 11)},  # over max_batch
        {"who": "CAM-A", "body": b"x" * (MAX_BODY + 1)},  # over max_body_bytes
        {"who": "CAM-A", "body": orjson.dumps(good), "headers": {"content-type": "text/csv"}},
        {"who": None, "body": orjson.dumps(make_read("CAM-A"))},  # no token
        {"who": "forged", "body": orjson.dumps(make_read("CAM-A"))},
        {"who": "CAM-PLANNED", "body": orjson.dumps(make_read("CAM-PLANNED"))},
        {"who": "CAM-A", "body": orjson.dumps(make_read("CAM-B"))},  # another camera's id
        {"who": "CAM-A", "body": b"", "method": "GET"},  # not the lane's: FastAPI's 405
        {"who": "CAM-A", "body": orjson.dumps(good), "path": "/api/v1/reads/"},
    ]


def _send(server: Server, request: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
    headers = {"content-type": "application/json", **request.get("headers", {})}
    who = request["who"]
    if who == "forged":
        headers["authorization"] = "Bearer vc_forged-token"
    elif who is not None:
        headers["authorization"] = f"Bearer {server.tokens[who]}"
    response = server.client.request(
        request.get("method", "POST"),
        request.get("path", "/api/v1/reads"),
        content=request["body"],
        headers=headers,
        follow_redirects=False,
    )
    kept = {
        k: response.headers[k]
        for k in ("content-type", "retry-after", "www-authenticate", "location")
        if k in response.headers
    }
    body = response.json() if response.content else None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        body["error"].pop("dead_letter", None)  # an id of each store's own sequence
    return response.status_code, body, kept


def _kept(platform: Platform) -> tuple[list[Any], list[Any]]:
    with platform.read_uow() as uow:
        reads = sorted(
            (str(r.read_id), r.plate, r.camera_id) for r in uow.reads.find(start=EPOCH, end=LATER)
        )
        dead = sorted(
            (d.camera_id, d.source, orjson.dumps(d.errors), d.payload[:80])
            for d in uow.dead_letters.find(status=None)
        )
    return reads, dead


def _lane_of(client: TestClient) -> IngestLane:
    app: Any = client.app
    layer = app.middleware_stack
    while not isinstance(layer, IngestLane):
        layer = layer.app
    return layer


def test_the_lane_answers_every_request_as_the_fastapi_route_does(servers):
    script = _script()
    answers = {name: [_send(server, r) for r in script] for name, server in servers.items()}
    for step, (lane, fastapi) in enumerate(zip(answers["lane"], answers["fastapi"], strict=True)):
        assert lane == fastapi, f"request {step}: {script[step]['body'][:60]!r}"
    statuses = [status for status, _, _ in answers["lane"]]
    assert statuses == [200, 200, 200, 200, 400, 413, 413, 415, 401, 401, 403, 200, 405, 307]
    assert answers["lane"][1][1]["results"][0]["status"] == "duplicate"
    reads, dead = _kept(servers["lane"].platform)
    assert (reads, dead) == _kept(servers["fastapi"].platform)
    assert (len(reads), len(dead)) == (4, 6)  # every refused delivery or item kept
    counters = {n: s.platform.writer.counters for n, s in servers.items()}
    assert counters["lane"].auth_failed == counters["fastapi"].auth_failed == 2
    assert counters["lane"].not_posting == counters["fastapi"].not_posting == 1


def test_the_lane_serves_ingest_and_leaves_every_other_route_to_fastapi(servers):
    server = servers["lane"]
    lane = _lane_of(server.client)
    served = []
    original = lane._serve

    async def counted(scope: Any, receive: Any) -> Any:
        served.append(scope["path"])
        return await original(scope, receive)

    lane._serve = counted  # type: ignore[method-assign]
    read = make_read("CAM-A")
    status, body, _ = _send(server, {"who": "CAM-A", "body": orjson.dumps(read)})
    assert (status, body["stored"]) == (200, 1)
    assert server.client.get("/health").status_code == 200
    assert served == ["/api/v1/reads"]
    with server.platform.read_uow() as uow:
        assert uow.reads.get(uuid.UUID(read["read_id"])) is not None
