"""The camera decoder port: the native JSON decoder on whole deliveries, the registry of
decoders by protocol, and the way a decoded delivery is made ready for the store."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from tests.contract.builders import a_camera
from veille.adapters.decoders import DecoderRegistry, builtin_decoders, decoder_for
from veille.adapters.decoders.native_json import NativeJsonDecoder, parse_read
from veille.domain.cameras import Camera
from veille.domain.reads import FieldError, ReadRules, derived_read_id
from veille.service.ingest import accept_batch
from veille.service.ports import (
    CameraDecoder,
    DecodeContext,
    DecodedBatch,
    DeliveryRefused,
    UnknownProtocol,
)

pytestmark = pytest.mark.unit

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
CAMERA = a_camera("CAM-BXL-001")
CONTEXT = DecodeContext(received_at=NOW, rules=ReadRules(), max_items=4)
NATIVE = NativeJsonDecoder()


def read(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "read_id": str(uuid.uuid4()),
        "camera_id": CAMERA.camera_id,
        "captured_at": "2026-03-01T11:59:30Z",
        "plate": "1-ABC-123",
        "confidence": 0.91,
    }
    body.update(overrides)
    return body


def decode(body: Any, content_type: str = "application/json") -> DecodedBatch:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    return NATIVE.decode(raw, content_type, CAMERA, CONTEXT)


def refused(body: Any, content_type: str = "application/json") -> DeliveryRefused:
    with pytest.raises(DeliveryRefused) as caught:
        decode(body, content_type)
    return caught.value


# --- the native decoder ----------------------------------------------------------------


def test_the_native_decoder_is_the_default_protocol():
    assert NATIVE.protocol == CAMERA.protocol == "veille-json"
    assert decoder_for("veille-json") == NATIVE


@pytest.mark.parametrize("shape", ["one", "list", "reads"])
def test_each_documented_shape_decodes_to_the_same_read(shape: str):
    one = read(plate="2-xyz-987")
    body = {"one": one, "list": [one], "reads": {"reads": [one]}}[shape]
    decoded = decode(body)
    assert (decoded.size, decoded.rejected) == (1, [])
    ((index, parsed, raw),) = decoded.reads
    assert index == 0 and raw == one
    assert parsed == parse_read(one, camera_id=CAMERA.camera_id, now=NOW)
    assert (parsed.read.plate, parsed.read.received_at) == ("2XYZ987", NOW)


@pytest.mark.parametrize("content_type", ["", "application/json; charset=utf-8", "text/plain"])
def test_a_json_body_decodes_whatever_generic_type_it_is_sent_as(content_type: str):
    assert len(decode([read()], content_type).reads) == 1


def test_bad_items_are_rejected_whole_and_the_good_ones_beside_them_kept():
    good = [read(), read()]
    late_camera = read(camera_id="CAM-OTHER")
    not_a_read = ["a", {"deep": [1, 2]}]
    decoded = decode([good[0], late_camera, not_a_read, good[1]])
    assert decoded.size == 4
    assert [(i, p.read_id_text) for i, p, _ in decoded.reads] == [
        (0, good[0]["read_id"]),
        (3, good[1]["read_id"]),
    ]
    first, second = decoded.rejected
    assert (first.index, first.read_id, [e.field for e in first.errors]) == (
        1,
        late_camera["read_id"],
        ["camera_id"],
    )
    assert orjson.loads(first.payload) == late_camera  # kept whole, for a replay
    assert (second.index, second.read_id, second.errors) == (
        2,
        None,
        (FieldError("(read)", "must be a JSON object"),),
    )
    assert orjson.loads(second.payload) == not_a_read


def test_the_rejections_say_what_parse_read_says():
    bad = read(confidence=1.5, lane=0)
    (rejection,) = decode([bad]).rejected
    assert [e.as_dict() for e in rejection.errors] == [
        {"field": "confidence", "reason": "must be between 0 and 1, got 1.5"},
        {"field": "lane", "reason": "must be a whole number from 1 to 99"},
    ]


def test_a_body_that_is_not_json_is_refused_and_kept():
    error = refused(b'{"reads": [ {"plate": "1ABC123",')
    assert error.code == "malformed_json"
    assert str(error).startswith("body is not valid JSON: ")
    assert error.problem.field == "(body)" and error.problem.reason.startswith("not JSON: ")
    assert error.keep


@pytest.mark.parametrize("body", [42, "text", None, True, {"reads": "not a list"}])
def test_a_body_of_another_shape_is_refused_and_kept(body: Any):
    error = refused(body)
    assert error.code == "bad_shape"
    assert str(error) == 'body must be a read, a list of reads, or {"reads": [...]}'
    assert error.problem == FieldError(
        "(body)", 'must be a read, a list of reads, or {"reads": [...]}'
    )
    assert error.keep


@pytest.mark.parametrize("body", [[], {"reads": []}])
def test_an_empty_batch_is_refused_and_not_kept(body: Any):
    error = refused(body)
    assert (error.code, str(error), error.keep) == ("empty_batch", "no reads in the request", False)


def test_a_batch_over_the_limit_is_refused_before_any_read_is_parsed():
    error = refused([{"not": "even a read"}] * 5)
    assert (error.code, str(error)) == ("batch_too_large", "at most 4 reads per request")
    assert error.problem == FieldError("reads", "5 reads; at most 4 per request")
    assert error.keep


@pytest.mark.parametrize(
    "content_type",
    ["multipart/form-data; boundary=x", "application/xml", "text/xml", "image/jpeg"],
)
def test_a_body_of_another_format_is_refused_with_what_to_correct(content_type: str):
    """A camera posting its vendor's format to a camera registered as native JSON (a
    Hikvision sending ISAPI multipart, a Tattile its XML) is told what to correct."""
    error = refused([read()], content_type)
    assert error.code == "unsupported_media_type"
    assert "is not JSON: camera CAM-BXL-001 is registered with protocol veille-json" in str(error)
    assert error.problem.field == "(body)"
    assert error.keep


def test_a_refused_delivery_is_an_invalid_request_with_its_problem():
    error = refused(b"nope")
    assert [p.as_dict() for p in error.problems] == [error.problem.as_dict()]


# --- the registry ------------------------------------------------------------------------


class PipeDecoder:
    """A test protocol: one read per line, `event id|plate|confidence`, captured now."""

    protocol = "test-pipe"

    def decode(
        self, body: bytes, content_type: str, camera: Camera, context: DecodeContext
    ) -> DecodedBatch:
        lines = body.decode().splitlines()
        decoded = DecodedBatch(size=len(lines), payload_of=str)
        for index, line in enumerate(lines):
            event, plate, confidence = line.split("|")
            text = NATIVE_TEMPLATE | {
                "read_id": str(derived_read_id(camera.camera_id, self.protocol, event)),
                "camera_id": camera.camera_id,
                "captured_at": context.received_at.isoformat(),
                "plate": plate,
                "confidence": float(confidence),
            }
            parsed = parse_read(
                text, camera_id=camera.camera_id, now=context.received_at, rules=context.rules
            )
            decoded.reads.append((index, parsed, line))
        return decoded


NATIVE_TEMPLATE: dict[str, Any] = {"extra": {"vendor": "pipe"}}


def test_a_registry_answers_the_decoder_of_each_protocol_it_holds():
    registry = builtin_decoders()
    pipe: CameraDecoder = PipeDecoder()
    registry.register(pipe)
    assert registry.protocols == {"veille-json", "test-pipe"}
    assert registry.decoder_for("test-pipe") is pipe
    with pytest.raises(ValueError, match="has a decoder already"):
        registry.register(PipeDecoder())


def test_a_protocol_without_a_decoder_is_an_unsupported_protocol():
    with pytest.raises(UnknownProtocol) as caught:
        DecoderRegistry([NATIVE]).decoder_for("hikvision-isapi")
    assert caught.value.code == "unsupported_protocol"
    assert caught.value.problem == FieldError(
        "protocol", "no decoder for protocol 'hikvision-isapi' (this server decodes veille-json)"
    )


def test_a_derived_read_id_is_the_same_for_the_same_event_and_only_for_it():
    one = derived_read_id("CAM-A", "test-pipe", "event-1")
    assert one == derived_read_id("CAM-A", "test-pipe", "event-1")
    assert len({one, derived_read_id("CAM-B", "test-pipe", "event-1")}) == 2
    assert len({one, derived_read_id("CAM-A", "other", "event-1")}) == 2
    assert len({one, derived_read_id("CAM-A", "test-pipe", "event-2")}) == 2


# --- a decoded delivery on its way to the store --------------------------------------------


def test_a_read_that_fails_on_its_way_to_the_store_is_kept_by_its_decoders_text():
    decoded = PipeDecoder().decode(b"e1|1ABC123|0.9\ne2|2XYZ987|0.8", "", CAMERA, CONTEXT)

    def encode(r: Any) -> Any:
        if r.plate == "1ABC123":
            raise RuntimeError("the store cannot encode this read")
        return ("row", r.plate)

    batch = accept_batch(
        decoded, camera_id=CAMERA.camera_id, received_at=NOW, images=None, encode=encode
    )
    assert [read.plate for _, read in batch.accepted] == ["2XYZ987"]
    assert batch.rows == [("row", "2XYZ987")]
    (kept,) = batch.rejected
    assert (kept.index, kept.payload) == (0, "e1|1ABC123|0.9")  # the vendor's own text
    assert kept.errors == (FieldError("(read)", "could not be validated; kept as a dead letter"),)
    assert kept.read_id == str(derived_read_id(CAMERA.camera_id, "test-pipe", "e1"))
