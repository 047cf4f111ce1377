"""Answers of the account routes: organisations, users and the grants they wait for."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from veille.entrypoints.api.schemas.auth import ScopeRead
from veille.entrypoints.api.schemas.common import NEXT_CURSOR_DOC


class OrganisationRead(BaseModel):
    org_id: str
    name: str
    kind: str
    scope: ScopeRead


class OrganisationList(BaseModel):
    organisations: list[OrganisationRead]


class UserRead(BaseModel):
    user_id: int
    username: str
    display_name: str | None
    role: str
    org_id: str
    designated: bool
    training_expires: str | None
    totp: str = Field(description="active or none")
    locked_until: str | None
    created_at: str
    deleted_at: str | None


class UserPage(BaseModel):
    users: list[UserRead]
    next_cursor: str | None = Field(None, description=NEXT_CURSOR_DOC)


class GrantActorRead(BaseModel):
    username: str
    role: str
    user_id: int | None
    org_id: str | None


class GrantRead(BaseModel):
    grant_id: int
    kind: str
    username: str
    user_id: int | None
    changes: dict[str, Any]
    status: str
    requested_by: GrantActorRead | None
    requested_at: str
    request_reason: str | None
    decided_by: GrantActorRead | None
    decided_at: str | None
    decision_reason: str | None


class GrantPending(BaseModel):
    """202: the account waits for a second administrator."""

    grant: GrantRead


class UserChangePending(BaseModel):
    """202: applied except what widens access, which waits for a second administrator."""

    user: UserRead
    grant: GrantRead


class GrantList(BaseModel):
    grants: list[GrantRead]


class GrantPage(BaseModel):
    grants: list[GrantRead]
    next_cursor: str | None = Field(None, description=NEXT_CURSOR_DOC)
