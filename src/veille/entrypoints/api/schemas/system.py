"""Answers of the system routes: health and ingest statistics."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class WriterHealthRead(BaseModel):
    alive: bool
    stuck: bool
    last_commit_s_ago: float | None
    waiting_requests: int
    stalled_s: float


class HealthRead(BaseModel):
    status: str  # ok | stuck | starting
    writer: WriterHealthRead | None = None


class IngestStatsRead(BaseModel):
    stored: int
    duplicate: int
    rejected: int
    commits: int
    requests: int
    refused_busy: int
    refused_unauthenticated: int
    refused_not_posting: int
    uptime_s: float
    writer_busy_s: float
    writer_busy_share_1m: float
    stored_per_s_1m: float
    # commits since start by reads stored, power-of-two upper bounds: {"4096": 7} is 7
    # commits of 2,049 to 4,096 reads ("1": commits of 0 or 1)
    commit_reads_le: dict[str, int]
    # the same commits by how long each kept the writer, power-of-two milliseconds:
    # {"16": 5} is 5 commits of 8 to 16 ms ("1": 1 ms or less)
    commit_ms_le: dict[str, int]
    writer_queued_reads: int
    live_subscribers: int  # open live alert streams
    live_events_published: int
    live_events_dropped: int  # missed by slow subscribers (each told with a gap event)
    live_overflows: int


class OpenApiDocument(BaseModel):
    """The OpenAPI 3.1 document itself."""

    model_config = ConfigDict(extra="allow")

    openapi: str
    info: dict[str, Any]
    paths: dict[str, Any]
    components: dict[str, Any]
