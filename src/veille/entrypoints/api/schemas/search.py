"""Answers of the searches and analyses: passages, with what every result says of itself."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class PassageImageRead(BaseModel):
    kind: str
    sha256: str | None
    uri: str | None
    content_type: str | None


class PassageRead(BaseModel):
    read_id: str
    plate: str
    plate_raw: str | None
    country: str | None
    captured_at: str
    camera_id: str
    camera_name: str | None
    zone: str | None
    lat: float | None
    lon: float | None
    confidence: float | None
    direction: str | None
    images: list[PassageImageRead]


class NotOpenRead(BaseModel):
    start: str
    end: str


class PeriodClippedRead(BaseModel):
    """How the asked period was cut to what the caller may see."""

    requested_start: str
    requested_end: str
    visible_from: str | None
    not_open: list[NotOpenRead]


class Honest(BaseModel):
    """What every capped result says about itself."""

    count: int
    truncated: bool = Field(description="A cap left results out.")
    period_clipped: PeriodClippedRead | None = Field(
        None, description="The period as cut to what the caller may see; null when not cut."
    )


class PlateSearchRead(Honest):
    """The answer of the plate analysis, with the plate it searched for."""

    plate: str = Field(description="The plate as normalised (letters and digits).")
    analysis: str
    mode: str = Field(description="exact, or lookalike when `lookalike: true`")
    query: str
    limits_reached: list[str]
    plates: list[str]
    passages: list[PassageRead]


class CameraSearchRead(Honest):
    camera_id: str
    passages: list[PassageRead]


class AnalysisRead(Honest):
    analysis: str
    limits_reached: list[str] = Field(description="Which caps were reached, by parameter.")
    sha256: str = Field(description="SHA-256 of the result, also in X-Veille-Result-SHA256.")


class PlateAnalysisRead(AnalysisRead):
    mode: str
    query: str
    max_edits: int | None
    country: str | None
    plates: list[str]
    passages: list[PassageRead]


class AreaAnalysisRead(AnalysisRead):
    place: dict[str, Any]
    cameras: list[str]
    reads: int
    vehicles: list[dict[str, Any]]


class JourneyAnalysisRead(AnalysisRead):
    plate: str
    gap_minutes: float
    cameras: list[str]
    direction: str | None
    trips: int
    distance_m: float
    passages: list[dict[str, Any]]
    legs: list[dict[str, Any]]
    gaps: list[dict[str, Any]]
    geojson: dict[str, Any]


class ConvoyAnalysisRead(AnalysisRead):
    plate: str
    window_s: float
    min_cameras: int
    target_passages: int
    target_cameras: list[str]
    target: list[dict[str, Any]]
    candidates: int
    companions: list[dict[str, Any]]


class ScenesAnalysisRead(AnalysisRead):
    min_scenes: int
    scenes: list[dict[str, Any]]
    plates: list[dict[str, Any]]


class RareVisitorsAnalysisRead(AnalysisRead):
    place: dict[str, Any]
    cameras: list[str]
    baseline: dict[str, Any]
    window_plates: int
    visitors: list[dict[str, Any]]


class CloneAnalysisRead(AnalysisRead):
    plate: str | None
    max_speed_kmh: float
    min_distance_m: float
    plates_checked: int
    findings: list[dict[str, Any]]
