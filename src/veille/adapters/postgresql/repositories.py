"""The PostgreSQL repositories other than the reads: the SQLite repositories' portable SQL
(through `PortableConnection`), with what is SQLite's own said again in PostgreSQL's words.
They never commit."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from datetime import datetime
from typing import Any, cast

from veille.adapters.postgresql.portable import PortableConnection
from veille.adapters.sqlite.alerts import SqliteAlertRepository
from veille.adapters.sqlite.audit import SqliteAuditRepository
from veille.adapters.sqlite.authorizations import SqliteAuthorizationRepository
from veille.adapters.sqlite.findings import SqliteCloneFindingRepository
from veille.adapters.sqlite.holds import SqliteHoldRepository
from veille.adapters.sqlite.hotlists import _ENTRY_COLUMNS, SqliteHotlistRepository, _entry_row
from veille.adapters.sqlite.repositories import SqliteCameraRepository, SqliteDeadLetterRepository
from veille.adapters.sqlite.times import encode
from veille.adapters.sqlite.users import SqliteUserRepository
from veille.domain.audit import AuditEntry, AuditRecord
from veille.domain.hotlists import HotlistEntry

# What SQLite's LIMIT -1 says: no limit (PostgreSQL refuses a negative one).
_NO_LIMIT = 2**62


def as_sqlite(conn: PortableConnection) -> sqlite3.Connection:
    """The portable connection, typed as the SQLite repositories declare theirs: it
    answers every call they make (`PortableConnection`), and the contract suite checks it."""
    return cast(sqlite3.Connection, conn)


class PostgresCameraRepository(SqliteCameraRepository):
    _no_limit = _NO_LIMIT


class PostgresDeadLetterRepository(SqliteDeadLetterRepository):
    """Dead letters: the SQLite repository's SQL serves as written."""


class PostgresHoldRepository(SqliteHoldRepository):
    """Case holds: the SQLite repository's SQL serves as written."""


class PostgresCloneFindingRepository(SqliteCloneFindingRepository):
    """Clone findings: INSERT OR IGNORE becomes ON CONFLICT DO NOTHING."""


class PostgresUserRepository(SqliteUserRepository):
    _no_limit = _NO_LIMIT


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
    _no_limit = _NO_LIMIT

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
    """The JSON lists read with jsonb functions instead of json_each."""

    _spans_districts = "jsonb_array_length(districts::jsonb) > 1"
    _names_investigator = "investigators::jsonb @> to_jsonb(?::bigint)"
    _no_limit = _NO_LIMIT

    def _names_a_district(self, districts: list[str]) -> tuple[str, list[Any]]:
        return "jsonb_exists_any(districts::jsonb, ?::text[])", [districts]


class PostgresAlertRepository(SqliteAlertRepository):
    """PostgreSQL sorts NULLs last unless told, and counts with FILTER, not by summing
    booleans."""

    _absent_first = ", ".join(
        f"{key} NULLS FIRST" for key in ("list_id", "zone", "status", "outcome", "reason")
    )
    _decided_and_misreads = (
        "count(decision), count(*) FILTER (WHERE decision = 'rejected' AND reason = 'misread')"
    )


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
