"""PostgreSQL connections (a psycopg 3 pool) and this backend's own versioned migrations."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from veille.adapters.sqlite import times
from veille.adapters.sqlite.database import Migration
from veille.adapters.sqlite.database import load_migrations as load_migrations_of

# Any fixed key will do: every process applying migrations takes the same one.
_MIGRATION_LOCK = 0x7665696C6C65  # "veille"


def load_migrations() -> list[Migration]:
    """Every PostgreSQL migration shipped with the package, in version order (the
    loader SQLite's migrations use, on this backend's folder)."""
    return load_migrations_of("veille.adapters.postgresql")


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
