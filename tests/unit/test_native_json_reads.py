"""parse_read: the catalogue of bad native reads, each refused with its field and reason."""

from __future__ import annotations

import base64
import hashlib
import math
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from veille.adapters.decoders.native_json import parse_read
from veille.adapters.sqlite.repositories import read_row
from veille.domain.plates import canonical
from veille.domain.reads import (
    MAX_EXTRA_BYTES,
    MAX_EXTRA_DEPTH,
    Candidate,
    FieldError,
    ReadRejected,
    ReadRules,
    read_to_json,
)

pytestmark = pytest.mark.unit

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
CAMERA = "CAM-BXL-001"
READ_ID = "5b7e9a4e-2c1d-4f8a-9d3e-6a1b2c3d4e5f"
DROP = object()  # marks a field to leave out of the payload


def payload(**overrides: Any) -> dict[str, Any]:
    read: dict[str, Any] = {
        "read_id": READ_ID,
        "camera_id": CAMERA,
        "captured_at": "2026-03-01T11:59:30Z",
        "plate": "1-ABC-123",
        "confidence": 0.91,
    }
    read.update(overrides)
    return {k: v for k, v in read.items() if v is not DROP}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def rejected(body: Any, rules: ReadRules | None = None) -> list[FieldError]:
    with pytest.raises(ReadRejected) as caught:
        if rules is None:
            parse_read(body, camera_id=CAMERA, now=NOW)
        else:
            parse_read(body, camera_id=CAMERA, now=NOW, rules=rules)
    assert caught.value.errors, "a rejection must say why"
    return caught.value.errors


def only_error(body: Any, rules: ReadRules | None = None) -> FieldError:
    errors = rejected(body, rules)
    assert len(errors) == 1, errors
    return errors[0]


def accepted(body: Any, rules: ReadRules | None = None):
    if rules is None:
        return parse_read(body, camera_id=CAMERA, now=NOW)
    return parse_read(body, camera_id=CAMERA, now=NOW, rules=rules)


def test_the_base_payload_is_valid():
    # Every rejection below changes one thing in this payload.
    assert accepted(payload()).read.plate == "1ABC123"


# --- required fields --------------------------------------------------------------------


@pytest.mark.parametrize("name", ["read_id", "camera_id", "captured_at", "plate", "confidence"])
def test_missing_required_field(name: str):
    error = only_error(payload(**{name: DROP}))
    assert error.field == name
    assert "required" in error.reason


def test_plate_null_is_missing():
    error = only_error(payload(plate=None))
    assert (error.field, "required" in error.reason) == ("plate", True)


def test_payload_that_is_not_an_object():
    for body in (["a list"], "a string", 42, None):
        error = only_error(body)
        assert error.field == "(read)"
        assert "object" in error.reason


# --- identifiers ------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["not-a-uuid", "", "5b7e9a4e-2c1d-4f8a-9d3e-6a1b2c3d4e5"])
def test_read_id_that_is_not_a_uuid(bad: str):
    error = only_error(payload(read_id=bad))
    assert error.field == "read_id"
    assert "not a valid UUID" in error.reason


@pytest.mark.parametrize(
    "sent",
    [
        READ_ID,
        READ_ID.upper(),
        "{" + READ_ID + "}",
        "urn:uuid:" + READ_ID,
        READ_ID.replace("-", ""),
        "5b7e9a4e2c1d4f8a9d3e6a1b2c3d4e5f----",  # dashes anywhere: uuid.UUID takes it
        "5b7e9a4e-2c1d-4f8a-9d3e-6a1b2c3_4e5f",  # int() takes underscores between digits
    ],
)
def test_read_id_is_answered_in_canonical_form_whatever_the_camera_sent(sent: str):
    parsed = parse_read(payload(read_id=sent), camera_id=CAMERA, now=NOW)
    assert parsed.read_id_text == str(parsed.read.read_id)
    if sent == READ_ID:
        assert parsed.read_id_text is sent  # kept as sent: no formatting cost


def test_read_id_of_wrong_type():
    error = only_error(payload(read_id=12345))
    assert error.field == "read_id"
    assert "UUID string" in error.reason


@pytest.mark.parametrize("other", ["CAM-BXL-002", "cam-bxl-001", 1])
def test_camera_id_of_another_camera(other: Any):
    error = only_error(payload(camera_id=other))
    assert error.field == "camera_id"
    assert "does not match" in error.reason
    assert "credential" in error.reason


# --- wrong types ------------------------------------------------------------------------


def test_plate_as_number():
    error = only_error(payload(plate=1234567))
    assert error.field == "plate"
    assert error.reason == "must be a string, got int"


@pytest.mark.parametrize(
    ("plate", "reason"),
    [("   ", "is empty"), ("--.", "no letters or digits")],
)
def test_plate_without_usable_text(plate: str, reason: str):
    error = only_error(payload(plate=plate))
    assert error.field == "plate"
    assert reason in error.reason


def test_plate_longer_than_32_characters_is_refused():
    errors = rejected(payload(plate="A" * 33))
    assert {e.field for e in errors} == {"plate"}
    assert "longer than 32 characters" in errors[0].reason


def test_plate_longer_than_32_characters_gives_one_truthful_error():
    error = only_error(payload(plate="A" * 33))
    assert error.reason == "longer than 32 characters"


def test_plate_in_another_script_is_folded_and_the_raw_text_kept():
    read = accepted(payload(plate="1-АВС-123")).read  # Cyrillic А, В, С
    assert (read.plate, read.plate_raw) == ("1ABC123", "1-АВС-123")
    assert read.plate_canonical == canonical("1ABC123")
    assert accepted(payload(plate="1-A\u0300BC-123")).read.plate == "1ABC123"


@pytest.mark.parametrize(("plate", "offending"), [("1-ABß-123", "ß"), ("京A12345", "京")])
def test_plate_that_cannot_be_a_plate_is_refused_with_the_character(plate: str, offending: str):
    error = only_error(payload(plate=plate))
    assert error.field == "plate" and offending in error.reason


def test_candidate_that_cannot_be_a_plate_is_refused_with_the_character():
    error = only_error(payload(candidates=[{"plate": "1ABß23", "confidence": 0.3}]))
    assert error.field == "candidates[0].plate" and "ß" in error.reason


def test_plate_with_too_many_letters_and_digits():
    error = only_error(payload(plate="ABCDEFG-1234567"))
    assert error.field == "plate"
    assert "more than 12" in error.reason


@pytest.mark.parametrize(
    ("value", "type_name"), [("0.9", "str"), (True, "bool"), (None, "NoneType")]
)
def test_confidence_of_wrong_type(value: Any, type_name: str):
    error = only_error(payload(confidence=value))
    assert error.field == "confidence"
    assert error.reason == f"must be a number, got {type_name}"


@pytest.mark.parametrize("lane", [True, False, 1.0, 1.5, 0, 100, -1, "1"])
def test_lane_outside_whole_numbers_1_to_99(lane: Any):
    error = only_error(payload(lane=lane))
    assert error.field == "lane"
    assert "whole number from 1 to 99" in error.reason


@pytest.mark.parametrize("lane", [1, 99])
def test_lane_bounds_are_accepted(lane: int):
    assert accepted(payload(lane=lane)).read.lane == lane


@pytest.mark.parametrize("candidates", ["1ABC123", {"plate": "1ABC123"}, 3])
def test_candidates_not_a_list(candidates: Any):
    error = only_error(payload(candidates=candidates))
    assert error.field == "candidates"
    assert "must be a list" in error.reason


def test_candidate_that_is_not_an_object():
    error = only_error(payload(candidates=[{"plate": "1ABC123", "confidence": 0.5}, "1ABC128"]))
    assert error.field == "candidates[1]"
    assert "object" in error.reason


def test_candidate_plate_of_wrong_type_gives_one_error():
    error = only_error(payload(candidates=[{"plate": 1234567, "confidence": 0.5}]))
    assert (error.field, error.reason) == ("candidates[0].plate", "must be a string, got int")


def test_candidate_without_plate():
    error = only_error(payload(candidates=[{"confidence": 0.5}]))
    assert error.field == "candidates[0].plate"
    assert "missing" in error.reason


def test_candidate_with_bad_confidence():
    error = only_error(payload(candidates=[{"plate": "1ABC123", "confidence": 7}]))
    assert error.field == "candidates[0].confidence"
    assert "between 0 and 1" in error.reason


def test_too_many_candidates():
    many = [{"plate": f"1ABC{i:03d}", "confidence": 0.1} for i in range(11)]
    error = only_error(payload(candidates=many))
    assert error.field == "candidates"
    assert "at most 10" in error.reason


@pytest.mark.parametrize("vehicle", ["red car", ["VW"], 7])
def test_vehicle_not_an_object(vehicle: Any):
    error = only_error(payload(vehicle=vehicle))
    assert error.field == "vehicle"
    assert "must be an object" in error.reason


@pytest.mark.parametrize("vehicle", [[], "", 0])
def test_falsy_vehicle_that_is_not_an_object(vehicle: Any):
    error = only_error(payload(vehicle=vehicle))
    assert error.field == "vehicle"


def test_vehicle_with_unknown_field():
    error = only_error(payload(vehicle={"make": "VW", "wheels": 4}))
    assert error.field == "vehicle"
    assert "wheels" in error.reason


def test_vehicle_make_of_wrong_type():
    error = only_error(payload(vehicle={"make": 12}))
    assert error.field == "vehicle.make"
    assert "must be a string" in error.reason


@pytest.mark.parametrize("images", [{"kind": "plate"}, "aGk=", 1])
def test_images_not_a_list(images: Any):
    error = only_error(payload(images=images))
    assert error.field == "images"
    assert "must be a list" in error.reason


def test_extra_not_an_object():
    error = only_error(payload(extra="vendor blob"))
    assert error.field == "extra"
    assert "must be an object" in error.reason


@pytest.mark.parametrize("extra", [[], 0])
def test_falsy_extra_that_is_not_an_object(extra: Any):
    error = only_error(payload(extra=extra))
    assert error.field == "extra"


def nested_extra(depth: int, leaf: Any = 1) -> dict[str, Any]:
    """An `extra` object `depth` levels deep (the object itself is level 1)."""
    value: Any = leaf
    for level in range(depth):  # lists between objects: each is a level of its own
        value = {"k": value} if level % 2 == 0 or level == depth - 1 else [value]
    return value


def test_extra_up_to_the_depth_limit_is_kept():
    extra = nested_extra(MAX_EXTRA_DEPTH - 1, leaf={})  # the empty leaf is a level too
    assert accepted(payload(extra=extra)).read.extra == extra
    assert only_error(payload(extra={"k": extra})).field == "extra"


@pytest.mark.parametrize("depth", [MAX_EXTRA_DEPTH + 1, 254, 255, 1000, 5000])
def test_extra_nested_too_deep_is_refused_with_its_reason(depth: int):
    extra: dict[str, Any] = {}
    for _ in range(depth - 1):
        extra = {"a": extra}
    error = only_error(payload(extra=extra))
    assert error.field == "extra"
    assert error.reason == f"nested more than {MAX_EXTRA_DEPTH} levels deep"


def test_extra_nested_through_lists_counts_every_level():
    error = only_error(payload(extra={"a": [[[nested_extra(MAX_EXTRA_DEPTH - 3)]]]}))
    assert error.field == "extra" and "nested" in error.reason


@pytest.mark.parametrize(
    "extra",
    [
        {"blob": "x" * MAX_EXTRA_BYTES},
        {str(i): i for i in range(MAX_EXTRA_BYTES)},  # wide rather than long
        {"list": [0] * (MAX_EXTRA_BYTES + 1)},
    ],
)
def test_extra_larger_than_the_size_limit_is_refused(extra: dict[str, Any]):
    error = only_error(payload(extra=extra))
    assert error.field == "extra"
    assert error.reason == f"larger than {MAX_EXTRA_BYTES} bytes as JSON"


def test_a_kept_extra_can_always_be_encoded_by_the_store():
    read = accepted(payload(extra=nested_extra(MAX_EXTRA_DEPTH))).read
    assert read_row(read)[-1] is not None


@pytest.mark.parametrize("country", ["BEL", "B", "1E", 32])
def test_country_that_is_not_a_two_letter_code(country: Any):
    error = only_error(payload(country=country))
    assert error.field == "country"
    assert "two-letter" in error.reason


def test_direction_outside_the_known_values():
    error = only_error(payload(direction="sideways"))
    assert error.field == "direction"
    assert "approaching" in error.reason


@pytest.mark.parametrize("direction", [["approaching"], {"to": "north"}])
def test_direction_of_unhashable_type_is_rejected_not_crashing(direction: Any):
    error = only_error(payload(direction=direction))
    assert error.field == "direction"


# --- dates ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value", ["2026-02-30T10:00:00Z", "2026-13-01T00:00:00Z", "yesterday", "", "2026-03-01T25:00Z"]
)
def test_impossible_or_garbage_dates(value: str):
    error = only_error(payload(captured_at=value))
    assert error.field == "captured_at"
    assert "not a valid ISO 8601" in error.reason


@pytest.mark.parametrize("value", [1772366400, None, ["2026-03-01T11:00:00Z"]])
def test_date_that_is_not_a_string(value: Any):
    error = only_error(payload(captured_at=value))
    assert error.field == "captured_at"
    assert "ISO 8601 string" in error.reason


def test_date_without_time_zone():
    error = only_error(payload(captured_at="2026-03-01T11:59:00"))
    assert error.field == "captured_at"
    assert "no time zone" in error.reason


def test_date_in_the_future_beyond_the_clock_skew():
    beyond = (NOW + timedelta(minutes=5, seconds=1)).isoformat()
    error = only_error(payload(captured_at=beyond))
    assert error.field == "captured_at"
    assert "future" in error.reason


def test_date_in_the_future_within_the_clock_skew_is_accepted():
    within = (NOW + timedelta(minutes=5)).isoformat()
    assert accepted(payload(captured_at=within)).read.captured_at == NOW + timedelta(minutes=5)


def test_clock_skew_comes_from_the_rules():
    rules = ReadRules(max_clock_skew=timedelta(0))
    error = only_error(payload(captured_at=(NOW + timedelta(seconds=1)).isoformat()), rules)
    assert (error.field, "future" in error.reason) == ("captured_at", True)
    assert accepted(payload(captured_at=NOW.isoformat()), rules).read.captured_at == NOW


def test_date_older_than_max_age():
    old = (NOW - timedelta(days=365, seconds=1)).isoformat()
    error = only_error(payload(captured_at=old))
    assert error.field == "captured_at"
    assert error.reason == "is older than 365 days"


def test_max_age_comes_from_the_rules():
    rules = ReadRules(max_age=timedelta(days=28))
    error = only_error(payload(captured_at=(NOW - timedelta(days=29)).isoformat()), rules)
    assert (error.field, error.reason) == ("captured_at", "is older than 28 days")
    kept = accepted(payload(captured_at=(NOW - timedelta(days=27)).isoformat()), rules)
    assert kept.read.captured_at == NOW - timedelta(days=27)


# --- confidence -------------------------------------------------------------------------


@pytest.mark.parametrize("value", [-0.01, 1.01, 93, math.nan, math.inf])
def test_confidence_outside_0_to_1(value: float):
    error = only_error(payload(confidence=value))
    assert error.field == "confidence"
    assert "between 0 and 1" in error.reason


@pytest.mark.parametrize("value", [0, 1, 0.5])
def test_confidence_bounds_are_accepted(value: float):
    read = accepted(payload(confidence=value)).read
    assert read.confidence == value
    assert isinstance(read.confidence, float)


# --- unknown fields ---------------------------------------------------------------------


def test_unknown_top_level_field():
    error = only_error(payload(speed_kmh=87))
    assert error.field == "speed_kmh"
    assert "unknown field" in error.reason


def test_several_unknown_fields_are_all_named():
    error = only_error(payload(speed_kmh=87, colour="red"))
    assert "colour" in error.reason
    assert "speed_kmh" in error.reason


# --- images -----------------------------------------------------------------------------


def test_image_with_invalid_base64():
    error = only_error(payload(images=[{"kind": "plate", "data": "not base64 at all!"}]))
    assert error.field == "images[0].data"
    assert "not valid base64" in error.reason


def test_image_larger_than_the_limit():
    rules = ReadRules(max_image_bytes=100)
    error = only_error(payload(images=[{"kind": "plate", "data": b64(b"x" * 101)}]), rules)
    assert error.field == "images[0].data"
    assert "larger than 100 bytes" in error.reason


def test_image_far_larger_than_the_limit_is_refused_before_decoding():
    rules = ReadRules(max_image_bytes=100)
    error = only_error(payload(images=[{"data": b64(b"x" * 5000)}]), rules)
    assert (error.field, "larger than 100 bytes" in error.reason) == ("images[0].data", True)


def test_image_exactly_at_the_limit_is_accepted():
    rules = ReadRules(max_image_bytes=100)
    parsed = accepted(payload(images=[{"kind": "plate", "data": b64(b"x" * 100)}]), rules)
    assert parsed.read.images[0].size == 100


def test_empty_image():
    error = only_error(payload(images=[{"data": ""}]))
    assert error.field == "images[0].data"
    assert "empty" in error.reason


@pytest.mark.parametrize(
    "image",
    [
        {"kind": "plate", "data": "aGk=", "uri": "https://cam.example/1.jpg"},
        {"kind": "plate"},
    ],
)
def test_image_needs_exactly_one_of_data_or_uri(image: dict[str, Any]):
    error = only_error(payload(images=[image]))
    assert error.field == "images[0]"
    assert "exactly one of data" in error.reason


def test_image_of_unknown_kind():
    error = only_error(payload(images=[{"kind": "thumbnail", "data": "aGk="}]))
    assert error.field == "images[0].kind"
    assert "overview" in error.reason


def test_image_of_unknown_content_type():
    error = only_error(payload(images=[{"content_type": "image/gif", "data": "aGk="}]))
    assert error.field == "images[0].content_type"
    assert "image/jpeg" in error.reason


@pytest.mark.parametrize(
    "image", [{"kind": ["plate"], "data": "aGk="}, {"content_type": {}, "data": "aGk="}]
)
def test_image_kind_or_type_of_unhashable_type_is_rejected_not_crashing(image: dict[str, Any]):
    error = only_error(payload(images=[image]))
    assert error.field.startswith("images[0]")


def test_image_uri_too_long():
    error = only_error(payload(images=[{"uri": "https://x/" + "a" * 2048}]))
    assert error.field == "images[0].uri"


def test_image_data_not_a_string():
    error = only_error(payload(images=[{"data": 1234}]))
    assert error.field == "images[0].data"
    assert "base64" in error.reason


def test_too_many_images():
    error = only_error(payload(images=[{"data": "aGk="}] * 5))
    assert error.field == "images"
    assert "at most 4" in error.reason


def test_image_error_is_reported_at_its_position():
    images = [{"kind": "plate", "data": "aGk="}, {"kind": "overview", "data": "%%%"}]
    error = only_error(payload(images=images))
    assert error.field == "images[1].data"


# --- several errors ---------------------------------------------------------------------


def test_every_error_of_a_read_is_reported():
    body = payload(
        read_id=DROP,
        camera_id="CAM-OTHER",
        captured_at="2026-02-30T10:00:00Z",
        plate=42,
        confidence=1.5,
        lane=0,
        images=[{"kind": "plate", "data": "!!"}],
        speed=3,
    )
    errors = rejected(body)
    fields = {e.field for e in errors}
    assert fields == {
        "read_id",
        "camera_id",
        "captured_at",
        "plate",
        "confidence",
        "lane",
        "images[0].data",
        "speed",
    }
    assert len(errors) == len(fields)


def test_rejection_message_lists_every_error():
    with pytest.raises(ReadRejected) as caught:
        parse_read(payload(plate=DROP, confidence=2), camera_id=CAMERA, now=NOW)
    message = str(caught.value)
    assert "plate: is required" in message
    assert "confidence: must be between 0 and 1" in message
    assert [e.as_dict()["field"] for e in caught.value.errors] == ["plate", "confidence"]


# --- happy path -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "utc"),
    [
        ("2026-03-01T12:30:00+01:00", datetime(2026, 3, 1, 11, 30, tzinfo=UTC)),
        ("2026-03-01T06:15:00-05:00", datetime(2026, 3, 1, 11, 15, tzinfo=UTC)),
        ("2026-03-01T11:00:00.250Z", datetime(2026, 3, 1, 11, 0, 0, 250000, tzinfo=UTC)),
        ("2026-03-01T00:30:00+01:00", datetime(2026, 2, 28, 23, 30, tzinfo=UTC)),
    ],
)
def test_time_zone_offsets_are_converted_to_utc(text: str, utc: datetime):
    captured = accepted(payload(captured_at=text)).read.captured_at
    assert captured == utc
    assert captured.utcoffset() == timedelta(0)
    assert captured.tzinfo is UTC


def test_plate_is_kept_raw_normalised_and_canonical():
    read = accepted(payload(plate=" 1-abc-123 ", country="be")).read
    assert read.plate_raw == "1-abc-123"
    assert read.plate == "1ABC123"
    assert read.plate_canonical == canonical("1ABC123") == "1486123"
    assert read.country == "BE"
    assert read.camera_id == CAMERA
    assert read.read_id == uuid.UUID(READ_ID)
    assert read.received_at == NOW
    assert read.direction == "unknown"


def test_canonical_uses_the_rules_lookalike_table():
    from veille.domain.plates import LookalikeTable

    rules = ReadRules(lookalikes=LookalikeTable.from_groups(["AX"]))
    assert accepted(payload(plate="XB1"), rules).read.plate_canonical == "AB1"


def test_candidates_are_normalised():
    body = payload(
        candidates=[
            {"plate": "1-a8c-123", "confidence": 0.4},
            {"plate": " 1 ABC 128 ", "confidence": 0},
        ]
    )
    assert accepted(body).read.candidates == (
        Candidate("1A8C123", 0.4),
        Candidate("1ABC128", 0.0),
    )


def test_image_bytes_are_hashed_and_carried():
    plate_jpeg = b"\xff\xd8\xff\xe0plate-crop\xff\xd9"
    overview_png = b"\x89PNG\r\n\x1a\noverview"
    parsed = accepted(
        payload(
            images=[
                {"kind": "plate", "content_type": "image/jpeg", "data": b64(plate_jpeg)},
                {"kind": "overview", "content_type": "image/png", "data": b64(overview_png)},
                {"kind": "other", "uri": "https://cam.example/ov/1.jpg"},
            ]
        )
    )
    refs = parsed.read.images
    assert [r.kind for r in refs] == ["plate", "overview", "other"]
    assert refs[0].sha256 == hashlib.sha256(plate_jpeg).hexdigest()
    assert refs[0].size == len(plate_jpeg)
    assert refs[1].sha256 == hashlib.sha256(overview_png).hexdigest()
    assert refs[1].content_type == "image/png"
    assert (refs[2].uri, refs[2].sha256, refs[2].size) == (
        "https://cam.example/ov/1.jpg",
        None,
        None,
    )
    assert [(u.ref, u.data) for u in parsed.uploads] == [
        (refs[0], plate_jpeg),
        (refs[1], overview_png),
    ]


def test_read_to_json_shows_every_field():
    parsed = accepted(
        payload(
            captured_at="2026-03-01T12:59:30+01:00",
            plate="1-abc-123",
            country="BE",
            candidates=[{"plate": "1ABC128", "confidence": 0.3}],
            direction="approaching",
            lane=2,
            vehicle={"make": "Volkswagen", "colour": "grey", "type": "car"},
            images=[{"kind": "plate", "data": b64(b"jpeg")}],
            extra={"vendor": {"speed": 48}},
        )
    )
    shown = read_to_json(parsed.read)
    assert shown == {
        "read_id": READ_ID,
        "camera_id": CAMERA,
        "captured_at": "2026-03-01T11:59:30Z",
        "plate_raw": "1-abc-123",
        "plate": "1ABC123",
        "plate_canonical": canonical("1ABC123"),
        "country": "BE",
        "confidence": 0.91,
        "candidates": [{"plate": "1ABC128", "confidence": 0.3}],
        "direction": "approaching",
        "lane": 2,
        "vehicle": {"make": "Volkswagen", "colour": "grey", "type": "car"},
        "images": [
            {
                "kind": "plate",
                "content_type": "image/jpeg",
                "sha256": hashlib.sha256(b"jpeg").hexdigest(),
                "size": 4,
            }
        ],
        "received_at": "2026-03-01T12:00:00Z",
        "extra": {"vendor": {"speed": 48}},
    }


def test_read_to_json_round_trips_through_parse_read():
    original = accepted(
        payload(
            plate="AB-123-CD",
            country="FR",
            candidates=[{"plate": "AB123CO", "confidence": 0.2}],
            direction="receding",
            lane=3,
            vehicle={"make": "Renault", "colour": "white"},
            images=[{"kind": "overview", "content_type": "image/webp", "uri": "s3://b/k.webp"}],
            extra={"site": "E40"},
        )
    ).read
    shown = read_to_json(original)
    again = parse_read(
        {
            "read_id": shown["read_id"],
            "camera_id": shown["camera_id"],
            "captured_at": shown["captured_at"],
            "plate": shown["plate_raw"],
            "country": shown["country"],
            "confidence": shown["confidence"],
            "candidates": shown["candidates"],
            "direction": shown["direction"],
            "lane": shown["lane"],
            "vehicle": shown["vehicle"],
            "images": shown["images"],
            "extra": shown["extra"],
        },
        camera_id=CAMERA,
        now=NOW,
    ).read
    assert again == original


def test_each_row_holds_its_own_received_at_though_a_batch_encodes_it_once():
    # read_row keeps the last received_at it encoded: a read of another delivery (another
    # moment, or an equal moment in another object) must still get its own column value.
    from veille.adapters.sqlite.times import encode

    first = accepted(payload()).read
    later = parse_read(payload(), camera_id=CAMERA, now=NOW + timedelta(seconds=1)).read
    equal_again = parse_read(payload(), camera_id=CAMERA, now=NOW.replace()).read
    assert [read_row(r)[3] for r in (first, later, first, equal_again)] == [
        encode(NOW),
        encode(NOW + timedelta(seconds=1)),
        encode(NOW),
        encode(NOW),
    ]


def test_canonical_read_puts_every_value_in_its_own_field():
    # canonical_read builds the Read positionally: a field added or moved in Read must
    # not shift the values into the wrong fields.
    from dataclasses import fields

    from veille.domain.reads import ImageRef, Read, canonical_read

    values: dict[str, Any] = {
        "read_id": uuid.UUID(READ_ID),
        "camera_id": CAMERA,
        "captured_at": NOW - timedelta(seconds=3),
        "plate_raw": "1-abc-123",
        "plate": "1ABC123",
        "confidence": 0.5,
        "country": "BE",
        "candidates": (Candidate("1ABC128", 0.2),),
        "direction": "receding",
        "lane": 2,
        "vehicle_make": "VW",
        "vehicle_colour": "grey",
        "vehicle_type": "van",
        "images": (ImageRef(kind="plate", content_type="image/jpeg", uri="http://x/1"),),
        "extra": {"vendor": 1},
    }
    read = canonical_read(**values, now=NOW, rules=ReadRules())
    expected = {**values, "plate_canonical": canonical("1ABC123"), "received_at": NOW}
    assert {f.name: getattr(read, f.name) for f in fields(Read)} == expected


@given(st.uuids())
def test_the_uuid_of_canonical_text_is_the_uuid_of_that_text(value: uuid.UUID):
    from veille.domain.reads import uuid_of_canonical_text

    made = uuid_of_canonical_text(str(value))
    assert made == value == uuid.UUID(str(value))
    assert (made.bytes, made.is_safe, str(made), hash(made)) == (
        value.bytes,
        uuid.SafeUUID.unknown,
        str(value),
        hash(value),
    )
