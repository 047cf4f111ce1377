"""Answers of the authorization routes (access beyond the open window)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from veille.entrypoints.api.schemas.common import NEXT_CURSOR_DOC


class AreaRead(BaseModel):
    lat: float
    lon: float
    radius_m: float


class ApprovalRead(BaseModel):
    district: str
    by: str | None
    at: str
    reasons: str | None
    conditions: str | None
    expires_at: str


class AuthorizationRead(BaseModel):
    auth_id: int
    case_ref: str
    purpose: str
    justification: str
    district: str | None
    districts: list[str]
    declared_district: str | None
    requested_by: str | None
    requested_at: str
    investigators: list[int]
    plates: list[str]
    camera_ids: list[str]
    area: AreaRead | None
    period_start: str
    period_end: str
    hold_requested: bool
    status: str
    decided_by: str | None
    decided_at: str | None
    decision_reasons: str | None
    conditions: str | None
    expires_at: str | None
    approvals: list[ApprovalRead]


class AuthorizationList(BaseModel):
    """Newest first."""

    authorizations: list[AuthorizationRead]
    next_cursor: str | None = Field(None, description=NEXT_CURSOR_DOC)
