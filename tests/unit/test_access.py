"""Access policy: role permissions, designation and training, and scopes (pure, no I/O)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from veille.domain.access import (
    DATA_PERMISSIONS,
    ROLE_PERMISSIONS,
    Permission,
    Principal,
    Role,
    Scope,
    ScopeKind,
    decide,
)

pytestmark = pytest.mark.unit

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TRAINED_UNTIL = NOW + timedelta(days=200)
ALL_PAIRS = list(itertools.product(Role, Permission))


def principal(
    role: Role,
    *,
    designated: bool = True,
    training_expires: datetime | None = TRAINED_UNTIL,
    scope: Scope = Scope(ScopeKind.NATIONAL),
) -> Principal:
    return Principal(
        user_id=7,
        username="jdupont",
        role=role,
        org_id="federal",
        scope=scope,
        designated=designated,
        training_expires=training_expires,
    )


def test_every_role_has_a_permission_set():
    assert set(ROLE_PERMISSIONS) == set(Role)


@pytest.mark.parametrize(("role", "permission"), ALL_PAIRS, ids=lambda v: str(v))
def test_role_gets_exactly_its_permissions(role: Role, permission: Permission):
    # A designated, trained user: only the role decides.
    verdict = decide(principal(role), permission, NOW)
    if permission in ROLE_PERMISSIONS[role]:
        assert verdict is None
    else:
        assert verdict == f"role {role.value} lacks permission {permission.value}"


@pytest.mark.parametrize(
    ("role", "permission", "allowed"),
    [
        # From DOMAIN.md "Roles": independent of the table under test.
        (Role.ADMINISTRATOR, Permission.READS_SEARCH, False),  # no access to reads by default
        (Role.ADMINISTRATOR, Permission.ALERTS_VIEW, False),
        (Role.ADMINISTRATOR, Permission.USERS_MANAGE, True),
        (Role.ADMINISTRATOR, Permission.CAMERAS_MANAGE, True),
        (Role.AUDITOR, Permission.AUDIT_READ, True),
        (Role.AUDITOR, Permission.READS_SEARCH, False),  # no live data
        (Role.AUDITOR, Permission.ALERTS_VIEW, False),
        (Role.OPERATOR, Permission.ALERTS_DECIDE, True),
        (Role.OPERATOR, Permission.READS_SEARCH, False),
        (Role.INVESTIGATOR, Permission.READS_SEARCH, True),
        (Role.INVESTIGATOR, Permission.AUTHORIZATIONS_REQUEST, True),
        (Role.INVESTIGATOR, Permission.AUTHORIZATIONS_DECIDE, False),
        (Role.PROSECUTOR, Permission.AUTHORIZATIONS_DECIDE, True),
        (Role.PROSECUTOR, Permission.READS_SEARCH, False),
        (Role.HOTLIST_MANAGER, Permission.HOTLISTS_MANAGE, True),
        (Role.OPERATOR, Permission.HOTLISTS_MANAGE, False),
        (Role.SUPERVISOR, Permission.ALERTS_VIEW, True),
        (Role.SUPERVISOR, Permission.USERS_MANAGE, False),
    ],
)
def test_domain_role_expectations(role: Role, permission: Permission, allowed: bool):
    assert (decide(principal(role), permission, NOW) is None) == allowed


@pytest.mark.parametrize("role", list(Role))
def test_everyone_may_manage_their_own_account(role: Role):
    untrained = principal(role, designated=False, training_expires=None)
    assert decide(untrained, Permission.SELF, NOW) is None


DATA_GRANTS = [
    (role, permission)
    for role, permissions in ROLE_PERMISSIONS.items()
    for permission in sorted(permissions & DATA_PERMISSIONS)
]


def test_some_roles_hold_data_permissions():
    # Guards the parametrisations below against becoming empty.
    assert {role for role, _ in DATA_GRANTS} >= {Role.OPERATOR, Role.INVESTIGATOR, Role.SUPERVISOR}


@pytest.mark.parametrize(("role", "permission"), DATA_GRANTS, ids=lambda v: str(v))
def test_data_permission_refused_when_not_designated(role: Role, permission: Permission):
    verdict = decide(principal(role, designated=False), permission, NOW)
    assert verdict == "user is not designated for ANPR use"


@pytest.mark.parametrize(("role", "permission"), DATA_GRANTS, ids=lambda v: str(v))
@pytest.mark.parametrize(
    "training_expires",
    [None, NOW - timedelta(days=1), NOW - timedelta(microseconds=1), NOW],
    ids=["missing", "expired-yesterday", "expired-just-now", "expires-now"],
)
def test_data_permission_refused_without_valid_training(
    role: Role, permission: Permission, training_expires: datetime | None
):
    verdict = decide(principal(role, training_expires=training_expires), permission, NOW)
    assert verdict == "training certificate missing or expired"


@pytest.mark.parametrize(("role", "permission"), DATA_GRANTS, ids=lambda v: str(v))
def test_data_permission_allowed_until_training_expires(role: Role, permission: Permission):
    almost = principal(role, training_expires=NOW + timedelta(microseconds=1))
    assert decide(almost, permission, NOW) is None


NON_DATA_GRANTS = [
    (role, permission)
    for role, permissions in ROLE_PERMISSIONS.items()
    for permission in sorted(permissions - DATA_PERMISSIONS)
]


@pytest.mark.parametrize(("role", "permission"), NON_DATA_GRANTS, ids=lambda v: str(v))
def test_non_data_permissions_need_no_designation_or_training(role: Role, permission: Permission):
    bare = principal(role, designated=False, training_expires=NOW - timedelta(days=1))
    assert decide(bare, permission, NOW) is None


def test_reads_and_alerts_are_data_permissions():
    assert {
        Permission.READS_SEARCH,
        Permission.ALERTS_VIEW,
        Permission.ALERTS_DECIDE,
    } <= DATA_PERMISSIONS
    assert Permission.AUDIT_READ not in DATA_PERMISSIONS


# --- scopes -----------------------------------------------------------------------------

names = st.sampled_from(["Midi", "Polbruno", "Montgomery", "Antwerpen", "Namur", "Liège", ""])


@given(names, names)
def test_national_scope_covers_everything(zone: str, province: str):
    assert Scope(ScopeKind.NATIONAL).covers(zone=zone, province=province)


@given(names, names, names)
def test_zone_scope_covers_only_its_zone(own: str, zone: str, province: str):
    assert Scope(ScopeKind.ZONE, own).covers(zone=zone, province=province) == (zone == own)


@given(names, names, names)
def test_province_scope_covers_only_its_province(own: str, zone: str, province: str):
    covered = Scope(ScopeKind.PROVINCE, own).covers(zone=zone, province=province)
    assert covered == (province == own)


def test_scope_examples():
    midi = Scope(ScopeKind.ZONE, "Midi")
    assert midi.covers(zone="Midi", province="Bruxelles-Capitale")
    assert not midi.covers(zone="Polbruno", province="Bruxelles-Capitale")
    # A zone named like a province does not widen a zone scope.
    assert not midi.covers(zone="Anderlecht", province="Midi")
    namur = Scope(ScopeKind.PROVINCE, "Namur")
    assert namur.covers(zone="Namur/Capitale", province="Namur")
    assert not namur.covers(zone="Namur", province="Liège")
