"""Accounts against a real SQLite store: first admin, argon2id, lock-out, API tokens."""

from __future__ import annotations

import dataclasses
import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from veille.adapters.sqlite.store import SqliteStore
from veille.domain.access import Role
from veille.domain.audit import system_actor
from veille.domain.users import User
from veille.service import users as user_service
from veille.service.users import (
    REFUSED,
    LockoutPolicy,
    SignInRefused,
    UserError,
    create_first_admin,
    create_user,
    hash_password,
    hash_token,
    identify,
    issue_token,
    revoke_token,
    sign_in,
)

ACTOR = system_actor("test")

pytestmark = pytest.mark.integration

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ADMIN_PASSWORD = "Corr3ct-horse-battery-staple"
WRONG = "not-the-password-at-all"


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "veille.sqlite3"


@pytest.fixture
def store(db_path: Path) -> Iterator[SqliteStore]:
    sqlite_store = SqliteStore(db_path, synchronous="NORMAL")
    sqlite_store.initialise()
    yield sqlite_store
    sqlite_store.close()


@pytest.fixture
def admin(store: SqliteStore) -> User:
    return create_first_admin(uow=store.uow(), username="Admin", password=ADMIN_PASSWORD, now=NOW)


def file_bytes(db_path: Path) -> bytes:
    """The database as it is on disk: main file plus its WAL and shared-memory files."""
    return b"".join(p.read_bytes() for p in sorted(db_path.parent.glob(db_path.name + "*")))


def stored_user(store: SqliteStore, user_id: int) -> User:
    with store.uow() as uow:
        user = uow.users.get(user_id)
    assert user is not None
    return user


def attempt(store: SqliteStore, password: str, now: datetime, **kw) -> User:
    return sign_in(
        uow=store.uow(),
        read_uow=store.uow(write=False),
        username="admin",
        password=password,
        now=now,
        **kw,
    )


def refused(store: SqliteStore, password: str, now: datetime, username: str = "admin", **kw):
    with pytest.raises(SignInRefused) as caught:
        sign_in(
            uow=store.uow(),
            read_uow=store.uow(write=False),
            username=username,
            password=password,
            now=now,
            **kw,
        )
    return str(caught.value)


# --- first administrator ----------------------------------------------------------------


def test_first_admin_is_created_once(store: SqliteStore, admin: User):
    assert (admin.username, admin.role, admin.org_id) == ("admin", Role.ADMINISTRATOR, "federal")
    assert admin.user_id > 0
    with pytest.raises(UserError, match="already exists"):
        create_first_admin(uow=store.uow(), username="other", password=ADMIN_PASSWORD, now=NOW)
    with store.uow() as uow:
        assert [u.username for u in uow.users.all()] == ["admin"]
        assert uow.users.get_org("federal") is not None


def test_password_is_an_argon2id_hash_never_in_clear(
    store: SqliteStore, admin: User, db_path: Path
):
    stored = stored_user(store, admin.user_id).password_hash
    assert stored.startswith("$argon2id$")
    assert PasswordHasher().verify(stored, ADMIN_PASSWORD)
    on_disk = file_bytes(db_path)
    assert stored.encode() in on_disk  # we are looking at the right bytes
    assert ADMIN_PASSWORD.encode() not in on_disk


def test_same_password_hashes_differently_each_time():
    first, second = hash_password(ADMIN_PASSWORD), hash_password(ADMIN_PASSWORD)
    assert first != second  # salted
    assert first.startswith("$argon2id$") and second.startswith("$argon2id$")


@pytest.mark.parametrize(
    ("username", "password", "message"),
    [
        ("jdupont", "short", "at least 12"),
        ("", ADMIN_PASSWORD, "username"),
        ("j dupont", ADMIN_PASSWORD, "username"),
        ("x" * 65, ADMIN_PASSWORD, "username"),
    ],
)
def test_create_user_validates(
    store: SqliteStore, admin: User, username: str, password: str, message: str
):
    with pytest.raises(UserError, match=message):
        create_user(
            uow=store.uow(),
            username=username,
            password=password,
            role=Role.INVESTIGATOR,
            org_id="federal",
            now=NOW,
        )


def test_create_user_refuses_taken_names_and_unknown_organisations(store: SqliteStore, admin: User):
    with pytest.raises(UserError, match="taken"):
        create_user(
            uow=store.uow(),
            username=" ADMIN ",
            password=ADMIN_PASSWORD,
            role=Role.OPERATOR,
            org_id="federal",
            now=NOW,
        )
    with pytest.raises(UserError, match="organisation"):
        create_user(
            uow=store.uow(),
            username="jdupont",
            password=ADMIN_PASSWORD,
            role=Role.OPERATOR,
            org_id="zone-5339",
            now=NOW,
        )


# --- sign-in and lock-out ---------------------------------------------------------------


def test_sign_in_with_the_right_password(store: SqliteStore, admin: User):
    user = sign_in(
        uow=store.uow(),
        read_uow=store.uow(write=False),
        username="  ADMIN ",
        password=ADMIN_PASSWORD,
        now=NOW,
    )
    assert user.user_id == admin.user_id


def test_unknown_user_and_wrong_password_give_the_same_message(store: SqliteStore, admin: User):
    wrong_password = refused(store, WRONG, NOW)
    unknown_user = refused(store, ADMIN_PASSWORD, NOW, username="nobody")
    assert wrong_password == unknown_user == REFUSED


def test_lock_out_after_five_failures(store: SqliteStore, admin: User):
    for minute in range(4):
        assert refused(store, WRONG, NOW + timedelta(minutes=minute)) == (REFUSED)
    assert stored_user(store, admin.user_id).failed_logins == 4
    fifth = NOW + timedelta(minutes=4)
    refused(store, WRONG, fifth)
    locked = stored_user(store, admin.user_id)
    assert locked.locked_until == fifth + timedelta(minutes=15)
    # Locked: even the right password is refused, until the lock expires.
    assert "locked" in refused(store, ADMIN_PASSWORD, fifth + timedelta(seconds=1))
    assert "locked" in refused(store, ADMIN_PASSWORD, fifth + timedelta(minutes=14, seconds=59))
    user = attempt(store, ADMIN_PASSWORD, fifth + timedelta(minutes=15, seconds=1))
    assert user.user_id == admin.user_id
    cleared = stored_user(store, admin.user_id)
    assert (cleared.failed_logins, cleared.locked_until) == (0, None)


def test_lock_out_does_not_reveal_whether_the_user_exists(store: SqliteStore, admin: User):
    for _ in range(5):
        refused(store, WRONG, NOW)
        refused(store, WRONG, NOW, username="nobody")
    later = NOW + timedelta(minutes=1)
    assert refused(store, WRONG, later) == refused(store, WRONG, later, username="nobody")


def test_wrong_passwords_while_locked_do_not_unlock(store: SqliteStore, admin: User):
    for _ in range(5):
        refused(store, WRONG, NOW)
    for _ in range(3):
        assert "locked" in refused(store, WRONG, NOW + timedelta(minutes=1))
    assert "locked" in refused(store, ADMIN_PASSWORD, NOW + timedelta(minutes=2))


def test_a_success_resets_the_failure_count(store: SqliteStore, admin: User):
    for _ in range(4):
        refused(store, WRONG, NOW)
    attempt(store, ADMIN_PASSWORD, NOW)
    assert stored_user(store, admin.user_id).failed_logins == 0
    for _ in range(4):
        refused(store, WRONG, NOW)
    assert attempt(store, ADMIN_PASSWORD, NOW).user_id == admin.user_id


def test_lockout_policy_is_configurable(store: SqliteStore, admin: User):
    policy = LockoutPolicy(max_failures=2, lock_for=timedelta(minutes=1))
    refused(store, WRONG, NOW, policy=policy)
    refused(store, WRONG, NOW, policy=policy)
    assert "locked" in refused(store, ADMIN_PASSWORD, NOW + timedelta(seconds=59), policy=policy)
    assert attempt(store, ADMIN_PASSWORD, NOW + timedelta(seconds=61), policy=policy)


def test_deleted_user_cannot_sign_in(store: SqliteStore, admin: User):
    user = stored_user(store, admin.user_id)
    with store.uow() as uow:
        uow.users.update(dataclasses.replace(user, deleted_at=NOW))
        uow.commit()
    assert refused(store, ADMIN_PASSWORD, NOW) == REFUSED


# --- tokens -----------------------------------------------------------------------------


def test_identify_a_token(store: SqliteStore, admin: User):
    token, csrf = issue_token(uow=store.uow(), user_id=admin.user_id, now=NOW)
    assert token.startswith("vu_") and csrf is None
    identity = identify(uow=store.uow(), token=token, now=NOW + timedelta(minutes=1))
    assert identity is not None
    assert identity.principal.user_id == admin.user_id
    assert identity.principal.role is Role.ADMINISTRATOR
    assert identity.principal.username == "admin"
    assert identity.kind == "api"
    assert identify(uow=store.uow(), token=token + "x", now=NOW) is None


def test_session_token_carries_a_csrf_token(store: SqliteStore, admin: User):
    token, csrf = issue_token(uow=store.uow(), user_id=admin.user_id, now=NOW, kind="session")
    assert csrf
    identity = identify(uow=store.uow(), token=token, now=NOW)
    assert identity is not None and (identity.kind, identity.csrf_token) == ("session", csrf)


def test_token_is_stored_only_as_its_sha256(store: SqliteStore, admin: User, db_path: Path):
    token, _ = issue_token(uow=store.uow(), user_id=admin.user_id, now=NOW)
    on_disk = file_bytes(db_path)
    assert hash_token(token).encode() in on_disk
    assert token.encode() not in on_disk


def test_revoked_token_stops_working(store: SqliteStore, admin: User):
    token, _ = issue_token(uow=store.uow(), user_id=admin.user_id, now=NOW)
    other, _ = issue_token(uow=store.uow(), user_id=admin.user_id, now=NOW)
    assert revoke_token(actor=ACTOR, uow=store.uow(), token=token, now=NOW)
    assert identify(uow=store.uow(), token=token, now=NOW) is None
    assert identify(uow=store.uow(), token=other, now=NOW) is not None  # only that one
    assert not revoke_token(actor=ACTOR, uow=store.uow(), token=token, now=NOW)  # already revoked
    assert not revoke_token(actor=ACTOR, uow=store.uow(), token="vu_unknown", now=NOW)


def test_expired_token_stops_working(store: SqliteStore, admin: User):
    token, _ = issue_token(uow=store.uow(), user_id=admin.user_id, now=NOW, ttl=timedelta(hours=1))
    assert identify(uow=store.uow(), token=token, now=NOW + timedelta(minutes=59)) is not None
    assert identify(uow=store.uow(), token=token, now=NOW + timedelta(hours=1)) is None
    assert identify(uow=store.uow(), token=token, now=NOW + timedelta(days=1)) is None


def test_default_token_lifetime_is_90_days(store: SqliteStore, admin: User):
    token, _ = issue_token(uow=store.uow(), user_id=admin.user_id, now=NOW)
    assert identify(uow=store.uow(), token=token, now=NOW + timedelta(days=89)) is not None
    assert identify(uow=store.uow(), token=token, now=NOW + timedelta(days=90)) is None


def test_token_without_expiry(store: SqliteStore, admin: User):
    token, _ = issue_token(uow=store.uow(), user_id=admin.user_id, now=NOW, ttl=None)
    assert identify(uow=store.uow(), token=token, now=NOW + timedelta(days=3650)) is not None


def test_deleted_user_token_stops_working(store: SqliteStore, admin: User):
    token, _ = issue_token(uow=store.uow(), user_id=admin.user_id, now=NOW)
    assert identify(uow=store.uow(), token=token, now=NOW) is not None
    with store.uow() as uow:
        user = uow.users.get(admin.user_id)
        assert user is not None
        uow.users.update(dataclasses.replace(user, deleted_at=NOW))
        uow.commit()
    assert identify(uow=store.uow(), token=token, now=NOW + timedelta(seconds=1)) is None


def test_principal_carries_designation_and_training(store: SqliteStore, admin: User):
    expires = NOW + timedelta(days=365)
    user = create_user(
        uow=store.uow(),
        username="jdupont",
        password=ADMIN_PASSWORD,
        role=Role.INVESTIGATOR,
        org_id="federal",
        now=NOW,
        designated=True,
        training_expires=expires,
    )
    token, _ = issue_token(uow=store.uow(), user_id=user.user_id, now=NOW)
    identity = identify(uow=store.uow(), token=token, now=NOW)
    assert identity is not None
    principal = identity.principal
    assert (principal.role, principal.designated, principal.training_expires) == (
        Role.INVESTIGATOR,
        True,
        expires,
    )
    assert principal.trained(NOW) and not principal.trained(expires)


# ---- sign-in never holds the write lock while argon2 runs --------------------------


def _writer_can_commit(store) -> bool:
    """Could the ingest writer take the write lock right now, without waiting?"""
    conn = sqlite3.connect(store.path, isolation_level=None, timeout=0)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        conn.close()


@pytest.mark.parametrize("password", [ADMIN_PASSWORD, WRONG])
def test_the_password_is_verified_while_the_writer_can_commit(store, admin, monkeypatch, password):
    real = user_service.verify_password
    seen: list[bool] = []

    def observed(stored_hash: str, given: str) -> bool:
        seen.append(_writer_can_commit(store))
        return real(stored_hash, given)

    monkeypatch.setattr(user_service, "verify_password", observed)
    try:
        attempt(store, password, NOW)
    except SignInRefused:
        assert password == WRONG
    assert seen == [True]


def test_concurrent_wrong_passwords_lock_the_account_at_the_limit_exactly(store, admin):
    policy = LockoutPolicy(max_failures=4)
    start = threading.Barrier(4)
    refused: list[bool] = []

    def guess() -> None:
        start.wait()
        try:
            attempt(store, WRONG, NOW, policy=policy)
        except SignInRefused:
            refused.append(True)

    threads = [threading.Thread(target=guess) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert refused == [True] * 4
    # four failures counted even though all four verified before any wrote: locked now
    assert stored_user(store, admin.user_id).locked(NOW)
    with pytest.raises(SignInRefused):
        attempt(store, ADMIN_PASSWORD, NOW, policy=policy)
