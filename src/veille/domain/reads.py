"""The canonical read and the rules that turn a native JSON read into one (or into errors)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from veille.domain.plates import DEFAULT_LOOKALIKES, LookalikeTable, PlateRejected, normalise
from veille.domain.times import iso

DIRECTIONS = frozenset({"approaching", "receding", "unknown"})
IMAGE_KINDS = frozenset({"plate", "overview", "other"})
IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/webp"})
VEHICLE_FIELDS = ("make", "colour", "type")
_VEHICLE_KEYS = frozenset(VEHICLE_FIELDS)
MAX_PLATE_RAW = 32
MAX_CANDIDATES = 10
MAX_IMAGES = 4
# Bounds on `extra`, the vendor's free-form fields: deep enough for any vendor event we
# know (OpenALPR, Hikvision and Plate Recognizer nest 4–6 levels), small enough that no
# read can make the store's own JSON encoder fail (orjson stops at 254 levels).
MAX_EXTRA_DEPTH = 32
MAX_EXTRA_BYTES = 16 * 1024  # as compact JSON
_COUNTRY = re.compile(r"[A-Za-z]{2}")
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_KNOWN_FIELDS = frozenset(
    {
        "read_id",
        "camera_id",
        "captured_at",
        "plate",
        "country",
        "confidence",
        "candidates",
        "direction",
        "lane",
        "vehicle",
        "images",
        "extra",
    }
)


@dataclass(frozen=True, slots=True)
class Candidate:
    plate: str
    confidence: float


@dataclass(frozen=True, slots=True)
class ImageRef:
    """An image of a read: stored in the image store (sha256) or held elsewhere (uri)."""

    kind: str
    content_type: str
    sha256: str | None = None
    size: int | None = None
    uri: str | None = None


@dataclass(frozen=True, slots=True)
class ImageUpload:
    """Decoded image bytes that travel with a read until the image store has them."""

    ref: ImageRef
    data: bytes


@dataclass(slots=True)
class Read:
    """One passage of one vehicle at one camera, in Veille's canonical form.

    Treated as immutable. It is not a frozen dataclass because building a frozen one
    costs ~4 µs against ~0.5 µs (18 fields, measured), on a path that builds one per
    ingested read.
    """

    read_id: uuid.UUID
    camera_id: str
    captured_at: datetime  # UTC, camera clock
    plate_raw: str
    plate: str  # normalised
    plate_canonical: str  # look-alike canonical form
    country: str | None
    confidence: float
    received_at: datetime  # UTC, server clock
    candidates: tuple[Candidate, ...] = ()
    direction: str = "unknown"
    lane: int | None = None
    vehicle_make: str | None = None
    vehicle_colour: str | None = None
    vehicle_type: str | None = None
    images: tuple[ImageRef, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FieldError:
    """Why one field of one read was refused."""

    field: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class ReadRules:
    """Limits a read must respect; every figure comes from settings."""

    max_image_bytes: int = 512 * 1024
    max_clock_skew: timedelta = timedelta(minutes=5)
    max_age: timedelta = timedelta(days=365)  # the legal maximum retention: older is never kept
    lookalikes: LookalikeTable = DEFAULT_LOOKALIKES


@dataclass(frozen=True, slots=True)
class ParsedRead:
    """A read that passed validation, with the image bytes it carried."""

    read: Read
    read_id_text: str  # the read id in canonical text form, as answers show it
    uploads: tuple[ImageUpload, ...] = ()


class ReadRejected(Exception):
    """A read payload failed validation; carries every field error found."""

    def __init__(self, errors: list[FieldError]):
        super().__init__("; ".join(f"{e.field}: {e.reason}" for e in errors))
        self.errors = errors


def _text(value: Any, name: str, errors: list[FieldError], *, max_len: int = 64) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        errors.append(FieldError(name, f"must be a string, got {type(value).__name__}"))
        return None
    value = value.strip()
    if len(value) > max_len:
        errors.append(FieldError(name, f"longer than {max_len} characters"))
        return None
    return value or None


def _number(value: Any, name: str, errors: list[FieldError]) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        errors.append(FieldError(name, f"must be a number, got {type(value).__name__}"))
        return None
    return float(value)


def parse_timestamp(value: Any, name: str, errors: list[FieldError]) -> datetime | None:
    """ISO 8601 with an explicit offset (Z or ±hh:mm), converted to UTC."""
    if not isinstance(value, str):
        errors.append(FieldError(name, "must be an ISO 8601 string with a time zone"))
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        errors.append(FieldError(name, f"not a valid ISO 8601 date-time: {value[:40]!r}"))
        return None
    if parsed.tzinfo is None:
        errors.append(FieldError(name, "has no time zone: add Z or an offset such as +01:00"))
        return None
    return parsed.astimezone(UTC)


def _confidence(value: Any, name: str, errors: list[FieldError]) -> float | None:
    number = _number(value, name, errors)
    if number is None:
        return None
    if not 0.0 <= number <= 1.0:
        errors.append(FieldError(name, f"must be between 0 and 1, got {number}"))
        return None
    return number


def _plate_text(raw: str, name: str, errors: list[FieldError]) -> str | None:
    """The normalised plate, or None after recording why the text cannot be one."""
    try:
        return normalise(raw)
    except PlateRejected as refused:
        errors.append(FieldError(name, refused.reason))
        return None


def _candidates(value: Any, errors: list[FieldError]) -> tuple[Candidate, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        errors.append(FieldError("candidates", "must be a list"))
        return ()
    if len(value) > MAX_CANDIDATES:
        errors.append(FieldError("candidates", f"at most {MAX_CANDIDATES} candidates"))
        return ()
    out: list[Candidate] = []
    for i, item in enumerate(value):
        where = f"candidates[{i}]"
        if not isinstance(item, dict):
            errors.append(FieldError(where, "must be an object with plate and confidence"))
            continue
        raw = item.get("plate")
        conf = _confidence(item.get("confidence"), f"{where}.confidence", errors)
        normalised = _plate_text(raw, f"{where}.plate", errors) if isinstance(raw, str) else ""
        if normalised is None:
            continue
        if raw is None or (isinstance(raw, str) and not normalised):
            errors.append(FieldError(f"{where}.plate", "missing or has no letters or digits"))
            continue
        plate = _text(raw, f"{where}.plate", errors, max_len=MAX_PLATE_RAW)
        if plate is not None and conf is not None:
            out.append(Candidate(normalised, conf))
    return tuple(out)


def _images(
    value: Any, rules: ReadRules, errors: list[FieldError]
) -> tuple[tuple[ImageRef, ...], tuple[ImageUpload, ...]]:
    if value is None:
        return (), ()
    if not isinstance(value, list):
        errors.append(FieldError("images", "must be a list"))
        return (), ()
    if len(value) > MAX_IMAGES:
        errors.append(FieldError("images", f"at most {MAX_IMAGES} images per read"))
        return (), ()
    refs: list[ImageRef] = []
    uploads: list[ImageUpload] = []
    for i, item in enumerate(value):
        where = f"images[{i}]"
        if not isinstance(item, dict):
            errors.append(FieldError(where, "must be an object"))
            continue
        kind = item.get("kind", "other")
        if not isinstance(kind, str) or kind not in IMAGE_KINDS:
            errors.append(FieldError(f"{where}.kind", f"must be one of {sorted(IMAGE_KINDS)}"))
            continue
        ctype = item.get("content_type", "image/jpeg")
        if not isinstance(ctype, str) or ctype not in IMAGE_TYPES:
            errors.append(
                FieldError(f"{where}.content_type", f"must be one of {sorted(IMAGE_TYPES)}")
            )
            continue
        data, uri = item.get("data"), item.get("uri")
        if (data is None) == (uri is None):
            errors.append(FieldError(where, "needs exactly one of data (base64) or uri"))
            continue
        if uri is not None:
            if not isinstance(uri, str) or not uri or len(uri) > 2048:
                errors.append(FieldError(f"{where}.uri", "must be a string of 1–2048 characters"))
                continue
            refs.append(ImageRef(kind=kind, content_type=ctype, uri=uri))
            continue
        if not isinstance(data, str):
            errors.append(FieldError(f"{where}.data", "must be a base64 string"))
            continue
        # base64 inflates by 4/3: refuse before decoding what is plainly too large
        if len(data) * 3 // 4 > rules.max_image_bytes + 3:
            errors.append(
                FieldError(f"{where}.data", f"image larger than {rules.max_image_bytes} bytes")
            )
            continue
        try:
            raw = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            errors.append(FieldError(f"{where}.data", "not valid base64"))
            continue
        if not raw:
            errors.append(FieldError(f"{where}.data", "image is empty"))
            continue
        if len(raw) > rules.max_image_bytes:
            errors.append(
                FieldError(f"{where}.data", f"image larger than {rules.max_image_bytes} bytes")
            )
            continue
        ref = ImageRef(
            kind=kind, content_type=ctype, sha256=hashlib.sha256(raw).hexdigest(), size=len(raw)
        )
        refs.append(ref)
        uploads.append(ImageUpload(ref=ref, data=raw))
    return tuple(refs), tuple(uploads)


def extra_problem(extra: dict[str, Any]) -> str | None:
    """Why `extra` is refused (too deep or too large), or None.

    Walks the value without recursion and stops early: a hostile payload costs at most
    MAX_EXTRA_BYTES steps, however deep or wide it is.
    """
    budget = MAX_EXTRA_BYTES  # every value costs at least one byte of JSON
    stack: list[tuple[Any, int]] = [(extra, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_EXTRA_DEPTH:
            return f"nested more than {MAX_EXTRA_DEPTH} levels deep"
        children = value.values() if isinstance(value, dict) else value
        for child in children:
            budget -= 1
            if budget < 0:
                return f"larger than {MAX_EXTRA_BYTES} bytes as JSON"
            if isinstance(child, dict | list):
                stack.append((child, depth + 1))
    if len(orjson.dumps(extra)) > MAX_EXTRA_BYTES:
        return f"larger than {MAX_EXTRA_BYTES} bytes as JSON"
    return None


def parse_read(
    payload: Any, *, camera_id: str, now: datetime, rules: ReadRules = ReadRules()
) -> ParsedRead:
    """Validate one native JSON read posted by `camera_id`; raise ReadRejected with every error.

    The camera may only post as itself: a read naming another camera is refused.
    """
    if not isinstance(payload, dict):
        raise ReadRejected([FieldError("(read)", "must be a JSON object")])
    errors: list[FieldError] = []
    # a subset test allocates nothing: the common case on the ingest path
    unknown = () if payload.keys() <= _KNOWN_FIELDS else payload.keys() - _KNOWN_FIELDS
    if unknown:
        errors.append(
            FieldError(sorted(unknown)[0], f"unknown field(s): {', '.join(sorted(unknown))}")
        )

    read_id: uuid.UUID | None = None
    rid: Any = payload.get("read_id")
    if rid is None:
        errors.append(FieldError("read_id", "is required (a UUID chosen by the camera)"))
    elif not isinstance(rid, str):
        errors.append(FieldError("read_id", "must be a UUID string"))
    else:
        try:
            read_id = uuid.UUID(rid)
        except ValueError:
            errors.append(FieldError("read_id", f"not a valid UUID: {rid[:40]!r}"))

    cam = payload.get("camera_id")
    if cam is None:
        errors.append(FieldError("camera_id", "is required"))
    elif cam != camera_id:
        errors.append(
            FieldError(
                "camera_id",
                "does not match the camera of the credential: a camera posts only its own reads",
            )
        )

    captured_at = None
    if "captured_at" not in payload:
        errors.append(FieldError("captured_at", "is required"))
    else:
        captured_at = parse_timestamp(payload["captured_at"], "captured_at", errors)
        if captured_at is not None:
            if captured_at > now + rules.max_clock_skew:
                errors.append(
                    FieldError("captured_at", "is in the future (beyond the allowed clock skew)")
                )
            elif captured_at < now - rules.max_age:
                errors.append(FieldError("captured_at", f"is older than {rules.max_age.days} days"))

    raw_plate = payload.get("plate")
    plate_raw: str | None = None
    plate = ""
    if raw_plate is None:
        errors.append(FieldError("plate", "is required"))
    else:
        plate_raw = _text(raw_plate, "plate", errors, max_len=MAX_PLATE_RAW)
        if plate_raw is not None:
            folded = _plate_text(plate_raw, "plate", errors)
            plate = folded or ""
            if folded is None:
                pass  # the reason is in errors already
            elif not plate:
                errors.append(FieldError("plate", "has no letters or digits"))
            elif len(plate) > 12:
                errors.append(FieldError("plate", "more than 12 letters and digits"))
        elif isinstance(raw_plate, str) and not raw_plate.strip():
            errors.append(FieldError("plate", "is empty"))

    country = payload.get("country")
    if country is not None:
        if not isinstance(country, str) or not _COUNTRY.fullmatch(country):
            errors.append(FieldError("country", "must be a two-letter country code"))
            country = None
        else:
            country = country.upper()

    confidence = None
    if "confidence" not in payload:
        errors.append(FieldError("confidence", "is required (0 to 1)"))
    else:
        confidence = _confidence(payload["confidence"], "confidence", errors)

    candidates = _candidates(payload.get("candidates"), errors)

    direction = payload.get("direction", "unknown")
    if direction is None:
        direction = "unknown"
    if not isinstance(direction, str) or direction not in DIRECTIONS:
        errors.append(FieldError("direction", f"must be one of {sorted(DIRECTIONS)}"))

    lane = payload.get("lane")
    if lane is not None and (
        isinstance(lane, bool) or not isinstance(lane, int) or not 0 < lane < 100
    ):
        errors.append(FieldError("lane", "must be a whole number from 1 to 99"))

    vehicle = payload.get("vehicle")
    vehicle = {} if vehicle is None else vehicle
    make = colour = vtype = None
    if not isinstance(vehicle, dict):
        errors.append(FieldError("vehicle", "must be an object with make, colour, type"))
    else:
        extra_keys = () if vehicle.keys() <= _VEHICLE_KEYS else vehicle.keys() - _VEHICLE_KEYS
        if extra_keys:
            errors.append(
                FieldError("vehicle", f"unknown field(s): {', '.join(sorted(extra_keys))}")
            )
        make = _text(vehicle.get("make"), "vehicle.make", errors)
        colour = _text(vehicle.get("colour"), "vehicle.colour", errors)
        vtype = _text(vehicle.get("type"), "vehicle.type", errors)

    images, uploads = _images(payload.get("images"), rules, errors)

    extra = payload.get("extra")
    extra = {} if extra is None else extra
    if not isinstance(extra, dict):
        errors.append(FieldError("extra", "must be an object (vendor fields kept as they are)"))
    elif extra:
        problem = extra_problem(extra)
        if problem:
            errors.append(FieldError("extra", problem))

    if errors:
        raise ReadRejected(errors)
    assert read_id is not None and captured_at is not None and confidence is not None
    assert isinstance(rid, str)  # a read id was parsed from it
    # the camera's own text when it is already canonical (str() of a UUID costs ~1 µs)
    id_text = rid if _is_canonical_uuid_text(rid) else str(read_id)
    return ParsedRead(
        read=Read(
            read_id=read_id,
            camera_id=camera_id,
            captured_at=captured_at,
            plate_raw=plate_raw or plate,
            plate=plate,
            plate_canonical=rules.lookalikes.canonical(plate),
            country=country,
            confidence=confidence,
            received_at=now,
            candidates=candidates,
            direction=direction,
            lane=lane,
            vehicle_make=make,
            vehicle_colour=colour,
            vehicle_type=vtype,
            images=images,
            extra=extra,
        ),
        uploads=uploads,
        read_id_text=id_text,
    )


def _is_canonical_uuid_text(text: str) -> bool:
    """`text` is exactly what str() of its UUID gives (uuid.UUID also takes upper case,
    braces, a urn: prefix, missing dashes, even spaces and underscores)."""
    return _CANONICAL_UUID.fullmatch(text) is not None


def read_to_json(read: Read) -> dict[str, Any]:
    """The canonical read as the API shows it."""
    return {
        "read_id": str(read.read_id),
        "camera_id": read.camera_id,
        "captured_at": iso(read.captured_at),
        "plate_raw": read.plate_raw,
        "plate": read.plate,
        "plate_canonical": read.plate_canonical,
        "country": read.country,
        "confidence": read.confidence,
        "candidates": [{"plate": c.plate, "confidence": c.confidence} for c in read.candidates],
        "direction": read.direction,
        "lane": read.lane,
        "vehicle": {
            "make": read.vehicle_make,
            "colour": read.vehicle_colour,
            "type": read.vehicle_type,
        },
        "images": [
            {
                k: v
                for k, v in (
                    ("kind", i.kind),
                    ("content_type", i.content_type),
                    ("sha256", i.sha256),
                    ("size", i.size),
                    ("uri", i.uri),
                )
                if v
            }
            for i in read.images
        ],
        "received_at": iso(read.received_at),
        "extra": read.extra,
    }
