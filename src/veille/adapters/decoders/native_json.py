"""The native JSON decoder: Veille's own read format (docs/read-format.md), protocol
`veille-json`. It parses JSON and the JSON type of every field; the rules a read must
respect are the domain's (`domain/reads.py`), as for every other decoder."""

from __future__ import annotations

import binascii
import logging
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from veille.domain.cameras import DEFAULT_PROTOCOL, Camera
from veille.domain.reads import (
    MAX_CANDIDATES,
    MAX_IMAGES,
    MAX_PLATE_RAW,
    Candidate,
    FieldError,
    ImageRef,
    ImageUpload,
    ParsedRead,
    ReadRejected,
    ReadRules,
    canonical_read,
    captured_in_bounds,
    confidence_of,
    country_code,
    direction_of,
    extra_problem,
    image_kind,
    image_reference,
    image_type,
    image_upload,
    lane_of,
    own_camera,
    plate_of,
    plate_text,
    text_field,
    uuid_of_canonical_text,
)
from veille.service.ingest import IngestBatch, accept_batch
from veille.service.ports import (
    DecodeContext,
    DecodedBatch,
    DeliveryRefused,
    ImageStore,
    ReadEncoder,
    Rejection,
)

log = logging.getLogger(__name__)

PROTOCOL = DEFAULT_PROTOCOL
_VEHICLE_KEYS = frozenset({"make", "colour", "type"})
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
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# Content types that name another format than JSON: a camera sending one of these is
# configured for another protocol (a Hikvision posting ISAPI multipart, an XML event).
# Anything else is read as JSON, as cameras and gateways often send no type, text/plain
# or curl's default form type.
_OTHER_FORMATS = re.compile(
    r"(multipart|image|audio|video)/.*|.*[/+]xml|text/(csv|html)|application/(octet-stream|zip|gzip)"
)
SHAPE = 'must be a read, a list of reads, or {"reads": [...]}'


@dataclass(frozen=True, slots=True)
class NativeJsonDecoder:
    """Decodes `POST /api/v1/reads` bodies: one read, a list of reads or `{"reads": [...]}`."""

    protocol: str = PROTOCOL

    def decode(
        self, body: bytes, content_type: str, camera: Camera, context: DecodeContext
    ) -> DecodedBatch:
        media = content_type.partition(";")[0].strip().lower()
        if media and _OTHER_FORMATS.fullmatch(media):
            reason = (
                f"{media} is not JSON: camera {camera.camera_id} is registered with protocol"
                f" {self.protocol}; correct its protocol or its configuration"
            )
            raise DeliveryRefused(
                "unsupported_media_type", reason, FieldError("(body)", f"content type {reason}")
            )
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise DeliveryRefused(
                "malformed_json",
                f"body is not valid JSON: {exc}",
                FieldError("(body)", f"not JSON: {exc}"),
            ) from None
        items = items_of(document)
        if items is None:
            raise DeliveryRefused("bad_shape", f"body {SHAPE}", FieldError("(body)", SHAPE))
        if not items:
            raise DeliveryRefused(
                "empty_batch",
                "no reads in the request",
                FieldError("(body)", "no reads"),
                keep=False,
            )
        if len(items) > context.max_items:
            raise DeliveryRefused(
                "batch_too_large",
                f"at most {context.max_items} reads per request",
                FieldError("reads", f"{len(items)} reads; at most {context.max_items} per request"),
            )
        return decode_items(
            items, camera_id=camera.camera_id, now=context.received_at, rules=context.rules
        )


def items_of(document: Any) -> list[Any] | None:
    """The reads of a native body: one read, a list of reads, or `{"reads": [...]}`."""
    if isinstance(document, list):
        return document
    if isinstance(document, dict):
        if "reads" in document and len(document) == 1:
            return document["reads"] if isinstance(document["reads"], list) else None
        return [document]
    return None


def decode_items(
    items: Sequence[Any], *, camera_id: str, now: datetime, rules: ReadRules
) -> DecodedBatch:
    """Each item parsed on its own: a bad one is rejected (and kept), never its batch."""
    decoded = DecodedBatch(size=len(items), payload_of=dead_letter_text)
    reads, rejected = decoded.reads, decoded.rejected
    for index, item in enumerate(items):
        try:
            reads.append((index, parse_read(item, camera_id=camera_id, now=now, rules=rules), item))
        except Exception as failure:  # one bad item must never sink its batch
            rejected.append(rejection(index, item, failure, camera_id))
    return decoded


def rejection(index: int, item: Any, failure: Exception, camera_id: str) -> Rejection:
    """The rejection of one item, with its field errors (or, for a failure no rule
    foresaw, a generic reason and the traceback in the log)."""
    if isinstance(failure, ReadRejected):
        errors = tuple(failure.errors)
    else:
        log.exception("validation of item %d from %s failed unexpectedly", index, camera_id)
        errors = (FieldError("(read)", "could not be validated; kept as a dead letter"),)
    rid = item.get("read_id") if isinstance(item, dict) else None
    return Rejection(
        index=index,
        payload=dead_letter_text(item),
        errors=errors,
        read_id=rid if isinstance(rid, str) else None,
    )


# --- one read -------------------------------------------------------------------------


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
    # "Z" and "+00:00" parse to the UTC singleton: no conversion (a new object) needed
    return parsed if parsed.tzinfo is UTC else parsed.astimezone(UTC)


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
        conf = confidence_of(item.get("confidence"), f"{where}.confidence", errors)
        normalised = plate_text(raw, f"{where}.plate", errors) if isinstance(raw, str) else ""
        if normalised is None:
            continue
        if raw is None or (isinstance(raw, str) and not normalised):
            errors.append(FieldError(f"{where}.plate", "missing or has no letters or digits"))
            continue
        plate = text_field(raw, f"{where}.plate", errors, max_len=MAX_PLATE_RAW)
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
        kind = image_kind(item.get("kind", "other"), where, errors)
        if kind is None:
            continue
        ctype = image_type(item.get("content_type", "image/jpeg"), where, errors)
        if ctype is None:
            continue
        data, uri = item.get("data"), item.get("uri")
        if (data is None) == (uri is None):
            errors.append(FieldError(where, "needs exactly one of data (base64) or uri"))
            continue
        if uri is not None:
            ref = image_reference(kind, ctype, uri, where, errors)
            if ref is not None:
                refs.append(ref)
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
            raw = binascii.a2b_base64(data, strict_mode=True)
        except (binascii.Error, ValueError):
            errors.append(FieldError(f"{where}.data", "not valid base64"))
            continue
        upload = image_upload(kind, ctype, raw, where, rules, errors)
        if upload is not None:
            refs.append(upload.ref)
            uploads.append(upload)
    return tuple(refs), tuple(uploads)


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
    canonical_id = False  # the read id is already in canonical text form
    rid: Any = payload.get("read_id")
    if rid is None:
        errors.append(FieldError("read_id", "is required (a UUID chosen by the camera)"))
    elif not isinstance(rid, str):
        errors.append(FieldError("read_id", "must be a UUID string"))
    else:
        canonical_id = _CANONICAL_UUID.fullmatch(rid) is not None
        if canonical_id:  # what cameras send: the pattern has checked it already
            read_id = uuid_of_canonical_text(rid)
        else:
            try:
                read_id = uuid.UUID(rid)
            except ValueError:
                errors.append(FieldError("read_id", f"not a valid UUID: {rid[:40]!r}"))

    claimed = payload.get("camera_id")
    if claimed != camera_id:  # the common case costs no call: this path runs per read
        own_camera(claimed, camera_id, errors)

    captured_at = None
    if "captured_at" not in payload:
        errors.append(FieldError("captured_at", "is required"))
    else:
        captured_at = parse_timestamp(payload["captured_at"], "captured_at", errors)
        if captured_at is not None:
            captured_at = captured_in_bounds(captured_at, now=now, rules=rules, errors=errors)

    raw_plate = payload.get("plate")
    plate_raw: str | None = None
    plate = ""
    if raw_plate is None:
        errors.append(FieldError("plate", "is required"))
    else:
        plate_raw = text_field(raw_plate, "plate", errors, max_len=MAX_PLATE_RAW)
        if plate_raw is not None:
            plate = plate_of(plate_raw, errors)
        elif isinstance(raw_plate, str) and not raw_plate.strip():
            errors.append(FieldError("plate", "is empty"))

    country = payload.get("country")
    if country is not None:
        country = country_code(country, errors)

    confidence = None
    if "confidence" not in payload:
        errors.append(FieldError("confidence", "is required (0 to 1)"))
    else:
        confidence = confidence_of(payload["confidence"], "confidence", errors)

    candidates = _candidates(payload.get("candidates"), errors)
    direction = direction_of(payload.get("direction"), errors)
    lane = payload.get("lane")
    if lane is not None:
        lane = lane_of(lane, errors)

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
        make = text_field(vehicle.get("make"), "vehicle.make", errors)
        colour = text_field(vehicle.get("colour"), "vehicle.colour", errors)
        vtype = text_field(vehicle.get("type"), "vehicle.type", errors)

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
    id_text = rid if canonical_id else str(read_id)
    return ParsedRead(
        read=canonical_read(
            read_id=read_id,
            camera_id=camera_id,
            captured_at=captured_at,
            plate_raw=plate_raw or plate,
            plate=plate,
            confidence=confidence,
            now=now,
            rules=rules,
            country=country,
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


# --- dead letters ----------------------------------------------------------------------


def dead_letter_text(item: Any) -> str:
    """The item as JSON text a replay can read back, whatever its depth.

    orjson refuses values nested more than 254 levels, which a parsed request may be
    (its parser allows 1,024): those are written by `_deep_json`, without recursion.
    """
    try:
        return orjson.dumps(item).decode()
    except TypeError:
        return _deep_json(item)


def _deep_json(value: Any) -> str:
    parts: list[str] = []
    stack: list[Any] = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, _Literal):
            parts.append(node.text)
        elif isinstance(node, dict):
            parts.append("{")
            tail: list[Any] = [_Literal("}")]
            for position, (key, child) in enumerate(reversed(list(node.items()))):
                tail.append(child)
                comma = "," if position < len(node) - 1 else ""
                tail.append(_Literal(comma + orjson.dumps(str(key)).decode() + ":"))
            stack.extend(tail)
        elif isinstance(node, list | tuple):
            parts.append("[")
            tail = [_Literal("]")]
            for position, child in enumerate(reversed(node)):
                tail.append(child)
                if position < len(node) - 1:
                    tail.append(_Literal(","))
            stack.extend(tail)
        else:
            try:
                parts.append(orjson.dumps(node).decode())
            except TypeError:
                parts.append(orjson.dumps(repr(node)).decode())
    return "".join(parts)


@dataclass(frozen=True, slots=True)
class _Literal:
    """Text `_deep_json` writes as it is (brackets, commas, keys)."""

    text: str


def validate_batch(
    items: Sequence[Any],
    *,
    camera_id: str,
    now: datetime,
    rules: ReadRules,
    images: ImageStore | None,
    source: str = "api",
    encode: ReadEncoder | None = None,
) -> IngestBatch:
    """Native reads already parsed from JSON, made ready for the store (`decode_items`,
    then `service.ingest.accept_batch`): for callers that hold reads in memory (the
    benchmarks, tests) rather than a body."""
    return accept_batch(
        decode_items(items, camera_id=camera_id, now=now, rules=rules),
        camera_id=camera_id,
        received_at=now,
        images=images,
        source=source,
        encode=encode,
    )
