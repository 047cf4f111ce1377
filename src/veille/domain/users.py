"""Users and organisations as the domain sees them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from veille.domain.access import Principal, Role, Scope, ScopeKind


@dataclass(frozen=True)
class Organisation:
    org_id: str
    name: str
    kind: str  # local_zone | federal | judicial | other
    scope: Scope
    created_at: datetime


@dataclass(frozen=True)
class User:
    user_id: int
    username: str
    display_name: str
    password_hash: str
    role: Role
    org_id: str
    designated: bool
    training_expires: datetime | None
    totp_secret: str | None
    failed_logins: int
    locked_until: datetime | None
    created_at: datetime
    deleted_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.deleted_at is None

    def locked(self, now: datetime) -> bool:
        return self.locked_until is not None and self.locked_until > now

    def principal(self, organisation: Organisation) -> Principal:
        return Principal(
            user_id=self.user_id,
            username=self.username,
            role=self.role,
            org_id=self.org_id,
            scope=organisation.scope,
            designated=self.designated,
            training_expires=self.training_expires,
        )


FEDERAL = Organisation(
    org_id="federal",
    name="Police fédérale / Federale politie",
    kind="federal",
    scope=Scope(ScopeKind.NATIONAL),
    created_at=datetime(2026, 1, 1, tzinfo=UTC),
)
