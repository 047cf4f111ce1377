"""The portable SQL of the SQLite repositories, run on PostgreSQL.

Most of what the SQLite repositories say is plain SQL that PostgreSQL reads as written
(decision 0015): this backend reuses those repositories, and their row codecs, through a
connection that speaks the small part of `sqlite3.Connection` they use. It binds `?`
parameters client-side (so `? IS NULL` needs no declared type), answers the key of a row
inserted into a table with a generated key as `lastrowid` (`RETURNING` it), counts the
rows changed as `total_changes`, and reads `INSERT OR IGNORE` as PostgreSQL's
`ON CONFLICT DO NOTHING`. What else is SQLite's own (INSERT OR REPLACE, json_each,
LIMIT -1, NULLs sorting first, INDEXED BY) the PostgreSQL repositories override.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import psycopg

# The generated key of each table that has one (what SQLite's INTEGER PRIMARY KEY was).
GENERATED_KEYS = {
    "dead_letters": "id",
    "users": "user_id",
    "user_grants": "grant_id",
    "authorizations": "auth_id",
    "case_holds": "hold_id",
    "alerts": "alert_id",
    "alert_events": "event_id",
    "webhooks": "webhook_id",
    "webhook_deliveries": "delivery_id",
    "clone_findings": "id",
    "image_segments": "id",
}
_INSERT_INTO = re.compile(r"\s*INSERT\s+INTO\s+(\w+)", re.IGNORECASE)


_OR_IGNORE = re.compile(r"^(\s*)INSERT\s+OR\s+IGNORE\s+INTO", re.IGNORECASE)


def to_postgresql(sql: str) -> str:
    """`?` placeholders as psycopg's `%s` (a literal `%` doubled), INSERT OR IGNORE as
    INSERT … ON CONFLICT DO NOTHING."""
    text = sql.replace("%", "%%").replace("?", "%s")
    if _OR_IGNORE.match(text):
        text = _OR_IGNORE.sub(r"\1INSERT INTO", text, count=1) + " ON CONFLICT DO NOTHING"
    return text


class Result:
    """What a portable statement answers: its rows, how many it changed, the new key."""

    def __init__(self, rows: list[tuple[Any, ...]], rowcount: int, lastrowid: int | None):
        self._rows = rows
        self.rowcount = rowcount
        self.lastrowid = lastrowid

    def fetchone(self) -> tuple[Any, ...] | None:
        return self._rows[0] if self._rows else None

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self._rows

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return iter(self._rows)


class PortableConnection:
    """A unit of work's psycopg connection as the SQLite repositories use theirs
    (`execute`, `executemany`, `in_transaction`, `total_changes`)."""

    def __init__(self) -> None:
        self._pg: psycopg.Connection[tuple[Any, ...]] | None = None
        self.total_changes = 0  # rows inserted, updated or deleted, as sqlite3 counts them

    def attach(self, conn: psycopg.Connection[tuple[Any, ...]] | None) -> None:
        """The pooled connection of the unit of work while it is open (None: closed)."""
        self._pg = conn

    @property
    def pg(self) -> psycopg.Connection[tuple[Any, ...]]:
        if self._pg is None:
            raise RuntimeError("the unit of work is not open (use it in a `with` block)")
        return self._pg

    @property
    def in_transaction(self) -> bool:
        return (
            self._pg is not None
            and self._pg.info.transaction_status != psycopg.pq.TransactionStatus.IDLE
        )

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Result:
        key = _generated_key(sql)
        text = to_postgresql(sql) + (f" RETURNING {key}" if key else "")
        with psycopg.ClientCursor(self.pg) as cur:
            cur.execute(text, tuple(params))
            rows = cur.fetchall() if cur.description is not None else []
            lastrowid = int(rows[0][0]) if key and rows else None
            if not sql.lstrip().upper().startswith("SELECT"):
                self.total_changes += max(cur.rowcount, 0)
            return Result([] if key else rows, cur.rowcount, lastrowid)

    def executemany(self, sql: str, seq: Iterable[Sequence[Any]]) -> None:
        with psycopg.ClientCursor(self.pg) as cur:
            cur.executemany(to_postgresql(sql), [tuple(p) for p in seq])
            self.total_changes += max(cur.rowcount, 0)


def _generated_key(sql: str) -> str | None:
    """The key to return for an INSERT into a table with a generated key, unless the
    statement returns something itself."""
    match = _INSERT_INTO.match(sql)
    if match is None or "RETURNING" in sql.upper():
        return None
    return GENERATED_KEYS.get(match.group(1))
