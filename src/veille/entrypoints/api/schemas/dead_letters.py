"""Answers of the dead-letter routes."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from veille.entrypoints.api.schemas.common import NEXT_CURSOR_DOC


class DeadLetterRead(BaseModel):
    id: int
    received_at: str
    camera_id: str | None
    source: str
    status: str
    errors: list[dict[str, Any]]
    payload: str
    replayed_at: str | None
    replay_result: Any = None


class DeadLetterPage(BaseModel):
    dead_letters: list[DeadLetterRead]
    next_cursor: str | None = Field(None, description=NEXT_CURSOR_DOC)


class ReplayRead(BaseModel):
    dead_letter_id: int
    status: str = Field(description="replayed (else a 409: still_rejected, not_open)")
    stored: int
    duplicate: int
    errors: list[dict[str, str]]


class DeadLetterDiscarded(BaseModel):
    discarded: int
