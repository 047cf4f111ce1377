"""A camera's protocol chooses the decoder of what it posts: a test protocol registered on
the platform decodes its cameras' reads, over HTTP and on a dead-letter replay, and a
camera of a protocol no decoder speaks cannot be registered."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any, cast

import orjson
import pytest
from fastapi.testclient import TestClient

from tests.conftest import CameraCred, make_read, register_cameras
from veille.adapters.decoders import DecoderRegistry
from veille.adapters.decoders.native_json import parse_read
from veille.bootstrap import Platform
from veille.domain.audit import system_actor
from veille.domain.cameras import Camera
from veille.domain.reads import derived_read_id
from veille.service import cameras as camera_service
from veille.service.ports import DecodeContext, DecodedBatch, DeliveryRefused, Rejection

pytestmark = pytest.mark.e2e

PIPE = "test-pipe"


class PipeDecoder:
    """A test protocol: one read per line, `event id|plate|confidence`, captured at receipt;
    its read ids are derived from the event id, as a vendor adapter's are."""

    protocol = PIPE

    def decode(
        self, body: bytes, content_type: str, camera: Camera, context: DecodeContext
    ) -> DecodedBatch:
        if content_type.partition(";")[0] not in ("", "text/x-pipe"):  # "": a replay
            raise DeliveryRefused(
                "unsupported_media_type", "send text/x-pipe", _problem("not text/x-pipe")
            )
        lines = [line for line in body.decode("utf-8", "replace").splitlines() if line]
        decoded = DecodedBatch(size=len(lines), payload_of=str)
        for index, line in enumerate(lines):
            event, plate, confidence = [*line.split("|"), "", ""][:3]
            native = {
                "read_id": str(derived_read_id(camera.camera_id, PIPE, event)),
                "camera_id": camera.camera_id,
                "captured_at": context.received_at.isoformat(),
                "plate": plate,
                "confidence": float(confidence or "nan"),
                "extra": {"pipe_event": event},
            }
            try:
                parsed = parse_read(
                    native, camera_id=camera.camera_id, now=context.received_at, rules=context.rules
                )
            except Exception as refused:
                errors = tuple(getattr(refused, "errors", ()))
                decoded.rejected.append(Rejection(index, line, errors, native["read_id"]))
                continue
            decoded.reads.append((index, parsed, line))
        return decoded


def _problem(reason: str) -> Any:
    from veille.domain.reads import FieldError

    return FieldError("(body)", reason)


@pytest.fixture
def pipe_camera(platform: Platform) -> CameraCred:
    cast(DecoderRegistry, platform.decoders).register(PipeDecoder())
    report = camera_service.import_cameras(
        uow=platform.uow(),
        records=[
            (
                "test",
                {
                    "camera_id": "CAM-PIPE",
                    "lat": 50.85,
                    "lon": 4.35,
                    "zone": "Midi",
                    "province": "Bruxelles-Capitale",
                    "protocol": PIPE,
                    "phase": "live",
                },
            )
        ],
        now=platform.clock(),
        actor=system_actor("test"),
        protocols=platform.decoders.protocols,
    )
    assert report.applied, report.problems
    return CameraCred("CAM-PIPE", report.tokens["CAM-PIPE"])


def post_pipe(client: TestClient, cam: CameraCred, body: bytes) -> Any:
    return client.post(
        "/api/v1/reads",
        content=body,
        headers={**cam.headers, "Content-Type": "text/x-pipe"},
    )


def test_reads_are_decoded_by_the_decoder_of_the_cameras_protocol(client, platform, pipe_camera):
    resp = post_pipe(client, pipe_camera, b"ev-1|1-ABC-123|0.9\nev-2|2-XYZ-987|0.8\n")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    first = str(derived_read_id("CAM-PIPE", PIPE, "ev-1"))
    assert (body["stored"], body["results"][0]) == (
        2,
        {"index": 0, "status": "stored", "read_id": first},
    )
    with platform.read_uow() as uow:
        read = uow.reads.get(uuid.UUID(first))
    assert read is not None
    assert (read.camera_id, read.plate, read.extra) == (
        "CAM-PIPE",
        "1ABC123",
        {"pipe_event": "ev-1"},
    )


def test_a_resent_vendor_event_is_a_duplicate(client, platform, pipe_camera):
    assert post_pipe(client, pipe_camera, b"ev-1|1-ABC-123|0.9").json()["stored"] == 1
    again = post_pipe(client, pipe_camera, b"ev-1|1-ABC-123|0.9").json()
    assert (again["stored"], again["duplicate"]) == (0, 1)


def test_native_cameras_keep_their_decoder_beside_another_protocol(client, platform, pipe_camera):
    native = register_cameras(platform, "CAM-A")["CAM-A"]
    resp = client.post(
        "/api/v1/reads", content=orjson.dumps(make_read("CAM-A")), headers=native.headers
    )
    assert resp.json()["stored"] == 1
    # and the pipe camera cannot post native JSON: its own decoder refuses it
    wrong = client.post(
        "/api/v1/reads",
        content=orjson.dumps(make_read("CAM-PIPE")),
        headers={**pipe_camera.headers, "Content-Type": "application/json"},
    )
    assert wrong.status_code == 415
    assert wrong.json()["error"]["code"] == "unsupported_media_type"
    assert wrong.json()["error"]["dead_letter"] >= 1


def test_a_bad_line_is_a_dead_letter_in_the_vendors_own_text(client, platform, pipe_camera):
    resp = post_pipe(client, pipe_camera, b"ev-1|1-ABC-123|0.9\nev-2|2-XYZ-987|7")
    assert resp.json()["rejected"] == 1
    with platform.read_uow() as uow:
        (letter,) = uow.dead_letters.find(status="open")
    assert letter.payload == "ev-2|2-XYZ-987|7"  # kept as the camera sent it
    assert letter.errors[0]["field"] == "confidence"
    outcome = camera_replay(platform, letter.id)  # decoded by the pipe decoder again
    assert (outcome.status, outcome.errors[0]["field"]) == ("still_rejected", "confidence")


def test_a_replay_decodes_with_the_protocol_the_camera_has_now(client, platform, pipe_camera):
    """A camera registered with the wrong protocol: what it sent is kept, its protocol is
    corrected, and the replay decodes the kept body with the right decoder."""
    cam = register_cameras(platform, "CAM-X")["CAM-X"]
    resp = post_pipe(client, cam, b"ev-9|9-ABC-999|0.7")
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "malformed_json"
    dead_id = resp.json()["error"]["dead_letter"]
    with platform.uow() as uow:
        camera = uow.cameras.get("CAM-X")
        assert camera is not None
        uow.cameras.update(replace(camera, protocol=PIPE))
        uow.commit()
    outcome = camera_replay(platform, dead_id)
    assert (outcome.status, outcome.stored) == ("replayed", 1)
    with platform.read_uow() as uow:
        read = uow.reads.get(derived_read_id("CAM-X", PIPE, "ev-9"))
    assert read is not None and read.plate == "9ABC999"


def camera_replay(platform: Platform, dead_letter_id: int) -> Any:
    from veille.service.commands.dead_letters import ReplayDeadLetter

    return platform.bus.handle(
        ReplayDeadLetter(dead_letter_id=dead_letter_id, actor=system_actor("test"))
    )


def test_a_camera_of_a_protocol_without_a_decoder_cannot_be_registered(client, admin_token):
    admin = {"Authorization": f"Bearer {admin_token}"}
    camera = {
        "camera_id": "CAM-HIK",
        "lat": 50.85,
        "lon": 4.35,
        "zone": "Midi",
        "province": "Bruxelles-Capitale",
        "vendor": "Hikvision",
        "protocol": "hikvision-isapi",
    }
    resp = client.post("/api/v1/cameras", json=camera, headers=admin)
    assert resp.status_code == 422
    assert resp.json()["problems"] == [
        {
            "where": "body",
            "field": "protocol",
            "reason": "unknown protocol 'hikvision-isapi': must be one of veille-json",
        }
    ]
    csv = (
        "camera_id,lat,lon,zone,province,protocol\n"
        "CAM-HIK,50.85,4.35,Midi,Bruxelles-Capitale,axis-lpr\n"
    )
    resp = client.post(
        "/api/v1/cameras/import", content=csv, headers={**admin, "Content-Type": "text/csv"}
    )
    assert resp.status_code == 422
    assert [(p["where"], p["field"]) for p in resp.json()["problems"]] == [("line 2", "protocol")]
    assert client.get("/api/v1/cameras", headers=admin).json()["count"] == 0
