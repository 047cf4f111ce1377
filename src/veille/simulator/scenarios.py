"""Scenarios injected into simulated traffic, each returning its ground truth as data."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar, Protocol

from veille.domain.geography import haversine_m
from veille.domain.plates import DEFAULT_LOOKALIKES, normalise
from veille.simulator.network import CameraSite
from veille.simulator.traffic import (
    PlateRegistry,
    SimRead,
    TrafficModel,
    Vehicle,
    build_payload,
    iso_z,
    lookalike_variant,
    new_read_id,
    new_vehicle,
    substitutable_positions,
)

MAX_PLAUSIBLE_KMH = 130.0  # faster than this between two cameras means two vehicles

# By default scenarios happen before the simulated traffic starts, each kind in its own
# slot (seconds from the start): the truth is complete as soon as the run begins, and
# neither background traffic nor another scenario blurs it.
ROUTE_AT_S = -2400.0
CONVOY_AT_S = -2100.0
NEAR_POINT_WINDOW_S = (-1800.0, -1500.0)
MISREAD_AT_S = -1200.0
CLONE_AT_S = -600.0


@dataclass(frozen=True, slots=True)
class TruthRead:
    """One read a scenario injected (or, for near-point, observed) and what it shows."""

    read_id: str
    camera_id: str
    captured_at: datetime
    plate: str  # normalised, as the camera read it
    true_plate: str  # normalised plate of the vehicle that passed
    lat: float
    lon: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "read_id": self.read_id,
            "camera_id": self.camera_id,
            "captured_at": iso_z(self.captured_at),
            "plate": self.plate,
            "true_plate": self.true_plate,
            "lat": self.lat,
            "lon": self.lon,
        }


@dataclass(slots=True)
class GroundTruth:
    """What a scenario put into the stream, for tests to check the platform against."""

    scenario: str  # label, e.g. "convoy-2"
    kind: str  # route, convoy, near-point, misread, clone
    plates: list[str]  # normalised true plates the scenario is about
    reads: list[TruthRead]
    cameras: list[str]
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def read_ids(self) -> list[str]:
        return [r.read_id for r in self.reads]

    @property
    def start(self) -> datetime | None:
        return min((r.captured_at for r in self.reads), default=None)

    @property
    def end(self) -> datetime | None:
        return max((r.captured_at for r in self.reads), default=None)

    def as_dict(self) -> dict[str, Any]:
        start, end = self.start, self.end
        return {
            "scenario": self.scenario,
            "kind": self.kind,
            "plates": list(self.plates),
            "cameras": list(self.cameras),
            "start": iso_z(start) if start else None,
            "end": iso_z(end) if end else None,
            "reads": [r.as_dict() for r in self.reads],
            "details": _jsonable(self.details),
        }


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso_z(value)
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


@dataclass(slots=True)
class Injection:
    """The reads a scenario adds, its ground truth, and an optional observer of traffic."""

    reads: list[SimRead]
    truth: GroundTruth
    observe: Callable[[SimRead], None] | None = None


@dataclass(slots=True)
class ScenarioContext:
    """What a scenario needs to build its reads: the network, the clock, plates, randomness."""

    sites: Sequence[CameraSite]
    neighbours: Sequence[tuple[int, ...]]
    start: datetime
    model: TrafficModel
    registry: PlateRegistry
    rng: random.Random  # plates, cameras, timings
    id_rng: random.Random  # read ids (seeded with the start time as well)
    label: str
    _index: dict[str, int] = field(default_factory=dict)

    def camera_index(self, camera_id: str) -> int:
        if not self._index:
            self._index.update({s.camera_id: i for i, s in enumerate(self.sites)})
        try:
            return self._index[camera_id]
        except KeyError:
            raise ValueError(f"{self.label}: unknown camera {camera_id!r}") from None

    def at(self, offset_s: float) -> datetime:
        return self.start + timedelta(milliseconds=round(offset_s * 1000))

    def distance(self, a: int, b: int) -> float:
        sa, sb = self.sites[a], self.sites[b]
        return haversine_m(sa.lat, sa.lon, sb.lat, sb.lon)

    def vehicle(self, plate: str | None = None, country: str | None = "BE") -> Vehicle:
        # Scenario plates reserve their look-alike class: traffic never drives a look-alike.
        return new_vehicle(
            self.rng, self.registry, plate=plate, country=country, reserve_canonical=True
        )

    def walk(self, passages: int) -> list[int]:
        """A route of `passages` neighbouring cameras from a random one."""
        route = [self.rng.randrange(len(self.sites))]
        while len(route) < passages:
            options = [j for j in self.neighbours[route[-1]] if j not in route]
            if not options:
                break
            route.append(self.rng.choice(options))
        return route

    def route(self, cameras: Sequence[str] | None, passages: int) -> list[int]:
        if cameras is not None:
            if not cameras:
                raise ValueError(f"{self.label}: a route needs at least one camera")
            return [self.camera_index(c) for c in cameras]
        return self.walk(passages)

    def timings(self, route: Sequence[int], *, at_s: float, speed_kmh: float) -> list[float]:
        """Offsets (s) at which a vehicle at `speed_kmh` passes each camera of `route`."""
        times = [at_s]
        for a, b in itertools.pairwise(route):
            stop = self.rng.uniform(0.0, self.model.max_stop_s)
            times.append(times[-1] + self.model.travel_s(self.distance(a, b), speed_kmh, stop))
        return times

    def read(
        self,
        vehicle: Vehicle,
        camera: int,
        offset_s: float,
        *,
        plate_seen: str | None = None,
        confidence: float | None = None,
        candidates: list[dict[str, Any]] | None = None,
    ) -> SimRead:
        site = self.sites[camera]
        captured_at = self.at(offset_s)
        payload = build_payload(
            self.rng,
            read_id=new_read_id(self.id_rng),
            camera_id=site.camera_id,
            captured_at=captured_at,
            vehicle=vehicle,
            model=self.model,
            plate_seen=plate_seen,
            confidence=confidence,
            candidates=candidates,
        )
        return SimRead(
            camera_id=site.camera_id,
            captured_at=captured_at,
            payload=payload,
            true_plate=vehicle.normalised,
            source=self.label,
        )

    def truth_read(self, read: SimRead) -> TruthRead:
        site = self.sites[self.camera_index(read.camera_id)]
        return TruthRead(
            read_id=read.read_id,
            camera_id=read.camera_id,
            captured_at=read.captured_at,
            plate=read.plate,
            true_plate=read.true_plate,
            lat=site.lat,
            lon=site.lon,
        )


class Scenario(Protocol):
    """A situation injected into the traffic, with the ground truth of what was injected."""

    kind: ClassVar[str]
    label: str | None

    def inject(self, ctx: ScenarioContext) -> Injection: ...


def _ordered(reads: list[SimRead]) -> list[SimRead]:
    return sorted(reads, key=lambda r: r.captured_at)


@dataclass(slots=True)
class RouteScenario:
    """(a) One plate driving through given (or randomly chained) cameras."""

    kind: ClassVar[str] = "route"
    plate: str | None = None
    cameras: tuple[str, ...] | None = None
    passages: int = 5
    at_s: float = ROUTE_AT_S
    speed_kmh: float = 45.0
    country: str = "BE"
    label: str | None = None

    def inject(self, ctx: ScenarioContext) -> Injection:
        vehicle = ctx.vehicle(self.plate, self.country)
        route = ctx.route(self.cameras, self.passages)
        times = ctx.timings(route, at_s=self.at_s, speed_kmh=self.speed_kmh)
        reads = [ctx.read(vehicle, c, t) for c, t in zip(route, times, strict=True)]
        truth = GroundTruth(
            scenario=ctx.label,
            kind=self.kind,
            plates=[vehicle.normalised],
            reads=[ctx.truth_read(r) for r in reads],
            cameras=[ctx.sites[c].camera_id for c in route],
            details={"speed_kmh": self.speed_kmh, "vehicle": vehicle.descriptor()},
        )
        return Injection(reads=reads, truth=truth)


@dataclass(slots=True)
class ConvoyScenario:
    """(b) 2–3 vehicles on the same route, a few seconds apart at every camera."""

    kind: ClassVar[str] = "convoy"
    vehicles: int = 3
    plates: tuple[str, ...] | None = None
    cameras: tuple[str, ...] | None = None
    passages: int = 5
    at_s: float = CONVOY_AT_S
    speed_kmh: float = 40.0
    min_gap_s: float = 2.0
    max_gap_s: float = 8.0
    label: str | None = None

    def inject(self, ctx: ScenarioContext) -> Injection:
        count = len(self.plates) if self.plates else self.vehicles
        if count < 2:
            raise ValueError(f"{ctx.label}: a convoy needs at least two vehicles")
        if not 0 < self.min_gap_s <= self.max_gap_s:
            raise ValueError(f"{ctx.label}: need 0 < min_gap_s <= max_gap_s")
        plates: Sequence[str | None] = self.plates or [None] * count
        members = [ctx.vehicle(p) for p in plates]
        route = ctx.route(self.cameras, self.passages)
        times = ctx.timings(route, at_s=self.at_s, speed_kmh=self.speed_kmh)
        offsets = [0.0]
        for _ in members[1:]:
            offsets.append(offsets[-1] + ctx.rng.uniform(self.min_gap_s, self.max_gap_s))
        reads = [
            ctx.read(member, camera, t + offset)
            for camera, t in zip(route, times, strict=True)
            for member, offset in zip(members, offsets, strict=True)
        ]
        truth = GroundTruth(
            scenario=ctx.label,
            kind=self.kind,
            plates=[m.normalised for m in members],
            reads=[ctx.truth_read(r) for r in reads],
            cameras=[ctx.sites[c].camera_id for c in route],
            details={
                "leader": members[0].normalised,
                "offsets_s": [round(o, 3) for o in offsets],
                "max_spread_s": round(offsets[-1], 3),
            },
        )
        return Injection(reads=_ordered(reads), truth=truth)


@dataclass(slots=True)
class NearPointScenario:
    """(c) Vehicles passing within `radius_m` of a point during a time window.

    Decoys pass just outside the radius during the window, or inside it after the window;
    they are listed in `details["decoy_plates"]` and never in `plates`. Background traffic
    that passes inside the radius during the window is added to the truth as it streams
    (`details["background_plates"]`).
    """

    kind: ClassVar[str] = "near-point"
    lat: float | None = None
    lon: float | None = None
    radius_m: float = 300.0
    window_start_s: float = NEAR_POINT_WINDOW_S[0]
    window_end_s: float = NEAR_POINT_WINDOW_S[1]
    vehicles: int = 4
    decoys: int = 2
    label: str | None = None

    def inject(self, ctx: ScenarioContext) -> Injection:
        if self.window_end_s <= self.window_start_s:
            raise ValueError(f"{ctx.label}: the window must end after it starts")
        if (self.lat is None) != (self.lon is None):
            raise ValueError(f"{ctx.label}: give both lat and lon, or neither")
        if self.lat is None or self.lon is None:
            centre = ctx.sites[ctx.rng.randrange(len(ctx.sites))]
            lat, lon = centre.lat, centre.lon
        else:
            lat, lon = self.lat, self.lon
        dist = [haversine_m(lat, lon, s.lat, s.lon) for s in ctx.sites]
        inside = [i for i, d in enumerate(dist) if d <= self.radius_m]
        outside = sorted((i for i, d in enumerate(dist) if d > self.radius_m), key=dist.__getitem__)
        if not inside:
            raise ValueError(f"{ctx.label}: no camera within {self.radius_m} m of ({lat}, {lon})")
        rng, window = ctx.rng, (self.window_start_s, self.window_end_s)
        reads: list[SimRead] = []
        positives: list[SimRead] = []
        plates: list[str] = []
        for _ in range(self.vehicles):
            vehicle = ctx.vehicle()
            camera = rng.choice(inside)
            t = rng.uniform(*window)
            hit = ctx.read(vehicle, camera, t)
            reads.append(hit)
            positives.append(hit)
            plates.append(vehicle.normalised)
            if outside:  # where it came from: a camera outside the radius, earlier
                origin = rng.choice(outside[:8])
                travel = ctx.model.travel_s(ctx.distance(origin, camera), 45.0, 10.0)
                reads.append(ctx.read(vehicle, origin, t - travel))
        decoy_plates: list[str] = []
        for n in range(self.decoys):
            vehicle = ctx.vehicle()
            if n % 2 == 0 and outside:
                reads.append(ctx.read(vehicle, rng.choice(outside[:8]), rng.uniform(*window)))
            else:
                after = self.window_end_s + rng.uniform(60.0, 300.0)
                reads.append(ctx.read(vehicle, rng.choice(inside), after))
            decoy_plates.append(vehicle.normalised)
        start_at, end_at = ctx.at(self.window_start_s), ctx.at(self.window_end_s)
        truth = GroundTruth(
            scenario=ctx.label,
            kind=self.kind,
            plates=plates,
            reads=[ctx.truth_read(r) for r in _ordered(positives)],
            cameras=[ctx.sites[i].camera_id for i in inside],
            details={
                "lat": lat,
                "lon": lon,
                "radius_m": self.radius_m,
                "window_start": start_at,
                "window_end": end_at,
                "decoy_plates": decoy_plates,
                "background_plates": [],
            },
        )
        inside_ids = {ctx.sites[i].camera_id for i in inside}

        def observe(read: SimRead) -> None:
            if read.source == ctx.label:
                return
            if read.camera_id in inside_ids and start_at <= read.captured_at <= end_at:
                truth.reads.append(ctx.truth_read(read))
                if read.true_plate not in truth.plates:
                    truth.plates.append(read.true_plate)
                    truth.details["background_plates"].append(read.true_plate)

        return Injection(reads=_ordered(reads), truth=truth, observe=observe)


@dataclass(slots=True)
class MisreadScenario:
    """(d) One vehicle read right at some cameras and as look-alike variants at others."""

    kind: ClassVar[str] = "misread"
    plate: str | None = None
    variants: int = 3
    correct_reads: int = 2
    substitutions: int = 1
    cameras: tuple[str, ...] | None = None
    at_s: float = MISREAD_AT_S
    speed_kmh: float = 45.0
    with_candidates: bool = False
    label: str | None = None

    def inject(self, ctx: ScenarioContext) -> Injection:
        rng = ctx.rng
        plate = self.plate
        if plate is None:
            while True:
                plate = ctx.registry.new_plate(rng, "BE", reserve_canonical=True)
                if len(substitutable_positions(plate)) >= max(2, self.substitutions):
                    break
        vehicle = ctx.vehicle(plate, "BE")
        seen: set[str] = {vehicle.normalised}
        variants: list[str] = []
        for _ in range(200 * max(1, self.variants)):
            if len(variants) == self.variants:
                break
            variant = lookalike_variant(plate, rng, substitutions=self.substitutions)
            if variant is None:
                raise ValueError(f"{ctx.label}: {plate!r} has too few look-alike characters")
            if normalise(variant) not in seen:
                seen.add(normalise(variant))
                variants.append(variant)
        if len(variants) < self.variants:
            raise ValueError(f"{ctx.label}: {plate!r} has only {len(variants)} look-alike variants")
        seen_as: list[str | None] = [None] * self.correct_reads + list(variants)
        rng.shuffle(seen_as)
        route = ctx.route(self.cameras, len(seen_as))
        if len(route) < len(seen_as):
            raise ValueError(f"{ctx.label}: needs {len(seen_as)} cameras, got {len(route)}")
        times = ctx.timings(route, at_s=self.at_s, speed_kmh=self.speed_kmh)
        reads = []
        for camera, t, shown in zip(route, times, seen_as, strict=False):
            if shown is None:
                reads.append(ctx.read(vehicle, camera, t))
                continue
            confidence = rng.uniform(0.55, 0.8)
            candidates = None
            if self.with_candidates:
                candidates = [{"plate": plate, "confidence": round(confidence * 0.7, 3)}]
            reads.append(
                ctx.read(
                    vehicle,
                    camera,
                    t,
                    plate_seen=shown,
                    confidence=confidence,
                    candidates=candidates,
                )
            )
        truth = GroundTruth(
            scenario=ctx.label,
            kind=self.kind,
            plates=[vehicle.normalised],
            reads=[ctx.truth_read(r) for r in reads],
            cameras=[ctx.sites[c].camera_id for c in route[: len(seen_as)]],
            details={
                "variants": [normalise(v) for v in variants],
                "canonical": DEFAULT_LOOKALIKES.canonical(vehicle.normalised),
                "misread_read_ids": [r.read_id for r in reads if r.plate != r.true_plate],
            },
        )
        return Injection(reads=reads, truth=truth)


@dataclass(slots=True)
class CloneScenario:
    """(e) One plate on two vehicles: seen at two far-apart cameras too close in time."""

    kind: ClassVar[str] = "clone"
    plate: str | None = None
    cameras: tuple[str, str] | None = None
    gap_s: float = 120.0
    min_distance_m: float = 5000.0
    at_s: float = CLONE_AT_S
    label: str | None = None

    def _pair(self, ctx: ScenarioContext) -> tuple[int, int]:
        if self.cameras is not None:
            return ctx.camera_index(self.cameras[0]), ctx.camera_index(self.cameras[1])
        a = ctx.rng.randrange(len(ctx.sites))
        b = max(range(len(ctx.sites)), key=lambda j: (ctx.distance(a, j), -j))
        if ctx.distance(a, b) < self.min_distance_m:
            a = max(range(len(ctx.sites)), key=lambda j: (ctx.distance(b, j), -j))
        return a, b

    def inject(self, ctx: ScenarioContext) -> Injection:
        if self.gap_s <= 0:
            raise ValueError(f"{ctx.label}: gap_s must be positive")
        a, b = self._pair(ctx)
        distance = ctx.distance(a, b)
        implied_kmh = distance / self.gap_s * 3.6
        if implied_kmh <= MAX_PLAUSIBLE_KMH:
            raise ValueError(
                f"{ctx.label}: {distance:.0f} m in {self.gap_s} s is {implied_kmh:.0f} km/h, "
                f"plausible for one vehicle: choose cameras farther apart or a shorter gap"
            )
        original = ctx.vehicle(self.plate)
        clone = new_vehicle(
            ctx.rng,
            ctx.registry,
            plate=original.plate,
            country=original.country,
            reserve_canonical=True,
        )
        reads = [ctx.read(original, a, self.at_s), ctx.read(clone, b, self.at_s + self.gap_s)]
        truth = GroundTruth(
            scenario=ctx.label,
            kind=self.kind,
            plates=[original.normalised],
            reads=[ctx.truth_read(r) for r in reads],
            cameras=[ctx.sites[a].camera_id, ctx.sites[b].camera_id],
            details={
                "distance_m": round(distance, 1),
                "gap_s": self.gap_s,
                "implied_kmh": round(implied_kmh, 1),
                "vehicles": [original.descriptor(), clone.descriptor()],
            },
        )
        return Injection(reads=reads, truth=truth)


SCENARIO_KINDS: dict[str, type[Any]] = {
    cls.kind: cls
    for cls in (RouteScenario, ConvoyScenario, NearPointScenario, MisreadScenario, CloneScenario)
}


def scenario_from_name(name: str) -> Scenario:
    """A scenario with default parameters from its CLI name (`--scenario convoy`)."""
    try:
        cls = SCENARIO_KINDS[name]
    except KeyError:
        known = ", ".join(SCENARIO_KINDS)
        raise ValueError(f"unknown scenario {name!r}; known: {known}") from None
    scenario: Scenario = cls()
    return scenario
