"""The in-memory store: committed tables, units of work with snapshot isolation.

The store keeps its committed state as a set of tables (plain dicts of immutable
values). A unit of work reads the state that was committed when it began and writes
copies of only the tables it changes (copy on write), in layers: one per open savepoint.
`commit()` publishes its tables as the new committed state in one step; leaving without
commit drops them. Writing units of work hold the store's write lock from begin to end,
as SQLite's `BEGIN IMMEDIATE` does, so writers are serialised and one never overwrites
another's commit. It is what the contract suite (tests/contract/) holds the SQLite store
to, and what unit tests of handlers run against.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import Any, Self, TypeVar

from veille.domain.reads import Read
from veille.domain.times import utc

# Every table the memory store keeps. A repository owns the ones it names.
TABLES = (
    "reads",
    "image_locations",  # (read id, image position) → where its bytes are (ImageLocation)
    "image_segments",  # segment name → image references into it
    "cameras",
    "camera_credentials",
    "dead_letters",
    "organisations",
    "users",
    "api_tokens",
    "user_grants",
    "audit_log",
    "authorizations",
    "case_holds",
    "clone_findings",
    "hotlists",
    "hotlist_entries",
    "hotlist_changes",
    "alerts",
    "alert_hits",  # alert id → its hits, in the order added
    "alert_events",  # event id → (alert id, step)
    "webhooks",
    "webhook_deliveries",
    "counters",  # row-id sequences and the camera version, rolled back with the rest
)
Tables = Mapping[str, dict[Any, Any]]
V = TypeVar("V")


def in_utc(value: V) -> V:
    """`value` with every moment in it (fields of dataclasses, nested, and their tuples)
    in UTC, as SQLite's codec gives them back; a naive datetime raises `NaiveDatetime`.
    What holds no moment to change is returned as it is (the same object)."""
    kept: V = _in_utc(value)
    return kept


def _in_utc(value: Any) -> Any:
    if isinstance(value, datetime):
        return utc(value)  # the same object when it is in UTC already
    if type(value) is tuple:
        items = tuple(map(_in_utc, value))
        changed = any(new is not old for new, old in zip(items, value, strict=True))
        return items if changed else value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {
            f.name: new
            for f in dataclasses.fields(value)
            if f.init and (new := _in_utc(old := getattr(value, f.name))) is not old
        }
        return dataclasses.replace(value, **fields) if fields else value
    return value


class _UtcTable(dict[Any, Any]):
    """A table being written: every row stored keeps its moments in UTC (see `in_utc`)."""

    def __setitem__(self, key: Any, value: Any) -> None:
        super().__setitem__(key, in_utc(value))


class ConstraintViolated(Exception):
    """A write broke a uniqueness or reference rule (SQLite raises IntegrityError)."""


class StoreBusy(TimeoutError):
    """The write lock was not free within the busy timeout (SQLite: "database is locked")."""


class SnapshotConflict(Exception):
    """A read-only unit of work tried to commit changes over a newer commit."""


class MemoryStore:
    """Owns the committed tables and hands out units of work."""

    def __init__(self, *, busy_timeout: float = 10.0, seal: Callable[[str], str] | None = None):
        self.busy_timeout = busy_timeout
        self.seal = seal  # seals audit records, as SQLite's store does with its key
        self._committed: dict[str, dict[Any, Any]] = {name: {} for name in TABLES}
        self._serial = 0  # how many commits changed something
        self._state_lock = threading.Lock()  # guards _committed and _serial together
        self._write_lock = threading.Lock()
        self._writer: int | None = None  # thread holding the write lock

    def initialise(self) -> list[int]:
        """Nothing to migrate: the tables exist from the start."""
        return []

    def schema_version(self) -> int:
        """Always 0: its tables need no migration."""
        return 0

    def close(self) -> None:
        """Nothing to release; the state lives as long as the store object."""

    def uow(self, *, write: bool = True) -> MemoryUnitOfWork:
        return MemoryUnitOfWork(self, write=write)

    @staticmethod
    def encode_read(read: Read) -> Read:
        """The memory store's `ReadEncoder`: it keeps reads as they are."""
        return read

    # --- used by units of work -------------------------------------------------------

    def snapshot(self) -> tuple[Tables, int]:
        with self._state_lock:
            return self._committed, self._serial

    def acquire_write(self) -> None:
        me = threading.get_ident()
        if self._writer == me:
            raise RuntimeError("this thread already holds a writing unit of work")
        if not self._write_lock.acquire(timeout=self.busy_timeout):
            raise StoreBusy(f"the store's write lock was busy for {self.busy_timeout} s")
        self._writer = me

    def release_write(self) -> None:
        self._writer = None
        self._write_lock.release()

    def publish(self, changed: Mapping[str, dict[Any, Any]], *, based_on: int) -> None:
        """Make `changed` tables the committed ones; the caller holds the write lock."""
        with self._state_lock:
            if self._serial != based_on:
                raise SnapshotConflict("another unit of work committed since this one began")
            self._committed = {**self._committed, **changed}
            self._serial += 1


class MemoryUnitOfWork:
    """One transaction over the memory repositories; leaving without commit rolls back.

    It has every repository of the `UnitOfWork` port.
    """

    def __init__(self, store: MemoryStore, *, write: bool = True):
        # Imported here: the repository modules import this one for the table names.
        from veille.adapters.memory.alerts import MemoryAlertRepository
        from veille.adapters.memory.audit import MemoryAuditRepository
        from veille.adapters.memory.authorizations import MemoryAuthorizationRepository
        from veille.adapters.memory.cameras import (
            MemoryCameraRepository,
            MemoryDeadLetterRepository,
        )
        from veille.adapters.memory.findings import MemoryCloneFindingRepository
        from veille.adapters.memory.holds import MemoryHoldRepository
        from veille.adapters.memory.hotlists import MemoryHotlistRepository
        from veille.adapters.memory.reads import MemoryReadRepository
        from veille.adapters.memory.users import MemoryUserRepository

        self.store = store
        self.write = write
        self.reads = MemoryReadRepository(self)
        self.cameras = MemoryCameraRepository(self)
        self.dead_letters = MemoryDeadLetterRepository(self)
        self.users = MemoryUserRepository(self)
        self.audit = MemoryAuditRepository(self, seal=store.seal)
        self.holds = MemoryHoldRepository(self)
        self.authorizations = MemoryAuthorizationRepository(self)
        self.clone_findings = MemoryCloneFindingRepository(self)
        self.hotlists = MemoryHotlistRepository(self)
        self.alerts = MemoryAlertRepository(self)
        self._base: Tables | None = None  # the committed tables this transaction reads
        self._serial = 0
        self._layers: list[dict[str, dict[Any, Any]]] = []  # changed tables, per savepoint
        self._locked = False

    @property
    def in_transaction(self) -> bool:
        return self._base is not None

    def __enter__(self) -> Self:
        if self.in_transaction:
            raise RuntimeError("this unit of work is already open")
        if self.write:
            self.store.acquire_write()
            self._locked = True
        self._base, self._serial = self.store.snapshot()
        self._layers = [{}]
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.in_transaction:
            self.rollback()

    def commit(self) -> None:
        if not self.in_transaction:
            raise RuntimeError("cannot commit: no transaction is open")
        changed: dict[str, dict[Any, Any]] = {}
        for layer in self._layers:
            changed.update(layer)
        try:
            if changed:
                if not self._locked:  # a read-only unit of work that wrote after all
                    self.store.acquire_write()
                    self._locked = True
                self.store.publish(changed, based_on=self._serial)
        finally:
            self._close()

    def rollback(self) -> None:
        if self.in_transaction:
            self._close()

    def _close(self) -> None:
        self._base = None
        self._layers = []
        if self._locked:
            self._locked = False
            self.store.release_write()

    @contextlib.contextmanager
    def savepoint(self, name: str) -> Iterator[None]:
        """A nested step: if it fails, only its own writes are undone."""
        if not self.in_transaction:
            raise RuntimeError(f"savepoint {name}: no transaction is open")
        self._layers.append({})
        try:
            yield
        except BaseException:
            self._layers.pop()
            raise
        top = self._layers.pop()
        self._layers[-1].update(top)

    # --- used by repositories --------------------------------------------------------

    def table(self, name: str) -> Mapping[Any, Any]:
        """A table as this unit of work sees it (outside a transaction: the latest commit)."""
        for layer in self._layers[::-1]:  # the innermost savepoint first
            if name in layer:
                return layer[name]
        base = self._base if self._base is not None else self.store.snapshot()[0]
        return base[name]

    def writable(self, name: str) -> dict[Any, Any]:
        """A table this unit of work may change: copied into the innermost layer first."""
        if not self.in_transaction:
            raise RuntimeError(f"a write to {name} needs an open unit of work")
        top = self._layers[-1]
        if name not in top:
            top[name] = _UtcTable(self.table(name))
        return top[name]

    def next_id(self, sequence: str) -> int:
        """The next row id of a sequence (1, 2, …), rolled back with the transaction."""
        counters = self.writable("counters")
        counters[sequence] = counters.get(sequence, 0) + 1
        return int(counters[sequence])
