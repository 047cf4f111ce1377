"""Day partitions of the reads (and of their image rows), made by Veille itself.

pg_partman is not needed: a partition is one `CREATE TABLE … PARTITION OF` per table and
UTC day, made ahead (`ensure_days` from `PostgresStore.initialise` and on ingest: the days
of the batch and the two days after the newest) and on demand for a read of a day that
has none (a late read, an import). Creation is idempotent and serialised by an advisory
lock per day, so processes that meet the same new day make it once.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg

from veille.domain.times import micros

DAY_US = 86_400_000_000
PARTITIONED = ("reads", "read_images")  # tables partitioned by capture day, in step
AHEAD_DAYS = 2  # partitions made past the newest day ingest has seen
_LOCK_SPACE = 0x7264  # advisory lock keys: (this, day number)


def day_of(captured_us: int) -> int:
    """The day number (days since 1970-01-01 UTC) of a capture time in microseconds."""
    return captured_us // DAY_US


def day_bounds(day: int) -> tuple[int, int]:
    """[start, end) of a day in microseconds."""
    return day * DAY_US, (day + 1) * DAY_US


def partition_name(table: str, day: int) -> str:
    moment = date(1970, 1, 1) + timedelta(days=day)
    return f"{table}_{moment:%Y%m%d}" if day >= 0 else f"{table}_m{-day}"


def today(now: datetime | None = None) -> int:
    return day_of(micros(now or datetime.now(UTC)))


class DayPartitions:
    """Which day partitions exist, remembered per store so ingest asks the catalogue only
    for a day it has not met."""

    def __init__(self) -> None:
        self._known: set[int] = set()
        self._lock = threading.Lock()

    def forget(self, days: Iterable[int] | None = None) -> None:
        """Ask the catalogue again for these days (None: for every day)."""
        with self._lock:
            if days is None:
                self._known.clear()
            else:
                self._known.difference_update(days)

    def remember(self, days: Iterable[int]) -> None:
        """These days' partitions are committed (made by a transaction that committed)."""
        with self._lock:
            self._known.update(days)

    def ensure_days(
        self, conn: psycopg.Connection[tuple[Any, ...]], days: Iterable[int]
    ) -> set[int]:
        """Make the partitions of these days that do not exist yet, in the caller's
        transaction; answer the days made, to `remember` once that transaction commits
        (a rolled-back one took its partitions with it)."""
        with self._lock:
            wanted = sorted(set(days) - self._known)
        if not wanted:
            return set()
        exist = existing_days(conn, wanted)
        self.remember(exist)
        return {day for day in wanted if day not in exist and create_day(conn, day)}


def existing_days(conn: psycopg.Connection[tuple[Any, ...]], days: list[int]) -> set[int]:
    names = {partition_name("reads", d): d for d in days}
    rows = conn.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = 'reads'::regclass AND c.relname = ANY(%s)",
        (list(names),),
    ).fetchall()
    return {names[str(r[0])] for r in rows}


def create_day(conn: psycopg.Connection[tuple[Any, ...]], day: int) -> bool:
    """Make one day's partitions; False if another process just did."""
    conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (_LOCK_SPACE, day))
    if existing_days(conn, [day]):
        return False
    start, end = day_bounds(day)
    for table in PARTITIONED:
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {partition_name(table, day)} PARTITION OF {table}"
            f" FOR VALUES FROM ({start}) TO ({end})"
        )
    return True


def all_days(conn: psycopg.Connection[tuple[Any, ...]]) -> list[int]:
    """The days that have a reads partition, oldest first."""
    rows = conn.execute(
        "SELECT pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i"
        " JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'reads'::regclass"
    ).fetchall()
    days = []
    for (bound,) in rows:  # FOR VALUES FROM ('1772323200000000') TO ('…')
        start = str(bound).split("(", 1)[1].split(")", 1)[0].strip("'")
        days.append(day_of(int(start)))
    return sorted(days)


def drop_day(conn: psycopg.Connection[tuple[Any, ...]], day: int) -> None:
    for table in PARTITIONED:
        conn.execute(f"DROP TABLE IF EXISTS {partition_name(table, day)}")
