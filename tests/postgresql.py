"""The test suite's PostgreSQL: one migrated database per test process, emptied per test.

The server is the machine's (VEILLE_TEST_POSTGRES, default postgres@127.0.0.1:5432, trust
authentication). Unreachable, its tests skip, except in CI (CI=true), where they fail.
The database made here is named `veille_test_<pid>_<random>` and dropped at exit.
"""

from __future__ import annotations

import atexit
import os
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from veille.adapters.keys import SecretBox
from veille.adapters.postgresql.store import PostgresStore

SERVER = os.environ.get("VEILLE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
_database: list[str] = []
_lock = threading.Lock()


def require_postgres() -> None:
    """Skip the test when the server does not answer; in CI, fail it."""
    try:
        psycopg.connect(SERVER, connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is not reachable at {SERVER} (CI requires it): {exc}")
        pytest.skip(f"PostgreSQL is not reachable at {SERVER}")


def dsn_of(database: str) -> str:
    return make_conninfo(SERVER, dbname=database)


def uri_of(dsn: str) -> str:
    """The same database as a `postgresql://` URI, as `VEILLE_STORE` takes it."""
    parts = conninfo_to_dict(dsn)
    user = f"{parts['user']}@" if parts.get("user") else ""
    host = parts.get("host", "127.0.0.1")
    return f"postgresql://{user}{host}:{parts.get('port', 5432)}/{parts['dbname']}"


def _admin(sql: str) -> None:
    with psycopg.connect(SERVER, autocommit=True) as conn:
        conn.execute(sql)


def _drop(database: str) -> None:
    _admin(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")


def _session_database() -> str:
    """This test process's database, migrated once; dropped when the process ends."""
    with _lock:
        if not _database:
            name = f"veille_test_{os.getpid()}_{secrets.token_hex(4)}"
            _admin(f"CREATE DATABASE {name}")
            atexit.register(_drop, name)
            store = PostgresStore(dsn_of(name), pool_size=1)
            store.initialise()
            store.close()
            _database.append(name)
        return _database[0]


# The one-row tables the migrations seed, and the value each starts from.
_SINGLETONS = {"camera_version": "version", "audit_head": "seq", "hotlist_change_head": "latest"}


def _empty(dsn: str) -> None:
    """Delete every row a test left (not the schema, nor the day partitions), and start
    every sequence again: as good as a new database, for a fraction of the time a CREATE
    DATABASE and a DROP take (~1.1 s a test, measured: decision 0015)."""
    with psycopg.connect(dsn, autocommit=True) as conn, conn.transaction():
        # replica: the append-only triggers of the audit log and the foreign keys sleep
        conn.execute("SET LOCAL session_replication_role = replica")
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition"
            )
        ]
        for table in tables:
            if table in _SINGLETONS:
                conn.execute(f"UPDATE {table} SET {_SINGLETONS[table]} = 0")
            elif table != "schema_migrations":
                conn.execute(f"DELETE FROM {table}")
        for (sequence,) in conn.execute(
            "SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'"
        ).fetchall():
            conn.execute(f"ALTER SEQUENCE {sequence} RESTART")


@contextmanager
def fresh_database() -> Iterator[str]:
    """The DSN of a migrated database that holds no row (this process's own, emptied)."""
    require_postgres()
    dsn = dsn_of(_session_database())
    _empty(dsn)
    yield dsn


@contextmanager
def postgres_store(secrets_box: SecretBox | None = None) -> Iterator[PostgresStore]:
    """A migrated `PostgresStore` on a fresh database, closed and dropped afterwards."""
    with fresh_database() as dsn:
        store = PostgresStore(dsn, pool_size=4, secrets=secrets_box)
        store.initialise()
        try:
            yield store
        finally:
            store.close()
