"""SQLite audit log repository: appends chained records inside the caller's transaction."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime
from typing import Any

import orjson

from veille.adapters.sqlite.times import decode, encode, encode_or_none
from veille.domain.audit import Actor, AuditEntry, AuditRecord, next_record

_COLUMNS = (
    "seq, at, actor_username, actor_role, actor_user_id, actor_org_id, actor_ip, actor_agent,"
    " action, outcome, target, params, result_count, purpose, case_ref, prev_hash, hash, seal"
)


def _record(row: tuple[Any, ...]) -> AuditRecord:
    entry = AuditEntry(
        at=decode(row[1]),
        actor=Actor(
            username=row[2],
            role=row[3],
            user_id=row[4],
            org_id=row[5],
            ip=row[6],
            user_agent=row[7],
        ),
        action=row[8],
        outcome=row[9],
        target=row[10],
        params=orjson.loads(row[11]),
        result_count=row[12],
        purpose=row[13],
        case_ref=row[14],
    )
    return AuditRecord(seq=row[0], entry=entry, prev_hash=row[15], hash=row[16], seal=row[17])


class SqliteAuditRepository:
    def __init__(self, conn: sqlite3.Connection, *, seal: Callable[[str], str] | None = None):
        self.conn = conn
        self._seal = seal  # None: records are written unsealed (stores built without keys)

    def last(self) -> AuditRecord | None:
        row = self.conn.execute(
            f"SELECT {_COLUMNS} FROM audit_log ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        return _record(row) if row else None

    def append(self, entry: AuditEntry) -> AuditRecord:
        """Chain and insert one record. Must run inside a write transaction, which
        serialises appenders so that no two records claim the same predecessor."""
        if not self.conn.in_transaction:
            raise RuntimeError("audit records are written inside the action's transaction")
        record = next_record(self.last(), entry)
        if self._seal is not None:
            record = replace(record, seal=self._seal(record.hash))
        a = entry.actor
        self.conn.execute(
            f"INSERT INTO audit_log ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                record.seq,
                encode(entry.at),
                a.username,
                a.role,
                a.user_id,
                a.org_id,
                a.ip,
                a.user_agent,
                entry.action,
                entry.outcome,
                entry.target,
                orjson.dumps(entry.params, option=orjson.OPT_SORT_KEYS).decode(),
                entry.result_count,
                entry.purpose,
                entry.case_ref,
                record.prev_hash,
                record.hash,
                record.seal,
            ),
        )
        return record

    def get(self, seq: int) -> AuditRecord | None:
        row = self.conn.execute(
            f"SELECT {_COLUMNS} FROM audit_log WHERE seq = ?", (seq,)
        ).fetchone()
        return _record(row) if row else None

    def last_of(self, action: str) -> AuditRecord | None:
        """The newest record of one action."""
        row = self.conn.execute(
            f"SELECT {_COLUMNS} FROM audit_log WHERE action = ? ORDER BY seq DESC LIMIT 1",
            (action,),
        ).fetchone()
        return _record(row) if row else None

    def iter_all(self, *, batch: int = 5000, after: int = 0) -> Iterator[AuditRecord]:
        """Every record in sequence order (those after seq `after`), fetched in batches."""
        while True:
            rows = self.conn.execute(
                f"SELECT {_COLUMNS} FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?",
                (after, batch),
            ).fetchall()
            if not rows:
                return
            for row in rows:
                yield _record(row)
            after = rows[-1][0]

    def search(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        username: str | None = None,
        action: str | None = None,
        case_ref: str | None = None,
        limit: int = 1000,
        after_seq: int | None = None,
    ) -> list[AuditRecord]:
        clauses, params = [], []
        for column, op, value in (
            ("at", ">=", encode_or_none(since)),
            ("at", "<", encode_or_none(until)),
            ("actor_username", "=", username),
            ("action", "=", action),
            ("case_ref", "=", case_ref),
            ("seq", ">", after_seq),  # keyset paging: the page after this record
        ):
            if value is not None:
                clauses.append(f"{column} {op} ?")
                params.append(value)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self.conn.execute(
            f"SELECT {_COLUMNS} FROM audit_log{where} ORDER BY seq LIMIT ?", (*params, limit)
        ).fetchall()
        return [_record(r) for r in rows]

    def count(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM audit_log").fetchone()[0])
