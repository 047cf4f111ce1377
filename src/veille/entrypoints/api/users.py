"""Account administration: organisations and users (administrators only)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field, ValidationInfo, field_validator
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from veille.domain.access import Permission, Principal, Role, Scope, ScopeKind
from veille.domain.times import iso, iso_or_none
from veille.domain.users import Organisation, User
from veille.entrypoints.api.params import RowId
from veille.entrypoints.api.schemas.auth import TotpSecretRead
from veille.entrypoints.api.schemas.common import Cursor, decode_cursor, errors, split_page
from veille.entrypoints.api.schemas.users import (
    GrantPending,
    OrganisationList,
    OrganisationRead,
    UserChangePending,
    UserPage,
    UserRead,
)
from veille.entrypoints.api.security import actor_of, json_response, platform_of, requires
from veille.service import grants as grant_service
from veille.service import users as user_service
from veille.service.commands import users as commands

router = APIRouter(prefix="/api/v1", tags=["accounts"])


class OrganisationIn(BaseModel):
    org_id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{1,63}$")
    name: str = Field(min_length=2, max_length=200)
    kind: str = Field(description="local_zone, federal, judicial or other")
    scope_kind: ScopeKind
    scope_value: str | None = Field(
        None, description="Zone, province or district name.", validate_default=True
    )

    # the service checks the same; here a mistake is a 422 naming its field
    @field_validator("kind")
    @classmethod
    def _known_kind(cls, kind: str) -> str:
        if kind not in user_service.ORG_KINDS:
            raise ValueError(f"must be one of {sorted(user_service.ORG_KINDS)}")
        return kind

    @field_validator("scope_value")
    @classmethod
    def _scope_named(cls, value: str | None, info: ValidationInfo) -> str | None:
        kind = info.data.get("scope_kind")
        if kind is not None and kind is not ScopeKind.NATIONAL and not (value or "").strip():
            raise ValueError("a zone, province or district scope needs its name")
        return value


class UserIn(BaseModel):
    username: str = Field(max_length=64)
    password: str = Field(min_length=12, max_length=1024)
    role: Role
    org_id: str
    display_name: str | None = None
    designated: bool = False
    training_expires: datetime | None = None
    reason: str | None = Field(
        None, max_length=2000, description="Why the account needs this access (four eyes)."
    )


class UserPatch(BaseModel):
    role: Role | None = None
    org_id: str | None = None
    designated: bool | None = None
    training_expires: datetime | None = None
    clear_training: bool = False
    display_name: str | None = None
    password: str | None = Field(None, min_length=12, max_length=1024)
    reset_totp: bool = False
    unlock: bool = False
    reason: str | None = Field(
        None, max_length=2000, description="Why the account needs this access (four eyes)."
    )


def org_json(org: Organisation) -> dict[str, Any]:
    return {
        "org_id": org.org_id,
        "name": org.name,
        "kind": org.kind,
        "scope": {"kind": org.scope.kind.value, "value": org.scope.value},
    }


def user_json(user: User) -> dict[str, Any]:
    return {
        "user_id": user.user_id,
        "username": user.username,
        "display_name": user.display_name,
        "role": user.role.value,
        "org_id": user.org_id,
        "designated": user.designated,
        "training_expires": iso_or_none(user.training_expires),
        "totp": "active" if user_service.active_totp_secret(user) else "none",
        "locked_until": iso_or_none(user.locked_until),
        "created_at": iso(user.created_at),
        "deleted_at": iso_or_none(user.deleted_at),
    }


@router.get("/organisations", summary="List organisations", response_model=OrganisationList)
def list_orgs(
    request: Request, _: Any = Depends(requires(Permission.USERS_MANAGE))
) -> dict[str, Any]:
    orgs = platform_of(request).bus.handle(commands.Organisations())
    return {"organisations": [org_json(o) for o in orgs]}


@router.post(
    "/organisations",
    summary="Create an organisation (zone, federal, judicial)",
    response_model=OrganisationRead,
    status_code=201,
    responses=errors(409),
)
def create_org(
    body: OrganisationIn,
    request: Request,
    principal: Principal = Depends(requires(Permission.USERS_MANAGE)),
) -> dict[str, Any]:
    org = platform_of(request).bus.handle(
        commands.CreateOrganisation(
            org_id=body.org_id,
            name=body.name,
            kind=body.kind,
            scope=Scope(body.scope_kind, body.scope_value),
            actor=actor_of(request, principal),
        )
    )
    return org_json(org)


@router.get("/users", summary="List users", response_model=UserPage)
def list_users(
    request: Request,
    cursor: Cursor = None,
    limit: int | None = Query(
        None, ge=1, le=10_000, description="Users per page; without it, every user."
    ),
    _: Any = Depends(requires(Permission.USERS_MANAGE)),
) -> UserPage:
    """Accounts in id order (closed ones too), a page at a time when `limit` is given."""
    users, next_cursor = split_page(
        platform_of(request).bus.handle(
            commands.UsersPage(
                after=decode_cursor(cursor, int), limit=None if limit is None else limit + 1
            )
        ),
        limit,
        key=lambda u: u.user_id,
    )
    return UserPage.model_validate(
        {"users": [user_json(u) for u in users], "next_cursor": next_cursor}
    )


@router.post(
    "/users",
    summary="Create a user (data access waits for a second administrator)",
    response_model=UserRead,
    status_code=201,
    responses={
        202: {"model": GrantPending, "description": "Waits for a second administrator"},
        **errors(409, 422),
    },
)
async def create_user(
    body: UserIn,
    request: Request,
    principal: Principal = Depends(requires(Permission.USERS_MANAGE)),
) -> Response:
    """The password is hashed with argon2id and never returned or logged.

    An account without data access (hotlist manager, not designated) is created at once
    (201). One with a data-access or administrator role, or designated, is a pending
    grant (202, `{"grant": …}`): it exists only once another administrator approves it
    (`POST /api/v1/user-grants/{grant_id}/approve`). A name taken or waiting for a
    decision is 409; a weak password or a bad name 422 `invalid_user`."""
    platform = platform_of(request)
    made = await run_in_threadpool(
        platform.bus.handle,
        commands.CreateUser(
            username=body.username,
            password=body.password,
            role=body.role,
            org_id=body.org_id,
            display_name=body.display_name,
            designated=body.designated,
            training_expires=body.training_expires,
            actor=actor_of(request, principal),
            reason=body.reason,
        ),
    )
    if isinstance(made, User):
        return json_response(user_json(made), status=201)
    return json_response({"grant": grant_service.grant_json(made)}, status=202)


@router.patch(
    "/users/{user_id}",
    summary="Change a user's role, designation, training …",
    response_model=UserRead,
    responses={
        202: {"model": UserChangePending, "description": "Partly waits for a second administrator"},
        **errors(403, 404, 409, 422),
    },
)
async def update_user(
    user_id: RowId,
    body: UserPatch,
    request: Request,
    principal: Principal = Depends(requires(Permission.USERS_MANAGE)),
) -> Response:
    """Nobody changes their own role, designation, training or organisation (403
    `separation_of_duties`). A change that widens data access (a data-access or
    administrator role, a designation, a new organisation) waits for a second
    administrator: the answer is 202 with `{"user": …, "grant": …}`, the rest of the
    change applied at once. Anything else applies at once (200, the user). An unknown
    or closed account is 404."""
    platform = platform_of(request)
    user, grant = await run_in_threadpool(
        platform.bus.handle,
        commands.UpdateUser(
            user_id=user_id, actor=actor_of(request, principal), **body.model_dump()
        ),
    )
    if grant is None:
        return json_response(user_json(user))
    return json_response(
        {"user": user_json(user), "grant": grant_service.grant_json(grant)}, status=202
    )


@router.delete(
    "/users/{user_id}",
    summary="Delete a user: every session stops at once",
    response_model=UserRead,
    responses=errors(404, 409),
)
def delete_user(
    user_id: RowId,
    request: Request,
    principal: Principal = Depends(requires(Permission.USERS_MANAGE)),
) -> dict[str, Any]:
    """An unknown or closed account is 404; the last administrator's, 409."""
    user = platform_of(request).bus.handle(
        commands.DeleteUser(user_id=user_id, actor=actor_of(request, principal))
    )
    return user_json(user)


@router.post(
    "/users/{user_id}/totp",
    summary="Enrol a user's TOTP second factor",
    response_model=TotpSecretRead,
    responses=errors(404),
)
def enrol_user_totp(
    user_id: RowId,
    request: Request,
    principal: Principal = Depends(requires(Permission.USERS_MANAGE)),
) -> dict[str, Any]:
    """For roles that must use a second factor: the secret is handed to the user, who
    confirms it with a code (`POST /api/v1/auth/totp/confirm`) or signs in with it."""
    enrolment = platform_of(request).bus.handle(
        commands.EnrolTotp(
            user_id=user_id, actor=actor_of(request, principal), by_administrator=True
        )
    )
    return {"secret": enrolment.secret, "otpauth_uri": enrolment.otpauth_uri}
