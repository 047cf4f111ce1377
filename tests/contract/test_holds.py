"""Case holds, and the retention sweep's walk over reads by capture time."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.contract.builders import NOW, Store, a_read, committed, seen
from veille.domain.reads import Read
from veille.domain.retention import Hold, RetentionCandidate

pytestmark = pytest.mark.integration

D = timedelta(days=1)


def add_hold(store: Store, case_ref: str = "PV-1", **fields: Any) -> int:
    hold: dict[str, Any] = {
        "plates": ["1ABC123", "2XYZ999", "1ABC123"],
        "camera_ids": [],
        "period_start": NOW - 30 * D,
        "period_end": NOW,
        "created_by": "alice",
        "created_at": NOW,
    }
    hold.update(fields)
    return int(committed(store, lambda uow: uow.holds.add(case_ref=case_ref, **hold)))


def test_a_hold_comes_back_as_placed(store: Store):
    hold_id = add_hold(store, camera_ids=["CAM-A"])
    assert seen(store, lambda uow: uow.holds.get(hold_id)) == Hold(
        hold_id=hold_id,
        case_ref="PV-1",
        plates=frozenset({"1ABC123", "2XYZ999"}),
        camera_ids=frozenset({"CAM-A"}),
        period_start=NOW - 30 * D,
        period_end=NOW,
        auth_id=None,
        created_by="alice",
        created_at=NOW,
    )
    assert seen(store, lambda uow: uow.holds.get(hold_id + 100)) is None


def test_a_released_hold_is_no_longer_active(store: Store):
    first, second = add_hold(store, "PV-1"), add_hold(store, "PV-2")
    assert committed(store, lambda uow: uow.holds.release(first, by="bob", at=NOW + D)) is True
    assert committed(store, lambda uow: uow.holds.release(first, by="bob", at=NOW)) is False
    assert committed(store, lambda uow: uow.holds.release(second + 100, by="bob", at=NOW)) is False
    with store.uow(write=False) as uow:
        released = uow.holds.get(first)
        assert (released.released_at, released.released_by, released.active) == (
            NOW + D,
            "bob",
            False,
        )
        assert [h.hold_id for h in uow.holds.active()] == [second]
        assert [h.hold_id for h in uow.holds.list()] == [second]
        assert [h.hold_id for h in uow.holds.list(include_released=True)] == [first, second]


def walk(store: Store, before: Any, limit: int) -> list[list[RetentionCandidate]]:
    """Every page of the walk, as the retention job takes them."""
    pages, cursor = [], None
    with store.uow(write=False) as uow:
        while True:
            page, cursor = uow.holds.reads_captured_before(before, after=cursor, limit=limit)
            if not page:
                assert cursor is None
                return pages
            pages.append(page)


def candidate(read: Read) -> RetentionCandidate:
    return RetentionCandidate(read.read_id, read.plate, read.camera_id, read.captured_at)


def test_the_walk_pages_through_reads_captured_before_oldest_first(store: Store):
    same_instant = NOW - 10 * D
    reads = [a_read(f"1AAA{i:03}", at=same_instant) for i in range(5)]  # ties across pages
    reads += [a_read("2OLD111", at=NOW - 20 * D), a_read("3NEW111", at=NOW - 5 * D)]
    at_cutoff, after_cutoff = a_read("4CUT111", at=NOW - 2 * D), a_read("5NOW111", at=NOW)
    committed(store, lambda uow: uow.reads.add_many([*reads, at_cutoff, after_cutoff]))
    pages = walk(store, NOW - 2 * D, limit=2)
    assert [len(p) for p in pages] == [2, 2, 2, 1]
    flat = [c for page in pages for c in page]
    assert [c.captured_at for c in flat] == sorted(c.captured_at for c in flat)
    assert sorted(flat, key=lambda c: str(c.read_id)) == sorted(
        map(candidate, reads), key=lambda c: str(c.read_id)
    )
    assert flat[0] == candidate(reads[5])
    assert flat[-1] == candidate(reads[6])


def test_the_walk_goes_on_while_the_sweep_deletes_what_it_has_seen(store: Store):
    reads = [a_read(f"1AAA{i:03}", at=NOW - (10 + i % 3) * D) for i in range(9)]
    committed(store, lambda uow: uow.reads.add_many(reads))
    visited: list[RetentionCandidate] = []
    cursor = None
    while True:
        with store.uow() as uow:
            page, cursor = uow.holds.reads_captured_before(NOW, after=cursor, limit=4)
            uow.reads.delete([c.read_id for c in page])
            uow.commit()
        if not page:
            break
        visited.extend(page)
    assert sorted(c.read_id for c in visited) == sorted(r.read_id for r in reads)
    assert seen(store, lambda uow: uow.reads.count()) == 0


def test_the_walk_of_an_empty_store_is_empty(store: Store):
    assert walk(store, NOW, limit=10) == []
