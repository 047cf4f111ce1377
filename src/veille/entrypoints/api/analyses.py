"""Investigation analyses over HTTP: each route builds a query for the bus, which runs it
through the query service; an export is audited as its own record."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field, field_validator
from starlette.responses import Response

from veille.domain.access import Permission, Principal
from veille.entrypoints.api.schemas.search import (
    AreaAnalysisRead,
    CloneAnalysisRead,
    ConvoyAnalysisRead,
    JourneyAnalysisRead,
    PlateAnalysisRead,
    RareVisitorsAnalysisRead,
    ScenesAnalysisRead,
)
from veille.entrypoints.api.search import Lawful, ask, lawful
from veille.entrypoints.api.security import json_response, requires
from veille.service import analyses
from veille.service import analysis_exports as exports
from veille.service.commands import investigation as q

router = APIRouter(prefix="/api/v1/analyses", tags=["analyses"])

Format = Literal["json", "csv", "geojson", "html", "pdf"]
HASH_HEADER = "X-Veille-Result-SHA256"

# The bodies below say only the shape of a request (types, sizes, time zones); the rules
# of the values (ranges, one place, a period that ends after it starts, plate patterns)
# are the analysis service's, checked once there for every entrypoint.


def _answers(model: type[BaseModel]) -> dict[int | str, dict[str, Any]]:
    """200: the result as JSON (`format: json`), or the audited export as a download."""
    exports_doc = {
        media: {"schema": {"type": "string"}} for media, _ in exports.MEDIA_TYPES.values()
    }
    return {
        200: {
            "model": model,
            "description": "The result (JSON) or its audited export (csv, geojson, html, pdf)",
            "content": exports_doc,
        },
    }


def _plate_field() -> Any:
    return Field(max_length=32, description="The plate, as printed or normalised.")


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("needs a time zone (Z or an offset)")
    return value


class Analysis(Lawful):
    format: Format = Field(
        "json", description="json (default), or an audited export: csv, geojson, html, pdf."
    )


class PlateAnalysis(Analysis):
    plate: str = Field(max_length=32, description="Plate, or pattern (wildcard).")
    mode: Literal["exact", "wildcard", "lookalike", "edit"] = "exact"
    max_edits: int = Field(1, description=f"For mode=edit: edits allowed (0–{analyses.MAX_EDITS}).")
    country: str | None = Field(None, pattern=r"^[A-Za-z]{2}$")
    limit: int = Field(1000, description=f"Passages at most (1–{analyses.MAX_PLATE_LIMIT}).")


class Place(BaseModel):
    """One of a circle (lat, lon, radius_m), a GeoJSON polygon, or a camera list."""

    lat: float | None = Field(None, description="Centre latitude (WGS84, -90–90).")
    lon: float | None = Field(None, description="Centre longitude (WGS84, -180–180).")
    radius_m: float | None = Field(
        None, description=f"Radius in metres (up to {analyses.MAX_RADIUS_M:,})."
    )
    camera_ids: list[str] | None = Field(None, max_length=1000)


class AreaAnalysis(Analysis, Place):
    polygon: list[list[list[float]]] | None = Field(
        None, description="GeoJSON Polygon coordinates: rings of [lon, lat], closed."
    )


class JourneyAnalysis(Analysis):
    plate: str = _plate_field()
    gap_minutes: float = Field(30.0, description="A gap: longer unseen (up to 7 days).")


class ConvoyAnalysis(Analysis):
    plate: str = _plate_field()
    window_s: float = Field(
        60.0, description=f"± seconds around each passage (up to {analyses.MAX_WINDOW_S})."
    )
    min_cameras: int = Field(3, description="Distinct cameras shared at least.")
    limit: int = Field(50, description=f"Companions at most (1–{analyses.MAX_COMPANIONS}).")


class Scene(BaseModel):
    lat: float
    lon: float
    radius_m: float
    start: datetime
    end: datetime

    @field_validator("start", "end")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        return _aware(value)


class ScenesAnalysis(Analysis):
    scenes: list[Scene] = Field(
        description=f"2 to {analyses.MAX_SCENES} scenes.", max_length=analyses.MAX_SCENES
    )
    min_scenes: int = 2


class RareVisitorsAnalysis(Analysis, Place):
    baseline_start: datetime
    baseline_end: datetime

    @field_validator("baseline_start", "baseline_end")
    @classmethod
    def _aware_baseline(cls, value: datetime) -> datetime:
        return _aware(value)


class CloneAnalysis(Analysis):
    plate: str | None = Field(None, max_length=32, description="None: sweep all.")
    max_speed_kmh: float = 180.0
    min_distance_m: float = 2000.0


def _cameras(place: Place) -> tuple[str, ...] | None:
    return tuple(place.camera_ids) if place.camera_ids is not None else None


async def _answer(request: Request, body: Analysis, query: q.Analysis) -> Response:
    """JSON (with the result's SHA-256), or the audited export of the result."""
    if body.format == "json":
        found: exports.AnalysisResult = await ask(request, query)
        sha256 = found.sha256
        return json_response({**found.result, "sha256": sha256}, headers={HASH_HEADER: sha256})
    document: exports.ExportDocument = await ask(request, q.AnalysisExport(query, body.format))
    return Response(
        content=document.content,
        media_type=document.media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{document.filename}"',
            HASH_HEADER: document.sha256,
        },
    )


@router.post(
    "/plate",
    summary="Passages of a plate: exact, wildcard, look-alike, edit distance",
    responses=_answers(PlateAnalysisRead),
)
async def analyse_plate(
    body: PlateAnalysis,
    request: Request,
    principal: Principal = Depends(requires(Permission.READS_SEARCH)),
) -> Response:
    """`?` is one character and `*` any run (wildcard); look-alike compares canonical
    forms (O/0/D/Q, 1/I/L/T, 8/B …); edit allows up to `max_edits` dropped, extra or
    changed characters. Purpose and case required; the caller's scope and window apply."""
    return await _answer(
        request,
        body,
        q.PlatePassages(
            **lawful(request, principal, body),
            plate=body.plate,
            mode=body.mode,
            max_edits=body.max_edits,
            country=body.country,
            limit=body.limit,
        ),
    )


@router.post(
    "/area",
    summary="Vehicles seen in an area (circle, polygon, cameras) in a period",
    responses=_answers(AreaAnalysisRead),
)
async def analyse_area(
    body: AreaAnalysis,
    request: Request,
    principal: Principal = Depends(requires(Permission.READS_SEARCH)),
) -> Response:
    """Grouped by plate, with first and last passage, count and cameras."""
    return await _answer(
        request,
        body,
        q.VehiclesInArea(
            **lawful(request, principal, body),
            lat=body.lat,
            lon=body.lon,
            radius_m=body.radius_m,
            polygon=body.polygon,
            camera_ids=_cameras(body),
        ),
    )


@router.post(
    "/journey",
    summary="A plate's journey: passages, legs, gaps, direction, map",
    responses=_answers(JourneyAnalysisRead),
)
async def analyse_journey(
    body: JourneyAnalysis,
    request: Request,
    principal: Principal = Depends(requires(Permission.READS_SEARCH)),
) -> Response:
    """Passages in time order with camera positions, legs (distance, speed, direction),
    gaps longer than `gap_minutes`, and a GeoJSON FeatureCollection (points + line)."""
    return await _answer(
        request,
        body,
        q.Journey(
            **lawful(request, principal, body), plate=body.plate, gap_minutes=body.gap_minutes
        ),
    )


@router.post(
    "/convoy",
    summary="Vehicles travelling with a target plate",
    responses=_answers(ConvoyAnalysisRead),
)
async def analyse_convoy(
    body: ConvoyAnalysis,
    request: Request,
    principal: Principal = Depends(requires(Permission.READS_SEARCH)),
) -> Response:
    """Plates seen within ±`window_s` of the target at `min_cameras` distinct cameras or
    more, ranked by co-occurrences each weighted 1/log2(2 + plates seen there then)."""
    return await _answer(
        request,
        body,
        q.Convoy(
            **lawful(request, principal, body),
            plate=body.plate,
            window_s=body.window_s,
            min_cameras=body.min_cameras,
            limit=body.limit,
        ),
    )


@router.post(
    "/scenes", summary="Plates seen at several scenes", responses=_answers(ScenesAnalysisRead)
)
async def analyse_scenes(
    body: ScenesAnalysis,
    request: Request,
    principal: Principal = Depends(requires(Permission.READS_SEARCH)),
) -> Response:
    """Each scene is a circle and a period (cut to start–end); plates seen at
    `min_scenes` of them or more, with their passages at each."""
    scenes = tuple(q.Scene(**s.model_dump()) for s in body.scenes)
    return await _answer(
        request,
        body,
        q.PlatesAtScenes(
            **lawful(request, principal, body), scenes=scenes, min_scenes=body.min_scenes
        ),
    )


@router.post(
    "/rare-visitors",
    summary="Plates new to a place: seen now, not in the baseline",
    responses=_answers(RareVisitorsAnalysisRead),
)
async def analyse_rare_visitors(
    body: RareVisitorsAnalysis,
    request: Request,
    principal: Principal = Depends(requires(Permission.READS_SEARCH)),
) -> Response:
    """Seen at the place (circle or cameras) in start–end and never in the baseline
    period; the baseline covers only what the caller may see (`baseline.clipped`)."""
    return await _answer(
        request,
        body,
        q.RareVisitors(
            **lawful(request, principal, body),
            baseline_start=body.baseline_start,
            baseline_end=body.baseline_end,
            lat=body.lat,
            lon=body.lon,
            radius_m=body.radius_m,
            camera_ids=_cameras(body),
        ),
    )


@router.post(
    "/clones",
    summary="Cloned plates: one plate too far apart too fast",
    responses=_answers(CloneAnalysisRead),
)
async def analyse_clones(
    body: CloneAnalysis,
    request: Request,
    principal: Principal = Depends(requires(Permission.READS_SEARCH)),
) -> Response:
    """For one plate, or every plate seen at two cameras or more in the period: pairs of
    passages at least `min_distance_m` apart implying more than `max_speed_kmh`."""
    return await _answer(
        request,
        body,
        q.ClonedPlates(
            **lawful(request, principal, body),
            plate=body.plate,
            max_speed_kmh=body.max_speed_kmh,
            min_distance_m=body.min_distance_m,
        ),
    )
