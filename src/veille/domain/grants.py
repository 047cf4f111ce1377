"""Separation of duties over accounts: which changes need a second administrator (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from veille.domain.access import Role
from veille.domain.audit import Actor
from veille.domain.users import User

# Roles that open data (reads, alerts, authorizations, the audit log) — and the
# administrator role, because an administrator who could create a second administrator
# alone would hold both pairs of eyes.
FOUR_EYES_ROLES = frozenset(
    {
        Role.OPERATOR,
        Role.INVESTIGATOR,
        Role.SUPERVISOR,
        Role.PROSECUTOR,
        Role.AUDITOR,
        Role.ADMINISTRATOR,
    }
)
# The fields of an account that say what its holder may see; nobody changes their own.
ACCESS_FIELDS = ("role", "org_id", "designated", "training_expires", "clear_training")
# The fields a grant carries: everything else in a change applies at once.
GRANT_FIELDS = ("role", "org_id", "designated")


class GrantStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REFUSED = "refused"
    # Applied through a privileged path without a second administrator: the first
    # administrator, the main job's demo accounts, server-side set-up code.
    BOOTSTRAP = "bootstrap"


class GrantKind(StrEnum):
    CREATE = "create"  # a new account with a data-access role or designation
    CHANGE = "change"  # a change of an existing account's role, designation or organisation


@dataclass(frozen=True)
class UserGrant:
    """A request to give an account data access, and its decision."""

    grant_id: int
    kind: GrantKind
    username: str
    user_id: int | None  # None for a pending creation: the account does not exist yet
    changes: dict[str, Any]  # role, org_id, designated (+ display_name, training for create)
    status: GrantStatus
    requested_by: Actor
    requested_at: datetime
    request_reason: str | None = None
    decided_by: Actor | None = None
    decided_at: datetime | None = None
    decision_reason: str | None = None
    # Only for a pending creation: the new account's argon2id hash, dropped once decided.
    password_hash: str | None = field(default=None, repr=False)


def creation_needs_approval(*, role: Role, designated: bool) -> bool:
    return role in FOUR_EYES_ROLES or designated


def change_needs_approval(
    user: User, *, role: Role | None, org_id: str | None, designated: bool | None
) -> bool:
    """Whether a change widens what the account may see: a four-eyes role it does not
    hold yet, a designation it does not have, or a new organisation (a new scope) for an
    account that has data access after the change. Narrowing applies at once."""
    new_role = role if role is not None else user.role
    new_designated = designated if designated is not None else user.designated
    if role is not None and role is not user.role and role in FOUR_EYES_ROLES:
        return True
    if designated and not user.designated:
        return True
    return (
        org_id is not None
        and org_id != user.org_id
        and (new_role in FOUR_EYES_ROLES or new_designated)
    )


def is_same_person(actor: Actor, *, user_id: int | None, username: str) -> bool:
    """Whether an actor is this account. A command-line actor `cli:<login>` counts as the
    account of that login name: the server's shell is no way round the rule."""
    if actor.user_id is not None and user_id is not None:
        return actor.user_id == user_id
    return actor.username in (username, f"cli:{username}")


def same_actor(a: Actor, b: Actor) -> bool:
    """Whether two actors are one person: the same account, or an account and the
    command line of the same login name (`alice` and `cli:alice`)."""
    if a.user_id is not None and b.user_id is not None:
        return a.user_id == b.user_id
    return a.username.removeprefix("cli:") == b.username.removeprefix("cli:")


def decision_refusal(grant: UserGrant, decider: Actor) -> str | None:
    """None when `decider` may approve or refuse the grant, else why not."""
    if grant.status is not GrantStatus.PENDING:
        return None  # the caller reports the conflict
    if same_actor(grant.requested_by, decider):
        return "the administrator who asked for a grant cannot decide it: a second one must"
    if is_same_person(decider, user_id=grant.user_id, username=grant.username):
        return "nobody decides a grant of access to their own account"
    return None
