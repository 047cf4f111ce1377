"""Investigation maths: speeds, polygons, clones, convoys, journeys, scenes, rare visitors."""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from veille.domain.geography import haversine_m

COMPASS = ("N", "NE", "E", "SE", "S", "SW", "W", "NW")
Ring = Sequence[Sequence[float]]  # GeoJSON linear ring: [[lon, lat], ...]


@dataclass(frozen=True, slots=True)
class Passage:
    """Where and when one plate was seen: the part of a read the maths needs."""

    read_id: str
    plate: str
    camera_id: str
    lat: float
    lon: float
    at: datetime


def distance_m(a: Passage, b: Passage) -> float:
    return haversine_m(a.lat, a.lon, b.lat, b.lon)


def speed_kmh(a: Passage, b: Passage) -> float:
    """Straight-line speed needed to go from one passage to the other (order-free).

    Two passages at the same instant in different places need an infinite speed.
    """
    metres = distance_m(a, b)
    seconds = abs((b.at - a.at).total_seconds())
    if seconds == 0:
        return math.inf if metres > 0 else 0.0
    return metres / seconds * 3.6


def bearing_deg(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Initial great-circle bearing from the first point to the second, 0–360 (0 = north)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dl = math.radians(lon2 - lon1)
    x = math.sin(dl) * math.cos(p2)
    y = math.cos(p1) * math.sin(p2) - math.sin(p1) * math.cos(p2) * math.cos(dl)
    bearing = math.degrees(math.atan2(x, y)) % 360.0
    # a tiny negative angle wraps to 360.0 in floating point: that is north, 0
    return 0.0 if bearing >= 360.0 else bearing


def compass(bearing: float) -> str:
    """The nearest of the eight compass points."""
    return COMPASS[round((bearing % 360.0) / 45.0) % 8]


def in_ring(lon: float, lat: float, ring: Ring) -> bool:
    """Even-odd ray casting on a closed or open GeoJSON ring (planar lon/lat)."""
    inside = False
    points = [(float(p[0]), float(p[1])) for p in ring]
    if len(points) > 1 and points[0] == points[-1]:
        points = points[:-1]
    j = len(points) - 1
    for i, (xi, yi) in enumerate(points):
        xj, yj = points[j]
        if (yi > lat) != (yj > lat):
            cross = (xj - xi) * (lat - yi) / (yj - yi) + xi
            if lon < cross:
                inside = not inside
        j = i
    return inside


def in_polygon(lon: float, lat: float, coordinates: Sequence[Ring]) -> bool:
    """GeoJSON Polygon coordinates: inside the outer ring and outside every hole."""
    if not coordinates or not in_ring(lon, lat, coordinates[0]):
        return False
    return not any(in_ring(lon, lat, hole) for hole in coordinates[1:])


def validate_polygon(coordinates: Sequence[Ring]) -> str | None:
    """None when the coordinates are a usable GeoJSON Polygon, else why not."""
    if not coordinates:
        return "a polygon needs at least its outer ring"
    for ring in coordinates:
        if len(ring) < 4:
            return "each ring needs at least four positions (closed: first = last)"
        if any(len(p) < 2 for p in ring):
            return "each position is [lon, lat]"
        if list(ring[0][:2]) != list(ring[-1][:2]):
            return "each ring must be closed (first position = last)"
    return None


# --- cloned plates -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClonePair:
    """Two passages of one plate that one vehicle could not have made."""

    first: Passage
    second: Passage
    distance_m: float
    seconds: float
    implied_kmh: float


def clone_pairs(
    passages: Iterable[Passage], *, max_speed_kmh: float, min_distance_m: float
) -> list[ClonePair]:
    """Consecutive passages (in time) of one plate whose implied speed exceeds the bound.

    Consecutive pairs suffice: if every consecutive hop were drivable, so would be any
    pair (the triangle inequality bounds the distance by the sum of the hops). Pairs
    closer than `min_distance_m` are ignored: camera positions and clocks are not exact.
    """
    ordered = sorted(passages, key=lambda p: (p.at, p.read_id))
    found: list[ClonePair] = []
    for a, b in itertools.pairwise(ordered):
        metres = distance_m(a, b)
        if metres < min_distance_m:
            continue
        kmh = speed_kmh(a, b)
        if kmh > max_speed_kmh:
            seconds = (b.at - a.at).total_seconds()
            found.append(ClonePair(a, b, metres, seconds, kmh))
    return found


# --- convoys -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CoWindow:
    """What one camera saw around one passage of the target: other plates within ±Δt."""

    camera_id: str
    at: datetime  # the target's passage
    plates: frozenset[str]  # distinct other plates seen there in the window


@dataclass(frozen=True, slots=True)
class Companion:
    plate: str
    score: float
    cameras: tuple[str, ...]
    co_occurrences: int


def cooccurrence_weight(busy: int) -> float:
    """Weight of a co-occurrence where `busy` distinct other plates passed in the window.

    1 on an empty road, falling slowly as the place gets busier: being next to the
    target at a quiet camera at night says more than at a ring-road gantry at rush hour.
    """
    return 1.0 / math.log2(2 + max(0, busy))


def score_companions(windows: Iterable[CoWindow], *, min_cameras: int) -> list[Companion]:
    """Rank the plates that travelled with the target, best first.

    Each window counts once per plate; a plate must be seen with the target at
    `min_cameras` distinct cameras or more.
    """
    scores: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    cameras: dict[str, set[str]] = defaultdict(set)
    for window in windows:
        weight = cooccurrence_weight(len(window.plates))
        for plate in window.plates:
            scores[plate] += weight
            counts[plate] += 1
            cameras[plate].add(window.camera_id)
    ranked = [
        Companion(plate, scores[plate], tuple(sorted(cameras[plate])), counts[plate])
        for plate in scores
        if len(cameras[plate]) >= min_cameras
    ]
    ranked.sort(key=lambda c: (-c.score, -len(c.cameras), c.plate))
    return ranked


# --- journeys ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Leg:
    """From one passage to the next."""

    start: Passage
    end: Passage
    distance_m: float
    seconds: float
    speed_kmh: float
    bearing_deg: float
    direction: str
    gap: bool  # longer than the gap threshold: the vehicle was out of sight (parked, elsewhere)


def journey_legs(passages: Sequence[Passage], *, gap_s: float) -> list[Leg]:
    """The legs between consecutive passages (already in time order)."""
    legs = []
    for a, b in itertools.pairwise(passages):
        seconds = (b.at - a.at).total_seconds()
        same_place = a.lat == b.lat and a.lon == b.lon
        bearing = 0.0 if same_place else bearing_deg(a.lat, a.lon, b.lat, b.lon)
        legs.append(
            Leg(
                start=a,
                end=b,
                distance_m=distance_m(a, b),
                seconds=seconds,
                speed_kmh=speed_kmh(a, b),
                bearing_deg=bearing,
                direction="" if same_place else compass(bearing),
                gap=seconds > gap_s,
            )
        )
    return legs


def split_trips(passages: Sequence[Passage], *, gap_s: float) -> list[list[Passage]]:
    """Cut a time-ordered journey where the vehicle was out of sight longer than `gap_s`."""
    trips: list[list[Passage]] = []
    for passage in passages:
        if trips and (passage.at - trips[-1][-1].at).total_seconds() <= gap_s:
            trips[-1].append(passage)
        else:
            trips.append([passage])
    return trips


# --- scenes and visitors -----------------------------------------------------------


def plates_at_scenes(
    scene_plates: Sequence[Iterable[str]], *, min_scenes: int
) -> dict[str, list[int]]:
    """Plates seen at `min_scenes` scenes or more, each with the indexes of its scenes."""
    seen: dict[str, list[int]] = defaultdict(list)
    for index, plates in enumerate(scene_plates):
        for plate in set(plates):
            seen[plate].append(index)
    return {p: sorted(s) for p, s in seen.items() if len(s) >= min_scenes}


def rare_visitors(window_counts: Mapping[str, int], baseline: Iterable[str]) -> dict[str, int]:
    """Plates seen at the place in the window that were never seen there in the baseline."""
    known = set(baseline)
    return {plate: n for plate, n in window_counts.items() if plate not in known}


@dataclass(frozen=True, slots=True)
class CloneFinding:
    """A recorded clone suspicion: one plate, two passages too far apart for their time."""

    plate: str
    first_read_id: str
    second_read_id: str
    first_camera_id: str
    second_camera_id: str
    first_at: datetime
    second_at: datetime
    distance_m: float
    implied_kmh: float | None  # None: both passages at the same instant
    found_at: datetime
    finding_id: int | None = None

    @classmethod
    def of(cls, pair: ClonePair, *, found_at: datetime) -> CloneFinding:
        return cls(
            plate=pair.first.plate,
            first_read_id=pair.first.read_id,
            second_read_id=pair.second.read_id,
            first_camera_id=pair.first.camera_id,
            second_camera_id=pair.second.camera_id,
            first_at=pair.first.at,
            second_at=pair.second.at,
            distance_m=pair.distance_m,
            implied_kmh=None if math.isinf(pair.implied_kmh) else pair.implied_kmh,
            found_at=found_at,
        )
