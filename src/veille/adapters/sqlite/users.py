"""SQLite repository for users, organisations and API tokens. Never commits."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import datetime
from typing import Any

import orjson

from veille.adapters.keys import SecretBox
from veille.adapters.sqlite.times import decode, decode_or_none, encode, encode_or_none
from veille.domain.access import Role, Scope, ScopeKind
from veille.domain.audit import Actor
from veille.domain.grants import GrantKind, GrantStatus, UserGrant
from veille.domain.users import Organisation, User

_USER_COLUMNS = (
    "user_id, username, display_name, password_hash, role, org_id, designated,"
    " training_expires, totp_secret, failed_logins, locked_until, created_at, deleted_at"
)


def _user(row: tuple[Any, ...]) -> User:
    return User(
        user_id=row[0],
        username=row[1],
        display_name=row[2],
        password_hash=row[3],
        role=Role(row[4]),
        org_id=row[5],
        designated=bool(row[6]),
        training_expires=decode_or_none(row[7]),
        totp_secret=row[8],
        failed_logins=row[9],
        locked_until=decode_or_none(row[10]),
        created_at=decode(row[11]),
        deleted_at=decode_or_none(row[12]),
    )


_GRANT_COLUMNS = (
    "grant_id, kind, username, user_id, changes, status, requested_by, requested_at,"
    " request_reason, decided_by, decided_at, decision_reason, password_hash"
)


def _actor_text(actor: Actor | None) -> str | None:
    if actor is None:
        return None
    doc = {"username": actor.username, "role": actor.role, "user_id": actor.user_id}
    return orjson.dumps({**doc, "org_id": actor.org_id}).decode()


def _actor(text: str | None) -> Actor | None:
    if not text:
        return None
    doc = orjson.loads(text)
    return Actor(
        username=doc["username"],
        role=doc["role"],
        user_id=doc.get("user_id"),
        org_id=doc.get("org_id"),
    )


def _grant(row: tuple[Any, ...]) -> UserGrant:
    requested_by = _actor(row[6])
    assert requested_by is not None
    return UserGrant(
        grant_id=row[0],
        kind=GrantKind(row[1]),
        username=row[2],
        user_id=row[3],
        changes=orjson.loads(row[4]),
        status=GrantStatus(row[5]),
        requested_by=requested_by,
        requested_at=decode(row[7]),
        request_reason=row[8],
        decided_by=_actor(row[9]),
        decided_at=decode_or_none(row[10]),
        decision_reason=row[11],
        password_hash=row[12],
    )


def _totp_context(user_id: int) -> str:
    return f"totp:user:{user_id}"


def _org(row: tuple[Any, ...]) -> Organisation:
    return Organisation(
        org_id=row[0],
        name=row[1],
        kind=row[2],
        scope=Scope(ScopeKind(row[3]), row[4]),
        created_at=decode(row[5]),
    )


class SqliteUserRepository:
    _no_limit = -1  # SQLite's LIMIT of no limit (a backend's SQL may say it otherwise)

    def __init__(self, conn: sqlite3.Connection, *, secrets: SecretBox | None = None):
        self.conn = conn
        self._secrets = secrets  # TOTP secrets are stored sealed by it, never in clear

    # TOTP secrets: sealed on the way in, opened on the way out; bound to the user id
    def _conceal(self, user_id: int, secret: str | None) -> str | None:
        if secret is None:
            return None
        if self._secrets is None:
            raise RuntimeError("no TOTP key configured: refusing to store a secret in clear")
        return self._secrets.seal(secret, context=_totp_context(user_id))

    def _reveal(self, user: User) -> User:
        stored = user.totp_secret
        if stored is None or not SecretBox.is_sealed(stored):
            return user  # none, or plain text from before 0011 (sealed at the next start)
        if self._secrets is None:
            raise RuntimeError("no TOTP key configured: cannot open a sealed TOTP secret")
        return replace(
            user, totp_secret=self._secrets.open(stored, context=_totp_context(user.user_id))
        )

    def seal_plain_totp_secrets(self) -> int:
        """Encrypt every TOTP secret still stored in clear; how many were."""
        rows = self.conn.execute(
            "SELECT user_id, totp_secret FROM users WHERE totp_secret IS NOT NULL"
        ).fetchall()
        plain = [(uid, secret) for uid, secret in rows if not SecretBox.is_sealed(secret)]
        for user_id, secret in plain:
            self.conn.execute(
                "UPDATE users SET totp_secret = ? WHERE user_id = ?",
                (self._conceal(user_id, secret), user_id),
            )
        return len(plain)

    # organisations
    def get_org(self, org_id: str) -> Organisation | None:
        row = self.conn.execute(
            "SELECT org_id, name, kind, scope_kind, scope_value, created_at FROM organisations"
            " WHERE org_id = ?",
            (org_id,),
        ).fetchone()
        return _org(row) if row else None

    def add_org(self, org: Organisation) -> None:
        self.conn.execute(
            "INSERT INTO organisations (org_id, name, kind, scope_kind, scope_value, created_at)"
            " VALUES (?,?,?,?,?,?)",
            (
                org.org_id,
                org.name,
                org.kind,
                org.scope.kind.value,
                org.scope.value,
                encode(org.created_at),
            ),
        )

    def list_orgs(self) -> list[Organisation]:
        rows = self.conn.execute(
            "SELECT org_id, name, kind, scope_kind, scope_value, created_at FROM organisations"
            " ORDER BY org_id"
        )
        return [_org(r) for r in rows]

    # users
    def get(self, user_id: int) -> User | None:
        row = self.conn.execute(
            f"SELECT {_USER_COLUMNS} FROM users WHERE user_id = ?", (user_id,)
        ).fetchone()
        return self._reveal(_user(row)) if row else None

    def by_username(self, username: str) -> User | None:
        row = self.conn.execute(
            f"SELECT {_USER_COLUMNS} FROM users WHERE username = ?", (username,)
        ).fetchone()
        return self._reveal(_user(row)) if row else None

    def add(self, user: User) -> int:
        cur = self.conn.execute(
            "INSERT INTO users (username, display_name, password_hash, role, org_id, designated,"
            " training_expires, totp_secret, failed_logins, locked_until, created_at, deleted_at)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                user.username,
                user.display_name,
                user.password_hash,
                user.role.value,
                user.org_id,
                int(user.designated),
                encode_or_none(user.training_expires),
                None,  # sealed below, once the row has the id the seal is bound to
                user.failed_logins,
                encode_or_none(user.locked_until),
                encode(user.created_at),
                encode_or_none(user.deleted_at),
            ),
        )
        user_id = int(cur.lastrowid or 0)
        if user.totp_secret is not None:
            self.conn.execute(
                "UPDATE users SET totp_secret = ? WHERE user_id = ?",
                (self._conceal(user_id, user.totp_secret), user_id),
            )
        return user_id

    def update(self, user: User) -> None:
        self.conn.execute(
            "UPDATE users SET display_name=?, password_hash=?, role=?, org_id=?, designated=?,"
            " training_expires=?, totp_secret=?, failed_logins=?, locked_until=?, deleted_at=?"
            " WHERE user_id=?",
            (
                user.display_name,
                user.password_hash,
                user.role.value,
                user.org_id,
                int(user.designated),
                encode_or_none(user.training_expires),
                self._conceal(user.user_id, user.totp_secret),
                user.failed_logins,
                encode_or_none(user.locked_until),
                encode_or_none(user.deleted_at),
                user.user_id,
            ),
        )

    def all(self) -> list[User]:
        rows = self.conn.execute(f"SELECT {_USER_COLUMNS} FROM users ORDER BY user_id")
        return [self._reveal(_user(r)) for r in rows]

    def page(self, *, after: int | None = None, limit: int | None = None) -> list[User]:
        """Users in id order after `after` (keyset paging), at most `limit` (None: all)."""
        rows = self.conn.execute(
            f"SELECT {_USER_COLUMNS} FROM users WHERE user_id > ? ORDER BY user_id LIMIT ?",
            (0 if after is None else after, self._no_limit if limit is None else limit),
        )
        return [self._reveal(_user(r)) for r in rows]

    def count_admins(self) -> int:
        row = self.conn.execute(
            "SELECT count(*) FROM users WHERE role = ? AND deleted_at IS NULL",
            (Role.ADMINISTRATOR.value,),
        ).fetchone()
        return int(row[0])

    # tokens
    def add_token(
        self,
        *,
        token_hash: str,
        user_id: int,
        kind: str,
        name: str,
        created_at: datetime,
        expires_at: datetime | None,
        csrf_token: str | None = None,
    ) -> None:
        self.conn.execute(
            "INSERT INTO api_tokens (token_hash, user_id, kind, name, created_at, expires_at,"
            " csrf_token) VALUES (?,?,?,?,?,?,?)",
            (
                token_hash,
                user_id,
                kind,
                name,
                encode(created_at),
                encode_or_none(expires_at),
                csrf_token,
            ),
        )

    def token(
        self, token_hash: str
    ) -> tuple[int, str, datetime | None, datetime | None, str | None] | None:
        """(user_id, kind, expires_at, revoked_at, csrf_token) of a token, if known."""
        row = self.conn.execute(
            "SELECT user_id, kind, expires_at, revoked_at, csrf_token FROM api_tokens"
            " WHERE token_hash = ?",
            (token_hash,),
        ).fetchone()
        if row is None:
            return None
        return row[0], row[1], decode_or_none(row[2]), decode_or_none(row[3]), row[4]

    def revoke_token(self, token_hash: str, now: datetime) -> int:
        return self.conn.execute(
            "UPDATE api_tokens SET revoked_at = ? WHERE token_hash = ? AND revoked_at IS NULL",
            (encode(now), token_hash),
        ).rowcount

    def revoke_user_tokens(self, user_id: int, now: datetime) -> int:
        return self.conn.execute(
            "UPDATE api_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL",
            (encode(now), user_id),
        ).rowcount

    # grants of data access (four eyes)
    def add_grant(self, grant: UserGrant) -> int:
        cur = self.conn.execute(
            f"INSERT INTO user_grants ({_GRANT_COLUMNS.removeprefix('grant_id, ')})"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                grant.kind.value,
                grant.username,
                grant.user_id,
                orjson.dumps(grant.changes).decode(),
                grant.status.value,
                _actor_text(grant.requested_by),
                encode(grant.requested_at),
                grant.request_reason,
                _actor_text(grant.decided_by),
                encode_or_none(grant.decided_at),
                grant.decision_reason,
                grant.password_hash,
            ),
        )
        return int(cur.lastrowid or 0)

    def update_grant(self, grant: UserGrant) -> None:
        """Record a decision: status, decider, time, reason, the account it made."""
        self.conn.execute(
            "UPDATE user_grants SET status=?, user_id=?, decided_by=?, decided_at=?,"
            " decision_reason=?, password_hash=? WHERE grant_id=?",
            (
                grant.status.value,
                grant.user_id,
                _actor_text(grant.decided_by),
                encode_or_none(grant.decided_at),
                grant.decision_reason,
                grant.password_hash,
                grant.grant_id,
            ),
        )

    def get_grant(self, grant_id: int) -> UserGrant | None:
        row = self.conn.execute(
            f"SELECT {_GRANT_COLUMNS} FROM user_grants WHERE grant_id = ?", (grant_id,)
        ).fetchone()
        return _grant(row) if row else None

    def list_grants(
        self,
        *,
        status: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 1000,
    ) -> list[UserGrant]:
        """Grants in request order; `since`/`until` bound the time of the request."""
        where: list[str] = []
        args: list[str | int] = []
        if status:
            where.append("status = ?")
            args.append(status)
        if since:
            where.append("requested_at >= ?")
            args.append(encode(since))
        if until:
            where.append("requested_at < ?")
            args.append(encode(until))
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        rows = self.conn.execute(
            f"SELECT {_GRANT_COLUMNS} FROM user_grants{clause} ORDER BY grant_id LIMIT ?",
            (*args, limit),
        )
        return [_grant(r) for r in rows]

    def grants_page(
        self,
        *,
        status: GrantStatus | None = None,
        after: int | None = None,
        limit: int | None = None,
    ) -> list[UserGrant]:
        where: list[str] = ["grant_id > ?"]
        args: list[object] = [0 if after is None else after]
        if status is not None:
            where.append("status = ?")
            args.append(status.value)
        rows = self.conn.execute(
            f"SELECT {_GRANT_COLUMNS} FROM user_grants WHERE {' AND '.join(where)}"
            " ORDER BY grant_id LIMIT ?",
            (*args, self._no_limit if limit is None else limit),
        )
        return [_grant(r) for r in rows]

    def pending_grant_for(self, username: str) -> UserGrant | None:
        row = self.conn.execute(
            f"SELECT {_GRANT_COLUMNS} FROM user_grants WHERE username = ? AND status = ?"
            " ORDER BY grant_id LIMIT 1",
            (username, GrantStatus.PENDING.value),
        ).fetchone()
        return _grant(row) if row else None
