"""The repository contract: one suite, every store behind the ports.

Each test takes the `store` fixture, parametrised over the backends in `BACKENDS`;
adding a backend (PostgreSQL) is adding one `Backend` there. Tests speak only through
the ports (`store.uow()` and its repositories), never SQL.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.contract.builders import Store
from tests.postgresql import postgres_store
from veille.adapters.keys import SecretBox
from veille.adapters.memory.store import ConstraintViolated, MemoryStore
from veille.adapters.sqlite.store import SqliteStore


@dataclass(frozen=True)
class Backend:
    name: str
    open: Callable[[Path], AbstractContextManager[Store]]
    conflict: type[Exception]  # what a broken uniqueness or reference rule raises
    # False for a store whose purge may drop a whole partition in one step (then a step
    # may delete more than its limit); the row-by-row bound is checked only when True
    purges_row_by_row: bool = True


@contextmanager
def _sqlite(folder: Path) -> Iterator[Store]:
    # TOTP secrets are kept encrypted with a key outside the database: give it one
    secrets = SecretBox(folder / "keys" / "totp.key")
    store = SqliteStore(folder / "contract.sqlite3", synchronous="OFF", secrets=secrets)
    store.initialise()
    try:
        yield store
    finally:
        store.close()


@contextmanager
def _memory(folder: Path) -> Iterator[Store]:
    yield MemoryStore()


@contextmanager
def _postgresql(folder: Path) -> Iterator[Store]:
    # a migrated database holding no row, for each test (tests/postgresql.py)
    with postgres_store(SecretBox(folder / "keys" / "totp.key")) as store:
        yield store


BACKENDS = [
    Backend("sqlite", _sqlite, sqlite3.IntegrityError),
    Backend("memory", _memory, ConstraintViolated),
    # drops a whole day partition in one purge step (decision 0015)
    Backend("postgresql", _postgresql, psycopg.IntegrityError, purges_row_by_row=False),
]


@pytest.fixture(params=BACKENDS, ids=[b.name for b in BACKENDS])
def backend(request: pytest.FixtureRequest) -> Backend:
    chosen: Backend = request.param
    return chosen


@pytest.fixture
def store(backend: Backend, tmp_path: Path) -> Iterator[Store]:
    with backend.open(tmp_path) as opened:
        yield opened


@pytest.fixture
def elsewhere() -> Iterator[Callable[[Callable[[], Any]], Any]]:
    """Run a function on another thread, as another request would (SQLite: another
    connection), and return its result."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="elsewhere") as pool:

        def run(fn: Callable[[], Any]) -> Any:
            return pool.submit(fn).result(timeout=30)

        yield run
