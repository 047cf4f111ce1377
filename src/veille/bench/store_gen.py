"""Generated stores for the search benchmark: 10,000 cameras, a month of reads, planted cases."""

from __future__ import annotations

import bisect
import itertools
import math
import os
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from veille.adapters.sqlite.database import connect, migrate
from veille.adapters.sqlite.repositories import INSERT_READ, SqliteCameraRepository
from veille.adapters.sqlite.store import SqliteStore
from veille.adapters.sqlite.times import encode
from veille.domain.cameras import Camera, camera_from_record
from veille.domain.geography import PROVINCE_CAPITALS, haversine_m
from veille.domain.plates import DEFAULT_LOOKALIKES, canonical

GENERATOR_VERSION = 1
DEFAULT_FOLDER = Path("/tmp/veille-bench-stores")
MINUTE_US = 60_000_000
DAY_US = 1440 * MINUTE_US
READ_INDEXES = (
    "CREATE INDEX reads_plate_time ON reads (plate, captured_at)",
    "CREATE INDEX reads_canonical_time ON reads (plate_canonical, captured_at)",
    "CREATE INDEX reads_camera_time ON reads (camera_id, captured_at)",
    "CREATE INDEX reads_captured ON reads (captured_at)",
)
# Big towns besides the province capitals: (name, province, lat, lon, weight).
_TOWNS = (
    ("Charleroi", "Hainaut", 50.411, 4.444, 3.0),
    ("Mechelen", "Antwerpen", 51.026, 4.478, 1.5),
    ("Kortrijk", "West-Vlaanderen", 50.828, 3.265, 1.5),
    ("Oostende", "West-Vlaanderen", 51.216, 2.927, 1.2),
    ("Aalst", "Oost-Vlaanderen", 50.938, 4.039, 1.2),
    ("Genk", "Limburg", 50.965, 5.500, 1.0),
    ("Verviers", "Liège", 50.589, 5.862, 0.8),
    ("Tournai", "Hainaut", 50.606, 3.389, 0.8),
)
_CAPITAL_WEIGHT = {"Bruxelles": 8.0, "Antwerpen": 5.0, "Gent": 3.5, "Liège": 3.5}
_MAKES = ("VW", "Renault", "Peugeot", "BMW", "Toyota", "Mercedes", "Audi", "Skoda", "Ford")
_COLOURS = ("grey", "black", "white", "blue", "red", "silver")
_TYPES = ("car", "car", "car", "car", "van", "truck", "motorcycle")
_LETTERS = "ABCDEFGHJKLMNPRSTVWXYZ"


def sqlite_store(store: object) -> SqliteStore:
    """The platform's store as the SQLite store it is: the benches write and sample
    SQLite files directly, below the ports."""
    if not isinstance(store, SqliteStore):
        raise TypeError(f"the benchmarks need the SQLite store, not {type(store).__name__}")
    return store


@dataclass(frozen=True)
class StoreSpec:
    """What to generate; the seed and the size name the cached file."""

    reads: int
    seed: int = 2026
    cameras: int = 10_000
    days: int = 30


@dataclass
class GeneratedStore:
    """A generated store on disk and what was planted in it (JSON-friendly)."""

    path: str
    now: str
    reads: int
    cameras: int
    vehicles: int
    generation_s: float
    stats: dict[str, Any] = field(default_factory=dict)
    patterns: dict[str, Any] = field(default_factory=dict)
    version: int = GENERATOR_VERSION

    @property
    def now_dt(self) -> datetime:
        return datetime.fromisoformat(self.now)


# ---- cameras --------------------------------------------------------------------------


def _cities() -> list[tuple[str, str, float, float, float]]:
    capitals = [
        (city, province, lat, lon, _CAPITAL_WEIGHT.get(city, 1.5))
        for province, (city, lat, lon) in PROVINCE_CAPITALS.items()
    ]
    return capitals + list(_TOWNS)


def camera_records(count: int, rng: random.Random) -> list[dict[str, Any]]:
    """Camera import records: ~85 % clustered around towns, the rest along motorways."""
    cities = _cities()
    weights = [c[4] for c in cities]
    roads = [(a, b) for a in cities for b in cities if a < b and _km(a, b) < 90]
    records = []
    for i in range(count):
        if rng.random() < 0.85:
            name, province, lat0, lon0, weight = rng.choices(cities, weights)[0]
            spread = 0.012 * math.sqrt(weight) + 0.01
            lat = lat0 + rng.gauss(0, spread)
            lon = lon0 + rng.gauss(0, spread * 1.5)
        else:
            a, b = rng.choice(roads)
            t = rng.random()
            lat = a[2] + t * (b[2] - a[2]) + rng.gauss(0, 0.002)
            lon = a[3] + t * (b[3] - a[3]) + rng.gauss(0, 0.003)
            name, province = (a[0], a[1]) if t < 0.5 else (b[0], b[1])
        lat, lon = min(max(lat, 49.5), 51.5), min(max(lon, 2.55), 6.4)
        records.append(
            {
                "camera_id": f"CAM-{i:05d}",
                "name": f"{name} {i}",
                "lat": round(lat, 6),
                "lon": round(lon, 6),
                "heading": rng.randrange(360),
                "zone": f"{name}-{int(lat * 20) % 100:02d}{int(lon * 20) % 100:02d}",
                "province": province,
                "vendor": rng.choice(("Hikvision", "Vaxtor", "Genetec", "Neology")),
                "protocol": "veille-json",
                "phase": "live",
            }
        )
    return records


def _km(a: tuple[str, str, float, float, float], b: tuple[str, str, float, float, float]) -> float:
    return haversine_m(a[2], a[3], b[2], b[3]) / 1000


def neighbours(cameras: list[Camera], k: int = 6) -> list[list[tuple[int, float]]]:
    """For each camera, its k nearest cameras as (index, metres), via a 0.02° grid."""
    cell = 0.02
    grid: dict[tuple[int, int], list[int]] = {}
    for i, c in enumerate(cameras):
        grid.setdefault((int(c.lat / cell), int(c.lon / cell)), []).append(i)
    out = []
    for i, c in enumerate(cameras):
        gy, gx = int(c.lat / cell), int(c.lon / cell)
        found: list[tuple[float, int]] = []
        ring = 1
        while len(found) < k and ring <= 8:
            found = []
            for dy in range(-ring, ring + 1):
                for dx in range(-ring, ring + 1):
                    for j in grid.get((gy + dy, gx + dx), ()):
                        if j != i:
                            o = cameras[j]
                            dlat = o.lat - c.lat
                            dlon = (o.lon - c.lon) * 0.64  # cos(50.5°)
                            found.append((dlat * dlat + dlon * dlon, j))
            ring *= 2
        found.sort()
        out.append(
            [(j, haversine_m(c.lat, c.lon, cameras[j].lat, cameras[j].lon)) for _, j in found[:k]]
        )
    return out


# ---- vehicles and trips ---------------------------------------------------------------


@dataclass
class Vehicle:
    plate: str
    raw: str
    country: str
    make: str
    colour: str
    vtype: str
    kind: str  # commuter, regular, occasional or planted
    home: int  # camera index where its trips usually start


def _plate(rng: random.Random) -> tuple[str, str, str]:
    """(normalised plate, plate as printed, country)."""
    x = rng.random()
    d = rng.randrange
    if x < 0.9:
        letters = "".join(rng.choices(_LETTERS, k=3))
        p = f"{d(1, 10)}{letters}{d(1000):03d}"
        return p, f"{p[0]}-{p[1:4]}-{p[4:]}", "BE"
    if x < 0.95:
        a, b = "".join(rng.choices(_LETTERS, k=2)), rng.choice(_LETTERS)
        return f"{a}{d(100, 1000)}{b}", f"{a}-{d(100, 1000)}-{b}", "NL"
    if x < 0.98:
        a, b = "".join(rng.choices(_LETTERS, k=2)), "".join(rng.choices(_LETTERS, k=2))
        n = f"{d(1000):03d}"
        return f"{a}{n}{b}", f"{a}-{n}-{b}", "FR"
    a, b = "".join(rng.choices(_LETTERS, k=2)), rng.choice(_LETTERS)
    number = d(10, 10000)
    return f"{a}{b}{number}", f"{a} {b} {number}", "DE"


def _new_vehicle(rng: random.Random, taken: set[str], kind: str, home: int) -> Vehicle:
    while True:
        plate, raw, country = _plate(rng)
        if plate not in taken:
            taken.add(plate)
            break
    return Vehicle(
        plate,
        raw,
        country,
        rng.choice(_MAKES),
        rng.choice(_COLOURS),
        rng.choice(_TYPES),
        kind,
        home,
    )


def minute_weights() -> list[float]:
    """Cumulative weights of the local minute of day a trip starts: two rush hours."""
    weights = []
    for minute in range(1440):
        h = minute / 60
        w = 0.15 + (0.9 if 6 <= h < 22 else 0.0)
        w += 2.6 * math.exp(-(((h - 8.0) / 1.0) ** 2)) + 2.2 * math.exp(-(((h - 17.3) / 1.3) ** 2))
        weights.append(w)
    cumulative, total = [], 0.0
    for w in weights:
        total += w
        cumulative.append(total)
    return cumulative


Route = tuple[tuple[int, float], ...] | list[tuple[int, float]]  # (camera, metres from previous)


class _TripMaker:
    """Expands trips into passages (micros, vehicle index, camera index)."""

    def __init__(self, rng: random.Random, near: list[list[tuple[int, float]]]):
        self.rng = rng
        self.near = near

    def walk(self, start: int, length: int) -> list[tuple[int, float]]:
        """A route of `length` cameras from `start`: (camera, metres from the previous)."""
        route = [(start, 0.0)]
        seen = {start}
        here = start
        for _ in range(length - 1):
            options = [n for n in self.near[here] if n[0] not in seen] or self.near[here]
            here, metres = self.rng.choice(options[:4])
            # longer hops now and then: the next camera down the road is often kilometres on
            metres *= 1.3 + 2 * self.rng.random()
            route.append((here, metres))
            seen.add(here)
        return route

    def passages(self, t0: int, vidx: int, route: Route) -> list[tuple[int, int, int]]:
        rng = self.rng
        t = t0
        out = []
        for cam, metres in route:
            # road speed 30–90 km/h, plus a stop now and then
            t += int(metres / (8.3 + 16.7 * rng.random()) * 1e6) + int(rng.random() * 20e6)
            out.append((t, vidx, cam))
        return out


def _trip_length(rng: random.Random) -> int:
    """Passages per trip: often one or two on a sparse network, sometimes many."""
    n = 1
    while n < 8 and rng.random() < 0.55:
        n += 1
    return n


# ---- the store ------------------------------------------------------------------------


def store_path(spec: StoreSpec, folder: Path = DEFAULT_FOLDER) -> Path:
    return folder / f"{spec.reads}-{spec.seed}.db"


def load_or_generate(
    spec: StoreSpec,
    *,
    folder: Path = DEFAULT_FOLDER,
    now: datetime | None = None,
    log: Callable[[str], None] | None = None,
) -> GeneratedStore:
    """The cached store for this spec, generated first if missing or outdated."""
    path = store_path(spec, folder)
    manifest = path.with_suffix(".json")
    if path.exists() and manifest.exists():
        found = GeneratedStore(**orjson.loads(manifest.read_bytes()))
        if found.version == GENERATOR_VERSION:
            return found
    folder.mkdir(parents=True, exist_ok=True)
    return generate(spec, path=path, now=now or datetime.now(UTC), log=log)


def generate(
    spec: StoreSpec, *, path: Path, now: datetime, log: Callable[[str], None] | None = None
) -> GeneratedStore:
    """Write a fresh store at `path` (built under a temporary name, then renamed)."""
    started = time.perf_counter()
    say = log or (lambda _msg: None)
    now = now.replace(microsecond=0)
    rng = random.Random(spec.seed)
    tmp = path.with_suffix(".tmp")
    for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
        leftover.unlink(missing_ok=True)
    conn = connect(tmp, synchronous="OFF")
    migrate(conn)
    conn.execute("PRAGMA cache_size=-1048576")  # 1 GiB while building
    for statement in READ_INDEXES:
        conn.execute(f"DROP INDEX IF EXISTS {statement.split()[2]}")

    created = now - timedelta(days=400)
    cameras = [camera_from_record(r, now=created) for r in camera_records(spec.cameras, rng)]
    repo = SqliteCameraRepository(conn)
    conn.execute("BEGIN")
    for camera in cameras:
        repo.add(camera)
    conn.execute("COMMIT")
    near = neighbours(cameras)
    say(f"{len(cameras)} cameras placed")

    first_day = encode(now - timedelta(days=spec.days))
    plan = _Plan(spec, rng, cameras, near, first_day)
    plan.population()
    patterns = plan.plant(now)
    say(f"{len(plan.vehicles)} vehicles, {plan.trip_count} trips planned")

    written = 0
    per_plate: dict[int, int] = {}
    end = encode(now)
    for day in range(plan.buckets):
        events = plan.expand_day(day)
        events = [e for e in events if first_day <= e[0] < end]
        events.sort()
        for e in events:
            per_plate[e[1]] = per_plate.get(e[1], 0) + 1
        rows = plan.rows(events)
        conn.execute("BEGIN")
        conn.executemany(INSERT_READ, rows)
        conn.execute("COMMIT")
        written += len(rows)
        say(f"day {day + 1}/{plan.buckets}: {written} reads")
    for statement in READ_INDEXES:
        conn.execute(statement)
        say(statement.split(" ON ")[0])
    conn.execute("ANALYZE")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    os.replace(tmp, path)
    counts = sorted(per_plate.values(), reverse=True)
    top = counts[: max(1, len(counts) // 20)]
    result = GeneratedStore(
        path=str(path),
        now=now.isoformat(),
        reads=written,
        cameras=len(cameras),
        vehicles=len(plan.vehicles),
        generation_s=round(time.perf_counter() - started, 1),
        stats={
            "plates_seen": len(counts),
            "top_5pct_share_of_reads": round(sum(top) / max(1, written), 3),
            "plates_seen_once_or_twice": round(sum(c <= 2 for c in counts) / len(counts), 3),
            "max_reads_per_plate": counts[0] if counts else 0,
            "misread_share": plan.misread_share,
        },
        patterns=patterns,
    )
    path.with_suffix(".json").write_bytes(orjson.dumps(asdict(result), option=orjson.OPT_INDENT_2))
    return result


class _Plan:
    """The population, its trips by day, and the planted cases."""

    misread_share = 0.005

    def __init__(
        self,
        spec: StoreSpec,
        rng: random.Random,
        cameras: list[Camera],
        near: list[list[tuple[int, float]]],
        first_day: int,
    ):
        self.spec = spec
        self.rng = rng
        self.cameras = cameras
        self.near = near
        self.window_start = first_day
        self.first_day = first_day - first_day % DAY_US  # midnight UTC: buckets are dates
        self.buckets = spec.days + 1  # the first and last date are partly in the window
        self.trips = _TripMaker(rng, near)
        self.vehicles: list[Vehicle] = []
        self.taken: set[str] = set()
        # (start micros, vehicle, fixed route or None for a fresh walk) per day
        self.by_day: list[list[tuple[int, int, Route | None]]] = [[] for _ in range(self.buckets)]
        self.planted: list[list[tuple[int, int, int]]] = [[] for _ in range(self.buckets)]
        self.trip_count = 0
        self.minutes = minute_weights()
        # busy places: a few cameras draw far more trips than others
        self.popularity = list(itertools.accumulate(rng.lognormvariate(0, 1.0) for _ in cameras))

    def _camera(self) -> int:
        return bisect.bisect(self.popularity, self.rng.random() * self.popularity[-1])

    def _start(self, day: int) -> int:
        minute = bisect.bisect(self.minutes, self.rng.random() * self.minutes[-1])
        minute = (minute - 60) % 1440  # local time (UTC+1) to UTC
        return self.first_day + day * DAY_US + minute * MINUTE_US + self.rng.randrange(MINUTE_US)

    def _weekday(self, day: int) -> bool:
        weekday = (self.first_day // DAY_US + day + 3) % 7  # 1970-01-01 was a Thursday
        return weekday < 5

    def population(self) -> None:
        """Vehicles until the expected reads reach the target: commuters, regulars, others."""
        rng, days = self.rng, self.buckets
        kept = self.spec.days / self.buckets  # trips on the parts of dates outside the window
        expected = 0.0
        while expected < self.spec.reads:
            x = rng.random()
            if x < 0.05:
                v = _new_vehicle(rng, self.taken, "commuter", self._camera())
                vidx = self._add(v)
                out = tuple(self.trips.walk(v.home, rng.choice((1, 1, 1, 2, 2))))
                back = _reverse(out)
                for day in range(days):
                    if not self._weekday(day):
                        continue
                    for route, hour in ((out, 7.8), (back, 17.4)):
                        if rng.random() < 0.35:
                            minute = int((hour + rng.gauss(0, 0.6) - 1) * 60) % 1440
                            t0 = self.first_day + day * DAY_US + minute * MINUTE_US
                            self._trip(day, t0, vidx, route)
                expected += 0.35 * 2 * days * 5 / 7 * len(out) * kept
            else:
                kind = "regular" if x < 0.25 else "occasional"
                v = _new_vehicle(rng, self.taken, kind, self._camera())
                vidx = self._add(v)
                n = (
                    1 + int(rng.expovariate(1 / 4))
                    if kind == "regular"
                    else (1 if rng.random() < 0.8 else 2)
                )
                for _ in range(n):
                    day = rng.randrange(days)
                    self._trip(day, self._start(day), vidx, None)
                expected += n * 2.15 * kept

    def _add(self, v: Vehicle) -> int:
        self.vehicles.append(v)
        return len(self.vehicles) - 1

    def _trip(self, day: int, t0: int, vidx: int, route: Route | None) -> None:
        self.by_day[day].append((t0, vidx, route))
        self.trip_count += 1

    def expand_day(self, day: int) -> list[tuple[int, int, int]]:
        events: list[tuple[int, int, int]] = list(self.planted[day])
        trips, vehicles, rng = self.trips, self.vehicles, self.rng
        for t0, vidx, route in self.by_day[day]:
            if route is None:
                v = vehicles[vidx]
                start = v.home if v.kind == "regular" and rng.random() < 0.7 else self._camera()
                route = trips.walk(start, _trip_length(rng))
            events.extend(trips.passages(t0, vidx, route))
        self.by_day[day] = []
        return events

    def rows(self, events: list[tuple[int, int, int]]) -> list[tuple[Any, ...]]:
        """Rows in INSERT_READ's column order; read ids rise with time (as UUIDv7 would)."""
        rng, vehicles, cameras = self.rng, self.vehicles, self.cameras
        rows = []
        table = DEFAULT_LOOKALIKES
        for t, vidx, cam in events:
            v = vehicles[vidx]
            plate, raw, confidence = v.plate, v.raw, 0.7 + 0.29 * rng.random()
            # planted cases stay exact so that the benchmark can check they are found
            if rng.random() < self.misread_share and v.kind != "planted":
                plate = _misread(plate, rng, table.classes)
                raw, confidence = plate, 0.5 + 0.2 * rng.random()
            rows.append(
                (
                    ((t << 64) | rng.getrandbits(64)).to_bytes(16, "big"),
                    cameras[cam].camera_id,
                    t,
                    t + 300_000 + rng.randrange(4_000_000),
                    raw,
                    plate,
                    canonical(plate),
                    v.country,
                    round(confidence, 3),
                    "approaching" if t & 1 else "receding",
                    1 + (t >> 3) % 3,
                    v.make,
                    v.colour,
                    v.vtype,
                    None,
                )
            )
        return rows

    # ---- planted cases ------------------------------------------------------------------

    def _planted_vehicle(self, home: int, plate: str | None = None) -> int:
        v = _new_vehicle(self.rng, self.taken, "planted", home)
        if plate is not None:
            v.plate, v.raw = plate, plate
        return self._add(v)

    def _plant(self, day: int, vidx: int, walk: Route, t0: int) -> None:
        self.planted[day].extend(self.trips.passages(t0, vidx, walk))

    def _time(self, day: int, hour: float) -> int:
        return self.first_day + day * DAY_US + int(hour * 60) * MINUTE_US

    def plant(self, now: datetime) -> dict[str, Any]:
        """A convoy, three scenes with known visitors and a cloned plate; their parameters."""
        rng, days = self.rng, self.buckets
        # convoy: the partner follows the target 10–40 s behind on 6 of its 8 trips
        target = self._planted_vehicle(self._camera())
        partner = self._planted_vehicle(self._camera())
        convoy_days = sorted(rng.sample(range(1, days - 1), 8))
        shared = 0
        for n, day in enumerate(convoy_days):
            walk = self.trips.walk(self.vehicles[target].home if n % 2 else self._camera(), 5)
            passages = self.trips.passages(self._time(day, rng.uniform(7, 20)), target, walk)
            self.planted[day].extend(passages)
            if n < 6:
                lag = int(rng.uniform(10, 40) * 1e6)
                self.planted[day].extend((t + lag, partner, cam) for t, _, cam in passages)
                shared += len(passages)
        # three scenes, one camera each in three towns, 1 h on three days
        scene_cams = [self._camera() for _ in range(3)]
        scene_days = sorted(rng.sample(range(2, days - 1), 3))
        scenes = []
        visitors_all = [self._planted_vehicle(self._camera()) for _ in range(4)]
        visitors_two = [self._planted_vehicle(self._camera()) for _ in range(3)]
        for k, (cam, day) in enumerate(zip(scene_cams, scene_days, strict=True)):
            start = self._time(day, rng.choice((2.0, 14.0, 22.0)))
            c = self.cameras[cam]
            scenes.append(
                {
                    "lat": c.lat,
                    "lon": c.lon,
                    "radius_m": 500,
                    "start": _iso(start),
                    "end": _iso(start + 60 * MINUTE_US),
                    "camera_id": c.camera_id,
                }
            )
            for vidx in visitors_all + (visitors_two if k < 2 else []):
                t = start + rng.randrange(5 * MINUTE_US, 55 * MINUTE_US)
                self.planted[day].append((t, vidx, cam))
        # a cloned plate: two cars, one plate, 90+ km apart within 25 minutes on the last day
        ant = self._near_city(51.219, 4.403)
        lie = self._near_city(50.633, 5.580)
        first = self._planted_vehicle(ant)
        clone = self._planted_vehicle(lie, plate=self.vehicles[first].plate)
        self.vehicles[clone].raw = self.vehicles[first].raw
        self.vehicles[clone].country = self.vehicles[first].country
        clone_day = days - 2
        t0 = self._time(clone_day, 9.5)
        self._plant(clone_day, first, self.trips.walk(ant, 3), t0)
        self._plant(clone_day, clone, self.trips.walk(lie, 3), t0 + 20 * MINUTE_US)
        for vidx in (first, clone):
            for day in rng.sample(range(days - 1), 6):
                walk = self.trips.walk(self.vehicles[vidx].home, 3)
                self._plant(day, vidx, walk, self._start(day))
        return {
            "convoy": {
                "target": self.vehicles[target].plate,
                "partner": self.vehicles[partner].plate,
                "trips_together": 6,
                "shared_passages": shared,
                "start": _iso(self.window_start),
                "end": now.isoformat(),
            },
            "scenes": {
                "scenes": scenes,
                "at_all_three": sorted(self.vehicles[v].plate for v in visitors_all),
                "at_two": sorted(self.vehicles[v].plate for v in visitors_two),
            },
            "clone": {
                "plate": self.vehicles[first].plate,
                "day_start": _iso(self.first_day + clone_day * DAY_US),
                "day_end": _iso(self.first_day + (clone_day + 1) * DAY_US),
            },
        }

    def _near_city(self, lat: float, lon: float) -> int:
        return min(
            range(len(self.cameras)),
            key=lambda i: abs(self.cameras[i].lat - lat) + abs(self.cameras[i].lon - lon),
        )


def _reverse(route: Route) -> Route:
    """The same road driven back: each hop keeps its length."""
    cams = [c for c, _ in route][::-1]
    metres = [0.0, *[m for _, m in route][1:][::-1]]
    return tuple(zip(cams, metres, strict=True))


def _misread(plate: str, rng: random.Random, classes: tuple[frozenset[str], ...]) -> str:
    """The plate with one character swapped for a look-alike, as OCR gets it wrong."""
    spots = [
        (i, cls) for i, ch in enumerate(plate) for cls in classes if ch in cls and len(cls) > 1
    ]
    if not spots:
        return plate
    i, cls = rng.choice(spots)
    other = rng.choice(sorted(cls - {plate[i]}))
    return plate[:i] + other + plate[i + 1 :]


def _iso(micros: int) -> str:
    return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros)).isoformat()
