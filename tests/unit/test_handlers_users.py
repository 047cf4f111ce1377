"""The users area's handlers on the in-memory store: accounts, four eyes, sign-in, tokens."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pyotp
import pytest
from argon2 import PasswordHasher

from tests.unit.fakes import FakePlatform, memory_bus
from veille.domain.access import Role, Scope, ScopeKind
from veille.domain.audit import Actor, AuditEntry, system_actor
from veille.domain.grants import GrantStatus, UserGrant
from veille.domain.users import FEDERAL, User
from veille.service import users as user_service
from veille.service.commands import users as c
from veille.service.errors import Conflict, Forbidden, Invalid, NotFound, VeilleError
from veille.service.handlers import users
from veille.settings import Settings

pytestmark = pytest.mark.unit

PASSWORD = "a long enough password"
SHELL = system_actor("cli:root")


def actor(user: User) -> Actor:
    return Actor(username=user.username, role=user.role.value, user_id=user.user_id)


def audit(fake: FakePlatform, action: str) -> list[AuditEntry]:
    """What the audit log holds for `action`, oldest first."""
    with fake.store.uow(write=False) as uow:
        return [r.entry for r in uow.audit.search(action=action)]


def stored(fake: FakePlatform, username: str) -> User | None:
    with fake.store.uow(write=False) as uow:
        return uow.users.by_username(username)


@pytest.fixture(autouse=True)
def cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2id at its cheapest: these tests are about the rules, not the hash's cost."""
    monkeypatch.setattr(
        user_service, "_HASHER", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    )
    monkeypatch.setattr(user_service, "_DUMMY_HASH", user_service.hash_password("dummy"))


@pytest.fixture
def fake() -> FakePlatform:
    """Two administrators: alice (the first, at the shell) and bob (set up at once)."""
    fake = memory_bus(users.register)
    fake.settings = Settings(lockout_failures=3, lockout_minutes=15, session_hours=8)
    fake.bus.handle(c.CreateFirstAdmin(username="alice", password=PASSWORD, actor=SHELL))
    fake.bus.handle(
        c.ProvisionUser(
            username="bob",
            password=PASSWORD,
            role=Role.ADMINISTRATOR,
            org_id=FEDERAL.org_id,
            actor=SHELL,
        )
    )
    return fake


@pytest.fixture
def alice(fake: FakePlatform) -> User:
    user = stored(fake, "alice")
    assert user is not None
    return user


@pytest.fixture
def bob(fake: FakePlatform) -> User:
    user = stored(fake, "bob")
    assert user is not None
    return user


def request_operator(fake: FakePlatform, by: User, name: str = "olga") -> UserGrant:
    grant = fake.bus.handle(
        c.CreateUser(
            username=name,
            password=PASSWORD,
            role=Role.OPERATOR,
            org_id=FEDERAL.org_id,
            designated=True,
            training_expires=fake.now + timedelta(days=30),
            actor=actor(by),
            reason="control room",
        )
    )
    assert isinstance(grant, UserGrant)
    return grant


# ---- accounts and four eyes ---------------------------------------------------------------


def test_an_account_without_data_access_is_created_at_once_and_audited(fake, alice):
    made = fake.bus.handle(
        c.CreateUser(
            username="Hector",
            password=PASSWORD,
            role=Role.HOTLIST_MANAGER,
            org_id=FEDERAL.org_id,
            actor=actor(alice),
        )
    )
    assert isinstance(made, User) and made.username == "hector"
    assert stored(fake, "hector") == made
    assert made.password_hash != PASSWORD
    [record] = [r for r in audit(fake, "user.create") if r.target == "hector"]
    assert record.actor.username == "alice" and record.params["role"] == "hotlist_manager"


def test_data_access_waits_for_a_second_administrator(fake, alice, bob):
    grant = request_operator(fake, alice)
    assert grant.status is GrantStatus.PENDING and grant.user_id is None
    assert stored(fake, "olga") is None  # no account until a second pair of eyes
    assert fake.bus.handle(c.UserNamed("olga")) is None
    with pytest.raises(Forbidden) as own:
        fake.bus.handle(c.DecideGrant(grant_id=grant.grant_id, approve=True, actor=actor(alice)))
    assert own.value.code == "separation_of_duties"
    assert stored(fake, "olga") is None

    decided = fake.bus.handle(
        c.DecideGrant(grant_id=grant.grant_id, approve=True, actor=actor(bob), reason="ok")
    )
    olga = stored(fake, "olga")
    assert olga is not None and olga.role is Role.OPERATOR and olga.designated
    assert decided.status is GrantStatus.APPROVED and decided.user_id == olga.user_id
    assert decided.password_hash is None  # kept no longer than needed
    assert [r.params["grant_id"] for r in audit(fake, "user_grant.request")] == [grant.grant_id]
    [approval] = audit(fake, "user_grant.approve")
    assert approval.actor.username == "bob" and approval.params["requested_by"] == "alice"
    assert ("recheck_user", olga.user_id, None) in fake.streams.told


def test_a_widening_change_waits_and_the_rest_applies_at_once(fake, alice, bob):
    hector = fake.bus.handle(
        c.CreateUser(
            username="hector",
            password=PASSWORD,
            role=Role.HOTLIST_MANAGER,
            org_id=FEDERAL.org_id,
            actor=actor(alice),
        )
    )
    user, grant = fake.bus.handle(
        c.UpdateUser(
            user_id=hector.user_id,
            actor=actor(alice),
            role=Role.INVESTIGATOR,
            display_name="Hector B.",
        )
    )
    assert user.role is Role.HOTLIST_MANAGER and user.display_name == "Hector B."
    assert grant is not None and grant.changes == {"role": "investigator"}
    assert ("recheck_user", hector.user_id, None) in fake.streams.told
    with pytest.raises(Conflict):  # one pending grant per account
        fake.bus.handle(
            c.UpdateUser(user_id=hector.user_id, actor=actor(bob), role=Role.SUPERVISOR)
        )


def test_deleting_an_account_revokes_its_tokens_and_ends_its_streams(fake, alice, bob):
    signed_in = fake.bus.handle(c.SignIn(username="bob", password=PASSWORD, issue="api"))
    assert fake.bus.handle(c.Identify(signed_in.token)) is not None
    closed = fake.bus.handle(c.DeleteUser(user_id=bob.user_id, actor=actor(alice)))
    assert closed.deleted_at == fake.now
    assert fake.bus.handle(c.Identify(signed_in.token)) is None
    assert ("close_user", bob.user_id, "account deleted") in fake.streams.told
    [record] = audit(fake, "user.delete")
    assert record.target == "bob" and record.params["tokens_revoked"] == 1


REFUSALS: list[tuple[str, Any, type[VeilleError], str]] = [
    ("an unknown account is deleted", lambda f, a, b: c.DeleteUser(999, a), NotFound, "not_found"),
    (
        "an unknown account is changed",
        lambda f, a, b: c.UpdateUser(user_id=999, actor=a, display_name="x"),
        NotFound,
        "not_found",
    ),
    (
        "a second first administrator",
        lambda f, a, b: c.CreateFirstAdmin(username="carol", password=PASSWORD),
        Conflict,
        "conflict",
    ),
    (
        "a weak password",
        lambda f, a, b: c.CreateUser(
            username="weak", password="short", role=Role.AUDITOR, org_id="federal", actor=a
        ),
        Invalid,
        "invalid_user",
    ),
    (
        "a name already taken",
        lambda f, a, b: c.CreateUser(
            username="bob", password=PASSWORD, role=Role.HOTLIST_MANAGER, org_id="federal", actor=a
        ),
        Invalid,
        "invalid_user",
    ),
    (
        "a change to an organisation that does not exist",
        lambda f, a, b: c.UpdateUser(user_id=b.user_id, actor=a, org_id="nowhere"),
        Invalid,
        "invalid_change",
    ),
    (
        "one's own role",
        lambda f, a, b: c.UpdateUser(user_id=a.user_id, actor=a, role=Role.AUDITOR),
        Forbidden,
        "separation_of_duties",
    ),
    (
        "an unknown grant",
        lambda f, a, b: c.DecideGrant(grant_id=999, approve=True, actor=a),
        NotFound,
        "not_found",
    ),
    (
        "a refusal without a reason",
        lambda f, a, b: c.DecideGrant(grant_id=999, approve=False, actor=a),
        Invalid,
        "invalid_request",
    ),
    (
        "an organisation that exists",
        lambda f, a, b: c.CreateOrganisation(
            org_id="federal", name="Again", kind="federal", scope=Scope(ScopeKind.NATIONAL), actor=a
        ),
        Conflict,
        "conflict",
    ),
    (
        "an organisation of no known kind",
        lambda f, a, b: c.CreateOrganisation(
            org_id="pz-x", name="Zone X", kind="club", scope=Scope(ScopeKind.ZONE, "X"), actor=a
        ),
        Invalid,
        "invalid_request",
    ),
    (
        "a TOTP confirmation with no enrolment",
        lambda f, a, b: c.ConfirmTotp(user_id=a.user_id, code="123456", actor=a),
        Invalid,
        "totp_not_confirmed",
    ),
    (
        "a TOTP enrolment of an unknown account",
        lambda f, a, b: c.EnrolTotp(user_id=999, actor=a, by_administrator=True),
        NotFound,
        "not_found",
    ),
]


@pytest.mark.parametrize(
    ("message", "kind", "code"),
    [(build, kind, code) for _, build, kind, code in REFUSALS],
    ids=[what for what, *_ in REFUSALS],
)
def test_each_refusal_is_its_kind_with_its_code(fake, alice, bob, message, kind, code):
    with pytest.raises(kind) as refused:
        fake.bus.handle(message(fake, actor(alice), bob))
    assert refused.value.code == code


def test_the_last_administrator_stays(fake, alice, bob):
    fake.bus.handle(c.DeleteUser(user_id=bob.user_id, actor=actor(alice)))
    with pytest.raises(Conflict, match="last administrator"):
        fake.bus.handle(c.DeleteUser(user_id=alice.user_id, actor=SHELL))
    assert stored(fake, "alice").active  # type: ignore[union-attr]


# ---- sign-in, lock-out, tokens -----------------------------------------------------------


def refusal_reasons(fake: FakePlatform) -> list[str]:
    return [r.params["reason"] for r in audit(fake, "auth.sign_in") if r.outcome == "refused"]


def test_repeated_wrong_passwords_lock_the_account_and_each_attempt_is_audited(fake, bob):
    for _ in range(3):  # the fake's policy: three in a row
        with pytest.raises(user_service.SignInRefused) as refused:
            fake.bus.handle(c.SignIn(username="bob", password="not the password"))
        assert refused.value.code == "sign_in_refused"
    locked = stored(fake, "bob")
    assert locked is not None and locked.locked_until == fake.now + timedelta(minutes=15)
    with pytest.raises(user_service.SignInRefused):  # the right password, but locked
        fake.bus.handle(c.SignIn(username="bob", password=PASSWORD))
    assert refusal_reasons(fake) == [
        "wrong password",
        "wrong password",
        "wrong password — account locked",
        "account locked",
    ]
    fake.now += timedelta(minutes=16)
    signed_in = fake.bus.handle(c.SignIn(username="bob", password=PASSWORD, ip="10.0.0.7"))
    assert signed_in.user.failed_logins == 0 and signed_in.token is None
    accepted = [r for r in audit(fake, "auth.sign_in") if r.outcome != "refused"]
    assert [(r.actor.username, r.actor.ip) for r in accepted] == [("bob", "10.0.0.7")]


def test_an_unknown_name_is_refused_as_a_wrong_password_is(fake):
    with pytest.raises(user_service.SignInRefused) as unknown:
        fake.bus.handle(c.SignIn(username="nobody", password=PASSWORD))
    with pytest.raises(user_service.SignInRefused) as wrong:
        fake.bus.handle(c.SignIn(username="bob", password="not the password"))
    assert str(unknown.value) == str(wrong.value)
    assert refusal_reasons(fake) == ["unknown or deleted user", "wrong password"]


def test_wrong_one_time_codes_lock_the_account_too_and_the_audit_says_so(fake, alice, bob):
    enrolment = fake.bus.handle(
        c.EnrolTotp(user_id=bob.user_id, actor=actor(alice), by_administrator=True)
    )
    assert "bob" in enrolment.otpauth_uri
    for _ in range(3):
        with pytest.raises(user_service.SignInRefused):
            fake.bus.handle(c.SignIn(username="bob", password=PASSWORD, totp_code="000000"))
    assert refusal_reasons(fake)[-1] == "missing or wrong TOTP code — account locked"
    fake.now += timedelta(minutes=16)
    code = pyotp.TOTP(enrolment.secret).at(fake.now)
    assert fake.bus.handle(c.SignIn(username="bob", password=PASSWORD, totp_code=code))


def test_a_required_second_factor_not_enrolled_is_refused(fake):
    fake.settings = Settings(totp_required_roles=["administrator"])
    with pytest.raises(user_service.SignInRefused, match="second factor"):
        fake.bus.handle(c.SignIn(username="bob", password=PASSWORD))
    assert refusal_reasons(fake) == ["second factor required, none enrolled"]


def test_a_token_is_issued_on_sign_in_identifies_its_holder_and_is_revoked(fake, bob):
    signed_in = fake.bus.handle(
        c.SignIn(username="bob", password=PASSWORD, issue="api", token_name="scripts")
    )
    assert signed_in.token.startswith("vu_") and signed_in.csrf_token is None
    assert signed_in.expires_at == fake.now + timedelta(days=90)
    identity = fake.bus.handle(c.Identify(signed_in.token))
    assert identity.principal.username == "bob" and identity.kind == "api"

    assert fake.bus.handle(c.RevokeToken(token=signed_in.token, actor=actor(bob))) is True
    assert fake.bus.handle(c.Identify(signed_in.token)) is None
    token_hash = user_service.hash_token(signed_in.token)
    assert ("close_credential", token_hash, "signed out") in fake.streams.told
    assert fake.bus.handle(c.RevokeToken(token=signed_in.token, actor=actor(bob))) is False
    assert [r.params["revoked"] for r in audit(fake, "auth.sign_out")] == [True, False]


def test_a_browser_session_carries_a_csrf_token_and_lasts_the_configured_hours(fake):
    session = fake.bus.handle(c.SignIn(username="bob", password=PASSWORD, issue="session"))
    assert session.csrf_token and session.expires_at == fake.now + timedelta(hours=8)
    identity = fake.bus.handle(c.Identify(session.token))
    assert identity.kind == "session" and identity.csrf_token == session.csrf_token
    fake.now += timedelta(hours=8)
    assert fake.bus.handle(c.Identify(session.token)) is None  # expired


def test_a_privileged_token_expires_after_its_ttl(fake, bob):
    token = fake.bus.handle(c.IssueToken(user_id=bob.user_id, name="demo", ttl=timedelta(days=1)))
    assert fake.bus.handle(c.Identify(token)).principal.user_id == bob.user_id
    fake.now += timedelta(days=1, seconds=1)
    assert fake.bus.handle(c.Identify(token)) is None


# ---- listings and the DPO report ---------------------------------------------------------


def test_grants_page_by_status_after_a_cursor(fake, alice):
    first = request_operator(fake, alice, "olga")
    second = request_operator(fake, alice, "oscar")
    pending = fake.bus.handle(c.GrantsPage(status=GrantStatus.PENDING))
    assert [g.grant_id for g in pending] == [first.grant_id, second.grant_id]
    page = fake.bus.handle(c.GrantsPage(status=GrantStatus.PENDING, after=first.grant_id, limit=1))
    assert [g.grant_id for g in page] == [second.grant_id]
    bootstrap = fake.bus.handle(c.GrantsPage(status=GrantStatus.BOOTSTRAP))
    assert {g.username for g in bootstrap} == {"alice", "bob"}


def test_the_grant_report_is_audited_with_what_it_answered(fake, alice):
    request_operator(fake, alice)
    dpo = Actor(username="dpo", role="auditor", user_id=99)
    grants = fake.bus.handle(c.GrantReport(actor=dpo))
    assert len(grants) == 3  # two bootstrap grants and the request
    [record] = audit(fake, "user_grant.report")
    assert record.actor.username == "dpo" and record.result_count == 3


def test_a_refusal_is_recorded_with_who_and_what(fake, alice):
    fake.bus.handle(
        c.RecordRefusal(
            actor=actor(alice), params={"route": "GET /api/v1/reads"}, purpose="p", case_ref="C-1"
        )
    )
    [record] = audit(fake, "access.refused")
    assert record.outcome == "refused" and record.case_ref == "C-1"
    assert record.params == {"route": "GET /api/v1/reads"} and record.actor.username == "alice"
