"""The single writer's insert path: multi-row statements, pre-encoded rows, lean outcomes."""

from __future__ import annotations

import gc
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import BlockedUnitOfWork
from veille.adapters.decoders.native_json import parse_read, validate_batch
from veille.adapters.sqlite.repositories import (
    insert_read_rows,
    read_row,
)
from veille.adapters.sqlite.store import SqliteStore
from veille.bootstrap import Platform
from veille.domain.reads import Read, ReadRules
from veille.entrypoints.runtime import tune_garbage_collector
from veille.service.ingest import (
    DUPLICATE,
    REJECTED,
    STORED,
    IngestBatch,
    store_batches,
)
from veille.service.writer import GroupCommitWriter, IngestCounters, WriterBusy

pytestmark = pytest.mark.integration

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
RULES = ReadRules()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    sqlite_store = SqliteStore(tmp_path / "veille.db", synchronous="NORMAL")
    sqlite_store.initialise()
    yield sqlite_store
    sqlite_store.close()


def payload(camera_id: str = "CAM-A", n: int = 0, **overrides: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "read_id": str(uuid.uuid4()),
        "camera_id": camera_id,
        "captured_at": (NOW - timedelta(seconds=60 - n % 60)).isoformat(),
        "plate": f"1-ABC-{n % 1000:03d}",
        "country": "BE",
        "confidence": 0.9,
        "candidates": [{"plate": "1ABC128", "confidence": 0.4}],
        "extra": {"vendor_score": n},
    }
    item.update(overrides)
    return item


def reads(n: int, camera_id: str = "CAM-A") -> list[Read]:
    return [parse_read(payload(camera_id, i), camera_id=camera_id, now=NOW).read for i in range(n)]


def stored_rows(store: SqliteStore) -> list[tuple[Any, ...]]:
    return store.connection().execute("SELECT * FROM reads ORDER BY id").fetchall()


def count(store: SqliteStore) -> int:
    return store.connection().execute("SELECT count(*) FROM reads").fetchone()[0]


# --- multi-row inserts --------------------------------------------------------------------


@pytest.mark.parametrize("n", [0, 1, 3, 255, 2047, 2048, 2049, 5000])
def test_multi_row_insert_stores_every_row_in_order(store: SqliteStore, n: int):
    batch = reads(n)
    conn = store.connection()
    with conn:
        inserted = insert_read_rows(conn, [read_row(r) for r in batch], ignore_existing=False)
    assert inserted == n
    ids = [row[0] for row in conn.execute("SELECT read_id FROM reads ORDER BY id")]
    assert ids == [r.read_id.bytes for r in batch]


def test_multi_row_insert_fits_a_build_with_few_parameters(store: SqliteStore):
    conn = store.connection()
    conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 999)  # SQLite's limit before 3.32
    batch = reads(700)
    with conn:
        assert insert_read_rows(conn, [read_row(r) for r in batch], ignore_existing=False) == 700
    assert count(store) == 700


def test_ignore_existing_counts_only_new_rows(store: SqliteStore):
    first = reads(10)
    conn = store.connection()
    with conn:
        insert_read_rows(conn, [read_row(r) for r in first[:4]], ignore_existing=True)
    with conn:
        again = [read_row(r) for r in first] + [read_row(first[9])]
        assert insert_read_rows(conn, again, ignore_existing=True) == 6
    assert count(store) == 10
    with pytest.raises(sqlite3.IntegrityError), conn:
        insert_read_rows(conn, [read_row(first[0])], ignore_existing=False)


# --- add_new ----------------------------------------------------------------------------


def test_pre_encoded_rows_store_exactly_what_the_repository_would(tmp_path: Path):
    batch = reads(50)
    contents = []
    for name, rows in (("encoded", [read_row(r) for r in batch]), ("plain", None)):
        s = SqliteStore(tmp_path / f"{name}.db", synchronous="NORMAL")
        s.initialise()
        with s.uow() as uow:
            assert uow.reads.add_new(batch, rows) == batch
            uow.commit()
        contents.append(stored_rows(s))
        s.close()
    assert contents[0] == contents[1]
    assert len(contents[0]) == 50


def test_add_new_returns_only_the_first_of_a_repeated_id_and_skips_stored_ones(
    store: SqliteStore,
):
    old, new = reads(2)
    with store.uow() as uow:
        uow.reads.add_new([old])
        uow.commit()
    twin = _copy(new, "CAM-B")  # the same read id, sent again in the same list
    with store.uow() as uow:
        fresh = uow.reads.add_new([old, new, twin])
        uow.commit()
    assert len(fresh) == 1 and fresh[0] is new
    camera = store.connection().execute(
        "SELECT camera_id FROM reads WHERE read_id = ?", (new.read_id.bytes,)
    )
    assert camera.fetchone()[0] == "CAM-A"
    assert count(store) == 2


def test_add_new_refuses_rows_that_do_not_match_the_reads(store: SqliteStore):
    batch = reads(3)
    with store.uow() as uow, pytest.raises(ValueError, match="2 encoded rows for 3 reads"):
        uow.reads.add_new(batch, [read_row(r) for r in batch[:2]])
    assert count(store) == 0


def _copy(read: Read, camera_id: str) -> Read:
    fields = {name: getattr(read, name) for name in Read.__dataclass_fields__}
    return Read(**{**fields, "camera_id": camera_id})


# --- store_batches --------------------------------------------------------------------------


def batch_of(items: list[Any], camera_id: str = "CAM-A", *, encode: bool = True) -> IngestBatch:
    return validate_batch(
        items,
        camera_id=camera_id,
        now=NOW,
        rules=RULES,
        images=None,
        encode=read_row if encode else None,
    )


def test_validation_encodes_each_accepted_read_in_order():
    items = [payload(n=1), {"plate": "no id"}, payload(n=2)]
    batch = batch_of(items)
    assert [i for i, _ in batch.accepted] == [0, 2]
    assert batch.rows == [read_row(read) for _, read in batch.accepted]
    assert batch_of(items, encode=False).rows == []


def test_a_group_without_duplicates_reports_none(store: SqliteStore):
    b1, b2 = batch_of([payload(n=i) for i in range(3)]), batch_of([payload("CAM-B", 9)], "CAM-B")
    outcomes, fresh = store_batches(store.uow(), [b1, b2])
    assert [o.duplicates for o in outcomes] == [frozenset(), frozenset()]
    assert [(o.stored, o.duplicate, o.rejected) for o in outcomes] == [(3, 0, 0), (1, 0, 0)]
    assert len(fresh) == 4 and count(store) == 4


def test_outcomes_name_duplicates_and_rejections_and_answer_in_request_order(store: SqliteStore):
    known = payload(n=1)
    store_batches(store.uow(), [batch_of([known])])
    repeated = payload(n=2)
    b1 = batch_of([repeated, {"read_id": "x"}, known, payload(n=3)])
    b2 = batch_of([repeated, payload(n=4)], encode=False)  # a mix of encoded and not
    outcomes, fresh = store_batches(store.uow(), [b1, b2])
    assert outcomes[0].duplicates == frozenset({1})  # `known`, second of the accepted
    assert outcomes[1].duplicates == frozenset({0})  # sent earlier in the same group
    assert [(o.stored, o.duplicate, o.rejected) for o in outcomes] == [(2, 1, 1), (1, 1, 0)]
    results = outcomes[0].results()
    assert [(r.index, r.status) for r in results] == [
        (0, STORED),
        (1, REJECTED),
        (2, DUPLICATE),
        (3, STORED),
    ]
    assert results[2].read_id == known["read_id"]
    assert [str(r.read_id) for r in fresh] == [
        repeated["read_id"],
        str(b1.accepted[2][1].read_id),
        str(b2.accepted[1][1].read_id),
    ]
    assert count(store) == 4  # known, repeated, n=3, n=4
    dead = store.connection().execute("SELECT count(*) FROM dead_letters").fetchone()[0]
    assert dead == 1


@pytest.mark.parametrize("with_rejected", [False, True])
def test_api_answers_are_the_results_in_dictionary_form(store: SqliteStore, with_rejected: bool):
    known = payload(n=1, read_id=str(uuid.uuid4()).upper())  # answered in canonical form
    store_batches(store.uow(), [batch_of([known])])
    items = [payload(n=2), known, payload(n=3)] + ([{"plate": "?"}] if with_rejected else [])
    (outcome,), _ = store_batches(store.uow(), [batch_of(items)])
    answers = outcome.answers()
    assert answers == [r.as_dict() for r in outcome.results()]
    assert [a["status"] for a in answers][:3] == [STORED, DUPLICATE, STORED]
    assert answers[1]["read_id"] == known["read_id"].lower()
    outcome.batch.read_ids.clear()  # a batch built without them still answers the same
    assert outcome.answers() == answers


# --- the writer thread ----------------------------------------------------------------------


def test_the_writer_answers_with_outcomes_and_keeps_counts(platform: Platform):
    platform.start()
    first = payload(n=5)
    for items in ([first, payload(n=6), {"bad": True}], [first]):
        batch = validate_batch(
            items,
            camera_id="CAM-A",
            now=platform.clock(),
            rules=platform.read_rules,
            images=None,
            encode=platform.encode_read,
        )
        outcome = platform.writer.submit(batch).result(timeout=30)
        assert outcome.batch is batch
    assert outcome.results()[0].status == DUPLICATE
    counters = platform.writer.counters.as_dict()
    assert (counters["stored"], counters["duplicate"], counters["rejected"]) == (2, 1, 1)
    assert counters["requests"] == 2


def test_writer_load_is_the_busy_share_of_the_last_minute():
    counters = IngestCounters(started=1000.0)
    assert counters.as_dict(now=1000.5)["writer_busy_share_1m"] == 0
    counters.commit_took(ended=1010.0, busy_s=5.0, stored=4000)  # a young server: 10 s up
    young = counters.as_dict(now=1010.0)
    assert young["writer_busy_share_1m"] == 0.5 and young["stored_per_s_1m"] == 400
    counters.commit_took(ended=1065.0, busy_s=3.0, stored=3000)
    later = counters.as_dict(now=1070.0)  # the window is the last 60 s: 1010-1070
    assert later["writer_busy_share_1m"] == pytest.approx(3 / 60)
    assert later["stored_per_s_1m"] == 50
    assert later["writer_busy_s"] == 8 and later["commits"] == 2
    saturated = IngestCounters(started=0.0)
    for second in range(1, 121):
        saturated.commit_took(ended=float(second), busy_s=1.0, stored=100)
    assert saturated.as_dict(now=120.0)["writer_busy_share_1m"] == 1.0


def test_commits_are_counted_by_their_size_in_power_of_two_buckets():
    counters = IngestCounters(started=0.0)
    for stored in (0, 1, 2, 3, 4, 5, 2048, 2049, 4096, 3000):
        counters.commit_took(ended=1.0, busy_s=0.01, stored=stored)
    sizes = counters.as_dict(now=2.0)["commit_reads_le"]
    assert sizes == {"1": 2, "2": 1, "4": 2, "8": 1, "2048": 1, "4096": 3}
    assert sum(sizes.values()) == counters.commits


def test_commits_are_counted_by_the_time_they_took_in_power_of_two_milliseconds():
    counters = IngestCounters(started=0.0)
    for busy_s in (0.0, 0.0004, 0.001, 0.0011, 0.002, 0.0035, 0.004, 0.0041, 0.5, 3.0):
        counters.commit_took(ended=1.0, busy_s=busy_s, stored=10)
    took = counters.as_dict(now=2.0)["commit_ms_le"]
    assert took == {"1": 3, "2": 2, "4": 2, "8": 1, "512": 1, "4096": 1}
    assert sum(took.values()) == counters.commits


# --- the server process's garbage collector ---------------------------------------------


def test_garbage_collector_tuning_sets_the_young_threshold_only():
    before = gc.get_threshold()
    try:
        assert tune_garbage_collector(0) == before
        assert tune_garbage_collector(50_000) == (50_000, before[1], before[2])
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


# --- admission: overload slows cameras down instead of queueing without bound ------------


def test_writer_refuses_batches_beyond_its_queue_and_stores_the_rest(store: SqliteStore):
    gate, entered = threading.Event(), threading.Event()
    writer = GroupCommitWriter(
        lambda: BlockedUnitOfWork(store.uow(), gate, entered), max_rows=10, max_queued_rows=30
    )
    writer.start()
    try:
        first = writer.submit(batch_of([payload(n=i) for i in range(10)]))
        assert entered.wait(10)  # the writer holds `first` in its commit: nothing waits
        waiting = [writer.submit(batch_of([payload(n=i) for i in range(10)])) for _ in range(3)]
        assert not writer.has_room(1) and writer.queued_rows == 30
        refused = writer.submit(batch_of([payload(n=99)]))
        with pytest.raises(WriterBusy, match="30 reads already wait"):
            refused.result(timeout=1)
        gate.set()
        assert first.result(timeout=30).stored == 10
        assert [f.result(timeout=30).stored for f in waiting] == [10, 10, 10]
        assert writer.has_room(1000)  # an empty queue takes any batch, however large
        large = writer.submit(batch_of([payload(n=i) for i in range(50)]))
        assert large.result(timeout=30).stored == 50
    finally:
        gate.set()
        writer.stop()
    stats = writer.counters.as_dict()
    assert stats["refused_busy"] == 1 and stats["stored"] == 90
    assert count(store) == 90


# --- a writer that never dies, and says when it is stuck ------------------------------------


@pytest.fixture
def gated_writer(
    store: SqliteStore,
) -> Iterator[tuple[GroupCommitWriter, threading.Event, threading.Event]]:
    """A running writer whose commits wait until the test sets the gate."""
    gate, entered = threading.Event(), threading.Event()
    writer = GroupCommitWriter(
        lambda: BlockedUnitOfWork(store.uow(), gate, entered), max_rows=10, stuck_after_s=5.0
    )
    writer.start()
    yield writer, gate, entered
    gate.set()
    writer.stop()


def test_a_request_cancelled_while_it_waits_is_dropped_and_the_writer_goes_on(
    store: SqliteStore, gated_writer: tuple[GroupCommitWriter, threading.Event, threading.Event]
):
    writer, gate, entered = gated_writer
    first = writer.submit(batch_of([payload(n=i) for i in range(10)]))
    assert entered.wait(10)  # the writer holds `first`: the next one waits in the queue
    cancelled = writer.submit(batch_of([payload(n=50)]))
    assert cancelled.cancel()  # its client went away (a time-out or a disconnect)
    assert not first.cancel()  # taken into a commit: its answer can no longer be lost
    gate.set()
    assert first.result(timeout=30).stored == 10
    later = writer.submit(batch_of([payload(n=60)]))
    assert later.result(timeout=30).stored == 1  # before the fix: the writer had died
    assert count(store) == 11  # the cancelled read was never stored
    health = writer.health()
    assert health.alive and not health.stuck and health.waiting_jobs == 0


def test_a_group_that_fails_outside_the_store_fails_its_requests_only(
    store: SqliteStore, monkeypatch: pytest.MonkeyPatch
):
    writer = GroupCommitWriter(store.uow)
    writer.start()
    try:
        calls = []

        def add_fails_once(outcome: Any) -> None:
            calls.append(outcome)
            if len(calls) == 1:
                raise RuntimeError("a bug after the commit")

        monkeypatch.setattr(writer.counters, "add", add_fails_once)
        failed = writer.submit(batch_of([payload(n=1)]))
        with pytest.raises(RuntimeError, match="a bug after the commit"):
            failed.result(timeout=30)
        assert writer.submit(batch_of([payload(n=2)])).result(timeout=30).stored == 1
        assert writer.health().alive
    finally:
        writer.stop()


def test_writer_health_tells_progress_from_a_stall(
    gated_writer: tuple[GroupCommitWriter, threading.Event, threading.Event],
):
    writer, gate, entered = gated_writer
    idle = writer.health()
    assert idle.alive and idle.last_commit_s_ago is None and not idle.stuck
    pending = writer.submit(batch_of([payload(n=1)]))
    assert entered.wait(10)
    now = time.monotonic()
    assert writer.health(now).waiting_jobs == 1
    assert not writer.health(now).stuck  # waiting, but not for long yet
    stalled = writer.health(now + 6.0)  # past stuck_after_s, still no commit
    assert stalled.stuck and stalled.stalled_s > 5.0
    gate.set()
    pending.result(timeout=30)
    done = writer.health(now + 6.0)
    assert not done.stuck and done.waiting_jobs == 0 and done.last_commit_s_ago is not None
    # an idle writer is never stuck, however long ago it last committed
    assert not writer.health(now + 3600).stuck
    writer.stop()
    assert not writer.health().alive and writer.health().stuck  # a dead thread always is
