"""Queries of investigation: searches, analyses and their exports (handlers:
`service/handlers/investigation.py`).

Each analysis is a query naming what it answers; all carry who asks and why (`ctx`: the
principal, purpose, case, address) and the period. Their handler runs them through the
query service (`service/queries.run_query`): the law is checked, the analysis reads from a
snapshot, its audit record is committed, and only then is the result answered. The
parameters are checked once, in the analysis service (`service/analyses.py`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, ClassVar

from veille.service.commands import Query
from veille.service.queries import SEARCH_LIMIT, QueryContext


@dataclass(frozen=True, kw_only=True)
class Analysis(Query):
    """An analysis of stored reads over [start, end), audited as `action` with
    `audit_params()` (and the period, and the authorizations it used)."""

    ctx: QueryContext
    start: datetime
    end: datetime
    kind: ClassVar[str]  # names the analysis in exports, file names and audit actions

    @property
    def action(self) -> str:
        return "analysis." + self.kind.replace("-", "_")

    def audit_params(self) -> dict[str, Any]:
        """The parameters its audit record keeps (the period is added by the handler)."""
        raise NotImplementedError


@dataclass(frozen=True, kw_only=True)
class PlatePassages(Analysis):
    """Passages of a plate: exact, wildcard, look-alike or within a few edits."""

    kind: ClassVar[str] = "plate"
    plate: str
    mode: str = "exact"
    max_edits: int = 1
    country: str | None = None
    limit: int = 1000

    def audit_params(self) -> dict[str, Any]:
        params: dict[str, Any] = {"plate": self.plate, "mode": self.mode, "country": self.country}
        if self.mode == "edit":
            params["max_edits"] = self.max_edits
        return params


@dataclass(frozen=True, kw_only=True)
class PlateSearch(PlatePassages):
    """The same plate search under the older route's name (`POST /api/v1/search/plate`):
    exact or look-alike, audited as `reads.search.plate`."""

    limit: int = SEARCH_LIMIT

    @property
    def action(self) -> str:
        return "reads.search.plate"

    def audit_params(self) -> dict[str, Any]:
        return {"plate": self.plate, "lookalike": self.mode == "lookalike"}


@dataclass(frozen=True, kw_only=True)
class CameraPassages(Analysis):
    """Passages at one camera in a period."""

    kind: ClassVar[str] = "camera"
    camera_id: str
    limit: int = SEARCH_LIMIT

    @property
    def action(self) -> str:
        return "reads.search.camera"

    def audit_params(self) -> dict[str, Any]:
        return {"camera_id": self.camera_id}


def _place(
    lat: float | None,
    lon: float | None,
    radius_m: float | None,
    camera_ids: tuple[str, ...] | None,
    *,
    polygon: list[Any] | None = None,
) -> dict[str, Any]:
    """The place an analysis was asked about, as its audit record keeps it: what was given."""
    place = {
        "lat": lat,
        "lon": lon,
        "radius_m": radius_m,
        "polygon": polygon,
        "camera_ids": list(camera_ids) if camera_ids is not None else None,
    }
    return {k: v for k, v in place.items() if v is not None}


@dataclass(frozen=True, kw_only=True)
class VehiclesInArea(Analysis):
    """Vehicles seen in a place (one of a circle, a GeoJSON polygon, a camera list)."""

    kind: ClassVar[str] = "area"
    lat: float | None = None
    lon: float | None = None
    radius_m: float | None = None
    polygon: list[Any] | None = None
    camera_ids: tuple[str, ...] | None = None

    def audit_params(self) -> dict[str, Any]:
        return _place(self.lat, self.lon, self.radius_m, self.camera_ids, polygon=self.polygon)


@dataclass(frozen=True, kw_only=True)
class Journey(Analysis):
    """A plate's passages in order, its legs and gaps, and a map."""

    kind: ClassVar[str] = "journey"
    plate: str
    gap_minutes: float = 30.0

    def audit_params(self) -> dict[str, Any]:
        return {"plate": self.plate, "gap_minutes": self.gap_minutes}


@dataclass(frozen=True, kw_only=True)
class Convoy(Analysis):
    """Vehicles travelling with a target plate, ranked."""

    kind: ClassVar[str] = "convoy"
    plate: str
    window_s: float = 60.0
    min_cameras: int = 3
    limit: int = 50

    def audit_params(self) -> dict[str, Any]:
        return {
            "plate": self.plate,
            "window_s": self.window_s,
            "min_cameras": self.min_cameras,
            "limit": self.limit,
        }


@dataclass(frozen=True)
class Scene:
    """A circle and a period (cut to the analysis's period)."""

    lat: float
    lon: float
    radius_m: float
    start: datetime
    end: datetime


@dataclass(frozen=True, kw_only=True)
class PlatesAtScenes(Analysis):
    """Plates seen at `min_scenes` of the scenes or more."""

    kind: ClassVar[str] = "scenes"
    scenes: tuple[Scene, ...]
    min_scenes: int = 2

    def audit_params(self) -> dict[str, Any]:
        return {
            "scenes": [
                {**asdict(s), "start": s.start.isoformat(), "end": s.end.isoformat()}
                for s in self.scenes
            ],
            "min_scenes": self.min_scenes,
        }


@dataclass(frozen=True, kw_only=True)
class RareVisitors(Analysis):
    """Plates seen at a place (circle or cameras) in the period, never in the baseline."""

    kind: ClassVar[str] = "rare-visitors"
    baseline_start: datetime
    baseline_end: datetime
    lat: float | None = None
    lon: float | None = None
    radius_m: float | None = None
    camera_ids: tuple[str, ...] | None = None

    def audit_params(self) -> dict[str, Any]:
        return {
            **_place(self.lat, self.lon, self.radius_m, self.camera_ids),
            "baseline_start": self.baseline_start.isoformat(),
            "baseline_end": self.baseline_end.isoformat(),
        }


@dataclass(frozen=True, kw_only=True)
class ClonedPlates(Analysis):
    """One plate (or every plate) seen at two places too far apart for the time between."""

    kind: ClassVar[str] = "clones"
    plate: str | None = None
    max_speed_kmh: float = 180.0
    min_distance_m: float = 2000.0

    def audit_params(self) -> dict[str, Any]:
        return {
            "plate": self.plate,
            "max_speed_kmh": self.max_speed_kmh,
            "min_distance_m": self.min_distance_m,
        }


@dataclass(frozen=True)
class AnalysisExport(Query):
    """An analysis's result as an audited document: `csv`, `geojson`, `html` or `pdf`.

    The analysis is run (and audited) as on its own, then the export is recorded as its
    own `analysis.export` record, with the result's SHA-256, before the document is
    answered."""

    analysis: Analysis
    format: str
