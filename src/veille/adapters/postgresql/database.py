"""PostgreSQL connections (a psycopg 3 pool) and this backend's own versioned migrations."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from veille.adapters.sqlite import times

_MIGRATION_NAME = re.compile(r"(\d{4})_([a-z0-9_]+)\.sql")
# Any fixed key will do: every process applying migrations takes the same one.
_MIGRATION_LOCK = 0x7665696C6C65  # "veille"


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def load_migrations() -> list[Migration]:
    """Every PostgreSQL migration shipped with the package, in version order."""
    folder = resources.files("veille.adapters.postgresql") / "migrations"
    found = [
        Migration(int(match.group(1)), match.group(2), entry.read_text("utf-8"))
        for entry in folder.iterdir()
        if (match := _MIGRATION_NAME.fullmatch(entry.name))
    ]
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions) or (versions and versions[0] != 1):
        raise RuntimeError(f"migrations must have unique numbers from 1, found {versions}")
    return found


def open_pool(dsn: str, *, min_size: int = 1, max_size: int = 10) -> ConnectionPool:
    """A pool of autocommit connections: each unit of work opens its transaction itself
    (BEGIN … COMMIT), as on SQLite. Nothing connects before the first unit of work."""
    return ConnectionPool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        kwargs={"autocommit": True},
        open=False,
        name="veille",
    )


def migrate(conn: psycopg.Connection[tuple[Any, ...]]) -> list[int]:
    """Apply every migration not yet applied, each in a savepoint of one transaction;
    return them.

    An advisory lock makes processes that start together apply them once, one after the
    other; a migration file is sent whole (PL/pgSQL bodies hold semicolons)."""
    done: list[int] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)"
        )
        applied = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
        for migration in load_migrations():
            if migration.version in applied:
                continue
            with conn.transaction():
                conn.execute(migration.sql.encode())
                conn.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (%s, %s, %s)",
                    (migration.version, migration.name, times.encode(datetime.now(UTC))),
                )
            done.append(migration.version)
    return done


def schema_version(conn: psycopg.Connection[tuple[Any, ...]]) -> int:
    row = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()
    if not row or not row[0]:
        return 0
    found = conn.execute("SELECT max(version) FROM schema_migrations").fetchone()
    return int(found[0] or 0) if found else 0
