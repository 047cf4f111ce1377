"""The canonical read and its invariants, which every camera decoder applies."""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson

from veille.domain.plates import DEFAULT_LOOKALIKES, LookalikeTable, PlateRejected, normalise
from veille.domain.times import iso

DIRECTIONS = frozenset({"approaching", "receding", "unknown"})
IMAGE_KINDS = frozenset({"plate", "overview", "other"})
IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/webp"})
MAX_PLATE_RAW = 32
MAX_PLATE_LETTERS = 12
MAX_IMAGE_URI = 2048
MAX_CANDIDATES = 10
MAX_IMAGES = 4
# Bounds on `extra`, the vendor's free-form fields: deep enough for any vendor event we
# know (OpenALPR, Hikvision and Plate Recognizer nest 4–6 levels), small enough that no
# read can make the store's own JSON encoder fail (orjson stops at 254 levels).
MAX_EXTRA_DEPTH = 32
MAX_EXTRA_BYTES = 16 * 1024  # as compact JSON
_COUNTRY = re.compile(r"[A-Za-z]{2}")


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


@dataclass(slots=True)
class ParsedRead:
    """A read that passed validation, with the image bytes it carried.

    Treated as immutable; not frozen, as `Read`, because one is built per ingested read
    and a frozen dataclass's `__init__` costs about three times as much.
    """

    read: Read
    read_id_text: str  # the read id in canonical text form, as answers show it
    uploads: tuple[ImageUpload, ...] = ()


class ReadRejected(Exception):
    """A read payload failed validation; carries every field error found."""

    def __init__(self, errors: list[FieldError]):
        super().__init__("; ".join(f"{e.field}: {e.reason}" for e in errors))
        self.errors = errors


# --- The invariants of a canonical read -----------------------------------------------
# Every camera decoder (`adapters/decoders/`) calls these once it has taken a value out of
# its vendor's format, so every camera family is held to the same rules. Each records why
# a value is refused in `errors`, under the canonical read's field name, and answers None
# (or the neutral value) for a refused one. None of them parses a wire format.

# Read ids that a decoder derives from a vendor's own event identity (vendors send no
# UUID): the same event of the same camera always gets the same id, so a resend is a
# duplicate, never a second read.
_DERIVED_READ_IDS = uuid.UUID("6f0b9e3c-2d41-5c7a-9e8f-0a11e0c0ffee")


def derived_read_id(camera_id: str, protocol: str, event_id: str) -> uuid.UUID:
    """The read id of a vendor event: a name-based UUID of the camera, its protocol and
    the vendor's own event identity."""
    return uuid.uuid5(_DERIVED_READ_IDS, f"{protocol}\x1f{camera_id}\x1f{event_id}")


_UUID_UNKNOWN = uuid.SafeUUID.unknown  # an enum member: fetched once, not per read
_new_object = object.__new__
_set_attribute = object.__setattr__


def uuid_of_canonical_text(text: str) -> uuid.UUID:
    """The UUID of text already known to be canonical (8-4-4-4-12 lower-case hex digits).

    Equal to `uuid.UUID(text)`, in a third of its instructions: it skips the parsing and
    checks that text has passed already, setting the two slots `UUID.__init__` sets.
    Text not in that form must go through `uuid.UUID`.
    """
    value = _new_object(uuid.UUID)
    _set_attribute(value, "int", int(text.replace("-", ""), 16))
    _set_attribute(value, "is_safe", _UUID_UNKNOWN)
    return value


def own_camera(claimed: Any, camera_id: str, errors: list[FieldError]) -> None:
    """A camera posts only its own reads: a read naming another camera is refused."""
    if claimed is None:
        errors.append(FieldError("camera_id", "is required"))
    elif claimed != camera_id:
        errors.append(
            FieldError(
                "camera_id",
                "does not match the camera of the credential: a camera posts only its own reads",
            )
        )


def captured_in_bounds(
    captured_at: datetime, *, now: datetime, rules: ReadRules, errors: list[FieldError]
) -> datetime | None:
    """`captured_at` (UTC), if it is neither beyond the clock skew nor past the legal age."""
    if captured_at > now + rules.max_clock_skew:
        errors.append(FieldError("captured_at", "is in the future (beyond the allowed clock skew)"))
        return None
    if captured_at < now - rules.max_age:
        errors.append(FieldError("captured_at", f"is older than {rules.max_age.days} days"))
        return None
    return captured_at


def text_field(value: Any, name: str, errors: list[FieldError], *, max_len: int = 64) -> str | None:
    """A text field without surrounding blanks: None when absent or empty, refused when
    not a string or longer than `max_len`."""
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


def plate_text(raw: str, name: str, errors: list[FieldError]) -> str | None:
    """The normalised plate, or None after recording why the text cannot be one."""
    try:
        return normalise(raw)
    except PlateRejected as refused:
        errors.append(FieldError(name, refused.reason))
        return None


def plate_of(plate_raw: str, errors: list[FieldError]) -> str:
    """The normalised plate of a read's raw text: 1–12 letters and digits ("" if refused)."""
    try:
        folded = normalise(plate_raw)
    except PlateRejected as refused:
        errors.append(FieldError("plate", refused.reason))
        return ""
    if not folded:
        errors.append(FieldError("plate", "has no letters or digits"))
    elif len(folded) > MAX_PLATE_LETTERS:
        errors.append(FieldError("plate", f"more than {MAX_PLATE_LETTERS} letters and digits"))
    return folded


def confidence_of(value: Any, name: str, errors: list[FieldError]) -> float | None:
    """A confidence from 0 to 1 (a decoder scales its vendor's 0–100 first)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        errors.append(FieldError(name, f"must be a number, got {type(value).__name__}"))
        return None
    number = float(value)
    if not 0.0 <= number <= 1.0:
        errors.append(FieldError(name, f"must be between 0 and 1, got {number}"))
        return None
    return number


def country_code(value: Any, errors: list[FieldError]) -> str | None:
    """A two-letter country code, upper-cased; None when absent or refused."""
    if value is None:
        return None
    if not isinstance(value, str) or not _COUNTRY.fullmatch(value):
        errors.append(FieldError("country", "must be a two-letter country code"))
        return None
    return value.upper()


def direction_of(value: Any, errors: list[FieldError]) -> str:
    """One of DIRECTIONS; absent means unknown."""
    if value is None:
        return "unknown"
    if not isinstance(value, str) or value not in DIRECTIONS:
        errors.append(FieldError("direction", f"must be one of {sorted(DIRECTIONS)}"))
    return value  # type: ignore[no-any-return]  # refused above when not a direction


def lane_of(value: Any, errors: list[FieldError]) -> int | None:
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 100
    ):
        errors.append(FieldError("lane", "must be a whole number from 1 to 99"))
    return value  # type: ignore[no-any-return]  # refused above when not a lane


def image_kind(value: Any, where: str, errors: list[FieldError]) -> str | None:
    if not isinstance(value, str) or value not in IMAGE_KINDS:
        errors.append(FieldError(f"{where}.kind", f"must be one of {sorted(IMAGE_KINDS)}"))
        return None
    return value


def image_type(value: Any, where: str, errors: list[FieldError]) -> str | None:
    if not isinstance(value, str) or value not in IMAGE_TYPES:
        errors.append(FieldError(f"{where}.content_type", f"must be one of {sorted(IMAGE_TYPES)}"))
        return None
    return value


def image_reference(
    kind: str, content_type: str, uri: Any, where: str, errors: list[FieldError]
) -> ImageRef | None:
    """An image held elsewhere (a link the camera or its recorder serves)."""
    if not isinstance(uri, str) or not uri or len(uri) > MAX_IMAGE_URI:
        errors.append(
            FieldError(f"{where}.uri", f"must be a string of 1–{MAX_IMAGE_URI} characters")
        )
        return None
    return ImageRef(kind=kind, content_type=content_type, uri=uri)


def image_upload(
    kind: str,
    content_type: str,
    data: bytes,
    where: str,
    rules: ReadRules,
    errors: list[FieldError],
) -> ImageUpload | None:
    """Image bytes that came with the read, named by their SHA-256 for the image store."""
    if not data:
        errors.append(FieldError(f"{where}.data", "image is empty"))
        return None
    if len(data) > rules.max_image_bytes:
        errors.append(
            FieldError(f"{where}.data", f"image larger than {rules.max_image_bytes} bytes")
        )
        return None
    ref = ImageRef(
        kind=kind,
        content_type=content_type,
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
    )
    return ImageUpload(ref=ref, data=data)


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


def canonical_read(
    *,
    read_id: uuid.UUID,
    camera_id: str,
    captured_at: datetime,
    plate_raw: str,
    plate: str,
    confidence: float,
    now: datetime,
    rules: ReadRules,
    country: str | None = None,
    candidates: tuple[Candidate, ...] = (),
    direction: str = "unknown",
    lane: int | None = None,
    vehicle_make: str | None = None,
    vehicle_colour: str | None = None,
    vehicle_type: str | None = None,
    images: tuple[ImageRef, ...] = (),
    extra: dict[str, Any] | None = None,
) -> Read:
    """The canonical read of values that passed the checks above: Veille adds the plate's
    look-alike canonical form and the time it received the read."""
    # positional, in field order: a keyword call of 17 fields costs twice the instructions
    return Read(
        read_id,
        camera_id,
        captured_at,
        plate_raw or plate,
        plate,
        rules.lookalikes.canonical(plate),
        country,
        confidence,
        now,
        candidates,
        direction,
        lane,
        vehicle_make,
        vehicle_colour,
        vehicle_type,
        images,
        {} if extra is None else extra,
    )


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
