"""Cameras of the network: identity, place, vendor and connection phase."""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from veille.domain.errors import Invalid, Problem
from veille.domain.geography import PROVINCES, in_belgium
from veille.domain.times import iso, iso_or_none

CAMERA_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class Phase(StrEnum):
    """Where a camera is in its connection to the central system."""

    PLANNED = "planned"
    TESTING = "testing"
    LIVE = "live"
    RETIRED = "retired"


# A camera may post reads while it is being tested and once it is live.
POSTING_PHASES = frozenset({Phase.TESTING, Phase.LIVE})

# The protocol of Veille's own read format (docs/read-format.md); a camera's protocol
# chooses the decoder of what it sends (`adapters/decoders/`).
DEFAULT_PROTOCOL = "veille-json"


@dataclass(frozen=True)
class Camera:
    camera_id: str
    name: str
    lat: float
    lon: float
    heading: float | None
    zone: str
    province: str
    vendor: str
    protocol: str  # the format it posts in, which chooses their decoder (DEFAULT_PROTOCOL)
    phase: Phase
    created_at: datetime
    retired_at: datetime | None = None

    @property
    def may_post(self) -> bool:
        return self.phase in POSTING_PHASES

    def retire(self, now: datetime) -> Camera:
        return replace(self, phase=Phase.RETIRED, retired_at=now)


class CameraInvalid(Invalid, ValueError):
    """A camera record failed validation; `field` names what was wrong."""

    def __init__(self, field: str, reason: str):
        super().__init__(f"{field}: {reason}", problems=[Problem(field, reason)])
        self.field = field
        self.reason = reason


def _float(value: Any, field: str) -> float:
    if isinstance(value, bool):
        raise CameraInvalid(field, "must be a number")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise CameraInvalid(field, f"must be a number, got {value!r}") from None


def camera_from_record(
    record: dict[str, Any],
    *,
    now: datetime,
    protocols: Collection[str] = (DEFAULT_PROTOCOL,),
) -> Camera:
    """Build a validated Camera from an import record (CSV row, GeoJSON feature, API body).

    `protocols` are those the server has a decoder for: a camera of any other protocol
    could post nothing that would be read, so it is refused.
    """
    camera_id = str(record.get("camera_id") or record.get("id") or "").strip()
    if not CAMERA_ID.fullmatch(camera_id):
        raise CameraInvalid(
            "camera_id", "1–64 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    name = str(record.get("name") or "").strip() or camera_id
    lat = _float(record.get("lat"), "lat")
    lon = _float(record.get("lon"), "lon")
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise CameraInvalid("lat/lon", "outside the globe")
    if not in_belgium(lat, lon):
        raise CameraInvalid("lat/lon", f"({lat}, {lon}) is outside Belgium")
    heading_raw = record.get("heading")
    heading = None
    if heading_raw not in (None, ""):
        heading = _float(heading_raw, "heading")
        if not 0 <= heading < 360:
            raise CameraInvalid("heading", "must be in degrees, 0 to less than 360")
    zone = str(record.get("zone") or "").strip()
    if not zone:
        raise CameraInvalid("zone", "is required (the police zone that runs the camera)")
    province = str(record.get("province") or "").strip()
    if province not in PROVINCES:
        raise CameraInvalid("province", f"must be one of: {', '.join(PROVINCES)}")
    protocol = str(record.get("protocol") or "").strip() or DEFAULT_PROTOCOL
    if protocol not in protocols:
        raise CameraInvalid(
            "protocol",
            f"unknown protocol {protocol[:64]!r}: must be one of {', '.join(sorted(protocols))}",
        )
    phase_raw = str(record.get("phase") or Phase.PLANNED.value).strip().lower()
    try:
        phase = Phase(phase_raw)
    except ValueError:
        raise CameraInvalid("phase", f"must be one of {[p.value for p in Phase]}") from None
    return Camera(
        camera_id=camera_id,
        name=name,
        lat=lat,
        lon=lon,
        heading=heading,
        zone=zone,
        province=province,
        vendor=str(record.get("vendor") or "").strip() or "unknown",
        protocol=protocol,
        phase=phase,
        created_at=now,
        retired_at=now if phase is Phase.RETIRED else None,
    )


def camera_to_json(camera: Camera) -> dict[str, Any]:
    return {
        "camera_id": camera.camera_id,
        "name": camera.name,
        "lat": camera.lat,
        "lon": camera.lon,
        "heading": camera.heading,
        "zone": camera.zone,
        "province": camera.province,
        "vendor": camera.vendor,
        "protocol": camera.protocol,
        "phase": camera.phase.value,
        "created_at": iso(camera.created_at),
        "retired_at": iso_or_none(camera.retired_at),
    }
