"""How one read (or one refused item) travels in a JetStream message, images included.

A message body is a 4-byte big-endian length, that many bytes of JSON (the read, or the
refused item), then the bytes of the read's images one after the other, their lengths in
the JSON. The images travel inline so that the stream's acknowledgement covers them too:
a read is never acknowledged while its images are not durable (decision 0016).
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from veille.domain.reads import Candidate, FieldError, ImageRef, ImageUpload, Read
from veille.service.ports import Rejection

KIND_HEADER = "Veille-Kind"
READ = "read"
REJECTED = "rejected"
_LENGTH = struct.Struct(">I")


class CorruptMessage(ValueError):
    """A message on the ingest stream that is not one this codec wrote."""


@dataclass(frozen=True, slots=True)
class StreamedRead:
    """A read as a worker takes it from the stream, with its image bytes and origin."""

    read: Read
    read_id_text: str
    uploads: tuple[ImageUpload, ...]
    source: str


@dataclass(frozen=True, slots=True)
class StreamedRejection:
    """An item the ingest API refused, to be kept as a dead letter by a worker."""

    rejection: Rejection
    camera_id: str
    received_at: datetime
    source: str


def _ref(ref: ImageRef) -> dict[str, Any]:
    return {
        "kind": ref.kind,
        "content_type": ref.content_type,
        "sha256": ref.sha256,
        "size": ref.size,
        "uri": ref.uri,
    }


def _ref_of(value: dict[str, Any]) -> ImageRef:
    return ImageRef(
        kind=value["kind"],
        content_type=value["content_type"],
        sha256=value.get("sha256"),
        size=value.get("size"),
        uri=value.get("uri"),
    )


def _frame(document: dict[str, Any], blobs: tuple[bytes, ...] = ()) -> bytes:
    head = orjson.dumps(document)
    return b"".join((_LENGTH.pack(len(head)), head, *blobs))


def _unframe(body: bytes) -> tuple[dict[str, Any], memoryview]:
    if len(body) < _LENGTH.size:
        raise CorruptMessage("shorter than its length prefix")
    (size,) = _LENGTH.unpack_from(body)
    end = _LENGTH.size + size
    if end > len(body):
        raise CorruptMessage("its JSON is cut short")
    try:
        document = orjson.loads(body[_LENGTH.size : end])
    except orjson.JSONDecodeError as bad:
        raise CorruptMessage(f"not JSON: {bad}") from None
    if not isinstance(document, dict):
        raise CorruptMessage("its JSON is not an object")
    return document, memoryview(body)[end:]


def encode_read(
    read: Read, read_id_text: str, uploads: tuple[ImageUpload, ...], source: str
) -> bytes:
    document = {
        "read_id": read_id_text,
        "camera_id": read.camera_id,
        "captured_at": read.captured_at,
        "plate_raw": read.plate_raw,
        "plate": read.plate,
        "plate_canonical": read.plate_canonical,
        "country": read.country,
        "confidence": read.confidence,
        "received_at": read.received_at,
        "candidates": [[c.plate, c.confidence] for c in read.candidates],
        "direction": read.direction,
        "lane": read.lane,
        "vehicle_make": read.vehicle_make,
        "vehicle_colour": read.vehicle_colour,
        "vehicle_type": read.vehicle_type,
        "images": [_ref(ref) for ref in read.images],
        "extra": read.extra,
        "source": source,
        "uploads": [{"ref": _ref(u.ref), "length": len(u.data)} for u in uploads],
    }
    return _frame(document, tuple(u.data for u in uploads))


def decode_read(body: bytes) -> StreamedRead:
    document, rest = _unframe(body)
    try:
        read = Read(
            read_id=uuid.UUID(document["read_id"]),
            camera_id=document["camera_id"],
            captured_at=datetime.fromisoformat(document["captured_at"]),
            plate_raw=document["plate_raw"],
            plate=document["plate"],
            plate_canonical=document["plate_canonical"],
            country=document["country"],
            confidence=float(document["confidence"]),
            received_at=datetime.fromisoformat(document["received_at"]),
            candidates=tuple(Candidate(p, float(c)) for p, c in document["candidates"]),
            direction=document["direction"],
            lane=document["lane"],
            vehicle_make=document["vehicle_make"],
            vehicle_colour=document["vehicle_colour"],
            vehicle_type=document["vehicle_type"],
            images=tuple(_ref_of(ref) for ref in document["images"]),
            extra=document["extra"],
        )
        uploads: list[ImageUpload] = []
        offset = 0
        for upload in document["uploads"]:
            length = int(upload["length"])
            if offset + length > len(rest):
                raise CorruptMessage("its image bytes are cut short")
            uploads.append(
                ImageUpload(_ref_of(upload["ref"]), bytes(rest[offset : offset + length]))
            )
            offset += length
        source = str(document["source"])
    except (KeyError, TypeError, ValueError) as bad:
        if isinstance(bad, CorruptMessage):
            raise
        raise CorruptMessage(f"not a read: {bad!r}") from None
    return StreamedRead(read, str(read.read_id), tuple(uploads), source)


def encode_rejection(
    rejection: Rejection, *, camera_id: str, received_at: datetime, source: str
) -> bytes:
    return _frame(
        {
            "camera_id": camera_id,
            "received_at": received_at,
            "source": source,
            "index": rejection.index,
            "payload": rejection.payload,
            "errors": [e.as_dict() for e in rejection.errors],
            "read_id": rejection.read_id,
        }
    )


def decode_rejection(body: bytes) -> StreamedRejection:
    document, _ = _unframe(body)
    try:
        rejection = Rejection(
            index=int(document["index"]),
            payload=str(document["payload"]),
            errors=tuple(FieldError(e["field"], e["reason"]) for e in document["errors"]),
            read_id=document["read_id"],
        )
        return StreamedRejection(
            rejection,
            camera_id=str(document["camera_id"]),
            received_at=datetime.fromisoformat(document["received_at"]),
            source=str(document["source"]),
        )
    except (KeyError, TypeError, ValueError) as bad:
        raise CorruptMessage(f"not a refused item: {bad!r}") from None
