"""The PostgreSQL store: a psycopg 3 connection pool, and units of work over its repositories."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any, Self

import psycopg
from psycopg_pool import ConnectionPool

from veille.adapters.keys import SecretBox
from veille.adapters.postgresql.database import migrate, open_pool, schema_version
from veille.adapters.postgresql.partitions import DayPartitions, today
from veille.adapters.postgresql.portable import PortableConnection
from veille.adapters.postgresql.reads import PostgresReadRepository
from veille.adapters.postgresql.repositories import (
    PostgresAlertRepository,
    PostgresAuditRepository,
    PostgresAuthorizationRepository,
    PostgresCameraRepository,
    PostgresCloneFindingRepository,
    PostgresDeadLetterRepository,
    PostgresHoldRepository,
    PostgresHotlistRepository,
    PostgresUserRepository,
    as_sqlite,
)

Conn = psycopg.Connection[tuple[Any, ...]]
# Partitions made at start-up behind today (late reads) and ahead of it.
DAYS_BEHIND = 7
DAYS_AHEAD = 2


class PostgresUnitOfWork:
    """One PostgreSQL transaction on a pooled connection, taken when it begins.

    A writing unit of work runs READ COMMITTED (each statement sees what is committed;
    the audit chain and the hotlist counter serialise on their locked head rows); a
    read-only one is one REPEATABLE READ READ ONLY snapshot, which never blocks a writer.
    """

    def __init__(self, store: PostgresStore, *, write: bool = True):
        self._store = store
        self.write = write
        self._conn: Conn | None = None
        self._made: set[int] = set()  # day partitions made in this transaction
        self._portable = portable = PortableConnection()
        sqlite_like = as_sqlite(portable)
        self.reads = PostgresReadRepository(portable, store.partitions, self._made)
        self.cameras = PostgresCameraRepository(sqlite_like)
        self.dead_letters = PostgresDeadLetterRepository(sqlite_like)
        self.users = PostgresUserRepository(sqlite_like, secrets=store.secrets)
        self.audit = PostgresAuditRepository(portable, seal=store.seal)
        self.holds = PostgresHoldRepository(sqlite_like)
        self.authorizations = PostgresAuthorizationRepository(sqlite_like)
        self.hotlists = PostgresHotlistRepository(sqlite_like)
        self.alerts = PostgresAlertRepository(sqlite_like)
        self.clone_findings = PostgresCloneFindingRepository(sqlite_like)

    def __enter__(self) -> Self:
        conn = self._store.pool.getconn()
        try:
            conn.execute(
                "BEGIN" if self.write else "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
            )
        except BaseException:
            self._store.pool.putconn(conn)
            raise
        self._conn = conn
        self._made.clear()
        self._portable.attach(conn)
        return self

    @property
    def conn(self) -> Conn:
        """The open transaction's connection, as `SqliteUnitOfWork.conn` (raises when the
        unit of work is not open)."""
        if self._conn is None:
            raise RuntimeError("the unit of work is not open (use it in a `with` block)")
        return self._conn

    def __exit__(self, *exc: Any) -> None:
        if self._conn is not None:
            self.rollback()

    def _end(self, verb: str) -> None:
        conn = self.conn
        self._conn = None
        self._portable.attach(None)
        try:
            conn.execute(verb)
        finally:
            self._store.pool.putconn(conn)

    def commit(self) -> None:
        self._end("COMMIT")
        self._store.partitions.remember(self._made)

    def rollback(self) -> None:
        if self._conn is not None:
            self._end("ROLLBACK")

    @contextlib.contextmanager
    def savepoint(self, name: str) -> Iterator[None]:
        """A nested step: if it fails, only its own writes are undone."""
        conn = self.conn
        conn.execute(f'SAVEPOINT "{name}"')
        try:
            yield
        except BaseException:
            conn.execute(f'ROLLBACK TO SAVEPOINT "{name}"')
            conn.execute(f'RELEASE SAVEPOINT "{name}"')
            raise
        conn.execute(f'RELEASE SAVEPOINT "{name}"')


class PostgresStore:
    """A PostgreSQL database behind the ports, shared by any number of processes.

    `dsn` is a libpq connection string or URI (`postgresql://user@host/db`); connections
    are opened by the pool on first use, never at construction.
    """

    def __init__(
        self,
        dsn: str,
        *,
        pool_size: int = 10,
        seal: Callable[[str], str] | None = None,
        secrets: SecretBox | None = None,
    ):
        self.dsn = dsn
        self.pool_size = pool_size
        self.seal = seal
        self.secrets = secrets
        self.partitions = DayPartitions()
        self._pool: ConnectionPool | None = None

    @property
    def pool(self) -> ConnectionPool:
        if self._pool is None:
            self._pool = open_pool(self.dsn, max_size=self.pool_size)
            self._pool.open(wait=True)
        return self._pool

    def initialise(self) -> list[int]:
        """Apply pending migrations, make the day partitions around today, and seal any
        TOTP secret still in clear."""
        with self.pool.connection() as conn:
            applied = migrate(conn)
        self.make_partitions()
        if self.secrets is not None:
            with self.uow() as uow:
                if uow.users.seal_plain_totp_secrets():
                    uow.commit()
        return applied

    def make_partitions(self, *, behind: int = DAYS_BEHIND, ahead: int = DAYS_AHEAD) -> set[int]:
        """Make the partitions of the days around today that do not exist yet (the days
        made); what a daily job or each start-up runs."""
        now = today()
        with self.uow() as uow:
            made = self.partitions.ensure_days(uow.conn, range(now - behind, now + ahead + 1))
            uow.commit()
        self.partitions.remember(made)
        return made

    def schema_version(self) -> int:
        with self.pool.connection() as conn:
            return schema_version(conn)

    def uow(self, *, write: bool = True) -> PostgresUnitOfWork:
        return PostgresUnitOfWork(self, write=write)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None
