"""Investigation analyses over HTTP: each runs through the query service, exports are audited."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal, Self

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field, field_validator, model_validator
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from veille.domain.access import Permission, Principal
from veille.domain.analysis import validate_polygon
from veille.entrypoints.api.schemas.search import (
    AreaAnalysisRead,
    CloneAnalysisRead,
    ConvoyAnalysisRead,
    JourneyAnalysisRead,
    PlateAnalysisRead,
    RareVisitorsAnalysisRead,
    ScenesAnalysisRead,
)
from veille.entrypoints.api.search import Lawful, run_lawful
from veille.entrypoints.api.security import client_ip, json_response, platform_of, requires
from veille.service import analyses
from veille.service import analysis_exports as exports
from veille.service.queries import QueryContext, ReadAccess

router = APIRouter(prefix="/api/v1/analyses", tags=["analyses"])

Format = Literal["json", "csv", "geojson", "html", "pdf"]
MEDIA_TYPES = {
    "csv": ("text/csv; charset=utf-8", "csv"),
    "geojson": ("application/geo+json", "geojson"),
    "html": ("text/html; charset=utf-8", "html"),
    "pdf": ("application/pdf", "pdf"),
}
HASH_HEADER = "X-Veille-Result-SHA256"


def _answers(model: type[BaseModel]) -> dict[int | str, dict[str, Any]]:
    """200: the result as JSON (`format: json`), or the audited export as a download."""
    exports_doc = {media: {"schema": {"type": "string"}} for media, _ in MEDIA_TYPES.values()}
    return {
        200: {
            "model": model,
            "description": "The result (JSON) or its audited export (csv, geojson, html, pdf)",
            "content": exports_doc,
        },
    }


def _plate_field() -> Any:
    return Field(min_length=1, max_length=32, description="The plate, as printed or normalised.")


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("needs a time zone (Z or an offset)")
    return value


class Analysis(Lawful):
    format: Format = Field(
        "json", description="json (default), or an audited export: csv, geojson, html, pdf."
    )


class PlateAnalysis(Analysis):
    plate: str = Field(min_length=1, max_length=32, description="Plate, or pattern (wildcard).")
    mode: Literal["exact", "wildcard", "lookalike", "edit"] = "exact"
    max_edits: int = Field(1, ge=0, le=2, description="For mode=edit: edits allowed (0–2).")
    country: str | None = Field(None, pattern=r"^[A-Za-z]{2}$")
    limit: int = Field(1000, ge=1, le=10_000)


class Place(BaseModel):
    """One of a circle (lat, lon, radius_m), a GeoJSON polygon, or a camera list."""

    lat: float | None = Field(None, ge=-90, le=90)
    lon: float | None = Field(None, ge=-180, le=180)
    radius_m: float | None = Field(None, gt=0, le=50_000)
    camera_ids: list[str] | None = Field(None, min_length=1, max_length=1000)

    def _circle_given(self) -> bool:
        return self.lat is not None or self.lon is not None or self.radius_m is not None

    def _check_circle(self) -> None:
        if self._circle_given() and None in (self.lat, self.lon, self.radius_m):
            raise ValueError("a circle needs lat, lon and radius_m")


class AreaAnalysis(Analysis, Place):
    polygon: list[list[list[float]]] | None = Field(
        None, description="GeoJSON Polygon coordinates: rings of [lon, lat], closed."
    )

    @model_validator(mode="after")
    def _one_place(self) -> Self:
        self._check_circle()
        given = [self._circle_given(), self.polygon is not None, self.camera_ids is not None]
        if sum(given) != 1:
            raise ValueError("give exactly one of lat/lon/radius_m, polygon or camera_ids")
        if self.polygon is not None and (problem := validate_polygon(self.polygon)):
            raise ValueError(problem)
        return self


class JourneyAnalysis(Analysis):
    plate: str = _plate_field()
    gap_minutes: float = Field(30.0, gt=0, le=7 * 24 * 60, description="A gap: longer unseen.")


class ConvoyAnalysis(Analysis):
    plate: str = _plate_field()
    window_s: float = Field(60.0, gt=0, le=3600, description="± seconds around each passage.")
    min_cameras: int = Field(3, ge=1, le=100, description="Distinct cameras shared at least.")
    limit: int = Field(50, ge=1, le=1000)


class Scene(BaseModel):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    radius_m: float = Field(gt=0, le=50_000)
    start: datetime
    end: datetime

    @field_validator("start", "end")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        return _aware(value)


class ScenesAnalysis(Analysis):
    scenes: list[Scene] = Field(min_length=2, max_length=analyses.MAX_SCENES)
    min_scenes: int = Field(2, ge=1)


class RareVisitorsAnalysis(Analysis, Place):
    baseline_start: datetime
    baseline_end: datetime

    @field_validator("baseline_start", "baseline_end")
    @classmethod
    def _aware_baseline(cls, value: datetime) -> datetime:
        return _aware(value)

    @model_validator(mode="after")
    def _one_place(self) -> Self:
        self._check_circle()
        if self._circle_given() == (self.camera_ids is not None):
            raise ValueError("give either lat/lon/radius_m or camera_ids")
        return self


class CloneAnalysis(Analysis):
    plate: str | None = Field(None, min_length=1, max_length=32, description="None: sweep all.")
    max_speed_kmh: float = Field(180.0, gt=0, le=2000)
    min_distance_m: float = Field(2000.0, ge=0, le=1_000_000)


def _filename(kind: str, case_ref: str | None, at: datetime, ext: str) -> str:
    case = re.sub(r"[^A-Za-z0-9._-]+", "_", case_ref or "nocase")[:64]
    return f"veille-{kind}-{case}-{at:%Y%m%dT%H%M%SZ}.{ext}"


async def _analyse(
    request: Request,
    principal: Principal,
    body: Analysis,
    *,
    kind: str,
    params: dict[str, Any],
    execute: Callable[[ReadAccess], tuple[dict[str, Any], int]],
) -> Response:
    """Run one analysis lawfully, then answer JSON or an audited export of the result."""
    action = "analysis." + kind.replace("-", "_")
    result = await run_lawful(
        request, principal, body, action=action, params=params, execute=execute
    )
    sha256 = exports.result_sha256(result)
    if body.format == "json":
        return json_response({**result, "sha256": sha256}, headers={HASH_HEADER: sha256})
    platform = platform_of(request)
    now = platform.clock()
    query = {**params, "start": body.start.isoformat(), "end": body.end.isoformat()}
    report: dict[str, Any] = {
        "result": result,
        "kind": kind,
        "query": query,
        "purpose": body.purpose,
        "case_ref": body.case_ref,
        "user": f"{principal.username} ({principal.role.value}, {principal.org_id})",
        "generated_at": now,
    }
    content: bytes | str
    if body.format == "csv":
        content = exports.export_csv(result, kind)
    elif body.format == "geojson":
        content = bytes(json_response(exports.export_geojson(result, kind, sha256=sha256)).body)
    elif body.format == "html":
        content = await run_in_threadpool(lambda: exports.report_html(**report))
    else:
        content = await run_in_threadpool(lambda: exports.report_pdf(**report))
    ctx = QueryContext(
        principal=principal,
        purpose=body.purpose,
        case_ref=body.case_ref,
        ip=client_ip(request),
        user_agent=request.headers.get("user-agent"),
    )
    await run_in_threadpool(
        exports.record_export,
        uow_factory=platform.uow,
        ctx=ctx,
        now=now,
        kind=kind,
        fmt=body.format,
        sha256=sha256,
        count=int(result.get("count", 0)),
        params=query,
    )
    media_type, ext = MEDIA_TYPES[body.format]
    name = _filename(kind, body.case_ref, now, ext)
    return Response(
        content=content,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{name}"', HASH_HEADER: sha256},
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
    lookalikes = platform_of(request).read_rules.lookalikes
    params: dict[str, Any] = {"plate": body.plate, "mode": body.mode, "country": body.country}
    if body.mode == "edit":
        params["max_edits"] = body.max_edits
    return await _analyse(
        request,
        principal,
        body,
        kind="plate",
        params=params,
        execute=lambda access: analyses.plate_search(
            access,
            plate=body.plate,
            mode=body.mode,
            max_edits=body.max_edits,
            country=body.country,
            start=body.start,
            end=body.end,
            limit=body.limit,
            lookalikes=lookalikes,
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
    place = body.model_dump(include={"lat", "lon", "radius_m", "polygon", "camera_ids"})
    return await _analyse(
        request,
        principal,
        body,
        kind="area",
        params={k: v for k, v in place.items() if v is not None},
        execute=lambda access: analyses.area_time(access, start=body.start, end=body.end, **place),
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
    return await _analyse(
        request,
        principal,
        body,
        kind="journey",
        params={"plate": body.plate, "gap_minutes": body.gap_minutes},
        execute=lambda access: analyses.journey(
            access, plate=body.plate, start=body.start, end=body.end, gap_minutes=body.gap_minutes
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
    lookalikes = platform_of(request).read_rules.lookalikes
    return await _analyse(
        request,
        principal,
        body,
        kind="convoy",
        params={
            "plate": body.plate,
            "window_s": body.window_s,
            "min_cameras": body.min_cameras,
            "limit": body.limit,
        },
        execute=lambda access: analyses.convoy(
            access,
            plate=body.plate,
            start=body.start,
            end=body.end,
            window_s=body.window_s,
            min_cameras=body.min_cameras,
            limit=body.limit,
            lookalikes=lookalikes,
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
    scenes = [s.model_dump() for s in body.scenes]
    return await _analyse(
        request,
        principal,
        body,
        kind="scenes",
        params={
            "scenes": [
                {**s, "start": s["start"].isoformat(), "end": s["end"].isoformat()} for s in scenes
            ],
            "min_scenes": body.min_scenes,
        },
        execute=lambda access: analyses.several_scenes(
            access, scenes=scenes, start=body.start, end=body.end, min_scenes=body.min_scenes
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
    place = body.model_dump(include={"lat", "lon", "radius_m", "camera_ids"})
    return await _analyse(
        request,
        principal,
        body,
        kind="rare-visitors",
        params={
            **{k: v for k, v in place.items() if v is not None},
            "baseline_start": body.baseline_start.isoformat(),
            "baseline_end": body.baseline_end.isoformat(),
        },
        execute=lambda access: analyses.rare_visitors(
            access,
            start=body.start,
            end=body.end,
            baseline_start=body.baseline_start,
            baseline_end=body.baseline_end,
            **place,
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
    return await _analyse(
        request,
        principal,
        body,
        kind="clones",
        params={
            "plate": body.plate,
            "max_speed_kmh": body.max_speed_kmh,
            "min_distance_m": body.min_distance_m,
        },
        execute=lambda access: analyses.cloned_plates(
            access,
            start=body.start,
            end=body.end,
            plate=body.plate,
            max_speed_kmh=body.max_speed_kmh,
            min_distance_m=body.min_distance_m,
        ),
    )
