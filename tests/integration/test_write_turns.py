"""Writers of one process take the store's write lock in turn, first come first served.

Under national load the ingest writer commits back to back. SQLite's own busy handler
makes every other writer (an investigator's audit record, an operator's decision on a hit)
sleep and poll, and it loses the race to the writer again and again: in `bench national`
analyses failed with `database is locked` after 10 s. With turns, a writer waits for at
most the transaction in progress."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from veille.adapters.sqlite.store import SqliteStore
from veille.domain.audit import AuditEntry, system_actor

pytestmark = pytest.mark.integration


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    store = SqliteStore(tmp_path / "t.db", synchronous="OFF")
    store.initialise()
    yield store
    store.close()


def test_an_audit_append_waits_for_the_transaction_in_progress_not_for_a_busy_writer(
    store: SqliteStore,
):
    commits = 0
    stop = threading.Event()

    def ingest_writer() -> None:  # group commits back to back, as at the national peak
        nonlocal commits
        uow = store.uow_on(store.new_connection())
        while not stop.is_set():
            with uow:
                uow.hotlists.note_change("ingest", datetime.now(UTC))
                uow.commit()
            commits += 1

    writer = threading.Thread(target=ingest_writer)
    writer.start()
    while commits < 5:  # the writer is under way
        time.sleep(0.001)
    try:
        waited: list[int] = []
        for _ in range(30):
            before = commits
            uow = store.uow()
            with uow:
                waited.append(commits - before)
                uow.audit.append(
                    AuditEntry(at=datetime.now(UTC), actor=system_actor("test"), action="t.append")
                )
                uow.commit()
    finally:
        stop.set()
        writer.join()
    assert commits >= 20  # the writer went on throughout, in turn with the appends
    # each append got the lock after at most the writer's transaction in progress
    assert max(waited) <= 2, waited
