"""Answer of `POST /api/v1/reads`: one result per posted item, in order."""

from __future__ import annotations

from pydantic import BaseModel, Field


class FieldErrorRead(BaseModel):
    field: str
    reason: str


class ItemResultRead(BaseModel):
    index: int = Field(description="Position of the item in the request.")
    status: str = Field(description="stored, duplicate or rejected")
    read_id: str | None = None
    errors: list[FieldErrorRead] | None = None


class IngestRead(BaseModel):
    results: list[ItemResultRead]
    stored: int
    duplicate: int
    rejected: int
