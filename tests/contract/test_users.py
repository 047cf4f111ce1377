"""Organisations, users and API tokens."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta, timezone
from typing import Any

import pytest

from tests.contract.builders import NOW, Store, a_grant, a_user, an_org, committed, seen
from tests.contract.conftest import Backend
from veille.domain.access import Role, Scope, ScopeKind
from veille.domain.audit import Actor
from veille.domain.grants import GrantKind, GrantStatus

pytestmark = pytest.mark.integration


@pytest.fixture
def orgs(store: Store) -> None:
    def write(uow: Any) -> None:
        uow.users.add_org(an_org("zone-midi"))
        uow.users.add_org(an_org("federal", Scope(ScopeKind.NATIONAL)))

    committed(store, write)


def add_user(store: Store, username: str, **fields: Any) -> int:
    return int(committed(store, lambda uow: uow.users.add(a_user(username, **fields))))


def test_organisations_are_stored_once_and_listed_by_id(store: Store, backend: Backend, orgs):
    with store.uow(write=False) as uow:
        assert uow.users.get_org("federal") == an_org("federal", Scope(ScopeKind.NATIONAL))
        assert uow.users.get_org("nowhere") is None
        assert [o.org_id for o in uow.users.list_orgs()] == ["federal", "zone-midi"]
    with store.uow() as uow, pytest.raises(backend.conflict):
        uow.users.add_org(an_org("federal"))


def test_a_user_gets_an_id_of_its_own_and_comes_back_as_stored(store: Store, orgs):
    alice = add_user(store, "alice", user_id=99)
    bob = add_user(store, "bob", org_id="federal", role=Role.OPERATOR, training_expires=None)
    assert alice != bob
    with store.uow(write=False) as uow:
        assert uow.users.get(alice) == a_user("alice", user_id=alice)
        assert uow.users.by_username("bob") == a_user(
            "bob", user_id=bob, org_id="federal", role=Role.OPERATOR, training_expires=None
        )
        assert uow.users.get(max(alice, bob) + 1) is None
        assert uow.users.by_username("carol") is None
        assert [u.username for u in uow.users.all()] == ["alice", "bob"]


def test_a_username_is_taken_once_and_a_user_needs_an_organisation(
    store: Store, backend: Backend, orgs
):
    add_user(store, "alice")
    with store.uow() as uow, pytest.raises(backend.conflict):
        uow.users.add(a_user("alice", org_id="federal"))
    with store.uow() as uow, pytest.raises(backend.conflict):
        uow.users.add(a_user("carol", org_id="no-such-org"))
    assert [u.username for u in seen(store, lambda uow: uow.users.all())] == ["alice"]


def test_update_changes_a_user_but_not_the_username_or_creation(store: Store, orgs):
    user_id = add_user(store, "alice")
    stored = seen(store, lambda uow: uow.users.get(user_id))
    changed = replace(
        stored,
        username="mallory",
        created_at=NOW + timedelta(days=5),
        display_name="Alice B.",
        password_hash="$argon2id$another",
        role=Role.SUPERVISOR,
        org_id="federal",
        designated=False,
        training_expires=None,
        totp_secret="secret",
        failed_logins=3,
        locked_until=NOW + timedelta(minutes=15),
        deleted_at=NOW + timedelta(days=1),
    )
    committed(store, lambda uow: uow.users.update(changed))
    assert seen(store, lambda uow: uow.users.get(user_id)) == replace(
        changed, username="alice", created_at=NOW
    )
    assert seen(store, lambda uow: uow.users.by_username("mallory")) is None


def test_count_admins_counts_active_administrators(store: Store, orgs):
    add_user(store, "root", role=Role.ADMINISTRATOR)
    add_user(store, "gone", role=Role.ADMINISTRATOR, deleted_at=NOW)
    add_user(store, "alice")
    assert seen(store, lambda uow: uow.users.count_admins()) == 1


def test_a_token_is_known_until_revoked(store: Store, orgs):
    alice, bob = add_user(store, "alice"), add_user(store, "bob")
    expires = NOW + timedelta(hours=8)

    def issue(uow: Any) -> None:
        uow.users.add_token(
            token_hash="t-session",
            user_id=alice,
            kind="session",
            name="browser",
            created_at=NOW,
            expires_at=expires,
            csrf_token="csrf-1",
        )
        uow.users.add_token(
            token_hash="t-api",
            user_id=alice,
            kind="api",
            name="cli",
            created_at=NOW,
            expires_at=None,
        )
        uow.users.add_token(
            token_hash="t-bob",
            user_id=bob,
            kind="api",
            name="cli",
            created_at=NOW,
            expires_at=None,
        )

    committed(store, issue)
    with store.uow(write=False) as uow:
        assert uow.users.token("t-session") == (alice, "session", expires, None, "csrf-1")
        assert uow.users.token("t-api") == (alice, "api", None, None, None)
        assert uow.users.token("t-unknown") is None
    later = NOW + timedelta(hours=1)
    assert committed(store, lambda uow: uow.users.revoke_token("t-session", later)) == 1
    assert committed(store, lambda uow: uow.users.revoke_token("t-session", NOW)) == 0
    assert committed(store, lambda uow: uow.users.revoke_token("t-unknown", NOW)) == 0
    assert seen(store, lambda uow: uow.users.token("t-session"))[3] == later
    assert committed(store, lambda uow: uow.users.revoke_user_tokens(alice, later)) == 1
    with store.uow(write=False) as uow:
        assert uow.users.token("t-api")[3] == later
        assert uow.users.token("t-bob")[3] is None


def test_a_token_needs_a_user_and_a_hash_of_its_own(store: Store, backend: Backend, orgs):
    alice = add_user(store, "alice")
    token = {"kind": "api", "name": "cli", "created_at": NOW, "expires_at": None}
    committed(store, lambda uow: uow.users.add_token(token_hash="t", user_id=alice, **token))
    with store.uow() as uow, pytest.raises(backend.conflict):
        uow.users.add_token(token_hash="t", user_id=alice, **token)
    with store.uow() as uow, pytest.raises(backend.conflict):
        uow.users.add_token(token_hash="t2", user_id=alice + 100, **token)


def test_grants_are_kept_in_request_order_and_decided_once(store: Store, orgs):
    first = committed(store, lambda uow: uow.users.add_grant(a_grant("ines")))
    later = NOW + timedelta(hours=2)
    second = committed(store, lambda uow: uow.users.add_grant(a_grant("paul", requested_at=later)))
    assert first != second
    with store.uow(write=False) as uow:
        assert uow.users.get_grant(first) == a_grant("ines", grant_id=first)
        assert uow.users.get_grant(second + 100) is None
        assert uow.users.pending_grant_for("ines") == a_grant("ines", grant_id=first)
        assert uow.users.pending_grant_for("nobody") is None
        assert [g.grant_id for g in uow.users.list_grants()] == [first, second]
        # bounds are instants, whatever offset they are given with
        offset = timezone(timedelta(hours=1))
        since = (NOW + timedelta(hours=1)).astimezone(offset)
        assert [g.grant_id for g in uow.users.list_grants(since=since)] == [second]
        assert [g.grant_id for g in uow.users.list_grants(until=since)] == [first]
    decider = Actor(username="bruno", role="administrator", user_id=2)
    ines = add_user(store, "ines", role=Role.INVESTIGATOR)
    decided = replace(
        a_grant("ines", grant_id=first),
        status=GrantStatus.APPROVED,
        user_id=ines,
        decided_by=decider,
        decided_at=later,
        decision_reason="checked the training certificate",
        password_hash=None,
    )
    committed(store, lambda uow: uow.users.update_grant(decided))
    with store.uow(write=False) as uow:
        assert uow.users.get_grant(first) == decided
        assert uow.users.pending_grant_for("ines") is None
        assert [g.grant_id for g in uow.users.list_grants(status="pending")] == [second]
        assert [g.grant_id for g in uow.users.list_grants(status="approved")] == [first]


def test_grants_page_by_id_after_a_key_with_a_status(store: Store, orgs):
    ids = [
        committed(store, lambda uow, n=n: uow.users.add_grant(a_grant(f"u{n}"))) for n in range(5)
    ]
    refused = replace(
        a_grant("u1", grant_id=ids[1]),
        status=GrantStatus.REFUSED,
        decided_by=Actor(username="bruno", role="administrator", user_id=2),
        decided_at=NOW,
        decision_reason="no",
    )
    committed(store, lambda uow: uow.users.update_grant(refused))
    with store.uow(write=False) as uow:
        assert [g.grant_id for g in uow.users.grants_page()] == ids
        assert [g.grant_id for g in uow.users.grants_page(limit=2)] == ids[:2]
        assert [g.grant_id for g in uow.users.grants_page(after=ids[1], limit=2)] == ids[2:4]
        assert uow.users.grants_page(after=ids[-1]) == []
        pending = uow.users.grants_page(status=GrantStatus.PENDING, after=ids[0])
        assert [g.grant_id for g in pending] == ids[2:]
        assert uow.users.grants_page(status=GrantStatus.REFUSED) == [refused]


def test_a_grant_names_only_an_account_that_exists(store: Store, backend: Backend, orgs):
    with store.uow() as uow, pytest.raises(backend.conflict):
        uow.users.add_grant(a_grant("ghost", kind=GrantKind.CHANGE, user_id=4242))
