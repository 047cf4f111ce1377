"""Which account changes need a second administrator, and who may decide them (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from veille.domain.access import Role
from veille.domain.audit import Actor, system_actor
from veille.domain.grants import (
    GrantKind,
    GrantStatus,
    UserGrant,
    change_needs_approval,
    creation_needs_approval,
    decision_refusal,
    is_same_person,
)
from veille.domain.users import User

pytestmark = pytest.mark.unit

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def user(role: Role = Role.HOTLIST_MANAGER, designated: bool = False, org: str = "pz-midi"):
    return User(
        user_id=7,
        username="hugo",
        display_name="Hugo",
        password_hash="x",
        role=role,
        org_id=org,
        designated=designated,
        training_expires=None,
        totp_secret=None,
        failed_logins=0,
        locked_until=None,
        created_at=NOW,
    )


def admin(user_id: int, name: str) -> Actor:
    return Actor(username=name, role="administrator", user_id=user_id)


@pytest.mark.parametrize("role", list(Role))
def test_every_role_but_the_hotlist_manager_needs_four_eyes_at_creation(role):
    assert creation_needs_approval(role=role, designated=False) is (
        role is not Role.HOTLIST_MANAGER
    )
    assert creation_needs_approval(role=role, designated=True)


@pytest.mark.parametrize(
    ("before", "change", "needed"),
    [
        (user(), {"role": Role.INVESTIGATOR}, True),
        (user(), {"role": Role.ADMINISTRATOR}, True),
        (user(), {"designated": True}, True),
        (user(designated=True), {"designated": True}, False),  # nothing new
        (user(Role.INVESTIGATOR, True), {"designated": False}, False),  # narrows
        (user(Role.INVESTIGATOR, True), {"role": Role.HOTLIST_MANAGER}, False),
        (user(Role.INVESTIGATOR), {"role": Role.INVESTIGATOR}, False),
        (user(Role.INVESTIGATOR), {"org_id": "federal"}, True),  # a wider scope
        (user(), {"org_id": "federal"}, False),  # no data access either way
        (user(designated=True), {"org_id": "federal"}, True),
        (user(Role.INVESTIGATOR), {"org_id": "pz-midi"}, False),  # the same organisation
    ],
)
def test_a_change_needs_four_eyes_when_it_widens_data_access(before, change, needed):
    asked = {"role": None, "org_id": None, "designated": None, **change}
    assert change_needs_approval(before, **asked) is needed


def grant(requested_by: Actor, *, user_id: int | None = 7) -> UserGrant:
    return UserGrant(
        grant_id=1,
        kind=GrantKind.CHANGE,
        username="hugo",
        user_id=user_id,
        changes={"role": "investigator"},
        status=GrantStatus.PENDING,
        requested_by=requested_by,
        requested_at=NOW,
    )


def test_the_requester_and_the_holder_cannot_decide():
    alice, bob = admin(1, "alice"), admin(2, "bob")
    assert decision_refusal(grant(alice), bob) is None
    assert "asked" in decision_refusal(grant(alice), alice)
    assert "own" in decision_refusal(grant(alice), admin(7, "hugo"))


def test_the_shell_and_an_account_of_the_same_login_are_one_person():
    alice = admin(1, "alice")
    assert "asked" in decision_refusal(grant(system_actor("cli:alice")), alice)
    assert "asked" in decision_refusal(grant(alice), system_actor("cli:alice"))
    assert decision_refusal(grant(system_actor("cli:root")), alice) is None
    assert is_same_person(system_actor("cli:hugo"), user_id=7, username="hugo")
    assert not is_same_person(system_actor("cli:root"), user_id=7, username="hugo")
