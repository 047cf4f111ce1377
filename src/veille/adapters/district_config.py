"""The judicial district mapping from its configuration file (VEILLE_DISTRICT_MAP_FILE).

The file is JSON and replaces the built-in Belgian mapping entirely:

    {
      "districts": ["Liège", "Eupen", ...],        # every district, by the name prosecutors'
                                                    # organisations use as their scope
      "provinces": {"Liège": "Liège", ...},          # a camera's province → district
      "zones": {"Weser-Göhl": "Eupen", ...},         # optional: police zone → district
      "cameras": {"CAM-0042": "Eupen", ...},         # optional: one camera → district
      "aliases": {"Luik": "Liège", ...},             # optional: other spellings
      "federal": "Parquet fédéral"                   # optional: the federal prosecutor's
    }                                                # office (null: there is none)

`veille docs districts` prints the mapping in force in this format.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from veille.domain.districts import (
    FEDERAL_PROSECUTOR,
    DistrictMap,
    DistrictMapInvalid,
    belgian_district_map,
)

_KEYS = {"districts", "provinces", "zones", "cameras", "aliases", "federal"}


def _names(data: dict[str, Any], key: str) -> dict[str, str]:
    value = data.get(key, {})
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and k.strip() and v.strip()
        for k, v in value.items()
    ):
        raise DistrictMapInvalid(key, "must be an object of non-empty names to district names")
    return {k.strip(): v.strip() for k, v in value.items()}


def district_map_from_json(data: Any) -> DistrictMap:
    """Validate a parsed mapping file; DistrictMapInvalid names the field at fault."""
    if not isinstance(data, dict):
        raise DistrictMapInvalid("(file)", "must be a JSON object")
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise DistrictMapInvalid(unknown[0], f"unknown key; expected {', '.join(sorted(_KEYS))}")
    districts = data.get("districts")
    if (
        not isinstance(districts, list)
        or not districts
        or not all(isinstance(d, str) and d.strip() for d in districts)
    ):
        raise DistrictMapInvalid("districts", "must be a non-empty list of district names")
    federal = data.get("federal", FEDERAL_PROSECUTOR)
    if federal is not None and (not isinstance(federal, str) or not federal.strip()):
        raise DistrictMapInvalid("federal", "must be a name or null")
    provinces = _names(data, "provinces")
    if not provinces and not data.get("zones") and not data.get("cameras"):
        raise DistrictMapInvalid("provinces", "map at least provinces, zones or cameras")
    return DistrictMap(
        districts=frozenset(d.strip() for d in districts),
        by_province=provinces,
        by_zone=_names(data, "zones"),
        by_camera=_names(data, "cameras"),
        aliases=_names(data, "aliases"),
        federal=federal.strip() if federal else None,
    )


def load_district_map(path: Path | None) -> DistrictMap:
    """The mapping in force: the file if one is configured, else the Belgian default."""
    if path is None:
        return belgian_district_map()
    try:
        data = orjson.loads(path.read_bytes())
    except OSError as exc:
        raise DistrictMapInvalid(str(path), f"cannot be read: {exc.strerror}") from None
    except orjson.JSONDecodeError as exc:
        raise DistrictMapInvalid(str(path), f"is not valid JSON: {exc}") from None
    try:
        return district_map_from_json(data)
    except DistrictMapInvalid as exc:
        raise DistrictMapInvalid(f"{path}: {exc.field}", exc.reason) from None


def district_map_json(districts: DistrictMap) -> dict[str, Any]:
    """The mapping in the file format (for `veille docs districts`)."""
    return {
        "districts": sorted(districts.districts),
        "provinces": dict(sorted(districts.by_province.items())),
        "zones": dict(sorted(districts.by_zone.items())),
        "cameras": dict(sorted(districts.by_camera.items())),
        "aliases": dict(sorted(districts.aliases.items())),
        "federal": districts.federal,
    }
