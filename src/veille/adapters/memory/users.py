"""In-memory organisations, users and API tokens."""

from __future__ import annotations

import builtins
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING

from veille.adapters.memory.store import ConstraintViolated
from veille.domain.access import Role
from veille.domain.grants import GrantStatus, UserGrant
from veille.domain.times import utc
from veille.domain.users import Organisation, User

if TYPE_CHECKING:
    from veille.adapters.memory.store import MemoryUnitOfWork


@dataclass(frozen=True, slots=True)
class ApiToken:
    user_id: int
    kind: str
    name: str
    created_at: datetime
    expires_at: datetime | None
    csrf_token: str | None
    revoked_at: datetime | None = None


class MemoryUserRepository:
    def __init__(self, uow: MemoryUnitOfWork):
        self.uow = uow

    # organisations
    def get_org(self, org_id: str) -> Organisation | None:
        org: Organisation | None = self.uow.table("organisations").get(org_id)
        return org

    def add_org(self, org: Organisation) -> None:
        if org.org_id in self.uow.table("organisations"):
            raise ConstraintViolated(f"organisation {org.org_id} exists already")
        self.uow.writable("organisations")[org.org_id] = org

    def list_orgs(self) -> list[Organisation]:
        return sorted(self.uow.table("organisations").values(), key=lambda o: o.org_id)

    # users
    def get(self, user_id: int) -> User | None:
        user: User | None = self.uow.table("users").get(user_id)
        return user

    def by_username(self, username: str) -> User | None:
        return next((u for u in self.all() if u.username == username), None)

    def add(self, user: User) -> int:
        """Store a new user under a fresh id (the id on `user` is ignored); return it."""
        if user.org_id not in self.uow.table("organisations"):
            raise ConstraintViolated(f"no organisation {user.org_id}")
        if self.by_username(user.username) is not None:
            raise ConstraintViolated(f"username {user.username} is taken")
        user_id = self.uow.next_id("users")
        self.uow.writable("users")[user_id] = replace(user, user_id=user_id)
        return user_id

    def update(self, user: User) -> None:
        """Change a user; the username and creation time stay as stored."""
        stored = self.get(user.user_id)
        if stored is None:
            return
        if user.org_id not in self.uow.table("organisations"):
            raise ConstraintViolated(f"no organisation {user.org_id}")
        self.uow.writable("users")[user.user_id] = replace(
            user, username=stored.username, created_at=stored.created_at
        )

    def all(self) -> list[User]:
        return sorted(self.uow.table("users").values(), key=lambda u: u.user_id)

    def page(self, *, after: int | None = None, limit: int | None = None) -> list[User]:
        found = [u for u in self.all() if after is None or u.user_id > after]
        return found if limit is None else found[:limit]

    def count_admins(self) -> int:
        return len([u for u in self.all() if u.role is Role.ADMINISTRATOR and u.active])

    # tokens
    def add_token(
        self,
        *,
        token_hash: str,
        user_id: int,
        kind: str,
        name: str,
        created_at: datetime,
        expires_at: datetime | None,
        csrf_token: str | None = None,
    ) -> None:
        if user_id not in self.uow.table("users"):
            raise ConstraintViolated(f"no user {user_id} to give a token")
        if token_hash in self.uow.table("api_tokens"):
            raise ConstraintViolated("this token is issued already")
        self.uow.writable("api_tokens")[token_hash] = ApiToken(
            user_id, kind, name, created_at, expires_at, csrf_token
        )

    def token(
        self, token_hash: str
    ) -> tuple[int, str, datetime | None, datetime | None, str | None] | None:
        """(user_id, kind, expires_at, revoked_at, csrf_token) of a token, if known."""
        found: ApiToken | None = self.uow.table("api_tokens").get(token_hash)
        if found is None:
            return None
        return found.user_id, found.kind, found.expires_at, found.revoked_at, found.csrf_token

    def _revoke(self, tokens: builtins.list[str], now: datetime) -> int:
        if tokens:
            table = self.uow.writable("api_tokens")
            for token_hash in tokens:
                table[token_hash] = replace(table[token_hash], revoked_at=now)
        return len(tokens)

    def revoke_token(self, token_hash: str, now: datetime) -> int:
        found: ApiToken | None = self.uow.table("api_tokens").get(token_hash)
        live = [token_hash] if found is not None and found.revoked_at is None else []
        return self._revoke(live, now)

    def revoke_user_tokens(self, user_id: int, now: datetime) -> int:
        live = [
            token_hash
            for token_hash, found in self.uow.table("api_tokens").items()
            if found.user_id == user_id and found.revoked_at is None
        ]
        return self._revoke(live, now)

    # grants of data access (four eyes)
    def add_grant(self, grant: UserGrant) -> int:
        self._check_account(grant)
        grant_id = self.uow.next_id("user_grants")
        self.uow.writable("user_grants")[grant_id] = replace(grant, grant_id=grant_id)
        return grant_id

    def update_grant(self, grant: UserGrant) -> None:
        """Record a decision: status, decider, time, reason, the account it made."""
        stored: UserGrant | None = self.uow.table("user_grants").get(grant.grant_id)
        if stored is None:
            return
        self._check_account(grant)
        self.uow.writable("user_grants")[grant.grant_id] = replace(
            stored,
            status=grant.status,
            user_id=grant.user_id,
            decided_by=grant.decided_by,
            decided_at=grant.decided_at,
            decision_reason=grant.decision_reason,
            password_hash=grant.password_hash,
        )

    def get_grant(self, grant_id: int) -> UserGrant | None:
        grant: UserGrant | None = self.uow.table("user_grants").get(grant_id)
        return grant

    def list_grants(
        self,
        *,
        status: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 1000,
    ) -> builtins.list[UserGrant]:
        """Grants in request order; `since`/`until` bound the time of the request."""
        since, until = since and utc(since), until and utc(until)  # naive: refused
        found = [
            g
            for _, g in sorted(self.uow.table("user_grants").items())
            if (not status or g.status.value == status)
            and (since is None or g.requested_at >= since)
            and (until is None or g.requested_at < until)
        ]
        return found[:limit]

    def grants_page(
        self,
        *,
        status: GrantStatus | None = None,
        after: int | None = None,
        limit: int | None = None,
    ) -> builtins.list[UserGrant]:
        found = [
            g
            for grant_id, g in sorted(self.uow.table("user_grants").items())
            if (status is None or g.status is status) and (after is None or grant_id > after)
        ]
        return found if limit is None else found[:limit]

    def pending_grant_for(self, username: str) -> UserGrant | None:
        return next(
            (
                g
                for g in self.list_grants(status=GrantStatus.PENDING.value)
                if g.username == username
            ),
            None,
        )

    def _check_account(self, grant: UserGrant) -> None:
        if grant.user_id is not None and grant.user_id not in self.uow.table("users"):
            raise ConstraintViolated(f"no user {grant.user_id} for a grant")
