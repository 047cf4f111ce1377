"""SQLite repository for hotlists and their entries. Never commits."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from veille.adapters.sqlite.times import decode_or_none, encode, encode_or_none
from veille.domain.hotlists import Category, Hotlist, HotlistEntry
from veille.service.ports import HotlistChanges

_LIST_COLUMNS = (
    "list_id, name, category, owner_org, max_edits, lookalike, max_wildcards, default_priority"
)
_ENTRY_COLUMNS = (
    "list_id, entry_id, plate, country, priority, valid_from, valid_until, source_ref,"
    " instructions, covert"
)


def _list(row: tuple[Any, ...]) -> Hotlist:
    return Hotlist(
        list_id=row[0],
        name=row[1],
        category=Category(row[2]),
        owner_org=row[3],
        max_edits=row[4],
        lookalike=bool(row[5]),
        max_wildcards=row[6],
        default_priority=row[7],
    )


def _entry(row: tuple[Any, ...]) -> HotlistEntry:
    return HotlistEntry(
        list_id=row[0],
        entry_id=row[1],
        plate=row[2],
        country=row[3],
        priority=row[4],
        valid_from=decode_or_none(row[5]),
        valid_until=decode_or_none(row[6]),
        source_ref=row[7],
        instructions=row[8],
        covert=bool(row[9]),
    )


def _entry_row(e: HotlistEntry, now: datetime) -> tuple[Any, ...]:
    return (
        e.list_id,
        e.entry_id,
        e.plate,
        e.country,
        e.priority,
        encode_or_none(e.valid_from),
        encode_or_none(e.valid_until),
        e.source_ref,
        e.instructions,
        int(e.covert),
        encode(now),
    )


class SqliteHotlistRepository:
    _no_limit = -1  # SQLite's LIMIT of no limit (a backend's SQL may say it otherwise)

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def lists(self) -> list[Hotlist]:
        rows = self.conn.execute(f"SELECT {_LIST_COLUMNS} FROM hotlists ORDER BY list_id")
        return [_list(r) for r in rows]

    def get_list(self, list_id: str) -> Hotlist | None:
        row = self.conn.execute(
            f"SELECT {_LIST_COLUMNS} FROM hotlists WHERE list_id = ?", (list_id,)
        ).fetchone()
        return _list(row) if row else None

    def save_list(self, hotlist: Hotlist, now: datetime) -> None:
        h = hotlist
        self.conn.execute(
            f"INSERT INTO hotlists ({_LIST_COLUMNS}, created_at, updated_at)"
            " VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT (list_id) DO UPDATE SET"
            " name = excluded.name, category = excluded.category,"
            " owner_org = excluded.owner_org, max_edits = excluded.max_edits,"
            " lookalike = excluded.lookalike, max_wildcards = excluded.max_wildcards,"
            " default_priority = excluded.default_priority, updated_at = excluded.updated_at",
            (
                h.list_id,
                h.name,
                h.category.value,
                h.owner_org,
                h.max_edits,
                int(h.lookalike),
                h.max_wildcards,
                h.default_priority,
                encode(now),
                encode(now),
            ),
        )

    def delete_list(self, list_id: str) -> int:
        self.conn.execute("DELETE FROM hotlist_entries WHERE list_id = ?", (list_id,))
        return self.conn.execute("DELETE FROM hotlists WHERE list_id = ?", (list_id,)).rowcount

    def entries(self, list_id: str | None = None) -> list[HotlistEntry]:
        if list_id is None:
            rows = self.conn.execute(
                f"SELECT {_ENTRY_COLUMNS} FROM hotlist_entries ORDER BY list_id, entry_id"
            )
        else:
            rows = self.conn.execute(
                f"SELECT {_ENTRY_COLUMNS} FROM hotlist_entries WHERE list_id = ? ORDER BY entry_id",
                (list_id,),
            )
        return [_entry(r) for r in rows]

    def page(
        self, list_id: str, *, after: str | None = None, limit: int | None = None
    ) -> list[HotlistEntry]:
        # the primary key (list_id, entry_id) serves the range and the order
        rows = self.conn.execute(
            f"SELECT {_ENTRY_COLUMNS} FROM hotlist_entries"
            " WHERE list_id = ? AND (? IS NULL OR entry_id > ?) ORDER BY entry_id LIMIT ?",
            (list_id, after, after, self._no_limit if limit is None else limit),
        )
        return [_entry(r) for r in rows]

    def get_entry(self, list_id: str, entry_id: str) -> HotlistEntry | None:
        row = self.conn.execute(
            f"SELECT {_ENTRY_COLUMNS} FROM hotlist_entries WHERE list_id = ? AND entry_id = ?",
            (list_id, entry_id),
        ).fetchone()
        return _entry(row) if row else None

    def count_entries(self, list_id: str) -> int:
        row = self.conn.execute(
            "SELECT count(*) FROM hotlist_entries WHERE list_id = ?", (list_id,)
        ).fetchone()
        return int(row[0])

    def put_entries(self, entries: Iterable[HotlistEntry], now: datetime) -> None:
        self.conn.executemany(
            f"INSERT OR REPLACE INTO hotlist_entries ({_ENTRY_COLUMNS}, updated_at)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            [_entry_row(e, now) for e in entries],
        )

    def delete_entry(self, list_id: str, entry_id: str) -> int:
        return self.conn.execute(
            "DELETE FROM hotlist_entries WHERE list_id = ? AND entry_id = ?", (list_id, entry_id)
        ).rowcount

    def delete_entries(self, list_id: str, entry_ids: Iterable[str]) -> int:
        before = self.conn.total_changes
        self.conn.executemany(
            "DELETE FROM hotlist_entries WHERE list_id = ? AND entry_id = ?",
            ((list_id, entry_id) for entry_id in entry_ids),
        )
        return self.conn.total_changes - before

    def replace_entries(self, list_id: str, entries: Iterable[HotlistEntry], now: datetime) -> None:
        self.conn.execute("DELETE FROM hotlist_entries WHERE list_id = ?", (list_id,))
        self.put_entries(entries, now)

    def note_change(self, list_id: str, now: datetime) -> int:
        cur = self.conn.execute(
            "INSERT INTO hotlist_changes (list_id, changed_at) VALUES (?, ?)",
            (list_id, encode(now)),
        )
        return int(cur.lastrowid or 0)

    def changes_since(self, change_id: int) -> HotlistChanges:
        rows = self.conn.execute(
            "SELECT change_id, list_id FROM hotlist_changes WHERE change_id > ?", (change_id,)
        ).fetchall()
        if not rows:
            return HotlistChanges(change_id, frozenset())
        return HotlistChanges(max(r[0] for r in rows), frozenset(r[1] for r in rows))

    def latest_change(self, list_id: str | None = None) -> int:
        if list_id is None:
            row = self.conn.execute("SELECT coalesce(max(change_id), 0) FROM hotlist_changes")
        else:
            row = self.conn.execute(
                "SELECT coalesce(max(change_id), 0) FROM hotlist_changes WHERE list_id = ?",
                (list_id,),
            )
        return int(row.fetchone()[0])
