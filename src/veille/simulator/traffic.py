"""Simulated traffic: a vehicle pool driving between cameras, producing native JSON reads."""

from __future__ import annotations

import heapq
import random
import string
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from veille.domain.geography import haversine_m
from veille.domain.plates import DEFAULT_LOOKALIKE_GROUPS, DEFAULT_LOOKALIKES, normalise
from veille.simulator.network import CameraSite, nearest_neighbours

# Country mix of plates seen in Brussels (approximate; a model parameter, not a fact).
COUNTRY_WEIGHTS: tuple[tuple[str, float], ...] = (
    ("BE", 0.82),
    ("FR", 0.07),
    ("NL", 0.05),
    ("DE", 0.04),
    ("LU", 0.02),
)
VEHICLE_TYPES: tuple[tuple[str, float], ...] = (
    ("car", 0.82),
    ("van", 0.12),
    ("truck", 0.03),
    ("motorbike", 0.03),
)
MAKES: dict[str, tuple[str, ...]] = {
    "car": (
        "Volkswagen",
        "Renault",
        "Peugeot",
        "BMW",
        "Mercedes-Benz",
        "Toyota",
        "Audi",
        "Citroën",
        "Opel",
        "Ford",
        "Škoda",
        "Volvo",
        "Dacia",
        "Kia",
        "Hyundai",
        "Tesla",
    ),
    "van": ("Renault", "Ford", "Mercedes-Benz", "Volkswagen", "Peugeot", "Citroën", "Fiat"),
    "truck": ("Volvo", "Scania", "DAF", "MAN", "Mercedes-Benz", "Iveco"),
    "motorbike": ("Honda", "Yamaha", "BMW", "Kawasaki", "Suzuki", "Piaggio"),
}
COLOURS: tuple[tuple[str, float], ...] = (
    ("grey", 0.24),
    ("black", 0.2),
    ("white", 0.2),
    ("blue", 0.1),
    ("silver", 0.1),
    ("red", 0.08),
    ("green", 0.03),
    ("brown", 0.02),
    ("yellow", 0.01),
    ("orange", 0.02),
)
DIRECTIONS: tuple[tuple[str, float], ...] = (
    ("approaching", 0.49),
    ("receding", 0.49),
    ("unknown", 0.02),
)
_FR_LETTERS = "ABCDEFGHJKLMNPQRSTVWXYZ"  # SIV plates use neither I, O nor U
_NL_LETTERS = "BDFGHJKLNPRSTVXZ"  # Dutch plates use consonants only
_DE_CITIES = ("B", "M", "K", "HH", "F", "D", "S", "AC", "BN", "KA", "DU", "E")


def _pick(rng: random.Random, weighted: Sequence[tuple[str, float]]) -> str:
    return rng.choices([v for v, _ in weighted], weights=[w for _, w in weighted])[0]


def _letters(rng: random.Random, n: int, alphabet: str = string.ascii_uppercase) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(string.digits) for _ in range(n))


def random_plate(rng: random.Random, country: str) -> str:
    """A plausible plate of `country` as displayed (e.g. `1-ABC-123`, `AB-123-CD`)."""
    if country == "BE":
        style = rng.random()
        if style < 0.85:  # since 2010; 2-xxx series since 2019
            return f"{rng.choice('12')}-{_letters(rng, 3)}-{_digits(rng, 3)}"
        if style < 0.95:
            return f"{_letters(rng, 3)}-{_digits(rng, 3)}"
        return f"{_digits(rng, 3)}-{_letters(rng, 3)}"
    if country == "FR":
        return f"{_letters(rng, 2, _FR_LETTERS)}-{_digits(rng, 3)}-{_letters(rng, 2, _FR_LETTERS)}"
    if country == "NL":
        style = rng.randrange(3)
        if style == 0:
            letters = _letters(rng, 2, _NL_LETTERS)
            return f"{letters}-{_digits(rng, 3)}-{_letters(rng, 1, _NL_LETTERS)}"
        if style == 1:
            return f"{rng.randint(1, 9)}-{_letters(rng, 3, _NL_LETTERS)}-{_digits(rng, 2)}"
        return f"{_letters(rng, 1, _NL_LETTERS)}-{_digits(rng, 3)}-{_letters(rng, 2, _NL_LETTERS)}"
    if country == "DE":
        return f"{rng.choice(_DE_CITIES)}-{_letters(rng, rng.randint(1, 2))} {rng.randint(1, 9999)}"
    if country == "LU":
        return f"{_letters(rng, 2)} {rng.randint(100, 9999)}"
    raise ValueError(f"no plate generator for country {country!r}")


def _alternatives() -> dict[str, str]:
    # Substitute only within an original field group (O→0, 8→B…): those are the confusions
    # engines make; every group lies inside one merged class, so the canonical form holds.
    alts: dict[str, set[str]] = {}
    for group in DEFAULT_LOOKALIKE_GROUPS:
        for ch in group:
            alts.setdefault(ch, set()).update(c for c in group if c != ch)
    return {ch: "".join(sorted(others)) for ch, others in alts.items()}


LOOKALIKE_ALTERNATIVES: dict[str, str] = _alternatives()


def substitutable_positions(display: str) -> list[int]:
    """Positions in a displayed plate whose character has a look-alike."""
    return [i for i, ch in enumerate(display) if ch.upper() in LOOKALIKE_ALTERNATIVES]


def lookalike_variant(display: str, rng: random.Random, *, substitutions: int = 1) -> str | None:
    """`display` with `substitutions` characters swapped for look-alikes, or None if impossible.

    Separators are kept, so the variant reads like the camera's own output.
    """
    positions = substitutable_positions(display)
    if len(positions) < substitutions or substitutions < 1:
        return None
    chars = list(display.upper())
    for i in rng.sample(positions, substitutions):
        chars[i] = rng.choice(LOOKALIKE_ALTERNATIVES[chars[i]])
    variant = "".join(chars)
    assert DEFAULT_LOOKALIKES.canonical(normalise(variant)) == DEFAULT_LOOKALIKES.canonical(
        normalise(display)
    )
    return variant


def iso_z(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and a `Z` suffix."""
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_read_id(rng: random.Random) -> str:
    """A UUID4 string drawn from `rng`: the same seed gives the same read ids."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


@dataclass(frozen=True, slots=True)
class Vehicle:
    """A vehicle of the simulation: its true plate and what a camera sees of it."""

    plate: str  # as displayed on the vehicle
    country: str
    make: str
    colour: str
    vehicle_type: str

    @property
    def normalised(self) -> str:
        return normalise(self.plate)

    def descriptor(self) -> dict[str, str]:
        return {"make": self.make, "colour": self.colour, "type": self.vehicle_type}


@dataclass(slots=True)
class PlateRegistry:
    """Plates in use, and canonical forms reserved for scenarios (traffic never imitates them)."""

    taken: set[str] = field(default_factory=set)
    reserved_canonical: set[str] = field(default_factory=set)

    def is_free(self, display: str) -> bool:
        plate = normalise(display)
        return plate not in self.taken and (
            DEFAULT_LOOKALIKES.canonical(plate) not in self.reserved_canonical
        )

    def claim(self, display: str, *, reserve_canonical: bool = False) -> None:
        plate = normalise(display)
        self.taken.add(plate)
        if reserve_canonical:
            self.reserved_canonical.add(DEFAULT_LOOKALIKES.canonical(plate))

    def new_plate(
        self, rng: random.Random, country: str, *, reserve_canonical: bool = False
    ) -> str:
        while True:
            display = random_plate(rng, country)
            if self.is_free(display):
                self.claim(display, reserve_canonical=reserve_canonical)
                return display


def new_vehicle(
    rng: random.Random,
    registry: PlateRegistry,
    *,
    plate: str | None = None,
    country: str | None = None,
    reserve_canonical: bool = False,
) -> Vehicle:
    """A vehicle with a fresh plate (or the given one) and a plausible description."""
    country = country or _pick(rng, COUNTRY_WEIGHTS)
    if plate is None:
        plate = registry.new_plate(rng, country, reserve_canonical=reserve_canonical)
    else:
        registry.claim(plate, reserve_canonical=reserve_canonical)
    vtype = _pick(rng, VEHICLE_TYPES)
    return Vehicle(
        plate=plate,
        country=country,
        make=rng.choice(MAKES[vtype]),
        colour=_pick(rng, COLOURS),
        vehicle_type=vtype,
    )


@dataclass(frozen=True, slots=True)
class SimRead:
    """One generated read with what really passed (for ground truth and tests)."""

    camera_id: str
    captured_at: datetime
    payload: dict[str, Any]  # the native JSON read, as the camera posts it
    true_plate: str  # normalised plate of the vehicle that actually passed
    source: str = "traffic"  # "traffic" or the label of the scenario that injected it

    @property
    def read_id(self) -> str:
        return str(self.payload["read_id"])

    @property
    def plate(self) -> str:
        """The plate as the camera read it (normalised)."""
        return normalise(str(self.payload["plate"]))


@dataclass(frozen=True, slots=True)
class TrafficModel:
    """Parameters of the traffic model; every figure is an assumption, tune it here."""

    min_speed_kmh: float = 30.0
    max_speed_kmh: float = 70.0
    detour_factor: float = 1.3  # road distance / straight-line distance
    max_stop_s: float = 20.0  # lights and junctions added to each hop
    min_passages: int = 2
    max_passages: int = 8
    commuter_route_passages: tuple[int, int] = (4, 10)
    vehicles_per_read_rate: float = 250.0  # pool size = rate x this (visitors join if all busy)
    min_vehicles: int = 500
    commuter_fraction: float = 0.2  # of the pool
    commuter_trip_share: float = 0.3  # of the trips
    dwell_s: tuple[float, float] = (300.0, 3600.0)  # parked between two trips
    neighbours: int = 8
    warmup_s: float | None = None  # trips start this long before the start; None: a long trip
    max_warmup_passages: int = 300_000  # bounds the automatic warm-up (start-up cost)
    confidence_beta: tuple[float, float] = (18.0, 1.5)  # mean about 0.92
    min_confidence: float = 0.35
    misread_probability: float = 0.004  # natural look-alike OCR errors
    candidates_probability: float = 0.15
    unknown_country_probability: float = 0.03

    def travel_s(self, distance_m: float, speed_kmh: float, stop_s: float) -> float:
        """Seconds to cover `distance_m` (straight line) at `speed_kmh` on roads, plus stops."""
        return distance_m * self.detour_factor / (speed_kmh / 3.6) + stop_s


def build_payload(
    rng: random.Random,
    *,
    read_id: str,
    camera_id: str,
    captured_at: datetime,
    vehicle: Vehicle,
    model: TrafficModel,
    plate_seen: str | None = None,
    confidence: float | None = None,
    candidates: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The native JSON read a camera posts for `vehicle` (`plate_seen` if it misread it)."""
    if confidence is None:
        confidence = max(model.min_confidence, min(0.995, rng.betavariate(*model.confidence_beta)))
    country: str | None = vehicle.country
    if rng.random() < model.unknown_country_probability:
        country = None
    payload: dict[str, Any] = {
        "read_id": read_id,
        "camera_id": camera_id,
        "captured_at": iso_z(captured_at),
        "plate": plate_seen or vehicle.plate,
        "country": country,
        "confidence": round(confidence, 3),
        "direction": _pick(rng, DIRECTIONS),
        "lane": rng.randint(1, 2),
        "vehicle": vehicle.descriptor(),
    }
    if candidates:
        payload["candidates"] = candidates
    return payload


def natural_read(
    rng: random.Random,
    *,
    read_id: str,
    camera_id: str,
    captured_at: datetime,
    vehicle: Vehicle,
    model: TrafficModel,
) -> dict[str, Any]:
    """A read of `vehicle`, usually right, occasionally a look-alike misread with candidates."""
    if rng.random() < model.misread_probability:
        variant = lookalike_variant(vehicle.plate, rng)
        if variant is not None:
            confidence = rng.uniform(0.45, 0.8)
            truth = {"plate": vehicle.plate, "confidence": round(confidence * 0.8, 3)}
            return build_payload(
                rng,
                read_id=read_id,
                camera_id=camera_id,
                captured_at=captured_at,
                vehicle=vehicle,
                model=model,
                plate_seen=variant,
                confidence=confidence,
                candidates=[truth],
            )
    candidates = None
    if rng.random() < model.candidates_probability:
        variant = lookalike_variant(vehicle.plate, rng)
        if variant is not None:
            candidates = [{"plate": variant, "confidence": round(rng.uniform(0.05, 0.3), 3)}]
    return build_payload(
        rng,
        read_id=read_id,
        camera_id=camera_id,
        captured_at=captured_at,
        vehicle=vehicle,
        model=model,
        candidates=candidates,
    )


@dataclass(slots=True)
class _Driver:
    vehicle: Vehicle
    commuter_route: tuple[int, ...] | None = None
    forward: bool = True
    free_at: float = float("-inf")
    last_camera: int | None = None


class TrafficGenerator:
    """An endless, time-ordered stream of reads at about `rate` reads per second.

    Trips start as a Poisson process; each trip is one vehicle passing 2–8 neighbouring
    cameras at 30–70 km/h (travel time = road distance / speed + stops). A vehicle starts
    its next trip near where it stopped, after parking, so its reads stay physically
    consistent. Commuters repeat a fixed route back and forth: their plates recur.
    """

    def __init__(
        self,
        sites: Sequence[CameraSite],
        *,
        start: datetime,
        rate: float,
        seed: int,
        model: TrafficModel = TrafficModel(),
        registry: PlateRegistry | None = None,
    ):
        if rate <= 0:
            raise ValueError("rate must be positive")
        if not sites:
            raise ValueError("traffic needs at least one camera")
        self.sites = list(sites)
        self.start = start
        self.rate = rate
        self.model = model
        self.registry = registry or PlateRegistry()
        self._neighbours = nearest_neighbours(self.sites, k=model.neighbours)
        self._rng = random.Random(f"veille-traffic:{seed}")
        self._vehicle_rng = random.Random(f"veille-vehicles:{seed}")
        # Read ids depend on the start too: a replay of the same seed and start re-sends the
        # same ids (the server de-duplicates them), a run at another time gets new ones.
        self._id_rng = random.Random(f"veille-read-ids:{seed}:{start.isoformat()}")
        self._pool = max(model.min_vehicles, int(rate * model.vehicles_per_read_rate))
        self._commuters = int(self._pool * model.commuter_fraction)
        self._drivers: dict[int, _Driver] = {}
        self._visitors = 0
        self._heap: list[tuple[float, int, int, int]] = []  # (t, seq, driver, camera)
        self._seq = 0
        self._trips = 0
        self._passages = 0
        self._distances: dict[tuple[int, int], float] = {}
        # Trips begin before the start so that the traffic is already flowing at its rate
        # when the stream begins; passages before the start are dropped.
        warmup = model.warmup_s
        if warmup is None:  # bounded: a sparse network at a high rate would take seconds
            warmup = min(self._long_trip_s(), model.max_warmup_passages / rate)
        self._next_spawn = -warmup

    def _long_trip_s(self) -> float:
        """Duration of a trip of the most passages at average speed and stops."""
        hops = [self._distance(i, j) for i, near in enumerate(self._neighbours) for j in near]
        if not hops:
            return 0.0
        mean_speed = (self.model.min_speed_kmh + self.model.max_speed_kmh) / 2
        hop_s = self.model.travel_s(sum(hops) / len(hops), mean_speed, self.model.max_stop_s / 2)
        return 1.5 * (self.model.max_passages - 1) * hop_s  # slower trips run longer

    def _driver(self, index: int) -> _Driver:
        driver = self._drivers.get(index)
        if driver is None:
            vehicle = new_vehicle(self._vehicle_rng, self.registry)
            route = None
            if index < self._commuters:
                low, high = self.model.commuter_route_passages
                home = self._vehicle_rng.randrange(len(self.sites))
                route = self._walk(self._vehicle_rng, home, self._vehicle_rng.randint(low, high))
            driver = _Driver(
                vehicle=vehicle, commuter_route=route, forward=self._vehicle_rng.random() < 0.5
            )
            self._drivers[index] = driver
        return driver

    def _pick_driver(self, t: float) -> int:
        rng = self._rng
        for _ in range(12):
            if self._commuters and rng.random() < self.model.commuter_trip_share:
                index = rng.randrange(self._commuters)
            else:
                index = rng.randrange(self._commuters, self._pool)
            driver = self._drivers.get(index)
            if driver is None or driver.free_at <= t:
                return index
        # Everyone drawn is on the road: a visitor from outside the pool joins.
        self._visitors += 1
        return self._pool + self._visitors

    def _walk(self, rng: random.Random, first: int, passages: int) -> tuple[int, ...]:
        route = [first]
        while len(route) < passages:
            options = [j for j in self._neighbours[route[-1]] if j not in route]
            if not options:
                options = [j for j in self._neighbours[route[-1]] if j != route[-1]]
            if not options:
                break
            route.append(rng.choice(options))
        return tuple(route)

    def _distance(self, a: int, b: int) -> float:
        key = (a, b) if a < b else (b, a)
        distance = self._distances.get(key)
        if distance is None:
            sa, sb = self.sites[a], self.sites[b]
            distance = self._distances[key] = haversine_m(sa.lat, sa.lon, sb.lat, sb.lon)
        return distance

    def _spawn(self, t: float) -> int:
        rng, model = self._rng, self.model
        index = self._pick_driver(t)
        driver = self._driver(index)
        if driver.commuter_route is not None:
            route = driver.commuter_route if driver.forward else driver.commuter_route[::-1]
            driver.forward = not driver.forward
            cameras: tuple[int, ...] = route
        else:
            if driver.last_camera is None:
                first = rng.randrange(len(self.sites))
            else:
                near = self._neighbours[driver.last_camera]
                first = rng.choice(near) if near else driver.last_camera
            passages = rng.randint(model.min_passages, model.max_passages)
            cameras = self._walk(rng, first, passages)
        speed_max = model.max_speed_kmh
        if driver.vehicle.vehicle_type == "truck":
            speed_max = min(speed_max, 60.0)
        when = t
        for n, camera in enumerate(cameras):
            if n:
                speed = rng.uniform(model.min_speed_kmh, speed_max)
                stop = rng.uniform(0.0, model.max_stop_s)
                when += model.travel_s(self._distance(cameras[n - 1], camera), speed, stop)
            heapq.heappush(self._heap, (when, self._seq, index, camera))
            self._seq += 1
        driver.last_camera = cameras[-1]
        driver.free_at = when + rng.uniform(*model.dwell_s)
        self._trips += 1
        self._passages += len(cameras)
        return len(cameras)

    def _spawn_gap(self) -> float:
        low, high = self.model.min_passages, self.model.max_passages
        prior = (low + high) / 2
        mean_passages = (self._passages + prior * 20) / (self._trips + 20)
        return self._rng.expovariate(self.rate / mean_passages)

    def reads(self) -> Iterator[SimRead]:
        """Reads in captured_at order from the start on (never ends)."""
        heap = self._heap
        while True:
            if heap and heap[0][0] < self._next_spawn:
                t, _, index, camera = heapq.heappop(heap)
                if t < 0:
                    continue  # passages of the warm-up happened before the start
                yield self._emit(t, index, camera)
            else:
                self._spawn(self._next_spawn)
                self._next_spawn += self._spawn_gap()

    def _emit(self, t: float, index: int, camera: int) -> SimRead:
        driver = self._drivers[index]
        site = self.sites[camera]
        captured_at = self.start + timedelta(milliseconds=round(t * 1000))
        payload = natural_read(
            self._rng,
            read_id=new_read_id(self._id_rng),
            camera_id=site.camera_id,
            captured_at=captured_at,
            vehicle=driver.vehicle,
            model=self.model,
        )
        return SimRead(
            camera_id=site.camera_id,
            captured_at=captured_at,
            payload=payload,
            true_plate=driver.vehicle.normalised,
        )
