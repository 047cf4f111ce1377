"""The embedded store: a SQLite file in WAL mode, per-thread connections, unit of work."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Self

from veille.adapters.keys import SecretBox
from veille.adapters.sqlite.alerts import SqliteAlertRepository
from veille.adapters.sqlite.audit import SqliteAuditRepository
from veille.adapters.sqlite.authorizations import SqliteAuthorizationRepository
from veille.adapters.sqlite.database import connect, migrate, schema_version
from veille.adapters.sqlite.findings import SqliteCloneFindingRepository
from veille.adapters.sqlite.holds import SqliteHoldRepository
from veille.adapters.sqlite.hotlists import SqliteHotlistRepository
from veille.adapters.sqlite.repositories import (
    SqliteCameraRepository,
    SqliteDeadLetterRepository,
    SqliteReadRepository,
)
from veille.adapters.sqlite.users import SqliteUserRepository
from veille.adapters.sqlite.write_turns import WriteTurns
from veille.domain.errors import Busy

# How long a writer waits for its turn: SQLite's own busy timeout (database.connect).
TURN_TIMEOUT_S = 10.0


class StoreBusy(Busy):
    """The store's write lock stayed taken for longer than a writer may wait."""

    code = "store_busy"


class SqliteUnitOfWork:
    """One SQLite transaction (BEGIN IMMEDIATE: the write lock is taken up front, after
    this process's turn at it; see `write_turns.py`)."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        *,
        write: bool = True,
        seal: Callable[[str], str] | None = None,
        secrets: SecretBox | None = None,
        turns: WriteTurns | None = None,
    ):
        self.conn = conn
        self.write = write
        self._turns = turns if write else None
        self.reads = SqliteReadRepository(conn)
        self.cameras = SqliteCameraRepository(conn)
        self.dead_letters = SqliteDeadLetterRepository(conn)
        self.users = SqliteUserRepository(conn, secrets=secrets)
        self.audit = SqliteAuditRepository(conn, seal=seal)
        self.holds = SqliteHoldRepository(conn)
        self.authorizations = SqliteAuthorizationRepository(conn)
        self.hotlists = SqliteHotlistRepository(conn)
        self.alerts = SqliteAlertRepository(conn)
        self.clone_findings = SqliteCloneFindingRepository(conn)
        self._open = False

    def __enter__(self) -> Self:
        if self._turns is not None and not self._turns.acquire(TURN_TIMEOUT_S):
            raise StoreBusy(f"the store stayed busy for {TURN_TIMEOUT_S:g} s; try again")
        try:
            self.conn.execute("BEGIN IMMEDIATE" if self.write else "BEGIN")
        except BaseException:
            self._give_back()
            raise
        self._open = True
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._open:
            self.rollback()

    def commit(self) -> None:
        self.conn.execute("COMMIT")
        self._open = False
        self._give_back()

    def rollback(self) -> None:
        if self._open:
            try:
                self.conn.execute("ROLLBACK")
            finally:
                self._open = False
                self._give_back()

    def _give_back(self) -> None:
        if self._turns is not None:
            self._turns.release()

    @contextlib.contextmanager
    def savepoint(self, name: str) -> Iterator[None]:
        """A nested step: if it fails, only its own writes are undone."""
        self.conn.execute(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            self.conn.execute(f"ROLLBACK TO {name}")
            self.conn.execute(f"RELEASE {name}")
            raise
        self.conn.execute(f"RELEASE {name}")


class SqliteStore:
    """Owns the database file; hands out a connection per thread and units of work."""

    def __init__(
        self,
        path: Path,
        *,
        synchronous: str = "FULL",
        seal: Callable[[str], str] | None = None,
        secrets: SecretBox | None = None,
    ):
        self.path = Path(path)
        self.synchronous = synchronous
        # Keys held outside the database: the audit record seal and the TOTP secret box.
        self.seal = seal
        self.secrets = secrets
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self.turns = WriteTurns()  # every writer of this process, in turn

    def initialise(self) -> list[int]:
        """Create the file if needed and apply pending migrations."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = self.connection()
        applied = migrate(conn)
        if self.secrets is not None:
            # The Python half of migration 0011: SQL cannot encrypt with a key it never sees.
            with self.uow() as uow:
                if uow.users.seal_plain_totp_secrets():
                    uow.commit()
        return applied

    def schema_version(self) -> int:
        """The version of the last migration applied to this file (0: none yet)."""
        return schema_version(self.connection())

    def new_connection(self) -> sqlite3.Connection:
        conn = connect(self.path, synchronous=self.synchronous)
        with self._lock:
            self._all.append(conn)
        return conn

    def connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self.new_connection()
            self._local.conn = conn
        return conn

    def uow(self, *, write: bool = True) -> SqliteUnitOfWork:
        return SqliteUnitOfWork(
            self.connection(), write=write, seal=self.seal, secrets=self.secrets, turns=self.turns
        )

    def uow_on(self, conn: sqlite3.Connection) -> SqliteUnitOfWork:
        """A unit of work on a connection of the caller's (the ingest writer's own)."""
        return SqliteUnitOfWork(conn, seal=self.seal, secrets=self.secrets, turns=self.turns)

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                with contextlib.suppress(sqlite3.Error):
                    conn.close()
            self._all.clear()
        self._local = threading.local()
