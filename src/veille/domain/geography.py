"""Belgian police zones, provinces and distances (facts from DOMAIN.md)."""

from __future__ import annotations

import math
from dataclasses import dataclass

EARTH_RADIUS_M = 6_371_008.8
BELGIUM_BOUNDS = (49.4, 51.6, 2.4, 6.5)  # lat min, lat max, lon min, lon max, with a margin


@dataclass(frozen=True)
class Commune:
    name: str
    lat: float
    lon: float


@dataclass(frozen=True)
class PoliceZone:
    name: str
    province: str
    communes: tuple[Commune, ...]


BRUSSELS_REGION = "Bruxelles-Capitale"

BRUSSELS_ZONES: tuple[PoliceZone, ...] = (
    PoliceZone(
        "Bruxelles-Capitale/Ixelles",
        BRUSSELS_REGION,
        (Commune("Bruxelles", 50.847, 4.352), Commune("Ixelles", 50.833, 4.367)),
    ),
    PoliceZone(
        "Bruxelles-Ouest",
        BRUSSELS_REGION,
        (
            Commune("Molenbeek-Saint-Jean", 50.855, 4.322),
            Commune("Koekelberg", 50.862, 4.329),
            Commune("Jette", 50.877, 4.328),
            Commune("Ganshoren", 50.871, 4.309),
            Commune("Berchem-Sainte-Agathe", 50.864, 4.292),
        ),
    ),
    PoliceZone(
        "Midi",
        BRUSSELS_REGION,
        (
            Commune("Anderlecht", 50.836, 4.308),
            Commune("Saint-Gilles", 50.827, 4.345),
            Commune("Forest", 50.811, 4.318),
        ),
    ),
    PoliceZone(
        "Uccle/Watermael-Boitsfort/Auderghem",
        BRUSSELS_REGION,
        (
            Commune("Uccle", 50.800, 4.333),
            Commune("Watermael-Boitsfort", 50.799, 4.416),
            Commune("Auderghem", 50.815, 4.430),
        ),
    ),
    PoliceZone(
        "Montgomery",
        BRUSSELS_REGION,
        (
            Commune("Etterbeek", 50.836, 4.387),
            Commune("Woluwe-Saint-Lambert", 50.847, 4.429),
            Commune("Woluwe-Saint-Pierre", 50.830, 4.435),
        ),
    ),
    PoliceZone(
        "Polbruno",
        BRUSSELS_REGION,
        (
            Commune("Schaerbeek", 50.867, 4.378),
            Commune("Saint-Josse-ten-Noode", 50.853, 4.373),
            Commune("Evere", 50.870, 4.402),
        ),
    ),
)

# Province -> capital (lat, lon). Brussels-Capital is a region, not a province, but is
# handled as one for scoping.
PROVINCE_CAPITALS: dict[str, tuple[str, float, float]] = {
    "Antwerpen": ("Antwerpen", 51.219, 4.403),
    "Limburg": ("Hasselt", 50.931, 5.333),
    "Oost-Vlaanderen": ("Gent", 51.054, 3.717),
    "West-Vlaanderen": ("Brugge", 51.209, 3.225),
    "Vlaams-Brabant": ("Leuven", 50.880, 4.701),
    "Brabant wallon": ("Wavre", 50.717, 4.601),
    "Hainaut": ("Mons", 50.454, 3.952),
    "Liège": ("Liège", 50.633, 5.580),
    "Luxembourg": ("Arlon", 49.683, 5.817),
    "Namur": ("Namur", 50.467, 4.872),
    BRUSSELS_REGION: ("Bruxelles", 50.847, 4.352),
}

PROVINCES: tuple[str, ...] = tuple(PROVINCE_CAPITALS)


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def in_belgium(lat: float, lon: float) -> bool:
    lat_min, lat_max, lon_min, lon_max = BELGIUM_BOUNDS
    return lat_min <= lat <= lat_max and lon_min <= lon <= lon_max
