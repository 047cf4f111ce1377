"""Handlers of the users area (`service/commands/users.py`): accounts, organisations,
four-eyes grants, sign-in, tokens and second factors; and the live streams told when an
account loses access."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from veille.domain.grants import UserGrant
from veille.domain.users import Organisation, User
from veille.service import grants as grant_service
from veille.service import users as user_service
from veille.service.commands import users as c
from veille.service.errors import Busy, Conflict, Forbidden, Invalid, NotFound
from veille.service.events import TokenRevoked, UserAccessChanged, UserDeleted
from veille.service.handlers.deps import Dependencies
from veille.service.messagebus import CommandHandler, MessageBus, Raised
from veille.service.ports import LiveStreams, UnitOfWork
from veille.settings import Settings

UnitsOfWork = Callable[[], UnitOfWork]
Clock = Callable[[], datetime]

API_TOKEN_TTL = timedelta(days=90)


@contextmanager
def _bad_input_answers(code: str) -> Iterator[None]:
    """Bad input is refused with this use case's own code (clients read `invalid_user`,
    `invalid_change`); refusals of the other kinds pass as they are."""
    try:
        yield
    except (NotFound, Conflict, Forbidden, Busy):
        raise
    except Invalid as exc:
        raise Invalid(str(exc), problems=exc.problems, code=code) from exc


# ---- accounts ----------------------------------------------------------------------------


def create_first_admin(
    cmd: c.CreateFirstAdmin, raised: Raised, *, uow: UnitsOfWork, clock: Clock
) -> User:
    return user_service.create_first_admin(
        uow=uow(), username=cmd.username, password=cmd.password, now=clock(), actor=cmd.actor
    )


def create_user(
    cmd: c.CreateUser, raised: Raised, *, uow: UnitsOfWork, clock: Clock
) -> User | UserGrant:
    """The account (no data access), or the pending grant a second administrator decides."""
    with _bad_input_answers("invalid_user"):
        return grant_service.request_user(
            uow=uow(), now=clock(), reason=cmd.reason, **cmd.account()
        )


def provision_user(cmd: c.ProvisionUser, raised: Raised, *, uow: UnitsOfWork, clock: Clock) -> User:
    return user_service.create_user(uow=uow(), now=clock(), **cmd.account())


def update_user(
    cmd: c.UpdateUser, raised: Raised, *, uow: UnitsOfWork, clock: Clock
) -> tuple[User, UserGrant | None]:
    """The account as it now stands, and the grant that waits for a second administrator
    (if the change widened access)."""
    with _bad_input_answers("invalid_change"):
        user, grant = grant_service.change_user(
            uow=uow(),
            user_id=cmd.user_id,
            now=clock(),
            actor=cmd.actor,
            role=cmd.role,
            org_id=cmd.org_id,
            designated=cmd.designated,
            training_expires=cmd.training_expires,
            clear_training=cmd.clear_training,
            display_name=cmd.display_name,
            password=cmd.password,
            reset_totp=cmd.reset_totp,
            unlock=cmd.unlock,
            reason=cmd.reason,
        )
    raised.append(UserAccessChanged(user.user_id))
    return user, grant


def delete_user(cmd: c.DeleteUser, raised: Raised, *, uow: UnitsOfWork, clock: Clock) -> User:
    user = user_service.delete_user(uow=uow(), user_id=cmd.user_id, now=clock(), actor=cmd.actor)
    raised.append(UserDeleted(user.user_id))
    return user


def create_organisation(
    cmd: c.CreateOrganisation, raised: Raised, *, uow: UnitsOfWork, clock: Clock
) -> Organisation:
    return user_service.create_organisation(
        uow=uow(),
        org_id=cmd.org_id,
        name=cmd.name,
        kind=cmd.kind,
        scope=cmd.scope,
        now=clock(),
        actor=cmd.actor,
    )


def decide_grant(
    cmd: c.DecideGrant, raised: Raised, *, uow: UnitsOfWork, clock: Clock
) -> UserGrant:
    grant = grant_service.decide_grant(
        uow=uow(),
        grant_id=cmd.grant_id,
        approve=cmd.approve,
        actor=cmd.actor,
        now=clock(),
        reason=cmd.reason,
    )
    if cmd.approve and grant.user_id is not None:
        raised.append(UserAccessChanged(grant.user_id))
    return grant


# ---- sign-in, tokens, second factors ---------------------------------------------------


def sign_in(
    cmd: c.SignIn,
    raised: Raised,
    *,
    uow: UnitsOfWork,
    read_uow: UnitsOfWork,
    clock: Clock,
    settings: Callable[[], Settings],
) -> c.SignedIn:
    """Decision 0005: the password is verified on a snapshot, then the outcome written in
    one short transaction; a credential, if asked for, is issued after that."""
    rules = settings()
    user = user_service.sign_in(
        uow=uow(),
        read_uow=read_uow(),
        username=cmd.username,
        password=cmd.password,
        totp_code=cmd.totp_code,
        now=clock(),
        policy=user_service.LockoutPolicy(
            max_failures=rules.lockout_failures,
            lock_for=timedelta(minutes=rules.lockout_minutes),
        ),
        totp_required_roles=frozenset(rules.totp_required_roles),
        ip=cmd.ip,
        user_agent=cmd.user_agent,
    )
    if cmd.issue is None:
        return c.SignedIn(user)
    session = cmd.issue == "session"
    ttl = timedelta(hours=rules.session_hours) if session else API_TOKEN_TTL
    now = clock()
    token, csrf = user_service.issue_token(
        uow=uow(),
        user_id=user.user_id,
        now=now,
        name="browser session" if session else cmd.token_name,
        kind=cmd.issue,
        ttl=ttl,
    )
    return c.SignedIn(user, token, csrf, now + ttl)


def issue_token(cmd: c.IssueToken, raised: Raised, *, uow: UnitsOfWork, clock: Clock) -> str:
    token, _csrf = user_service.issue_token(
        uow=uow(), user_id=cmd.user_id, now=clock(), name=cmd.name, ttl=cmd.ttl
    )
    return token


def revoke_token(cmd: c.RevokeToken, raised: Raised, *, uow: UnitsOfWork, clock: Clock) -> bool:
    """Whether a live token was revoked; the attempt is audited either way."""
    revoked = user_service.revoke_token(uow=uow(), token=cmd.token, now=clock(), actor=cmd.actor)
    raised.append(TokenRevoked(user_service.hash_token(cmd.token)))
    return revoked


def enrol_totp(
    cmd: c.EnrolTotp, raised: Raised, *, uow: UnitsOfWork, read_uow: UnitsOfWork, clock: Clock
) -> c.TotpEnrolment:
    secret = user_service.enrol_totp(
        uow=uow(),
        user_id=cmd.user_id,
        now=clock(),
        actor=cmd.actor,
        confirmed=cmd.by_administrator,
    )
    with read_uow() as snapshot:
        user = snapshot.users.get(cmd.user_id)
    name = user.username if user else str(cmd.user_id)
    return c.TotpEnrolment(secret, user_service.totp_uri(secret, name))


def confirm_totp(cmd: c.ConfirmTotp, raised: Raised, *, uow: UnitsOfWork, clock: Clock) -> None:
    user_service.confirm_totp(
        uow=uow(), user_id=cmd.user_id, code=cmd.code, now=clock(), actor=cmd.actor
    )


def record_refusal(cmd: c.RecordRefusal, raised: Raised, *, uow: UnitsOfWork, clock: Clock) -> None:
    user_service.record_access_refusal(
        uow=uow(),
        actor=cmd.actor,
        now=clock(),
        params=cmd.params,
        purpose=cmd.purpose,
        case_ref=cmd.case_ref,
    )


# ---- queries -----------------------------------------------------------------------------


def identify(
    query: c.Identify, raised: Raised, *, read_uow: UnitsOfWork, clock: Clock
) -> user_service.TokenIdentity | None:
    return user_service.identify(uow=read_uow(), token=query.token, now=clock())


def users_page(query: c.UsersPage, raised: Raised, *, read_uow: UnitsOfWork) -> list[User]:
    return user_service.page_users(uow=read_uow(), after=query.after, limit=query.limit)


def user_named(query: c.UserNamed, raised: Raised, *, read_uow: UnitsOfWork) -> User | None:
    with read_uow() as snapshot:
        user = snapshot.users.by_username(query.username.strip().lower())
    return user if user is not None and user.active else None


def organisations(
    query: c.Organisations, raised: Raised, *, read_uow: UnitsOfWork
) -> list[Organisation]:
    with read_uow() as snapshot:
        return snapshot.users.list_orgs()


def grants_page(query: c.GrantsPage, raised: Raised, *, read_uow: UnitsOfWork) -> list[UserGrant]:
    return grant_service.page_grants(
        uow=read_uow(), status=query.status, after=query.after, limit=query.limit
    )


def grant_report(
    query: c.GrantReport, raised: Raised, *, uow: UnitsOfWork, read_uow: UnitsOfWork, clock: Clock
) -> list[UserGrant]:
    return grant_service.grant_report(
        uow=uow(),
        read_uow=read_uow(),
        actor=query.actor,
        now=clock(),
        since=query.since,
        until=query.until,
    )


# ---- events: live streams end when access does -----------------------------------------


def close_streams_of_user(
    event: UserDeleted, raised: Raised, *, streams: Callable[[], LiveStreams]
) -> None:
    streams().close_user(event.user_id, "account deleted")


def close_streams_of_token(
    event: TokenRevoked, raised: Raised, *, streams: Callable[[], LiveStreams]
) -> None:
    streams().close_credential(event.token_hash, event.reason)


def recheck_streams_of_user(
    event: UserAccessChanged, raised: Raised, *, streams: Callable[[], LiveStreams]
) -> None:
    streams().recheck_user(event.user_id)


def register(bus: MessageBus, deps: Dependencies) -> None:
    """Register every handler of this area on `bus`, with `deps` bound."""

    def writing(handler: Callable[..., Any], **more: Any) -> CommandHandler:
        return partial(handler, uow=deps.uow, clock=deps.clock, **more)

    for command, handler in (
        (c.CreateFirstAdmin, create_first_admin),
        (c.CreateUser, create_user),
        (c.ProvisionUser, provision_user),
        (c.UpdateUser, update_user),
        (c.DeleteUser, delete_user),
        (c.CreateOrganisation, create_organisation),
        (c.DecideGrant, decide_grant),
        (c.IssueToken, issue_token),
        (c.RevokeToken, revoke_token),
        (c.ConfirmTotp, confirm_totp),
        (c.RecordRefusal, record_refusal),
    ):
        bus.register(command, writing(handler))
    bus.register(c.SignIn, writing(sign_in, read_uow=deps.read_uow, settings=deps.settings))
    bus.register(c.EnrolTotp, writing(enrol_totp, read_uow=deps.read_uow))
    bus.register(c.GrantReport, writing(grant_report, read_uow=deps.read_uow))
    bus.register(c.Identify, partial(identify, read_uow=deps.read_uow, clock=deps.clock))
    for query, reader in (
        (c.UsersPage, users_page),
        (c.UserNamed, user_named),
        (c.Organisations, organisations),
        (c.GrantsPage, grants_page),
    ):
        bus.register(query, partial(reader, read_uow=deps.read_uow))
    bus.subscribe(UserDeleted, partial(close_streams_of_user, streams=deps.streams))
    bus.subscribe(TokenRevoked, partial(close_streams_of_token, streams=deps.streams))
    bus.subscribe(UserAccessChanged, partial(recheck_streams_of_user, streams=deps.streams))
