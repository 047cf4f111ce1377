"""Answers of the camera registry routes."""

from __future__ import annotations

from pydantic import BaseModel, Field

from veille.entrypoints.api.schemas.common import NEXT_CURSOR_DOC


class CameraRead(BaseModel):
    camera_id: str
    name: str
    lat: float
    lon: float
    heading: float | None
    zone: str
    province: str
    vendor: str
    protocol: str = Field(
        description="The format the camera posts in, which chooses the decoder of its reads:"
        " `veille-json` (Veille's native JSON) unless the import names another protocol"
        " this server has a decoder for; any other is refused at import."
    )
    phase: str
    created_at: str
    retired_at: str | None


class CameraPage(BaseModel):
    cameras: list[CameraRead]
    count: int = Field(description="Cameras on this page.")
    next_cursor: str | None = Field(None, description=NEXT_CURSOR_DOC)


class ImportProblemRead(BaseModel):
    where: str
    field: str
    reason: str


class CameraImportReport(BaseModel):
    applied: bool
    created: int
    updated: int
    unchanged: int
    problems: list[ImportProblemRead]
    tokens: dict[str, str] = Field(
        default_factory=dict, description="Ingest token of each new camera, shown once."
    )


class CameraTokenRead(BaseModel):
    camera_id: str
    token: str = Field(description="Shown once; the previous token stops working.")
