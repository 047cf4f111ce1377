"""Searches read from a snapshot: the ingest writer is never held while an analysis runs."""

from __future__ import annotations

import random
import sqlite3
from datetime import timedelta

import pytest

from tests.integration.test_lawful_queries import (
    NOW,
    POLICY,
    PURPOSE,
    add_reads,
    everything,
    make_store,
    principal,
)
from veille.service.queries import QueryContext, run_query

pytestmark = pytest.mark.integration


def _writes_without_waiting(store) -> bool:
    """Whether another connection can take the write lock right now (no busy wait)."""
    conn = sqlite3.connect(store.path, isolation_level=None, timeout=0)
    try:
        conn.execute("BEGIN IMMEDIATE")  # what the ingest writer does before each commit
        conn.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError as exc:
        assert "locked" in str(exc)
        return False
    finally:
        conn.close()


def test_an_analysis_in_progress_does_not_hold_the_write_lock(tmp_path):
    store = make_store(tmp_path)
    add_reads(store, random.Random(3), 50)
    seen: list[bool] = []

    def analysis(access):
        reads = access.find(start=NOW - timedelta(days=400), end=NOW + timedelta(days=1))
        seen.append(_writes_without_waiting(store))  # the writer commits mid-analysis
        return reads, len(reads)

    found = run_query(
        uow_factory=store.uow,
        read_uow_factory=lambda: store.uow(write=False),
        ctx=QueryContext(principal(), PURPOSE, "PV-2026-001"),
        now=NOW,
        policy=POLICY,
        action="reads.search.test",
        params={},
        execute=analysis,
    )
    assert seen == [True]
    assert found  # the analysis ran and answered
    with store.uow(write=False) as uow:
        record = uow.audit.last()
    assert record is not None and record.entry.result_count == len(found)


def test_the_result_is_withheld_when_its_audit_record_cannot_be_committed(tmp_path):
    store = make_store(tmp_path)
    add_reads(store, random.Random(4), 20)
    blocker = sqlite3.connect(store.path, isolation_level=None, timeout=0)
    blocker.execute("PRAGMA busy_timeout = 0")

    def analysis(access):
        # the audit append comes after the analysis: lock the store before it can commit
        blocker.execute("BEGIN IMMEDIATE")
        return everything(access)

    conn = store.connection()
    conn.execute("PRAGMA busy_timeout = 0")
    with pytest.raises(sqlite3.OperationalError):
        run_query(
            uow_factory=store.uow,
            read_uow_factory=lambda: store.uow(write=False),
            ctx=QueryContext(principal(), PURPOSE, "PV-2026-001"),
            now=NOW,
            policy=POLICY,
            action="reads.search.test",
            params={},
            execute=analysis,
        )
    blocker.execute("ROLLBACK")
    blocker.close()
