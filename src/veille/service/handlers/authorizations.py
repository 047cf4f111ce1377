"""Authorization handlers: request, decide (approve or refuse) and revoke; the listings of
an investigator's requests and of a prosecutor's district."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import partial

from veille.domain.authorizations import Authorization, AuthorizationError
from veille.domain.districts import CrossDistrictRule, DistrictMap
from veille.service import authorizations as auth_service
from veille.service.commands import (
    AuthorizationsOfInvestigator,
    AuthorizationsToDecide,
    DecideAuthorization,
    RequestAuthorization,
    RevokeAuthorization,
)
from veille.service.errors import Conflict, Forbidden
from veille.service.events import (
    AuthorizationDecided,
    AuthorizationRequested,
    AuthorizationRevoked,
)
from veille.service.handlers.deps import Dependencies
from veille.service.messagebus import MessageBus, Raised
from veille.service.ports import UnitOfWork
from veille.service.queries import LegalPolicy


def request_authorization(
    cmd: RequestAuthorization,
    raised: Raised,
    *,
    uow: Callable[[], UnitOfWork],
    clock: Callable[[], datetime],
    policy: Callable[[], LegalPolicy],
    districts: Callable[[], DistrictMap],
) -> Authorization:
    """A refused request is `Invalid` (422): the rules say what to change."""
    rules = policy()
    auth = auth_service.request_authorization(
        uow=uow(),
        principal=cmd.principal,
        actor=cmd.actor,
        request=cmd.request,
        judicial_purposes=rules.authorization_purposes & rules.purposes,
        case_ref_ok=rules.case_ref_pattern.fullmatch(cmd.request.case_ref) is not None,
        districts=districts(),
        now=clock(),
    )
    raised.append(AuthorizationRequested(auth))
    return auth


def decide_authorization(
    cmd: DecideAuthorization,
    raised: Raised,
    *,
    uow: Callable[[], UnitOfWork],
    clock: Callable[[], datetime],
    districts: Callable[[], DistrictMap],
    rule: Callable[[], CrossDistrictRule],
) -> Authorization:
    """A decision the rules refuse (decided already, another district) is a `Conflict`."""
    try:
        auth = auth_service.decide_authorization(
            uow=uow(),
            principal=cmd.principal,
            actor=cmd.actor,
            auth_id=cmd.auth_id,
            approve=cmd.approve,
            reasons=cmd.reasons,
            now=clock(),
            districts=districts(),
            rule=rule(),
            expires_at=cmd.expires_at,
            conditions=cmd.conditions,
        )
    except AuthorizationError as refused:
        raise Conflict(str(refused)) from refused
    raised.append(AuthorizationDecided(auth, cmd.approve))
    return auth


def revoke_authorization(
    cmd: RevokeAuthorization,
    raised: Raised,
    *,
    uow: Callable[[], UnitOfWork],
    clock: Callable[[], datetime],
    districts: Callable[[], DistrictMap],
    rule: Callable[[], CrossDistrictRule],
) -> Authorization:
    """A revocation the rules refuse (not approved, another district) is a `Conflict`."""
    try:
        auth = auth_service.revoke_authorization(
            uow=uow(),
            principal=cmd.principal,
            actor=cmd.actor,
            auth_id=cmd.auth_id,
            reasons=cmd.reasons,
            now=clock(),
            districts=districts(),
            rule=rule(),
        )
    except AuthorizationError as refused:
        raise Conflict(str(refused)) from refused
    raised.append(AuthorizationRevoked(auth))
    return auth


def authorizations_of_investigator(
    query: AuthorizationsOfInvestigator,
    raised: Raised,
    *,
    read_uow: Callable[[], UnitOfWork],
) -> list[Authorization]:
    return auth_service.list_for_investigator(
        uow=read_uow(), principal=query.principal, before=query.before, limit=query.limit
    )


def authorizations_to_decide(
    query: AuthorizationsToDecide,
    raised: Raised,
    *,
    read_uow: Callable[[], UnitOfWork],
    districts: Callable[[], DistrictMap],
    rule: Callable[[], CrossDistrictRule],
) -> list[Authorization]:
    """Someone who is not a prosecutor of a configured district is `Forbidden`."""
    try:
        return auth_service.list_for_prosecutor(
            uow=read_uow(),
            principal=query.principal,
            districts=districts(),
            rule=rule(),
            status=query.status,
            before=query.before,
            limit=query.limit,
        )
    except AuthorizationError as refused:
        raise Forbidden(str(refused)) from refused


def register(bus: MessageBus, deps: Dependencies) -> None:
    """Register every handler of this area on `bus`, with `deps` bound."""
    bus.register(
        RequestAuthorization,
        partial(
            request_authorization,
            uow=deps.uow,
            clock=deps.clock,
            policy=deps.policy,
            districts=deps.districts,
        ),
    )
    for command, handler in (
        (DecideAuthorization, decide_authorization),
        (RevokeAuthorization, revoke_authorization),
    ):
        bus.register(
            command,
            partial(
                handler, uow=deps.uow, clock=deps.clock, districts=deps.districts, rule=deps.rule
            ),
        )
    bus.register(
        AuthorizationsOfInvestigator,
        partial(authorizations_of_investigator, read_uow=deps.read_uow),
    )
    bus.register(
        AuthorizationsToDecide,
        partial(
            authorizations_to_decide,
            read_uow=deps.read_uow,
            districts=deps.districts,
            rule=deps.rule,
        ),
    )
