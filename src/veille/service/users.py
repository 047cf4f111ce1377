"""Accounts and sign-in: argon2id passwords, lock-out, API tokens, principals."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from veille.domain.access import Principal, Role
from veille.domain.users import FEDERAL, Organisation, User
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


class UserError(ValueError):
    pass


class SignInRefused(Exception):
    """Sign-in failed; the message never says whether the user exists."""


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
) -> User:
    username = username.strip().lower()
    if (
        not username
        or len(username) > 64
        or not username.replace(".", "").replace("-", "").replace("_", "").isalnum()
    ):
        raise UserError("username: 1–64 letters, digits, '.', '-' or '_'")
    check_password_strength(password)
    with uow:
        if uow.users.get_org(org_id) is None:
            raise UserError(f"organisation {org_id!r} does not exist")
        if uow.users.by_username(username) is not None:
            raise UserError(f"username {username!r} is taken")
        user = User(
            user_id=0,
            username=username,
            display_name=display_name or username,
            password_hash=hash_password(password),
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
        uow.commit()
    return replace(user, user_id=user_id)


def create_first_admin(*, uow: UnitOfWork, username: str, password: str, now: datetime) -> User:
    """Create the first administrator of a fresh install (refused once one exists)."""
    ensure_organisation(uow=uow, org=replace(FEDERAL, created_at=now))
    with uow:
        if uow.users.count_admins():
            raise UserError("an administrator already exists; ask them to create accounts")
    return create_user(
        uow=uow,
        username=username,
        password=password,
        role=Role.ADMINISTRATOR,
        org_id=FEDERAL.org_id,
        now=now,
        display_name="Administrator",
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


def sign_in(
    *,
    uow: UnitOfWork,
    username: str,
    password: str,
    now: datetime,
    policy: LockoutPolicy = LockoutPolicy(),
) -> User:
    """Check a password with lock-out after repeated failures; return the user."""
    with uow:
        user = uow.users.by_username(username.strip().lower())
        if user is None or not user.active:
            verify_password(_DUMMY_HASH, password)
            raise SignInRefused("wrong username or password")
        if user.locked(now):
            raise SignInRefused("account locked after repeated failures; try later")
        if not verify_password(user.password_hash, password):
            failures = user.failed_logins + 1
            locked = now + policy.lock_for if failures >= policy.max_failures else None
            uow.users.update(
                replace(user, failed_logins=0 if locked else failures, locked_until=locked)
            )
            uow.commit()
            raise SignInRefused("wrong username or password")
        if user.failed_logins or user.locked_until:
            user = replace(user, failed_logins=0, locked_until=None)
            uow.users.update(user)
            uow.commit()
    return user


@dataclass(frozen=True)
class TokenIdentity:
    principal: Principal
    kind: str
    csrf_token: str | None


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


def revoke_token(*, uow: UnitOfWork, token: str, now: datetime) -> bool:
    with uow:
        changed = uow.users.revoke_token(hash_token(token), now)
        uow.commit()
    return bool(changed)
