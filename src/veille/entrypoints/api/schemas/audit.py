"""Answers of the audit routes (data-protection officer)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, RootModel


class AuditRecordRead(BaseModel):
    seq: int
    at: str
    actor_username: str
    actor_role: str | None
    actor_user_id: int | None
    actor_org_id: str | None
    actor_ip: str | None
    actor_user_agent: str | None
    action: str
    outcome: str | None
    target: str | None
    params: dict[str, Any] | None
    result_count: int | None
    purpose: str | None
    case_ref: str | None
    prev_hash: str
    hash: str


class AuditRecordList(RootModel[list[AuditRecordRead]]):
    """Oldest first. The next page's cursor is in the `X-Next-Cursor` header (absent on
    the last page), so the answer stays the plain list clients already read."""


class ChainHeadRead(BaseModel):
    seq: int
    hash: str


class CheckpointRead(BaseModel):
    seq: int
    hash: str
    at: str
    age_s: float | None


class ChainProblemRead(BaseModel):
    seq: int | None
    kind: str
    detail: Any = None
    message: str


class AuditVerifyReport(BaseModel):
    ok: bool
    records: int
    head: ChainHeadRead
    anchors_checked: int
    anchor_store: str | None
    key_id: str | None
    newest_checkpoint: CheckpointRead | None
    uncovered: int
    problems: list[ChainProblemRead]
