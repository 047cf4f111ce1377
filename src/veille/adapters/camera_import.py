"""Decoders for camera import files: CSV and GeoJSON, each record with its line/feature number."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

import orjson

CSV_COLUMNS = (
    "camera_id",
    "name",
    "lat",
    "lon",
    "heading",
    "zone",
    "province",
    "vendor",
    "protocol",
    "phase",
)
REQUIRED_CSV_COLUMNS = frozenset({"camera_id", "lat", "lon", "zone", "province"})


class ImportFormatError(ValueError):
    """The file itself could not be read; `where` says at which line or feature."""

    def __init__(self, where: str, reason: str):
        super().__init__(f"{where}: {reason}")
        self.where = where
        self.reason = reason


def decode_csv(text: str) -> list[tuple[str, dict[str, Any]]]:
    """Rows of a camera CSV (header line first), each as (\"line N\", record)."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = set(reader.fieldnames or ())
    missing = REQUIRED_CSV_COLUMNS - header
    if missing:
        raise ImportFormatError("line 1", f"missing column(s): {', '.join(sorted(missing))}")
    unknown = header - set(CSV_COLUMNS)
    if unknown:
        raise ImportFormatError("line 1", f"unknown column(s): {', '.join(sorted(unknown))}")
    out = []
    start = reader.line_num + 1  # a record starts on the line after the previous one ended
    for row in reader:
        where = f"line {start}"
        start = reader.line_num + 1
        if None in row:  # more cells than header columns
            raise ImportFormatError(where, "more cells than columns")
        if not any((v or "").strip() for v in row.values()):
            continue
        out.append((where, {k: (v or "").strip() for k, v in row.items()}))
    return out


def decode_geojson(text: str) -> list[tuple[str, dict[str, Any]]]:
    """Point features of a GeoJSON FeatureCollection, each as (\"feature N\", record)."""
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise ImportFormatError("document", f"not valid JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        raise ImportFormatError("document", "must be a GeoJSON FeatureCollection")
    features = doc.get("features")
    if not isinstance(features, list):
        raise ImportFormatError("document", "features must be a list")
    out = []
    for i, feature in enumerate(features, start=1):
        where = f"feature {i}"
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            raise ImportFormatError(where, "must be a GeoJSON Feature")
        geometry = feature.get("geometry")
        coords = geometry.get("coordinates") if isinstance(geometry, dict) else None
        if (
            not isinstance(geometry, dict)
            or geometry.get("type") != "Point"
            or not isinstance(coords, list)
            or len(coords) < 2
        ):
            raise ImportFormatError(where, "geometry must be a Point [lon, lat]")
        properties = feature.get("properties")
        if properties is None:
            properties = {}
        if not isinstance(properties, dict):
            raise ImportFormatError(where, "properties must be an object")
        props = dict(properties)
        if "camera_id" not in props and feature.get("id") is not None:
            props["camera_id"] = feature["id"]
        props["lon"], props["lat"] = coords[0], coords[1]
        out.append((where, props))
    return out


def decode_records(records: Iterable[Any]) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for i, record in enumerate(records, start=1):
        if not isinstance(record, dict):
            raise ImportFormatError(f"record {i}", "must be an object")
        out.append((f"record {i}", record))
    return out


def decode(text: str, fmt: str) -> list[tuple[str, dict[str, Any]]]:
    """Decode an import file of format `csv` or `geojson`."""
    if fmt == "csv":
        return decode_csv(text)
    if fmt == "geojson":
        return decode_geojson(text)
    raise ImportFormatError("format", "must be csv or geojson")


def guess_format(filename: str) -> str:
    lower = filename.lower()
    if lower.endswith(".csv"):
        return "csv"
    if lower.endswith((".geojson", ".json")):
        return "geojson"
    raise ImportFormatError("file", "cannot tell the format: name it .csv or .geojson")


def encode_csv(records: Iterable[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(CSV_COLUMNS), extrasaction="ignore")
    writer.writeheader()
    for record in records:
        writer.writerow({k: "" if record.get(k) is None else record.get(k) for k in CSV_COLUMNS})
    return buffer.getvalue()


def encode_geojson(records: Iterable[dict[str, Any]]) -> str:
    features = [
        {
            "type": "Feature",
            "id": r["camera_id"],
            "geometry": {"type": "Point", "coordinates": [r["lon"], r["lat"]]},
            "properties": {k: r.get(k) for k in CSV_COLUMNS if k not in ("lat", "lon")},
        }
        for r in records
    ]
    return orjson.dumps({"type": "FeatureCollection", "features": features}).decode()
