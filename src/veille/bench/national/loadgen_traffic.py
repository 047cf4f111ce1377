"""What the load generator's cameras read: plates, hits and misreads of the simulator.

Vehicles come from a pool that turns over (a read is of a pool vehicle, which then leaves
the pool with a small probability for a new one), so plates recur across cameras as they
do on a road network; a share `hit_share` of the reads are of a plate on the loaded
hotlists; misreads and candidates follow the simulator's `natural_read`.
"""

from __future__ import annotations

import random
from datetime import datetime
from pathlib import Path
from typing import Any

from veille.simulator.traffic import (
    PlateRegistry,
    TrafficModel,
    Vehicle,
    natural_read,
    new_read_id,
    new_vehicle,
)

VEHICLE_POOL = 20_000
TURNOVER = 0.3  # probability that the vehicle just read leaves the pool for a new one


def load_hit_plates(path: str | None) -> list[tuple[str, str | None]]:
    """Lines `PLATE` or `PLATE COUNTRY` (blank lines and `#` comments skipped)."""
    if not path:
        return []
    plates: list[tuple[str, str | None]] = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        country = fields[1].upper() if len(fields) > 1 and len(fields[1]) == 2 else None
        plates.append((fields[0], country))
    return plates


class ReadFactory:
    """Native JSON reads (without images) for the load generator's cameras."""

    def __init__(
        self,
        *,
        seed: int,
        worker: int = 0,
        hit_plates: list[tuple[str, str | None]] | None = None,
        hit_share: float = 0.0,
        model: TrafficModel = TrafficModel(),
        pool_size: int = VEHICLE_POOL,
    ):
        self.model = model
        self.hit_plates = hit_plates or []
        self.hit_share = hit_share if self.hit_plates else 0.0
        self._rng = random.Random(f"veille-loadgen-traffic:{seed}:{worker}")
        # read ids must never repeat across runs against a reused store: seed them by time
        self._id_rng = random.Random()  # seeded by the OS
        self._registry = PlateRegistry()
        self._pool = [new_vehicle(self._rng, self._registry) for _ in range(pool_size)]
        self.hits = 0

    def _vehicle(self) -> Vehicle:
        rng = self._rng
        if self.hit_share and rng.random() < self.hit_share:
            plate, country = rng.choice(self.hit_plates)
            self.hits += 1
            return Vehicle(
                plate=plate, country=country or "BE", make="Volkswagen", colour="grey",
                vehicle_type="car",
            )  # fmt: skip
        index = rng.randrange(len(self._pool))
        vehicle = self._pool[index]
        if rng.random() < TURNOVER:
            # forget the plate: the registry would otherwise grow with every vehicle ever seen
            self._registry.taken.discard(vehicle.normalised)
            self._pool[index] = new_vehicle(self._rng, self._registry)
        return vehicle

    def read(self, *, camera_id: str, captured_at: datetime) -> dict[str, Any]:
        vehicle = self._vehicle()
        payload = natural_read(
            self._rng,
            read_id=new_read_id(self._id_rng),
            camera_id=camera_id,
            captured_at=captured_at,
            vehicle=vehicle,
            model=self.model,
        )
        if payload.get("country") is None:
            del payload["country"]
        return payload
