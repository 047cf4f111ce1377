"""Commands and queries of the users area: accounts, organisations, four-eyes grants,
sign-in, tokens and second factors (handlers: `service/handlers/users.py`)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any, Literal

from veille.domain.access import Role, Scope
from veille.domain.audit import Actor
from veille.domain.grants import GrantStatus
from veille.domain.users import User
from veille.service.commands import Command, Query

# ---- accounts ------------------------------------------------------------------------


@dataclass(frozen=True)
class CreateFirstAdmin(Command):
    """The first administrator of a fresh install (refused once one exists): the
    bootstrap, recorded as a bootstrap grant of whoever ran it at the server."""

    username: str
    password: str = field(repr=False)
    actor: Actor | None = None


@dataclass(frozen=True)
class NewAccount:
    """What an account to make is: the fields `CreateUser` and `ProvisionUser` share."""

    username: str
    password: str = field(repr=False)
    role: Role
    org_id: str
    actor: Actor
    display_name: str | None = None
    designated: bool = False
    training_expires: datetime | None = None

    def account(self) -> dict[str, Any]:
        """These fields by name, as the service's account functions take them."""
        return {f.name: getattr(self, f.name) for f in fields(NewAccount)}


@dataclass(frozen=True)
class CreateUser(NewAccount, Command):
    """An administrator asks for an account: made at once when it carries no data access,
    else a pending grant that a second administrator decides (`DecideGrant`)."""

    reason: str | None = None


@dataclass(frozen=True)
class ProvisionUser(NewAccount, Command):
    """Make an account at once, without a second administrator: the privileged path of
    server-side set-up (the main job's demo accounts), recorded as a bootstrap grant."""


@dataclass(frozen=True)
class UpdateUser(Command):
    """Change an account. Nobody changes their own access; what widens data access waits
    for a second administrator, the rest applies at once."""

    user_id: int
    actor: Actor
    role: Role | None = None
    org_id: str | None = None
    designated: bool | None = None
    training_expires: datetime | None = None
    clear_training: bool = False
    display_name: str | None = None
    password: str | None = field(default=None, repr=False)
    reset_totp: bool = False
    unlock: bool = False
    reason: str | None = None


@dataclass(frozen=True)
class DeleteUser(Command):
    """Close an account: every token and session stops at once."""

    user_id: int
    actor: Actor


@dataclass(frozen=True)
class CreateOrganisation(Command):
    org_id: str
    name: str
    kind: str
    scope: Scope
    actor: Actor


@dataclass(frozen=True)
class DecideGrant(Command):
    """A second administrator approves (the access takes effect now) or refuses."""

    grant_id: int
    approve: bool
    actor: Actor
    reason: str | None = None


# ---- sign-in, tokens, second factors ---------------------------------------------------


@dataclass(frozen=True)
class SignIn(Command):
    """Check a password (and one-time code) with lock-out; every attempt is audited.

    With `issue`, a credential is issued once the caller is signed in: `api` a bearer
    token for 90 days, `session` a browser session (with its CSRF token) for
    `VEILLE_SESSION_HOURS`. Without it, the caller is only identified (the CLI's `--as`).
    """

    username: str
    password: str = field(repr=False)
    totp_code: str | None = field(default=None, repr=False)
    ip: str | None = None
    user_agent: str | None = None
    issue: Literal["api", "session"] | None = None
    token_name: str = "api"


@dataclass(frozen=True)
class SignedIn:
    """The answer to `SignIn`: the account, and the credential issued (shown once)."""

    user: User
    token: str | None = field(default=None, repr=False)
    csrf_token: str | None = field(default=None, repr=False)
    expires_at: datetime | None = None


@dataclass(frozen=True)
class IssueToken(Command):
    """A bearer token for an account, without its password: the privileged path of the
    main job (its simulator and its live channel)."""

    user_id: int
    name: str = "api"
    ttl: timedelta | None = timedelta(days=90)


@dataclass(frozen=True)
class RevokeToken(Command):
    """Revoke a token or session (a sign-out); the streams opened with it end."""

    token: str = field(repr=False)
    actor: Actor


@dataclass(frozen=True)
class EnrolTotp(Command):
    """A new TOTP secret: pending until confirmed when users enrol themselves, active at
    once when an administrator enrols them (`by_administrator`)."""

    user_id: int
    actor: Actor
    by_administrator: bool = False


@dataclass(frozen=True)
class TotpEnrolment:
    """The answer to `EnrolTotp`: the secret and its otpauth:// URI, shown once."""

    secret: str = field(repr=False)
    otpauth_uri: str = field(repr=False)


@dataclass(frozen=True)
class ConfirmTotp(Command):
    user_id: int
    code: str = field(repr=False)
    actor: Actor


@dataclass(frozen=True)
class RecordRefusal(Command):
    """Audit a refusal answered to a signed-in caller (`access.refused`): who, which route
    with which ids and filters, and why."""

    actor: Actor
    params: dict[str, Any]
    purpose: str | None = None
    case_ref: str | None = None


# ---- queries ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Identify(Query):
    """The principal behind a bearer or session token, if it is valid now (a
    `TokenIdentity`, or None): asked once per authenticated request."""

    token: str = field(repr=False)


@dataclass(frozen=True)
class UsersPage(Query):
    """Accounts in id order after the id `after`, at most `limit` (None: all)."""

    after: int | None = None
    limit: int | None = None


@dataclass(frozen=True)
class UserNamed(Query):
    """The open account with this username, or None."""

    username: str


@dataclass(frozen=True)
class Organisations(Query):
    """Every organisation, by id."""


@dataclass(frozen=True)
class GrantsPage(Query):
    """Grants in request order after the id `after`, at most `limit` (None: all)."""

    status: GrantStatus | None = None
    after: int | None = None
    limit: int | None = None


@dataclass(frozen=True)
class GrantReport(Query):
    """Every grant requested in [since, until), for the data-protection officer; the
    look-up is recorded (`user_grant.report`) before anything is handed out."""

    actor: Actor
    since: datetime | None = None
    until: datetime | None = None
