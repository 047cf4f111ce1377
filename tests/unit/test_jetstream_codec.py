"""A read, its images and a refused item survive their trip through a stream message."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from veille.adapters.jetstream.codec import (
    CorruptMessage,
    decode_read,
    decode_rejection,
    encode_read,
    encode_rejection,
)
from veille.domain.reads import Candidate, FieldError, ImageRef, ImageUpload, Read
from veille.service.ports import Rejection

pytestmark = pytest.mark.unit

NOW = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


def a_read() -> tuple[Read, tuple[ImageUpload, ...]]:
    uploads = (
        ImageUpload(ImageRef("plate", "image/jpeg", "a" * 64, 3), b"\xff\x00\x01"),
        ImageUpload(ImageRef("overview", "image/png", "b" * 64, 2), b"\x89P"),
    )
    read = Read(
        read_id=uuid.uuid4(),
        camera_id="CAM-A",
        captured_at=NOW,
        plate_raw="1-abc-123",
        plate="1ABC123",
        plate_canonical="1ABC123",
        country="BE",
        confidence=0.93,
        received_at=NOW,
        candidates=(Candidate("1ABC128", 0.4),),
        direction="approaching",
        lane=2,
        vehicle_make="Volkswagen",
        vehicle_colour="grey",
        vehicle_type="car",
        images=(*(u.ref for u in uploads), ImageRef("other", "image/jpeg", uri="https://x/1")),
        extra={"vendor": {"score": [1, 2, {"deep": None}]}},
    )
    return read, uploads


def test_a_read_and_its_images_come_back_whole() -> None:
    read, uploads = a_read()
    back = decode_read(encode_read(read, str(read.read_id), uploads, "mqtt"))
    assert back.read == read
    assert back.uploads == uploads
    assert (back.source, back.read_id_text) == ("mqtt", str(read.read_id))


def test_a_refused_item_comes_back_whole() -> None:
    rejection = Rejection(3, '{"plate": ""}', (FieldError("plate", "is required"),), "rid")
    back = decode_rejection(
        encode_rejection(rejection, camera_id="CAM-A", received_at=NOW, source="api")
    )
    assert back.rejection == rejection
    assert (back.camera_id, back.received_at, back.source) == ("CAM-A", NOW, "api")


@pytest.mark.parametrize(
    "body", [b"", b"\x00\x00\x00\x09{}", b"\x00\x00\x00\x02[]", b"\x00\x00\x00\x02{}"]
)
def test_what_the_codec_did_not_write_is_refused(body: bytes) -> None:
    with pytest.raises(CorruptMessage):
        decode_read(body)


def test_images_cut_short_are_refused() -> None:
    read, uploads = a_read()
    with pytest.raises(CorruptMessage, match="cut short"):
        decode_read(encode_read(read, str(read.read_id), uploads, "api")[:-1])
