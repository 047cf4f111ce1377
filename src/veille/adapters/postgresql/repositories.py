"""The PostgreSQL repositories other than the reads: the SQLite repositories' portable SQL
(through `PortableConnection`), with what is SQLite's own said again in PostgreSQL's words.
They never commit."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from datetime import datetime
from typing import Any, cast

from veille.adapters.keys import SecretBox
from veille.adapters.postgresql.portable import PortableConnection
from veille.adapters.sqlite.alerts import SqliteAlertRepository, _visible_where
from veille.adapters.sqlite.audit import SqliteAuditRepository
from veille.adapters.sqlite.authorizations import (
    _COLUMNS as AUTHORIZATION_COLUMNS,
)
from veille.adapters.sqlite.authorizations import (
    SqliteAuthorizationRepository,
    _row_to_auth,
)
from veille.adapters.sqlite.findings import SqliteCloneFindingRepository
from veille.adapters.sqlite.holds import SqliteHoldRepository
from veille.adapters.sqlite.hotlists import _ENTRY_COLUMNS, SqliteHotlistRepository, _entry_row
from veille.adapters.sqlite.repositories import SqliteCameraRepository, SqliteDeadLetterRepository
from veille.adapters.sqlite.times import encode
from veille.adapters.sqlite.users import SqliteUserRepository
from veille.domain.alerts import AlertCount, CameraMisreads
from veille.domain.audit import AuditEntry, AuditRecord
from veille.domain.authorizations import Authorization
from veille.domain.cameras import Camera
from veille.domain.grants import GrantStatus, UserGrant
from veille.domain.hotlists import HotlistEntry
from veille.domain.users import User

# What SQLite's LIMIT -1 says: no limit (PostgreSQL refuses a negative one).
_NO_LIMIT = 2**62


def as_sqlite(conn: PortableConnection) -> sqlite3.Connection:
    """The portable connection, typed as the SQLite repositories declare theirs: it
    answers every call they make (`PortableConnection`), and the contract suite checks it."""
    return cast(sqlite3.Connection, conn)


def _all(limit: int | None) -> int:
    return _NO_LIMIT if limit is None else limit


class PostgresCameraRepository(SqliteCameraRepository):
    def page(
        self,
        *,
        zone: str | None = None,
        phase: str | None = None,
        after: str | None = None,
        limit: int | None = None,
    ) -> list[Camera]:
        return super().page(zone=zone, phase=phase, after=after, limit=_all(limit))


class PostgresDeadLetterRepository(SqliteDeadLetterRepository):
    """Dead letters: the SQLite repository's SQL serves as written."""


class PostgresHoldRepository(SqliteHoldRepository):
    """Case holds: the SQLite repository's SQL serves as written."""


class PostgresCloneFindingRepository(SqliteCloneFindingRepository):
    """Clone findings: INSERT OR IGNORE becomes ON CONFLICT DO NOTHING."""


class PostgresUserRepository(SqliteUserRepository):
    def __init__(self, conn: PortableConnection, *, secrets: SecretBox | None = None):
        super().__init__(as_sqlite(conn), secrets=secrets)

    def page(self, *, after: int | None = None, limit: int | None = None) -> list[User]:
        return super().page(after=after, limit=_all(limit))

    def grants_page(
        self,
        *,
        status: GrantStatus | None = None,
        after: int | None = None,
        limit: int | None = None,
    ) -> list[UserGrant]:
        return super().grants_page(status=status, after=after, limit=_all(limit))


class PostgresAuditRepository(SqliteAuditRepository):
    """The hash-chained audit log, appended by any number of processes.

    An append first locks the one row of `audit_head` (SELECT … FOR UPDATE), which every
    appender must take: a second appender waits until the first commits or rolls back,
    then reads the head it left (READ COMMITTED: each statement sees what is committed),
    so no two records ever claim the same predecessor (decision 0015).
    """

    def __init__(self, conn: PortableConnection, **kwargs: Any):
        super().__init__(as_sqlite(conn), **kwargs)
        self._portable = conn

    def append(self, entry: AuditEntry) -> AuditRecord:
        if not self._portable.in_transaction:
            raise RuntimeError("audit records are written inside the action's transaction")
        self._portable.execute("SELECT seq FROM audit_head WHERE id = 1 FOR UPDATE")
        record = super().append(entry)
        self._portable.execute("UPDATE audit_head SET seq = ? WHERE id = 1", (record.seq,))
        return record


class PostgresHotlistRepository(SqliteHotlistRepository):
    def page(
        self, list_id: str, *, after: str | None = None, limit: int | None = None
    ) -> list[HotlistEntry]:
        return super().page(list_id, after=after, limit=_all(limit))

    def put_entries(self, entries: Iterable[HotlistEntry], now: datetime) -> None:
        names = [n.strip() for n in _ENTRY_COLUMNS.split(",")] + ["updated_at"]
        changed = ", ".join(f"{n} = excluded.{n}" for n in names[2:])
        self.conn.executemany(
            f"INSERT INTO hotlist_entries ({', '.join(names)})"
            f" VALUES ({','.join('?' * len(names))})"
            f" ON CONFLICT (list_id, entry_id) DO UPDATE SET {changed}",
            [_entry_row(e, now) for e in entries],
        )

    def note_change(self, list_id: str, now: datetime) -> int:
        """The change id comes from the locked head row: ids are given in commit order,
        so a process that saw id N has seen every change up to N (a sequence would let a
        change with a smaller id commit after a poller read a bigger one)."""
        row = self.conn.execute(
            "UPDATE hotlist_change_head SET latest = latest + 1 WHERE id = 1 RETURNING latest"
        ).fetchone()
        change_id = int(row[0])
        self.conn.execute(
            "INSERT INTO hotlist_changes (change_id, list_id, changed_at) VALUES (?, ?, ?)",
            (change_id, list_id, encode(now)),
        )
        return change_id


class PostgresAuthorizationRepository(SqliteAuthorizationRepository):
    def page(
        self,
        *,
        districts: frozenset[str] | None = None,
        spanning: bool = False,
        underived: bool = False,
        status: str | None = None,
        involving_user: int | None = None,
        before: int | None = None,
        limit: int | None = None,
    ) -> list[Authorization]:
        """As on SQLite, the JSON lists read with jsonb operators instead of json_each."""
        clauses: list[str] = []
        params: list[Any] = []
        if districts is not None:
            clauses.append("jsonb_exists_any(districts::jsonb, ?::text[])")  # any of these
            params.append(sorted(districts))
        if underived:
            clauses.append("districts IS NULL")
        if spanning:
            clauses.append("jsonb_array_length(districts::jsonb) > 1")
        if status:
            clauses.append("status = ?")
            params.append(status)
        if involving_user is not None:
            clauses.append("(requested_by = ? OR investigators::jsonb @> to_jsonb(?::bigint))")
            params.extend((involving_user, involving_user))
        if before is not None:
            clauses.append("auth_id < ?")
            params.append(before)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self.conn.execute(
            f"SELECT {AUTHORIZATION_COLUMNS} FROM authorizations{where}"
            " ORDER BY auth_id DESC LIMIT ?",
            (*params, _all(limit)),
        )
        return [_row_to_auth(r) for r in rows]


class PostgresAlertRepository(SqliteAlertRepository):
    def report(
        self,
        *,
        since: datetime,
        until: datetime,
        zone: str | None = None,
        province: str | None = None,
        viewer_org: str | None = None,
    ) -> list[AlertCount]:
        """As on SQLite; PostgreSQL sorts NULLs last unless told otherwise."""
        clauses, params = _visible_where(zone=zone, province=province, viewer_org=viewer_org)
        keys = ("list_id", "zone", "status", "outcome", "reason")
        rows = self.conn.execute(
            f"SELECT {', '.join(keys)}, count(*) FROM alerts"
            f" WHERE opened_at >= ? AND opened_at < ? AND {' AND '.join(clauses)}"
            f" GROUP BY {', '.join(keys)} ORDER BY {', '.join(k + ' NULLS FIRST' for k in keys)}",
            (encode(since), encode(until), *params),
        )
        return [
            AlertCount(list_id=r[0], zone=r[1], status=r[2], outcome=r[3], reason=r[4], alerts=r[5])
            for r in rows
        ]

    def misreads_by_camera(
        self,
        *,
        since: datetime,
        until: datetime,
        zone: str | None = None,
        province: str | None = None,
        viewer_org: str | None = None,
    ) -> list[CameraMisreads]:
        """As on SQLite; PostgreSQL counts with FILTER, not by summing booleans."""
        clauses, params = _visible_where(zone=zone, province=province, viewer_org=viewer_org)
        rows = self.conn.execute(
            "SELECT camera_id, count(decision),"
            " count(*) FILTER (WHERE decision = 'rejected' AND reason = 'misread')"
            f" FROM alerts WHERE opened_at >= ? AND opened_at < ? AND {' AND '.join(clauses)}"
            " GROUP BY camera_id ORDER BY camera_id",
            (encode(since), encode(until), *params),
        )
        return [CameraMisreads(camera_id=r[0], decided=r[1], misreads=r[2]) for r in rows]


__all__ = [
    "PostgresAlertRepository",
    "PostgresAuditRepository",
    "PostgresAuthorizationRepository",
    "PostgresCameraRepository",
    "PostgresCloneFindingRepository",
    "PostgresDeadLetterRepository",
    "PostgresHoldRepository",
    "PostgresHotlistRepository",
    "PostgresUserRepository",
]
