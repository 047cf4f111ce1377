"""Judicial districts: which prosecutor is competent for which camera (pure policy).

A camera's district is looked up by camera id, then by police zone, then by province
(the Brussels-Capital Region counts as a province here, as in `geography`). The mapping
is data: the Belgian default below is replaced by a configuration file for another
country or after a reorganisation (`VEILLE_DISTRICT_MAP_FILE`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from veille.domain.cameras import Camera

BRUSSELS = "Brussel/Bruxelles"
WALLOON_BRABANT = "Waals-Brabant/Brabant wallon"
FEDERAL_PROSECUTOR = "Federaal parket/Parquet fédéral"


class CrossDistrictRule(StrEnum):
    """Who approves a request whose cameras lie in more than one district."""

    EACH_DISTRICT = "each_district"  # every district's prosecutor approves
    FEDERAL = "federal"  # the federal prosecutor alone decides
    EACH_DISTRICT_OR_FEDERAL = "each_district_or_federal"  # either way


class DistrictMapInvalid(ValueError):
    """A district mapping that cannot be used; `field` names what is wrong."""

    def __init__(self, field: str, reason: str):
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True)
class DistrictMap:
    """Camera → judicial district, and the names prosecutors' organisations may use."""

    districts: frozenset[str]
    by_province: Mapping[str, str]
    by_zone: Mapping[str, str] = field(default_factory=dict)
    by_camera: Mapping[str, str] = field(default_factory=dict)
    aliases: Mapping[str, str] = field(default_factory=dict)  # other spellings → district
    federal: str | None = FEDERAL_PROSECUTOR  # the federal prosecutor's office, if any

    def __post_init__(self) -> None:
        for where, mapping in (
            ("provinces", self.by_province),
            ("zones", self.by_zone),
            ("cameras", self.by_camera),
            ("aliases", self.aliases),
        ):
            for key, district in mapping.items():
                if district not in self.districts:
                    raise DistrictMapInvalid(
                        f"{where}.{key}", f"{district!r} is not one of the districts"
                    )
        if self.federal is not None and self.federal in self.districts:
            raise DistrictMapInvalid("federal", "must not also be a district")

    def of_camera(self, camera: Camera) -> str | None:
        """The camera's district; None when the mapping places it nowhere."""
        return (
            self.by_camera.get(camera.camera_id)
            or self.by_zone.get(camera.zone)
            or self.by_province.get(camera.province)
        )

    def resolve(self, name: str | None) -> str | None:
        """The district (or the federal office) a name stands for; None if unknown.

        Names compare without regard to case ("bruxelles" is the alias "Bruxelles"), but
        not without accents: "Liege" is not "Liège" unless an alias says so, since an
        unknown name must open nothing rather than be guessed."""
        if not name:
            return None
        wanted = name.strip().casefold()
        for district in self.districts:
            if district.casefold() == wanted:
                return district
        for alias, district in self.aliases.items():
            if alias.casefold() == wanted:
                return district
        if self.federal is not None and wanted in (self.federal.casefold(), "federal"):
            return self.federal
        return None

    def cameras_by_district(self, cameras: Iterable[Camera]) -> dict[str, frozenset[str]]:
        """District → ids of the cameras in it (cameras placed nowhere are left out)."""
        found: dict[str, set[str]] = {}
        for camera in cameras:
            district = self.of_camera(camera)
            if district is not None:
                found.setdefault(district, set()).add(camera.camera_id)
        return {d: frozenset(ids) for d, ids in found.items()}


# Belgium after the 2014 reform of the judicial landscape: twelve districts. Provinces map
# one to one, except Vlaams-Brabant (Leuven, while its Halle-Vilvoorde zones belong to
# Brussels) and Liège (whose German-speaking zones form the district of Eupen).
BELGIAN_DISTRICTS = frozenset(
    {
        "Antwerpen",
        "Limburg",
        "Oost-Vlaanderen",
        "West-Vlaanderen",
        "Leuven",
        BRUSSELS,
        WALLOON_BRABANT,
        "Eupen",
        "Liège",
        "Luxembourg",
        "Namur",
        "Hainaut",
    }
)
BELGIAN_BY_PROVINCE = {
    "Antwerpen": "Antwerpen",
    "Limburg": "Limburg",
    "Oost-Vlaanderen": "Oost-Vlaanderen",
    "West-Vlaanderen": "West-Vlaanderen",
    "Vlaams-Brabant": "Leuven",
    "Brabant wallon": WALLOON_BRABANT,
    "Hainaut": "Hainaut",
    "Liège": "Liège",
    "Luxembourg": "Luxembourg",
    "Namur": "Namur",
    "Bruxelles-Capitale": BRUSSELS,
}
# Police zones of Halle-Vilvoorde (province Vlaams-Brabant, district Brussels) and of the
# German-speaking Community (province Liège, district Eupen). Verify against the local
# zone names cameras are registered with; a per-camera entry settles any exception.
BELGIAN_BY_ZONE = {
    **dict.fromkeys(
        (
            "AMOW",
            "Dilbeek",
            "Druivenstreek",
            "Grimbergen",
            "Kastze",
            "KLM",
            "Pajottenland",
            "Rode",
            "TARL",
            "Vilvoorde/Machelen",
            "Wokra",
            "Zaventem",
            "Zennevallei",
        ),
        BRUSSELS,
    ),
    "Eifel": "Eupen",
    "Weser-Göhl": "Eupen",
}
BELGIAN_ALIASES = {
    "Bruxelles": BRUSSELS,
    "Brussel": BRUSSELS,
    "Brussels": BRUSSELS,
    "Halle-Vilvoorde": BRUSSELS,
    "Brabant wallon": WALLOON_BRABANT,
    "Waals-Brabant": WALLOON_BRABANT,
    "Nivelles": WALLOON_BRABANT,
    "Anvers": "Antwerpen",
    "Antwerp": "Antwerpen",
    "Hasselt": "Limburg",
    "Gent": "Oost-Vlaanderen",
    "Gand": "Oost-Vlaanderen",
    "Brugge": "West-Vlaanderen",
    "Bruges": "West-Vlaanderen",
    "Louvain": "Leuven",
    "Luik": "Liège",
    "Lüttich": "Liège",
    "Arlon": "Luxembourg",
    "Namen": "Namur",
    "Henegouwen": "Hainaut",
    "Mons": "Hainaut",
    "Charleroi": "Hainaut",
}


def belgian_district_map() -> DistrictMap:
    """The default mapping shipped with Veille."""
    return DistrictMap(
        districts=BELGIAN_DISTRICTS,
        by_province=dict(BELGIAN_BY_PROVINCE),
        by_zone=dict(BELGIAN_BY_ZONE),
        aliases=dict(BELGIAN_ALIASES),
    )
