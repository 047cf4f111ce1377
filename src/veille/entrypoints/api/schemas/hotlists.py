"""Answers of the hotlist routes."""

from __future__ import annotations

from pydantic import BaseModel, Field

from veille.entrypoints.api.schemas.cameras import ImportProblemRead
from veille.entrypoints.api.schemas.common import NEXT_CURSOR_DOC


class HotlistRead(BaseModel):
    list_id: str
    name: str
    category: str
    owner_org: str
    max_edits: int
    lookalike: bool
    max_wildcards: int
    default_priority: int


class HotlistSummary(HotlistRead):
    entries: int = Field(description="How many entries the list holds.")


class HotlistList(BaseModel):
    hotlists: list[HotlistSummary]


class EntryRead(BaseModel):
    entry_id: str
    list_id: str
    plate: str
    country: str | None
    priority: int
    valid_from: str | None
    valid_until: str | None
    source_ref: str | None
    instructions: str | None
    covert: bool


class EntryPage(BaseModel):
    """A list's entries in id order."""

    entries: list[EntryRead]
    next_cursor: str | None = Field(None, description=NEXT_CURSOR_DOC)


class Deleted(BaseModel):
    deleted: str


class EntryImportReport(BaseModel):
    list_id: str
    applied: bool
    added: int
    changed: int
    removed: int
    unchanged: int
    problems: list[ImportProblemRead]
