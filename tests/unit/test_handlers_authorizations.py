"""Authorization handlers on the in-memory store: request, decide, revoke, each audited."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import pytest

from tests.contract.builders import a_camera, a_user, an_org, committed, seen
from tests.unit.fakes import FakePlatform, memory_bus
from veille.domain.access import Principal, Role, Scope, ScopeKind
from veille.domain.audit import Actor, AuditEntry
from veille.domain.authorizations import Authorization, AuthorizationStatus
from veille.domain.districts import BRUSSELS, FEDERAL_PROSECUTOR, CrossDistrictRule
from veille.service.authorizations import AuthorizationRequest
from veille.service.commands import DecideAuthorization, RequestAuthorization, RevokeAuthorization
from veille.service.errors import Conflict, Invalid, NotFound
from veille.service.events import (
    AuthorizationDecided,
    AuthorizationRequested,
    AuthorizationRevoked,
)
from veille.service.handlers import authorizations

pytestmark = pytest.mark.unit

D = timedelta(days=1)
JUDICIAL = "judicial: investigation of an offence"
CASE = "BR.12.34.567890/26"


@dataclass
class People:
    investigator: Principal
    brussels: Principal  # the prosecutor of Brussels
    liege: Principal  # the prosecutor of Liège
    federal: Principal


def _principal(
    fake: FakePlatform, username: str, role: Role, org_id: str, scope: Scope
) -> Principal:
    def add(uow: Any) -> int:
        if uow.users.get_org(org_id) is None:
            uow.users.add_org(replace(an_org(org_id, scope), kind="prosecutor"))
        return int(uow.users.add(a_user(username, org_id=org_id, role=role)))

    user_id = committed(fake.store, add)
    return Principal(
        user_id=user_id,
        username=username,
        role=role,
        org_id=org_id,
        scope=scope,
        designated=True,
        training_expires=fake.now + 300 * D,
    )


@pytest.fixture
def fake() -> FakePlatform:
    fake = memory_bus(authorizations.register)

    def cameras(uow: Any) -> None:
        uow.cameras.add(a_camera("BXL-1", zone="Midi", province="Bruxelles-Capitale"))
        uow.cameras.add(a_camera("LGE-1", zone="Liège", province="Liège"))

    committed(fake.store, cameras)
    return fake


@pytest.fixture
def people(fake: FakePlatform) -> People:
    return People(
        investigator=_principal(
            fake, "alice", Role.INVESTIGATOR, "fed-police", Scope(ScopeKind.NATIONAL, "BE")
        ),
        brussels=_principal(
            fake, "pr-bxl", Role.PROSECUTOR, "pr-bxl", Scope(ScopeKind.DISTRICT, BRUSSELS)
        ),
        liege=_principal(
            fake, "pr-lge", Role.PROSECUTOR, "pr-lge", Scope(ScopeKind.DISTRICT, "Liège")
        ),
        federal=_principal(
            fake,
            "pr-fed",
            Role.PROSECUTOR,
            "pr-fed",
            Scope(ScopeKind.DISTRICT, FEDERAL_PROSECUTOR),
        ),
    )


def actor(principal: Principal) -> Actor:
    return Actor(
        username=principal.username,
        role=principal.role.value,
        user_id=principal.user_id,
        org_id=principal.org_id,
    )


def a_request(fake: FakePlatform, *cameras: str, **overrides: Any) -> AuthorizationRequest:
    fields: dict[str, Any] = {
        "case_ref": CASE,
        "purpose": JUDICIAL,
        "justification": "a stolen van used in three burglaries",
        "district": None,
        "investigators": frozenset(),
        "plates": frozenset({"1ABC123"}),
        "camera_ids": frozenset(cameras or ("BXL-1",)),
        "area": None,
        "period_start": fake.now - 90 * D,
        "period_end": fake.now - 60 * D,
    }
    fields.update(overrides)
    return AuthorizationRequest(**fields)


def request(fake: FakePlatform, people: People, *cameras: str, **overrides: Any) -> Authorization:
    inv = people.investigator
    auth: Authorization = fake.bus.handle(
        RequestAuthorization(
            request=a_request(fake, *cameras, **overrides), principal=inv, actor=actor(inv)
        )
    )
    return auth


def decide(
    fake: FakePlatform, auth_id: int, by: Principal, *, approve: bool = True
) -> Authorization:
    decided: Authorization = fake.bus.handle(
        DecideAuthorization(
            auth_id=auth_id,
            approve=approve,
            reasons="proportionate to the offence" if approve else "not proportionate",
            principal=by,
            actor=actor(by),
            expires_at=fake.now + 30 * D if approve else None,
        )
    )
    return decided


def revoke(fake: FakePlatform, auth_id: int, by: Principal, reasons: str) -> Authorization:
    revoked: Authorization = fake.bus.handle(
        RevokeAuthorization(auth_id=auth_id, reasons=reasons, principal=by, actor=actor(by))
    )
    return revoked


def audit(fake: FakePlatform, action: str) -> list[AuditEntry]:
    return seen(
        fake.store,
        lambda uow: [r.entry for r in uow.audit.iter_all() if r.entry.action == action],
    )


def events(fake: FakePlatform, kind: type) -> list[Any]:
    got: list[Any] = []
    fake.bus.subscribe(kind, lambda event, raised: got.append(event))
    return got


# --- requesting -------------------------------------------------------------------------


def test_a_judicial_request_is_stored_pending_for_its_district_and_audited(fake, people):
    requested = events(fake, AuthorizationRequested)
    auth = request(fake, people, "BXL-1")
    stored = seen(fake.store, lambda uow: uow.authorizations.get(auth.auth_id))
    assert stored == auth and auth.status is AuthorizationStatus.PENDING
    assert auth.districts == {BRUSSELS} and auth.investigators == {people.investigator.user_id}
    [entry] = audit(fake, "authorization.request")
    assert (entry.target, entry.case_ref, entry.purpose) == (str(auth.auth_id), CASE, JUDICIAL)
    assert entry.actor.username == "alice"
    assert [e.authorization.auth_id for e in requested] == [auth.auth_id]


def test_a_request_without_a_judicial_purpose_is_invalid_and_stores_nothing(fake, people):
    with pytest.raises(Invalid, match="judicial"):
        request(fake, people, purpose="administrative: missing person")
    assert seen(fake.store, lambda uow: uow.authorizations.find()) == []
    assert audit(fake, "authorization.request") == []


def test_a_case_reference_the_pattern_refuses_is_invalid(fake, people):
    with pytest.raises(Invalid, match="case reference"):
        request(fake, people, case_ref="x")  # the pattern wants 4 to 64 characters
    assert seen(fake.store, lambda uow: uow.authorizations.find()) == []


# --- deciding ---------------------------------------------------------------------------


def test_the_districts_prosecutor_approves_and_the_approval_is_audited(fake, people):
    decided_events = events(fake, AuthorizationDecided)
    auth = request(fake, people, "BXL-1")
    approved = decide(fake, auth.auth_id, people.brussels)
    assert approved.status is AuthorizationStatus.APPROVED
    assert approved.expires_at == fake.now + 30 * D
    assert seen(fake.store, lambda uow: uow.authorizations.get(auth.auth_id)) == approved
    [entry] = audit(fake, "authorization.approve")
    assert entry.actor.username == "pr-bxl" and entry.params["district"] == BRUSSELS
    assert [(e.authorization.auth_id, e.approved) for e in decided_events] == [(auth.auth_id, True)]


def test_the_districts_prosecutor_refuses_with_reasons(fake, people):
    auth = request(fake, people, "BXL-1")
    refused = decide(fake, auth.auth_id, people.brussels, approve=False)
    assert refused.status is AuthorizationStatus.REFUSED
    [entry] = audit(fake, "authorization.refuse")
    assert entry.params["reasons"] == "not proportionate"


def test_another_districts_prosecutor_may_not_decide(fake, people):
    auth = request(fake, people, "BXL-1")
    with pytest.raises(Conflict, match="another judicial district"):
        decide(fake, auth.auth_id, people.liege)
    stored = seen(fake.store, lambda uow: uow.authorizations.get(auth.auth_id))
    assert stored.status is AuthorizationStatus.PENDING
    assert audit(fake, "authorization.approve") == []


def test_a_decided_request_cannot_be_decided_again(fake, people):
    auth = request(fake, people, "BXL-1")
    decide(fake, auth.auth_id, people.brussels)
    with pytest.raises(Conflict):
        decide(fake, auth.auth_id, people.brussels, approve=False)
    assert len(audit(fake, "authorization.approve")) == 1
    assert audit(fake, "authorization.refuse") == []


def test_an_unknown_request_is_not_found(fake, people):
    with pytest.raises(NotFound):
        decide(fake, 999, people.brussels)


def test_a_request_spanning_districts_needs_each_district_by_default(fake, people):
    auth = request(fake, people, "BXL-1", "LGE-1")
    assert auth.districts == {BRUSSELS, "Liège"}
    with pytest.raises(Conflict, match="each district"):
        decide(fake, auth.auth_id, people.federal)
    half = decide(fake, auth.auth_id, people.brussels)
    assert half.status is AuthorizationStatus.PENDING  # Liège has not approved yet
    whole = decide(fake, auth.auth_id, people.liege)
    assert whole.status is AuthorizationStatus.APPROVED
    assert [e.params["district"] for e in audit(fake, "authorization.approve")] == [
        BRUSSELS,
        "Liège",
    ]


def test_under_the_federal_rule_only_the_federal_prosecutor_decides_across_districts(fake, people):
    fake.settings = fake.settings.model_copy(
        update={"cross_district_approval": CrossDistrictRule.FEDERAL}
    )
    auth = request(fake, people, "BXL-1", "LGE-1")
    with pytest.raises(Conflict, match="federal prosecutor"):
        decide(fake, auth.auth_id, people.brussels)
    assert decide(fake, auth.auth_id, people.federal).status is AuthorizationStatus.APPROVED


# --- revoking ---------------------------------------------------------------------------


def test_the_districts_prosecutor_revokes_an_approval_and_it_is_audited(fake, people):
    revoked_events = events(fake, AuthorizationRevoked)
    auth = request(fake, people, "BXL-1")
    decide(fake, auth.auth_id, people.brussels)
    with pytest.raises(Conflict):  # not theirs to revoke
        revoke(fake, auth.auth_id, people.liege, "case closed")
    revoked = revoke(fake, auth.auth_id, people.brussels, "case closed")
    assert revoked.status is AuthorizationStatus.REVOKED
    assert seen(fake.store, lambda uow: uow.authorizations.get(auth.auth_id)) == revoked
    [entry] = audit(fake, "authorization.revoke")
    assert entry.params == {"reasons": "case closed", "district": BRUSSELS}
    assert [e.authorization.auth_id for e in revoked_events] == [auth.auth_id]


def test_a_pending_request_cannot_be_revoked(fake, people):
    auth = request(fake, people, "BXL-1")
    with pytest.raises(Conflict):
        revoke(fake, auth.auth_id, people.brussels, "changed my mind")
    assert audit(fake, "authorization.revoke") == []
