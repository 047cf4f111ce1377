"""What only the PostgreSQL store does (decision 0015): day partitions made ahead and on
demand, whole days dropped by the purge while held days are kept, de-duplication across
connections, analyses pruned to the days of their period, and one audit chain appended by
several processes at once. The ports' common behaviour is the contract suite's."""

from __future__ import annotations

import json
import multiprocessing
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from tests.contract.builders import NOW, a_read, an_entry, an_image, committed, seen
from tests.postgresql import fresh_database
from veille.adapters.postgresql.partitions import all_days, day_of, partition_name, today
from veille.adapters.postgresql.store import DAYS_AHEAD, DAYS_BEHIND, PostgresStore
from veille.domain.audit import verify_chain
from veille.domain.retention import Hold
from veille.domain.times import micros

pytestmark = pytest.mark.integration

DAY = timedelta(days=1)
H = timedelta(hours=1)


@pytest.fixture
def store() -> Any:
    with fresh_database() as dsn:
        opened = PostgresStore(dsn, pool_size=4)
        opened.initialise()
        yield opened
        opened.close()


def days(store: PostgresStore) -> list[int]:
    with store.uow(write=False) as uow:
        return all_days(uow.conn)


def scanned(store: PostgresStore, sql: str, params: tuple[Any, ...]) -> set[str]:
    """The partitions the plan of a query reads."""
    with store.uow(write=False) as uow:
        row = uow.conn.execute(f"EXPLAIN (FORMAT JSON) {sql}", params).fetchone()
    names: set[str] = set()

    def walk(node: dict[str, Any]) -> None:
        if "Relation Name" in node:
            names.add(node["Relation Name"])
        for child in node.get("Plans", []):
            walk(child)

    plan = row[0] if isinstance(row[0], list) else json.loads(row[0])
    walk(plan[0]["Plan"])
    return names


def test_initialise_makes_the_days_around_today_and_ingest_the_days_it_meets(store):
    now = today()
    assert set(range(now - DAYS_BEHIND, now + DAYS_AHEAD + 1)) <= set(days(store))
    late = a_read(at=datetime(2025, 6, 1, 12, tzinfo=UTC))
    committed(store, lambda uow: uow.reads.add_new([late]))
    assert day_of(micros(late.captured_at)) in days(store)
    assert seen(store, lambda uow: uow.reads.get(late.read_id)) == late


def test_a_partition_made_by_a_rolled_back_unit_of_work_is_made_again(store):
    first, second = a_read(at=NOW - 400 * DAY), a_read(at=NOW - 400 * DAY)
    with store.uow() as uow:
        uow.reads.add_new([first])  # makes the day, then rolls back with it
    committed(store, lambda uow: uow.reads.add_new([second]))
    assert seen(store, lambda uow: uow.reads.count()) == 1


def test_a_day_dropped_by_another_process_is_made_again_at_the_next_attempt(store):
    old_day = NOW - 400 * DAY
    committed(store, lambda uow: uow.reads.add_new([a_read(at=old_day)]))  # day known here
    elsewhere = PostgresStore(store.dsn, pool_size=1)  # another process's store
    committed(
        elsewhere,
        lambda uow: uow.reads.purge_before(cutoff=NOW - 300 * DAY, holds=[], limit=10),
    )
    elsewhere.close()
    late = a_read(at=old_day)
    with pytest.raises(psycopg.errors.CheckViolation):
        committed(store, lambda uow: uow.reads.add_new([late]))  # the partition is gone
    assert len(committed(store, lambda uow: uow.reads.add_new([late]))) == 1  # the resend
    assert seen(store, lambda uow: uow.reads.get(late.read_id)) == late


def test_the_same_read_from_two_connections_at_once_is_stored_once(store):
    reads = [a_read(f"1ABC{i:03}") for i in range(200)]
    start = threading.Barrier(2)
    fresh: list[int] = []

    def ingest() -> None:
        start.wait()
        with store.uow() as uow:
            fresh.append(len(uow.reads.add_new(reads)))
            uow.commit()

    workers = [threading.Thread(target=ingest) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert sorted(fresh) == [0, len(reads)]
    assert seen(store, lambda uow: uow.reads.count()) == len(reads)


def test_a_search_reads_only_the_days_of_its_period(store):
    reads = [a_read("1ABC123", at=NOW - n * DAY) for n in range(5)]
    committed(store, lambda uow: uow.reads.add_many(reads))
    found = seen(
        store,
        lambda uow: uow.reads.find(start=NOW - DAY - H, end=NOW + H, plates=["1ABC123"]),
    )
    assert [r.read_id for r in found] == [reads[1].read_id, reads[0].read_id]
    period = (micros(NOW - DAY - H), micros(NOW + H))
    plan = scanned(
        store,
        "SELECT * FROM reads WHERE captured_at >= %s AND captured_at < %s AND plate = '1ABC123'",
        period,
    )
    wanted = {partition_name("reads", day_of(micros(NOW - n * DAY))) for n in (0, 1)}
    assert plan == wanted


@pytest.mark.parametrize(
    ("limit", "expected_steps"),
    [
        (1, [(1, 0), (1, 0), (0, 1), (1, 0)]),  # a whole day a step; the held day row by row
        (10, [(2, 0), (1, 1)]),  # consecutive whole days in one step, up to the limit
    ],
)
def test_the_purge_drops_days_no_hold_touches_and_walks_the_held_one(store, limit, expected_steps):
    cutoff = NOW.replace(hour=0)  # midnight: every day before it is whole
    old = [
        a_read(f"1OLD{n:03}", at=cutoff - n * DAY + H, images=(an_image(f"{n}" * 64),))
        for n in (3, 2)
    ]
    held = a_read("1HLD001", at=cutoff - DAY + H)
    doomed_beside_held = a_read("1OLD999", at=cutoff - DAY + 2 * H)
    recent = a_read("1NEW001", at=cutoff + H)
    committed(store, lambda uow: uow.reads.add_many([*old, held, doomed_beside_held, recent]))
    hold = Hold(
        hold_id=1,
        case_ref="PV-1",
        plates=frozenset({"1HLD001"}),
        camera_ids=frozenset(),
        period_start=cutoff - DAY,
        period_end=cutoff - DAY + 3 * H,
    )
    steps = []
    with store.uow() as uow:
        cursor = None
        while True:
            step = uow.reads.purge_before(cutoff=cutoff, holds=[hold], limit=limit, after=cursor)
            steps.append(step)
            if step.done:
                break
            cursor = step.resume_after
        uow.commit()
    # two whole days dropped, the held day walked row by row
    assert [(s.deleted, s.kept_by_holds) for s in steps] == expected_steps
    assert set().union(*(s.orphaned_images for s in steps)) == {"3" * 64, "2" * 64}
    left = days(store)
    for n in (3, 2):
        assert day_of(micros(cutoff - n * DAY)) not in left
    assert day_of(micros(cutoff - DAY)) in left
    with store.uow(write=False) as uow:
        kept = [r for r in (*old, held, doomed_beside_held, recent) if uow.reads.get(r.read_id)]
        assert kept == [held, recent]
        assert uow.reads.count() == 2  # read_ids went with the reads
    # an id of a purged read can be stored again (its read_ids row is gone too)
    assert len(committed(store, lambda uow: uow.reads.add_new([old[0]]))) == 1


def _append_in_a_process(dsn: str, worker: int, appends: int) -> None:
    store = PostgresStore(dsn, pool_size=1)
    try:
        for i in range(appends):
            entry = an_entry(f"p{worker}.{i}")
            committed(store, lambda uow, entry=entry: uow.audit.append(entry))
    finally:
        store.close()


def test_processes_appending_at_once_keep_one_unbroken_audit_chain(store):
    processes, appends = 3, 25
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=_append_in_a_process, args=(store.dsn, w, appends))
        for w in range(processes)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert [w.exitcode for w in workers] == [0] * processes
    records = seen(store, lambda uow: list(uow.audit.iter_all()))
    assert [r.seq for r in records] == list(range(1, processes * appends + 1))
    assert verify_chain(records) == []
    # every process's records are interleaved in the one chain, none lost
    by_worker = {w: [r for r in records if r.entry.action.startswith(f"p{w}.")] for w in range(3)}
    assert all(len(found) == appends for found in by_worker.values())
