"""Four eyes over accounts: data access is requested by one administrator and takes effect
only when a second one approves it; nobody changes their own access."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from veille.domain.access import Role
from veille.domain.audit import Actor, AuditEntry
from veille.domain.grants import (
    ACCESS_FIELDS,
    GrantKind,
    GrantStatus,
    UserGrant,
    change_needs_approval,
    creation_needs_approval,
    decision_refusal,
    is_same_person,
)
from veille.domain.times import iso, iso_or_none
from veille.domain.users import User
from veille.service import users as user_service
from veille.service.errors import Conflict, Forbidden, NotFound
from veille.service.ports import UnitOfWork

MAX_REASON = 2000


class SeparationOfDuties(Forbidden):
    """Refused by the rule: nobody changes their own access or decides their own grant."""

    code = "separation_of_duties"


class GrantNotFound(NotFound, LookupError):
    pass


class GrantConflict(Conflict, user_service.UserError):
    """The grant cannot be made or decided as things stand (decided already, name taken)."""


def _reason(text: str | None) -> str | None:
    text = (text or "").strip()
    if len(text) > MAX_REASON:
        raise user_service.UserError(f"reason: at most {MAX_REASON} characters")
    return text or None


def request_user(
    *,
    uow: UnitOfWork,
    username: str,
    password: str,
    role: Role,
    org_id: str,
    now: datetime,
    actor: Actor,
    display_name: str | None = None,
    designated: bool = False,
    training_expires: datetime | None = None,
    reason: str | None = None,
) -> User | UserGrant:
    """A new account: created at once without data access, else a pending grant that
    holds it (password hash included) until a second administrator decides."""
    if not creation_needs_approval(role=role, designated=designated):
        return user_service.create_user(
            uow=uow,
            username=username,
            password=password,
            role=role,
            org_id=org_id,
            now=now,
            display_name=display_name,
            designated=designated,
            training_expires=training_expires,
            actor=actor,
        )
    username = user_service.valid_username(username)
    user_service.check_password_strength(password)
    password_hash = user_service.hash_password(password)  # before the write lock
    changes: dict[str, Any] = {
        "role": role.value,
        "org_id": org_id,
        "designated": designated,
        "training_expires": training_expires.isoformat() if training_expires else None,
        "display_name": display_name,
    }
    grant = UserGrant(
        grant_id=0,
        kind=GrantKind.CREATE,
        username=username,
        user_id=None,
        changes=changes,
        status=GrantStatus.PENDING,
        requested_by=actor,
        requested_at=now,
        request_reason=_reason(reason),
        password_hash=password_hash,
    )
    with uow:
        try:
            user_service.check_available(uow, username=username, org_id=org_id)
        except user_service.NameReserved as exc:
            raise GrantConflict(str(exc)) from None
        grant = replace(grant, grant_id=uow.users.add_grant(grant))
        _audit_request(uow, grant)
        uow.commit()
    return grant


def change_user(
    *,
    uow: UnitOfWork,
    user_id: int,
    now: datetime,
    actor: Actor,
    role: Role | None = None,
    org_id: str | None = None,
    designated: bool | None = None,
    training_expires: datetime | None = None,
    clear_training: bool = False,
    display_name: str | None = None,
    password: str | None = None,
    reset_totp: bool = False,
    unlock: bool = False,
    reason: str | None = None,
) -> tuple[User, UserGrant | None]:
    """Change an account. What narrows access or carries none applies at once; a change
    that widens it (role, designation, organisation) becomes a pending grant, returned
    beside the account as it now stands."""
    asked = {
        "role": role,
        "org_id": org_id,
        "designated": designated,
        "training_expires": training_expires,
        "clear_training": clear_training or None,
    }
    if password is not None:
        user_service.check_password_strength(password)
    password_hash = user_service.hash_password(password) if password is not None else None
    with uow:
        user = uow.users.get(user_id)
        if user is None or not user.active:
            raise user_service.UserNotFound(f"no user {user_id}")
        if is_same_person(actor, user_id=user.user_id, username=user.username) and any(
            asked[f] is not None for f in ACCESS_FIELDS
        ):
            raise SeparationOfDuties(
                "nobody changes their own role, designation, training or organisation:"
                " ask another administrator"
            )
        grant = None
        if change_needs_approval(user, role=role, org_id=org_id, designated=designated):
            wanted: dict[str, str | bool | None] = {
                "role": role.value if role is not None and role is not user.role else None,
                "org_id": org_id if org_id is not None and org_id != user.org_id else None,
                "designated": designated if designated not in (None, user.designated) else None,
            }
            if isinstance(wanted["org_id"], str) and uow.users.get_org(wanted["org_id"]) is None:
                raise user_service.UserError(f"organisation {org_id!r} does not exist")
            pending = uow.users.pending_grant_for(user.username)
            if pending is not None:
                raise GrantConflict(
                    f"grant {pending.grant_id} for {user.username} is pending: decide it first"
                )
            grant = UserGrant(
                grant_id=0,
                kind=GrantKind.CHANGE,
                username=user.username,
                user_id=user.user_id,
                changes={k: v for k, v in wanted.items() if v is not None},
                status=GrantStatus.PENDING,
                requested_by=actor,
                requested_at=now,
                request_reason=_reason(reason),
            )
            grant = replace(grant, grant_id=uow.users.add_grant(grant))
            _audit_request(uow, grant)
            role = org_id = designated = None  # they wait for the decision
        user, changes = user_service.apply_changes(
            uow,
            user,
            now=now,
            role=role,
            org_id=org_id,
            designated=designated,
            training_expires=training_expires,
            clear_training=clear_training,
            display_name=display_name,
            password_hash=password_hash,
            reset_totp=reset_totp,
            unlock=unlock,
        )
        if changes or grant is None:
            uow.users.update(user)
            uow.audit.append(
                AuditEntry(
                    at=now, actor=actor, action="user.update", target=user.username, params=changes
                )
            )
        uow.commit()
    return user, grant


def decide_grant(
    *,
    uow: UnitOfWork,
    grant_id: int,
    approve: bool,
    actor: Actor,
    now: datetime,
    reason: str | None = None,
) -> UserGrant:
    """A second administrator approves (the access takes effect now) or refuses (with a
    reason). The one who asked, and the account's holder, cannot decide."""
    reason = _reason(reason)
    if not approve and not reason:
        raise user_service.UserError("reason: a refusal says why")
    with uow:
        grant = uow.users.get_grant(grant_id)
        if grant is None:
            raise GrantNotFound(f"no grant {grant_id}")
        if grant.status is not GrantStatus.PENDING:
            raise GrantConflict(f"grant {grant_id} is {grant.status.value} already")
        why = decision_refusal(grant, actor)
        if why:
            raise SeparationOfDuties(why)
        user_id = grant.user_id
        if approve:
            user_id = _apply(uow, grant, actor=actor, now=now).user_id
        decided = replace(
            grant,
            status=GrantStatus.APPROVED if approve else GrantStatus.REFUSED,
            user_id=user_id,
            decided_by=actor,
            decided_at=now,
            decision_reason=reason,
            password_hash=None,  # kept no longer than needed
        )
        uow.users.update_grant(decided)
        uow.audit.append(
            AuditEntry(
                at=now,
                actor=actor,
                action="user_grant.approve" if approve else "user_grant.refuse",
                target=grant.username,
                params={
                    "grant_id": grant.grant_id,
                    "kind": grant.kind.value,
                    "changes": grant.changes,
                    "requested_by": grant.requested_by.username,
                    "requested_at": grant.requested_at.isoformat(),
                    "reason": reason,
                },
            )
        )
        uow.commit()
    return decided


def _apply(uow: UnitOfWork, grant: UserGrant, *, actor: Actor, now: datetime) -> User:
    """Inside the decision's unit of work: make the account or change it as granted."""
    c = grant.changes
    if grant.kind is GrantKind.CREATE:
        if uow.users.by_username(grant.username) is not None:
            raise GrantConflict(f"username {grant.username!r} is taken meanwhile")
        if uow.users.get_org(c["org_id"]) is None:
            raise GrantConflict(f"organisation {c['org_id']!r} no longer exists")
        assert grant.password_hash is not None
        expires = c.get("training_expires")
        return user_service.insert_user(
            uow,
            username=grant.username,
            password_hash=grant.password_hash,
            role=Role(c["role"]),
            org_id=c["org_id"],
            now=now,
            actor=actor,
            display_name=c.get("display_name"),
            designated=bool(c.get("designated")),
            training_expires=datetime.fromisoformat(expires) if expires else None,
            audit={"grant_id": grant.grant_id, "requested_by": grant.requested_by.username},
        )
    user = uow.users.get(grant.user_id or 0)
    if user is None or not user.active:
        raise GrantConflict(f"the account {grant.username!r} was deleted meanwhile")
    try:
        user, changes = user_service.apply_changes(
            uow,
            user,
            now=now,
            role=Role(c["role"]) if "role" in c else None,
            org_id=c.get("org_id"),
            designated=c.get("designated"),
        )
    except user_service.UserError as exc:
        raise GrantConflict(str(exc)) from None
    uow.users.update(user)
    uow.audit.append(
        AuditEntry(
            at=now,
            actor=actor,
            action="user.update",
            target=user.username,
            params={**changes, "grant_id": grant.grant_id},
        )
    )
    return user


def _audit_request(uow: UnitOfWork, grant: UserGrant) -> None:
    uow.audit.append(
        AuditEntry(
            at=grant.requested_at,
            actor=grant.requested_by,
            action="user_grant.request",
            target=grant.username,
            params={
                "grant_id": grant.grant_id,
                "kind": grant.kind.value,
                "changes": grant.changes,
                "reason": grant.request_reason,
            },
        )
    )


def page_grants(
    *,
    uow: UnitOfWork,
    status: GrantStatus | None = None,
    after: int | None = None,
    limit: int | None = None,
) -> list[UserGrant]:
    """Grants in request (id) order after the id `after`, at most `limit` (None: all)."""
    with uow:
        return uow.users.grants_page(status=status, after=after, limit=limit)


def grant_report(
    *,
    uow: UnitOfWork,
    read_uow: UnitOfWork,
    actor: Actor,
    now: datetime,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[UserGrant]:
    """Every grant requested in [since, until), for the data-protection officer. The
    look-up is recorded (`user_grant.report`) before anything is handed out: read from
    `read_uow` (a snapshot), then the record appended in a short write (decision 0005)."""
    with read_uow:
        grants = read_uow.users.list_grants(since=since, until=until, limit=100_000)
    with uow:
        uow.audit.append(
            AuditEntry(
                at=now,
                actor=actor,
                action="user_grant.report",
                params={
                    "since": since.isoformat() if since else None,
                    "until": until.isoformat() if until else None,
                },
                result_count=len(grants),
            )
        )
        uow.commit()
    return grants


def _actor_json(actor: Actor | None) -> dict[str, Any] | None:
    if actor is None:
        return None
    return {
        "username": actor.username,
        "role": actor.role,
        "user_id": actor.user_id,
        "org_id": actor.org_id,
    }


def grant_json(grant: UserGrant) -> dict[str, Any]:
    """A grant as the API shows it; the pending account's password hash never leaves."""
    return {
        "grant_id": grant.grant_id,
        "kind": grant.kind.value,
        "username": grant.username,
        "user_id": grant.user_id,
        "changes": grant.changes,
        "status": grant.status.value,
        "requested_by": _actor_json(grant.requested_by),
        "requested_at": iso(grant.requested_at),
        "request_reason": grant.request_reason,
        "decided_by": _actor_json(grant.decided_by),
        "decided_at": iso_or_none(grant.decided_at),
        "decision_reason": grant.decision_reason,
    }
