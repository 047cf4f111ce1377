"""SQLite case holds."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import orjson

from veille.adapters.sqlite.times import decode, decode_or_none, encode
from veille.domain.retention import Hold

_COLUMNS = (
    "hold_id, case_ref, auth_id, plates, camera_ids, period_start, period_end,"
    " created_by, created_at, released_at, released_by"
)


def _hold(row: tuple[Any, ...]) -> Hold:
    return Hold(
        hold_id=row[0],
        case_ref=row[1],
        auth_id=row[2],
        plates=frozenset(orjson.loads(row[3])),
        camera_ids=frozenset(orjson.loads(row[4])),
        period_start=decode(row[5]),
        period_end=decode(row[6]),
        created_by=row[7],
        created_at=decode_or_none(row[8]),
        released_at=decode_or_none(row[9]),
        released_by=row[10],
    )


class SqliteHoldRepository:
    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def add(
        self,
        *,
        case_ref: str,
        plates: Iterable[str],
        camera_ids: Iterable[str],
        period_start: datetime,
        period_end: datetime,
        created_by: str,
        created_at: datetime,
        auth_id: int | None = None,
    ) -> int:
        cur = self.conn.execute(
            "INSERT INTO case_holds (case_ref, auth_id, plates, camera_ids, period_start,"
            " period_end, created_by, created_at) VALUES (?,?,?,?,?,?,?,?)",
            (
                case_ref,
                auth_id,
                orjson.dumps(sorted(set(plates))).decode(),
                orjson.dumps(sorted(set(camera_ids))).decode(),
                encode(period_start),
                encode(period_end),
                created_by,
                encode(created_at),
            ),
        )
        return int(cur.lastrowid or 0)

    def get(self, hold_id: int) -> Hold | None:
        row = self.conn.execute(
            f"SELECT {_COLUMNS} FROM case_holds WHERE hold_id = ?", (hold_id,)
        ).fetchone()
        return _hold(row) if row else None

    def active(self) -> list[Hold]:
        rows = self.conn.execute(
            f"SELECT {_COLUMNS} FROM case_holds WHERE released_at IS NULL ORDER BY hold_id"
        )
        return [_hold(r) for r in rows]

    def find(self, *, include_released: bool = False) -> list[Hold]:
        if not include_released:
            return self.active()
        rows = self.conn.execute(f"SELECT {_COLUMNS} FROM case_holds ORDER BY hold_id")
        return [_hold(r) for r in rows]

    def release(self, hold_id: int, *, by: str, at: datetime) -> bool:
        """Release an active hold; False when there is no active hold with that id."""
        return (
            self.conn.execute(
                "UPDATE case_holds SET released_at = ?, released_by = ?"
                " WHERE hold_id = ? AND released_at IS NULL",
                (encode(at), by, hold_id),
            ).rowcount
            == 1
        )
