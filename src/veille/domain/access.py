"""Roles, permissions and scopes: who may do what, where (pure policy, no I/O)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Role(StrEnum):
    OPERATOR = "operator"
    INVESTIGATOR = "investigator"
    HOTLIST_MANAGER = "hotlist_manager"
    SUPERVISOR = "supervisor"
    PROSECUTOR = "prosecutor"
    ADMINISTRATOR = "administrator"
    AUDITOR = "auditor"  # data-protection officer / auditor


class Permission(StrEnum):
    CAMERAS_READ = "cameras:read"
    CAMERAS_MANAGE = "cameras:manage"
    INGEST_MONITOR = "ingest:monitor"
    DEAD_LETTERS_MANAGE = "dead_letters:manage"
    USERS_MANAGE = "users:manage"
    READS_SEARCH = "reads:search"
    ALERTS_VIEW = "alerts:view"
    ALERTS_DECIDE = "alerts:decide"
    HOTLISTS_MANAGE = "hotlists:manage"
    AUTHORIZATIONS_REQUEST = "authorizations:request"
    AUTHORIZATIONS_DECIDE = "authorizations:decide"
    AUDIT_READ = "audit:read"
    RETENTION_RUN = "retention:run"
    INTEGRATIONS_MANAGE = "integrations:manage"  # webhooks to outside dispatch systems
    SELF = "self"  # see and manage one's own account and tokens


# Permissions that touch reads or alerts: they also need designation and valid training.
DATA_PERMISSIONS = frozenset(
    {
        Permission.READS_SEARCH,
        Permission.ALERTS_VIEW,
        Permission.ALERTS_DECIDE,
        Permission.AUTHORIZATIONS_REQUEST,
    }
)

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.OPERATOR: frozenset(
        {Permission.SELF, Permission.ALERTS_VIEW, Permission.ALERTS_DECIDE, Permission.CAMERAS_READ}
    ),
    Role.INVESTIGATOR: frozenset(
        {
            Permission.SELF,
            Permission.READS_SEARCH,
            Permission.AUTHORIZATIONS_REQUEST,
            Permission.CAMERAS_READ,
        }
    ),
    Role.HOTLIST_MANAGER: frozenset(
        {Permission.SELF, Permission.HOTLISTS_MANAGE, Permission.CAMERAS_READ}
    ),
    Role.SUPERVISOR: frozenset(
        {
            Permission.SELF,
            Permission.ALERTS_VIEW,
            Permission.ALERTS_DECIDE,
            Permission.READS_SEARCH,
            Permission.CAMERAS_READ,
            Permission.INGEST_MONITOR,
        }
    ),
    Role.PROSECUTOR: frozenset({Permission.SELF, Permission.AUTHORIZATIONS_DECIDE}),
    Role.ADMINISTRATOR: frozenset(
        {
            Permission.SELF,
            Permission.USERS_MANAGE,
            Permission.CAMERAS_READ,
            Permission.CAMERAS_MANAGE,
            Permission.INGEST_MONITOR,
            Permission.DEAD_LETTERS_MANAGE,
            Permission.RETENTION_RUN,
            Permission.INTEGRATIONS_MANAGE,
        }
    ),
    Role.AUDITOR: frozenset({Permission.SELF, Permission.AUDIT_READ}),
}


class ScopeKind(StrEnum):
    ZONE = "zone"
    PROVINCE = "province"
    NATIONAL = "national"
    DISTRICT = "district"  # a judicial district: prosecutors decide there, see no reads


@dataclass(frozen=True)
class Scope:
    kind: ScopeKind
    value: str | None = None  # zone or province name; None for national

    def covers(self, *, zone: str, province: str) -> bool:
        """Whether a camera of this zone and province lies inside the scope."""
        if self.kind is ScopeKind.NATIONAL:
            return True
        if self.kind is ScopeKind.PROVINCE:
            return province == self.value
        if self.kind is ScopeKind.ZONE:
            return zone == self.value
        return False


@dataclass(frozen=True)
class Principal:
    """An authenticated user as the policy sees them."""

    user_id: int
    username: str
    role: Role
    org_id: str
    scope: Scope
    designated: bool
    training_expires: datetime | None

    def trained(self, now: datetime) -> bool:
        return self.training_expires is not None and self.training_expires > now


def decide(principal: Principal, permission: Permission, now: datetime) -> str | None:
    """None when allowed, otherwise the reason for refusal (deny by default)."""
    if permission not in ROLE_PERMISSIONS.get(principal.role, frozenset()):
        return f"role {principal.role.value} lacks permission {permission.value}"
    if permission in DATA_PERMISSIONS:
        if not principal.designated:
            return "user is not designated for ANPR use"
        if not principal.trained(now):
            return "training certificate missing or expired"
    return None
