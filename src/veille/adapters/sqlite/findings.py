"""SQLite store of clone findings recorded by the clone sweep. It never commits."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from veille.adapters.sqlite.times import decode, encode
from veille.domain.analysis import CloneFinding

_COLUMNS = (
    "id, plate, first_read_id, second_read_id, first_camera_id, second_camera_id,"
    " first_at, second_at, distance_m, implied_kmh, found_at"
)


def _finding(row: tuple[Any, ...]) -> CloneFinding:
    return CloneFinding(
        finding_id=row[0],
        plate=row[1],
        first_read_id=str(uuid.UUID(bytes=row[2])),
        second_read_id=str(uuid.UUID(bytes=row[3])),
        first_camera_id=row[4],
        second_camera_id=row[5],
        first_at=decode(row[6]),
        second_at=decode(row[7]),
        distance_m=row[8],
        implied_kmh=row[9],
        found_at=decode(row[10]),
    )


class SqliteCloneFindingRepository:
    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def add_many(self, findings: Sequence[CloneFinding]) -> int:
        """Record the findings not recorded yet (a pair of reads once); return how many."""
        before = self.conn.total_changes
        self.conn.executemany(
            f"INSERT OR IGNORE INTO clone_findings ({_COLUMNS.split(', ', 1)[1]})"
            " VALUES (?,?,?,?,?,?,?,?,?,?)",
            [
                (
                    f.plate,
                    uuid.UUID(f.first_read_id).bytes,
                    uuid.UUID(f.second_read_id).bytes,
                    f.first_camera_id,
                    f.second_camera_id,
                    encode(f.first_at),
                    encode(f.second_at),
                    f.distance_m,
                    f.implied_kmh,
                    encode(f.found_at),
                )
                for f in findings
            ],
        )
        return self.conn.total_changes - before

    def find(
        self, *, plate: str | None = None, since: datetime | None = None, limit: int = 1000
    ) -> list[CloneFinding]:
        """Findings, newest second passage first, optionally of one plate or since a moment."""
        clauses: list[str] = []
        params: list[str | int] = []
        if plate is not None:
            clauses.append("plate = ?")
            params.append(plate)
        if since is not None:
            clauses.append("second_at >= ?")
            params.append(encode(since))
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self.conn.execute(
            f"SELECT {_COLUMNS} FROM clone_findings{where} ORDER BY second_at DESC, id LIMIT ?",
            (*params, limit),
        )
        return [_finding(r) for r in rows]

    def purge(self, *, before: datetime) -> int:
        """Delete findings whose later read was captured before `before` (retention)."""
        return self.conn.execute(
            "DELETE FROM clone_findings WHERE second_at < ?", (encode(before),)
        ).rowcount
