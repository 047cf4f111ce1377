"""TOTP secrets are encrypted with a key file outside the database, and sign-in still works."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pyotp
import pytest

from veille.bootstrap import Platform, bootstrap
from veille.domain.access import Role
from veille.domain.audit import system_actor
from veille.service import users as user_service

pytestmark = pytest.mark.integration

ACTOR = system_actor("test")
PASSWORD = "a long password 123"


def database_bytes(platform: Platform) -> bytes:
    """The database as it is on disk: main file plus its WAL."""
    db = platform.settings.database
    return b"".join(p.read_bytes() for p in sorted(db.parent.glob(db.name + "*")))


def stored_secret(platform: Platform, user_id: int) -> str | None:
    conn = sqlite3.connect(platform.settings.database)
    try:
        return conn.execute(
            "SELECT totp_secret FROM users WHERE user_id = ?", (user_id,)
        ).fetchone()[0]
    finally:
        conn.close()


def enrolled(platform: Platform, username: str) -> tuple[int, str]:
    user = user_service.create_user(
        uow=platform.uow(),
        username=username,
        password=PASSWORD,
        role=Role.PROSECUTOR,
        org_id="federal",
        now=platform.clock(),
    )
    secret = user_service.enrol_totp(
        uow=platform.uow(), user_id=user.user_id, now=platform.clock(), actor=ACTOR, confirmed=True
    )
    return user.user_id, secret


def sign_in(platform: Platform, username: str, secret: str) -> None:
    user_service.sign_in(
        uow=platform.uow(),
        read_uow=platform.read_uow(),
        username=username,
        password=PASSWORD,
        totp_code=pyotp.TOTP(secret).at(platform.clock()),
        now=platform.clock(),
        totp_required_roles=frozenset({"prosecutor"}),
    )


def test_a_totp_secret_is_not_in_the_database_in_clear(platform, admin_token):
    user_id, secret = enrolled(platform, "pauline")
    assert secret.encode() not in database_bytes(platform)
    assert stored_secret(platform, user_id).startswith("aesgcm1:")
    sign_in(platform, "pauline", secret)  # still works
    key = platform.settings.totp_key
    assert key.stat().st_mode & 0o777 == 0o600
    assert not key.is_relative_to(platform.settings.database)


def test_a_pending_enrolment_is_encrypted_too(platform, admin_token):
    user = user_service.create_user(
        uow=platform.uow(),
        username="olga",
        password=PASSWORD,
        role=Role.OPERATOR,
        org_id="federal",
        now=platform.clock(),
    )
    secret = user_service.enrol_totp(
        uow=platform.uow(), user_id=user.user_id, now=platform.clock(), actor=ACTOR
    )
    assert secret.encode() not in database_bytes(platform)
    user_service.confirm_totp(
        uow=platform.uow(),
        user_id=user.user_id,
        code=pyotp.TOTP(secret).at(platform.clock()),
        now=platform.clock(),
        actor=ACTOR,
    )
    assert secret.encode() not in database_bytes(platform)


def test_plain_secrets_of_an_earlier_version_are_encrypted_at_start(platform, admin_token):
    user_id, secret = enrolled(platform, "pauline")
    conn = sqlite3.connect(platform.settings.database, isolation_level=None)
    conn.execute("UPDATE users SET totp_secret = ? WHERE user_id = ?", (secret, user_id))
    conn.close()
    sign_in(platform, "pauline", secret)  # a plain secret still signs in before the sweep
    platform.store.close()
    restarted = bootstrap(platform.settings)
    try:
        restarted.store.initialise()
        assert stored_secret(restarted, user_id).startswith("aesgcm1:")
        sign_in(restarted, "pauline", secret)
    finally:
        restarted.store.close()


def test_a_sealed_secret_moved_to_another_account_does_not_open(platform, admin_token):
    victim, _ = enrolled(platform, "pauline")
    insider, known = enrolled(platform, "mallory")
    conn = sqlite3.connect(platform.settings.database, isolation_level=None)
    conn.execute(
        "UPDATE users SET totp_secret = ? WHERE user_id = ?",
        (stored_secret(platform, insider), victim),
    )
    conn.close()
    with pytest.raises(RuntimeError, match="does not open") as caught:
        sign_in(platform, "pauline", known)
    assert known not in str(caught.value)


def test_another_key_file_cannot_open_the_secrets(platform, admin_token, tmp_path: Path):
    _, secret = enrolled(platform, "pauline")
    other = bootstrap(
        platform.settings.model_copy(update={"totp_key_path": tmp_path / "other.key"})
    )
    try:
        with pytest.raises(RuntimeError, match="wrong key"):
            sign_in(other, "pauline", secret)
    finally:
        other.store.close()
