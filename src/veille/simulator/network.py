"""A deterministic simulated camera network over Brussels' six police zones."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from veille.adapters.camera_import import encode_csv, encode_geojson
from veille.domain.geography import BRUSSELS_REGION, BRUSSELS_ZONES, PoliceZone

# (vendor, protocol, weight): the camera families a Brussels network mixes in practice.
VENDORS: tuple[tuple[str, str, float], ...] = (
    ("Hikvision", "veille-json", 0.35),
    ("Genetec", "veille-json", 0.25),
    ("Axis", "veille-json", 0.20),
    ("Veille", "veille-json", 0.20),
)

ZONE_CODES: dict[str, str] = {
    "Bruxelles-Capitale/Ixelles": "CAPIX",
    "Bruxelles-Ouest": "OUEST",
    "Midi": "MIDI",
    "Uccle/Watermael-Boitsfort/Auderghem": "MARLOW",
    "Montgomery": "MONTGOMERY",
    "Polbruno": "POLBRUNO",
}

DEFAULT_JITTER_M = 1500.0
_M_PER_DEG_LAT = 111_320.0


@dataclass(frozen=True, slots=True)
class CameraSite:
    """One simulated camera: where it stands and who runs it."""

    camera_id: str
    name: str
    lat: float
    lon: float
    heading: float
    zone: str
    commune: str
    vendor: str
    protocol: str
    province: str = BRUSSELS_REGION

    def record(self) -> dict[str, Any]:
        """The camera as an import record (what `camera_from_record` validates)."""
        return {
            "camera_id": self.camera_id,
            "name": self.name,
            "lat": self.lat,
            "lon": self.lon,
            "heading": self.heading,
            "zone": self.zone,
            "province": self.province,
            "vendor": self.vendor,
            "protocol": self.protocol,
            "phase": "live",
        }


def zone_code(zone: str) -> str:
    """Short upper-case code used in camera ids (`BXL-<CODE>-0001`)."""
    known = ZONE_CODES.get(zone)
    if known:
        return known
    return "".join(ch for ch in zone.upper() if ch.isalnum())[:12] or "ZONE"


def allocate(total: int, weights: Sequence[float]) -> list[int]:
    """Split `total` by `weights` (largest remainder), at least one each when possible."""
    if total < 0:
        raise ValueError("total must be >= 0")
    n = len(weights)
    floor_each = 1 if total >= n else 0
    rest = total - floor_each * n
    weight_sum = sum(weights)
    shares = [rest * w / weight_sum for w in weights]
    counts = [floor_each + int(s) for s in shares]
    order = sorted(range(n), key=lambda i: (-(shares[i] - int(shares[i])), i))
    for i in order[: total - sum(counts)]:
        counts[i] += 1
    return counts


def _offset(lat: float, lon: float, distance_m: float, bearing_deg: float) -> tuple[float, float]:
    b = math.radians(bearing_deg)
    dlat = distance_m * math.cos(b) / _M_PER_DEG_LAT
    dlon = distance_m * math.sin(b) / (_M_PER_DEG_LAT * math.cos(math.radians(lat)))
    return lat + dlat, lon + dlon


def build_network(
    *,
    cameras: int = 450,
    seed: int = 1,
    zones: Sequence[PoliceZone] = BRUSSELS_ZONES,
    jitter_m: float = DEFAULT_JITTER_M,
) -> list[CameraSite]:
    """`cameras` sites spread over `zones` in proportion to their communes, same for a seed.

    With at least one camera per zone every zone is covered; each camera stands within
    `jitter_m` of its commune's centre (uniform over the disc).
    """
    if cameras < 1:
        raise ValueError("a network needs at least one camera")
    rng = random.Random(f"veille-network:{seed}")
    per_zone = allocate(cameras, [len(z.communes) for z in zones])
    vendors = [(v, p) for v, p, _ in VENDORS]
    vendor_weights = [w for _, _, w in VENDORS]
    sites: list[CameraSite] = []
    for zone, count in zip(zones, per_zone, strict=True):
        code = zone_code(zone.name)
        for n in range(1, count + 1):
            commune = zone.communes[(n - 1) % len(zone.communes)]
            distance = jitter_m * math.sqrt(rng.random())
            lat, lon = _offset(commune.lat, commune.lon, distance, rng.uniform(0, 360))
            vendor, protocol = rng.choices(vendors, weights=vendor_weights)[0]
            sites.append(
                CameraSite(
                    camera_id=f"BXL-{code}-{n:04d}",
                    name=f"{commune.name} ANPR {n:03d}",
                    lat=round(lat, 6),
                    lon=round(lon, 6),
                    heading=float(rng.randrange(0, 360)),
                    zone=zone.name,
                    commune=commune.name,
                    vendor=vendor,
                    protocol=protocol,
                    province=zone.province,
                )
            )
    return sites


def camera_records(sites: Sequence[CameraSite]) -> list[dict[str, Any]]:
    """Import records for the camera import endpoint (`{"format": "records", ...}`)."""
    return [site.record() for site in sites]


def network_csv(sites: Sequence[CameraSite]) -> str:
    """The network as CSV text with a header row (the CSV camera import format)."""
    return encode_csv(site.record() for site in sites)


def network_geojson(sites: Sequence[CameraSite]) -> dict[str, Any]:
    """The network as a GeoJSON FeatureCollection (coordinates in lon, lat order)."""
    doc: dict[str, Any] = orjson.loads(encode_geojson(site.record() for site in sites))
    return doc


def nearest_neighbours(sites: Sequence[CameraSite], *, k: int = 8) -> list[tuple[int, ...]]:
    """For each site, the indexes of its `k` nearest other sites, nearest first.

    Uses an equirectangular projection: exact enough to rank cameras a few km apart.
    """
    if not sites:
        return []
    mid_lat = math.radians(sum(s.lat for s in sites) / len(sites))
    xs = [s.lon * math.cos(mid_lat) for s in sites]
    ys = [s.lat for s in sites]
    result: list[tuple[int, ...]] = []
    for i in range(len(sites)):
        xi, yi = xs[i], ys[i]
        ranked = sorted(
            (j for j in range(len(sites)) if j != i),
            key=lambda j: ((xs[j] - xi) ** 2 + (ys[j] - yi) ** 2, j),
        )
        result.append(tuple(ranked[:k]))
    return result
