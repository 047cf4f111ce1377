"""Accounts and sign-in: argon2id passwords, lock-out, API tokens, principals."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from veille.domain.access import Principal, Role, Scope
from veille.domain.audit import Actor, AuditEntry, system_actor
from veille.domain.grants import (
    GRANT_FIELDS,
    GrantKind,
    GrantStatus,
    UserGrant,
    change_needs_approval,
    creation_needs_approval,
)
from veille.domain.users import FEDERAL, Organisation, User
from veille.service.errors import Conflict, Invalid, NotFound, Problem, VeilleError
from veille.service.ports import UnitOfWork

# argon2-cffi's PasswordHasher uses argon2id with RFC 9106 low-memory parameters.
_HASHER = PasswordHasher()
USER_TOKEN_PREFIX = "vu_"
MIN_PASSWORD_LENGTH = 12
# A fixed hash, verified against when the user does not exist, so that sign-in takes
# the same time whether or not the name is known.
_DUMMY_HASH = _HASHER.hash("veille-timing-equaliser")


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class UserError(Invalid, ValueError):
    pass


class UserNotFound(NotFound, UserError):
    """No such user, or the account is closed already (the API answers 404)."""


class OrganisationExists(Conflict, UserError):
    """An organisation with this id exists already (a conflict, not bad input)."""


class AdministratorExists(Conflict, UserError):
    """The first administrator was made already: they create the other accounts."""


class LastAdministrator(Conflict, UserError):
    """The last administrator's account cannot be closed: nobody could manage accounts."""


class TotpNotConfirmed(UserError):
    """No enrolment is pending, or the code does not match it."""

    code = "totp_not_confirmed"


class SignInRefused(VeilleError):
    """Sign-in failed; the message never says whether the user exists.

    Not one of the five kinds: the caller is nobody yet. The sign-in routes answer it
    `401 sign_in_refused`; the command line, like any refusal, exit code 1.
    """

    code = "sign_in_refused"


class SignInFailure(Enum):
    """Why an attempt was refused, as the audit record says it. Only the failures that a
    guesser causes (a wrong password or code) count towards the lock-out."""

    UNKNOWN_USER = "unknown or deleted user"
    LOCKED = "account locked"
    WRONG_PASSWORD = "wrong password"
    NO_SECOND_FACTOR = "second factor required, none enrolled"
    WRONG_TOTP = "missing or wrong TOTP code"


# One message for every refusal (unknown user, wrong password or code, lock-out), so that
# an attacker learns nothing about which usernames exist.
REFUSED = "wrong username, password or one-time code, or the account is locked for a while"


@dataclass(frozen=True)
class LockoutPolicy:
    max_failures: int = 5
    lock_for: timedelta = timedelta(minutes=15)


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"password must have at least {MIN_PASSWORD_LENGTH} characters")


def ensure_organisation(*, uow: UnitOfWork, org: Organisation) -> Organisation:
    with uow:
        existing = uow.users.get_org(org.org_id)
        if existing is None:
            uow.users.add_org(org)
            uow.commit()
            return org
    return existing


def valid_username(username: str) -> str:
    """The username as stored (lower case), or UserError."""
    username = username.strip().lower()
    if (
        not username
        or len(username) > 64
        or not username.replace(".", "").replace("-", "").replace("_", "").isalnum()
    ):
        raise UserError("username: 1–64 letters, digits, '.', '-' or '_'")
    return username


class NameReserved(Conflict, UserError):
    """A creation of this username waits for a second administrator."""


def check_available(uow: UnitOfWork, *, username: str, org_id: str) -> None:
    """Inside an open unit of work: the name is free and the organisation exists."""
    if uow.users.get_org(org_id) is None:
        raise UserError(f"organisation {org_id!r} does not exist")
    if uow.users.by_username(username) is not None:
        raise UserError(f"username {username!r} is taken")
    pending = uow.users.pending_grant_for(username)
    if pending is not None and pending.kind is GrantKind.CREATE:
        raise NameReserved(
            f"username {username!r} is requested already (grant {pending.grant_id} is pending)"
        )


def insert_user(
    uow: UnitOfWork,
    *,
    username: str,
    password_hash: str,
    role: Role,
    org_id: str,
    now: datetime,
    actor: Actor,
    display_name: str | None = None,
    designated: bool = False,
    training_expires: datetime | None = None,
    audit: dict[str, object] | None = None,
) -> User:
    """Inside an open unit of work: add the account and its `user.create` record."""
    user = User(
        user_id=0,
        username=username,
        display_name=display_name or username,
        password_hash=password_hash,
        role=role,
        org_id=org_id,
        designated=designated,
        training_expires=training_expires,
        totp_secret=None,
        failed_logins=0,
        locked_until=None,
        created_at=now,
    )
    user_id = uow.users.add(user)
    uow.audit.append(
        AuditEntry(
            at=now,
            actor=actor,
            action="user.create",
            target=username,
            params={
                "user_id": user_id,
                "role": role.value,
                "org_id": org_id,
                "designated": designated,
                "training_expires": training_expires.isoformat() if training_expires else None,
                **(audit or {}),
            },
        )
    )
    return replace(user, user_id=user_id)


def record_bootstrap_grant(
    uow: UnitOfWork,
    *,
    kind: GrantKind,
    user: User,
    changes: dict[str, object],
    actor: Actor,
    now: datetime,
) -> int:
    """Inside an open unit of work: note a grant made through a privileged path (no
    second administrator), in the audit log and in the data-protection officer's report."""
    grant_id = uow.users.add_grant(
        UserGrant(
            grant_id=0,
            kind=kind,
            username=user.username,
            user_id=user.user_id,
            changes=changes,
            status=GrantStatus.BOOTSTRAP,
            requested_by=actor,
            requested_at=now,
            request_reason=PRIVILEGED_PATH,
            decided_at=now,
        )
    )
    uow.audit.append(
        AuditEntry(
            at=now,
            actor=actor,
            action="user_grant.bootstrap",
            target=user.username,
            params={
                "grant_id": grant_id,
                "kind": kind.value,
                "changes": changes,
                "path": PRIVILEGED_PATH,
            },
        )
    )
    return grant_id


PRIVILEGED_PATH = "privileged path (server-side set-up), no second administrator"


def create_user(
    *,
    uow: UnitOfWork,
    username: str,
    password: str,
    role: Role,
    org_id: str,
    now: datetime,
    display_name: str | None = None,
    designated: bool = False,
    training_expires: datetime | None = None,
    actor: Actor | None = None,
) -> User:
    """Create an account at once: the privileged path of server-side set-up (the first
    administrator, the main job's demo accounts). People go through
    `service.grants.request_user`, where data access waits for a second administrator;
    here such a grant is applied and recorded as a bootstrap grant."""
    username = valid_username(username)
    check_password_strength(password)
    password_hash = hash_password(password)  # before the write lock: argon2 is slow
    actor = actor or system_actor("setup")
    with uow:
        check_available(uow, username=username, org_id=org_id)
        user = insert_user(
            uow,
            username=username,
            password_hash=password_hash,
            role=role,
            org_id=org_id,
            now=now,
            actor=actor,
            display_name=display_name,
            designated=designated,
            training_expires=training_expires,
        )
        if creation_needs_approval(role=role, designated=designated):
            record_bootstrap_grant(
                uow,
                kind=GrantKind.CREATE,
                user=user,
                changes={"role": role.value, "org_id": org_id, "designated": designated},
                actor=actor,
                now=now,
            )
        uow.commit()
    return user


def create_first_admin(
    *, uow: UnitOfWork, username: str, password: str, now: datetime, actor: Actor | None = None
) -> User:
    """Create the first administrator of a fresh install (refused once one exists)."""
    ensure_organisation(uow=uow, org=replace(FEDERAL, created_at=now))
    with uow:
        if uow.users.count_admins():
            raise AdministratorExists(
                "an administrator already exists; ask them to create accounts"
            )
    # The bootstrap: with no administrator yet there is no second pair of eyes; the
    # account is recorded as a bootstrap grant by whoever ran it at the server.
    return create_user(
        uow=uow,
        username=username,
        password=password,
        role=Role.ADMINISTRATOR,
        org_id=FEDERAL.org_id,
        now=now,
        display_name="Administrator",
        actor=actor or system_actor("setup"),
    )


def issue_token(
    *,
    uow: UnitOfWork,
    user_id: int,
    now: datetime,
    name: str = "api",
    kind: str = "api",
    ttl: timedelta | None = timedelta(days=90),
) -> tuple[str, str | None]:
    """A new bearer token (and, for browser sessions, its CSRF token); shown once."""
    token = USER_TOKEN_PREFIX + secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(24) if kind == "session" else None
    with uow:
        uow.users.add_token(
            token_hash=hash_token(token),
            user_id=user_id,
            kind=kind,
            name=name,
            created_at=now,
            expires_at=now + ttl if ttl else None,
            csrf_token=csrf,
        )
        uow.commit()
    return token, csrf


def _refuse(uow: UnitOfWork, *, now: datetime, actor: Actor, failure: SignInFailure) -> None:
    _audit_refusal(uow, now=now, actor=actor, reason=failure.value)


def _audit_refusal(uow: UnitOfWork, *, now: datetime, actor: Actor, reason: str) -> None:
    uow.audit.append(
        AuditEntry(
            at=now, actor=actor, action="auth.sign_in", outcome="refused", params={"reason": reason}
        )
    )
    uow.commit()


def sign_in(
    *,
    uow: UnitOfWork,
    read_uow: UnitOfWork,
    username: str,
    password: str,
    now: datetime,
    policy: LockoutPolicy = LockoutPolicy(),
    totp_code: str | None = None,
    totp_required_roles: frozenset[str] = frozenset(),
    ip: str | None = None,
    user_agent: str | None = None,
) -> User:
    """Check a password (and TOTP code) with lock-out after repeated failures.

    Every attempt, accepted or refused, is audited; the refusal message never says
    whether the username exists. The account is looked up through `read_uow` (a
    snapshot) and the password verified outside any transaction: argon2 takes tens of
    milliseconds, and a password spray must not take the store's write lock once per
    guess. Only the outcome is written, through `uow`, in one short transaction that
    reads the account again, so failure counts and lock-outs stay exact under
    concurrent attempts.
    """
    name = username.strip().lower()
    with read_uow:
        seen = read_uow.users.by_username(name)
    if seen is None or not seen.active:
        verify_password(_DUMMY_HASH, password)  # as slow as a real check: no user probe
        with uow:
            _refuse(
                uow,
                now=now,
                failure=SignInFailure.UNKNOWN_USER,
                actor=Actor(username=name[:64], role="unknown", ip=ip, user_agent=user_agent),
            )
        raise SignInRefused(REFUSED)
    actor = Actor(
        username=seen.username,
        role=seen.role.value,
        user_id=seen.user_id,
        org_id=seen.org_id,
        ip=ip,
        user_agent=user_agent,
    )
    password_ok = not seen.locked(now) and verify_password(seen.password_hash, password)
    with uow:  # the short write: the account as it is now, then the outcome
        user = uow.users.get(seen.user_id)
        if user is None or not user.active:
            _refuse(uow, now=now, actor=actor, failure=SignInFailure.UNKNOWN_USER)
            raise SignInRefused(REFUSED)
        if user.locked(now):
            _refuse(uow, now=now, actor=actor, failure=SignInFailure.LOCKED)
            raise SignInRefused(REFUSED)
        if not password_ok or user.password_hash != seen.password_hash:
            # a password changed while this attempt was verified counts as a wrong one
            _fail(uow, user, now=now, policy=policy, actor=actor)
            raise SignInRefused(REFUSED)
        secret = active_totp_secret(user)
        if secret is None and user.role.value in totp_required_roles:
            _refuse(uow, now=now, actor=actor, failure=SignInFailure.NO_SECOND_FACTOR)
            raise SignInRefused(
                "a second factor (TOTP) is required for your role:"
                " ask an administrator to enrol you"
            )
        if secret is not None and not (
            totp_code and pyotp.TOTP(secret).verify(totp_code.strip(), for_time=now, valid_window=1)
        ):
            _fail(uow, user, now=now, policy=policy, actor=actor, failure=SignInFailure.WRONG_TOTP)
            raise SignInRefused(REFUSED)
        user = replace(user, failed_logins=0, locked_until=None)
        uow.users.update(user)
        uow.audit.append(AuditEntry(at=now, actor=actor, action="auth.sign_in"))
        uow.commit()
    return user


def _fail(
    uow: UnitOfWork,
    user: User,
    *,
    now: datetime,
    policy: LockoutPolicy,
    actor: Actor,
    failure: SignInFailure = SignInFailure.WRONG_PASSWORD,
) -> bool:
    """Count a failed attempt, locking the account at the policy's limit, and audit it
    (saying so when this attempt locked it). Answers whether it did."""
    failures = user.failed_logins + 1
    locked = failures >= policy.max_failures
    until = now + policy.lock_for if locked else None
    uow.users.update(replace(user, failed_logins=0 if locked else failures, locked_until=until))
    reason = f"{failure.value} — account locked" if locked else failure.value
    _audit_refusal(uow, now=now, actor=actor, reason=reason)
    return locked


def active_totp_secret(user: User) -> str | None:
    """The confirmed TOTP secret of a user; a pending enrolment does not count yet."""
    if user.totp_secret and not user.totp_secret.startswith("pending:"):
        return user.totp_secret
    return None


def enrol_totp(
    *, uow: UnitOfWork, user_id: int, now: datetime, actor: Actor, confirmed: bool = False
) -> str:
    """A new TOTP secret for a user. Self-enrolment stays pending until a code from it is
    confirmed; an administrator's enrolment (`confirmed=True`) is active at once."""
    secret = pyotp.random_base32()
    with uow:
        user = uow.users.get(user_id)
        if user is None or not user.active:
            raise UserNotFound(f"no user {user_id}")
        uow.users.update(replace(user, totp_secret=secret if confirmed else f"pending:{secret}"))
        uow.audit.append(
            AuditEntry(
                at=now,
                actor=actor,
                action="user.totp_enrol",
                target=user.username,
                params={"by_administrator": confirmed},
            )
        )
        uow.commit()
    return secret


def confirm_totp(*, uow: UnitOfWork, user_id: int, code: str, now: datetime, actor: Actor) -> None:
    with uow:
        user = uow.users.get(user_id)
        if user is None or not user.totp_secret or not user.totp_secret.startswith("pending:"):
            raise TotpNotConfirmed("no TOTP enrolment is pending")
        secret = user.totp_secret.removeprefix("pending:")
        if not pyotp.TOTP(secret).verify(code.strip(), for_time=now, valid_window=1):
            raise TotpNotConfirmed("wrong code: check the device clock and try again")
        uow.users.update(replace(user, totp_secret=secret))
        uow.audit.append(
            AuditEntry(at=now, actor=actor, action="user.totp_confirm", target=user.username)
        )
        uow.commit()


def totp_uri(secret: str, username: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name="Veille")


def update_user(
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
) -> User:
    """Change a user at once; every change is audited with what changed.

    The privileged path, like `create_user`: people go through
    `service.grants.change_user`, where a change that widens data access waits for a
    second administrator; here it is applied and recorded as a bootstrap grant.
    """
    if password is not None:
        check_password_strength(password)
    password_hash = hash_password(password) if password is not None else None
    with uow:
        user = uow.users.get(user_id)
        if user is None or not user.active:
            raise UserNotFound(f"no user {user_id}")
        widened = change_needs_approval(user, role=role, org_id=org_id, designated=designated)
        user, changes = apply_changes(
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
        if widened:
            changes["grant_id"] = record_bootstrap_grant(
                uow,
                kind=GrantKind.CHANGE,
                user=user,
                changes={k: changes[k] for k in GRANT_FIELDS if k in changes},
                actor=actor,
                now=now,
            )
        uow.users.update(user)
        uow.audit.append(
            AuditEntry(
                at=now, actor=actor, action="user.update", target=user.username, params=changes
            )
        )
        uow.commit()
    return user


def apply_changes(
    uow: UnitOfWork,
    user: User,
    *,
    now: datetime,
    role: Role | None = None,
    org_id: str | None = None,
    designated: bool | None = None,
    training_expires: datetime | None = None,
    clear_training: bool = False,
    display_name: str | None = None,
    password_hash: str | None = None,
    reset_totp: bool = False,
    unlock: bool = False,
) -> tuple[User, dict[str, object]]:
    """Inside an open unit of work: the changed user (not yet stored) and what changed."""
    changes: dict[str, object] = {}
    if role is not None and role is not user.role:
        changes["role"] = role.value
        user = replace(user, role=role)
    if org_id is not None and org_id != user.org_id:
        if uow.users.get_org(org_id) is None:
            raise UserError(f"organisation {org_id!r} does not exist")
        changes["org_id"] = org_id
        user = replace(user, org_id=org_id)
    if designated is not None and designated != user.designated:
        changes["designated"] = designated
        user = replace(user, designated=designated)
    if training_expires is not None or clear_training:
        changes["training_expires"] = training_expires.isoformat() if training_expires else None
        user = replace(user, training_expires=training_expires)
    if display_name:
        changes["display_name"] = display_name
        user = replace(user, display_name=display_name)
    if password_hash is not None:
        changes["password"] = "changed"
        user = replace(user, password_hash=password_hash)
        uow.users.revoke_user_tokens(user.user_id, now)
    if reset_totp:
        changes["totp"] = "reset"
        user = replace(user, totp_secret=None)
    if unlock:
        changes["unlocked"] = True
        user = replace(user, failed_logins=0, locked_until=None)
    return user, changes


def delete_user(*, uow: UnitOfWork, user_id: int, now: datetime, actor: Actor) -> User:
    """Remove a user's access at once: the account is closed and every token revoked.

    The row stays (deleted_at set) so the audit log's references keep their meaning.
    """
    with uow:
        user = uow.users.get(user_id)
        if user is None or not user.active:
            raise UserNotFound(f"no user {user_id}")
        if user.role is Role.ADMINISTRATOR and uow.users.count_admins() <= 1:
            raise LastAdministrator("the last administrator cannot be deleted")
        user = replace(user, deleted_at=now)
        uow.users.update(user)
        revoked = uow.users.revoke_user_tokens(user.user_id, now)
        uow.audit.append(
            AuditEntry(
                at=now,
                actor=actor,
                action="user.delete",
                target=user.username,
                params={"tokens_revoked": revoked},
            )
        )
        uow.commit()
    return user


def create_organisation(
    *,
    uow: UnitOfWork,
    org_id: str,
    name: str,
    kind: str,
    scope: Scope,
    now: datetime,
    actor: Actor,
) -> Organisation:
    if kind not in ORG_KINDS:
        why = f"kind must be one of {sorted(ORG_KINDS)}"
        raise UserError(why, problems=[Problem("kind", why)])
    if scope.kind.value != "national" and not scope.value:
        why = "a zone, province or district scope needs its name"
        raise UserError(why, problems=[Problem("scope_value", why)])
    org = Organisation(org_id=org_id, name=name, kind=kind, scope=scope, created_at=now)
    with uow:
        if uow.users.get_org(org_id) is not None:
            raise OrganisationExists(f"organisation {org_id!r} exists")
        uow.users.add_org(org)
        uow.audit.append(
            AuditEntry(
                at=now,
                actor=actor,
                action="organisation.create",
                target=org_id,
                params={"kind": kind, "scope": scope.kind.value, "scope_value": scope.value},
            )
        )
        uow.commit()
    return org


ORG_KINDS = frozenset({"local_zone", "federal", "judicial", "other"})


@dataclass(frozen=True)
class TokenIdentity:
    principal: Principal
    kind: str
    csrf_token: str | None


def page_users(
    *, uow: UnitOfWork, after: int | None = None, limit: int | None = None
) -> list[User]:
    """Accounts in id order after the id `after`, at most `limit` (None: all)."""
    with uow:
        return uow.users.page(after=after, limit=limit)


def identify(*, uow: UnitOfWork, token: str, now: datetime) -> TokenIdentity | None:
    """The principal behind a bearer or session token, if it is valid now."""
    with uow:
        found = uow.users.token(hash_token(token))
        if found is None:
            return None
        user_id, kind, expires_at, revoked_at, csrf = found
        if revoked_at is not None or (expires_at is not None and expires_at <= now):
            return None
        user = uow.users.get(user_id)
        if user is None or not user.active:
            return None
        org = uow.users.get_org(user.org_id)
    if org is None:
        return None
    return TokenIdentity(user.principal(org), kind, csrf)


def revoke_token(*, uow: UnitOfWork, token: str, now: datetime, actor: Actor) -> bool:
    with uow:
        changed = uow.users.revoke_token(hash_token(token), now)
        uow.audit.append(
            AuditEntry(
                at=now, actor=actor, action="auth.sign_out", params={"revoked": bool(changed)}
            )
        )
        uow.commit()
    return bool(changed)


def record_access_refusal(
    *,
    uow: UnitOfWork,
    actor: Actor,
    now: datetime,
    params: dict[str, Any],
    purpose: str | None = None,
    case_ref: str | None = None,
) -> None:
    """Audit a refusal answered to a signed-in caller (`access.refused`), in one short
    append so that a flood of refused calls never holds the ingest writer for longer."""
    with uow:
        uow.audit.append(
            AuditEntry(
                at=now,
                actor=actor,
                action=REFUSAL_ACTION,
                outcome="refused",
                params=params,
                purpose=purpose,
                case_ref=case_ref,
            )
        )
        uow.commit()


REFUSAL_ACTION = "access.refused"
