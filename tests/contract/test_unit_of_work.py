"""The unit of work: isolation until commit, rollback on leaving, savepoints, serial writers."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from tests.contract.builders import (
    NOW,
    Store,
    a_camera,
    a_read,
    an_entry,
    committed,
    seen,
)
from veille.domain.audit import verify_chain

pytestmark = pytest.mark.integration

Elsewhere = Callable[[Callable[[], Any]], Any]


def test_changes_are_invisible_to_others_until_commit(store: Store, elsewhere: Elsewhere):
    with store.uow() as uow:
        uow.cameras.add(a_camera("CAM-A"))
        uow.reads.add_many([a_read(camera_id="CAM-A")])
        assert uow.cameras.get("CAM-A") == a_camera("CAM-A")  # its own writes it sees
        assert elsewhere(lambda: seen(store, lambda u: u.cameras.get("CAM-A"))) is None
        assert elsewhere(lambda: seen(store, lambda u: u.reads.count())) == 0
        uow.commit()
    assert elsewhere(lambda: seen(store, lambda u: u.cameras.get("CAM-A"))) == a_camera("CAM-A")
    assert elsewhere(lambda: seen(store, lambda u: u.reads.count())) == 1


def test_leaving_without_commit_rolls_back_everything(store: Store):
    with store.uow() as uow:
        uow.cameras.add(a_camera("CAM-A"))
        uow.audit.append(an_entry())
        uow.dead_letters.add(received_at=NOW, camera_id=None, source="http", payload="{", errors=[])
    with pytest.raises(ZeroDivisionError), store.uow() as uow:
        uow.reads.add_many([a_read()])
        raise ZeroDivisionError
    with store.uow() as uow:
        uow.holds.add(
            case_ref="PV-1",
            plates=["1ABC123"],
            camera_ids=[],
            period_start=NOW,
            period_end=NOW,
            created_by="x",
            created_at=NOW,
        )
        uow.rollback()
    with store.uow(write=False) as uow:
        assert uow.cameras.find() == []
        assert uow.audit.count() == 0
        assert uow.dead_letters.count() == 0
        assert uow.reads.count() == 0
        assert uow.holds.find(include_released=True) == []


def test_a_rolled_back_change_does_not_use_up_the_audit_sequence(store: Store):
    committed(store, lambda uow: uow.audit.append(an_entry("first")))
    with store.uow() as uow:
        uow.audit.append(an_entry("never"))
    second = committed(store, lambda uow: uow.audit.append(an_entry("second")))
    assert second.seq == 2
    assert verify_chain(seen(store, lambda uow: list(uow.audit.iter_all()))) == []


def test_a_read_only_unit_of_work_reads_one_snapshot(store: Store, elsewhere: Elsewhere):
    committed(store, lambda uow: uow.reads.add_many([a_read()]))
    with store.uow(write=False) as uow:
        assert uow.reads.count() == 1
        elsewhere(lambda: committed(store, lambda other: other.reads.add_many([a_read()])))
        assert uow.reads.count() == 1  # a commit after it began does not show
    assert seen(store, lambda uow: uow.reads.count()) == 2


def test_a_failed_savepoint_undoes_only_its_own_writes(store: Store):
    kept, undone = a_read("1ABC123"), a_read("2XYZ999")
    with store.uow() as uow:
        uow.reads.add_many([kept])
        before = uow.cameras.version()
        with pytest.raises(RuntimeError), uow.savepoint("matching"):
            uow.reads.add_many([undone])
            uow.cameras.add(a_camera("CAM-X"))
            uow.audit.append(an_entry("undone"))
            raise RuntimeError("the step failed")
        assert uow.cameras.version() == before
        with uow.savepoint("audit"):
            uow.audit.append(an_entry("kept"))
        uow.commit()
    with store.uow(write=False) as uow:
        assert uow.reads.get(kept.read_id) == kept
        assert uow.reads.get(undone.read_id) is None
        assert uow.cameras.get("CAM-X") is None
        assert [r.entry.action for r in uow.audit.iter_all()] == ["kept"]


def test_savepoints_nest(store: Store):
    with store.uow() as uow:
        with uow.savepoint("outer"):
            uow.cameras.add(a_camera("CAM-OUTER"))
            with pytest.raises(ValueError), uow.savepoint("inner"):
                uow.cameras.add(a_camera("CAM-INNER"))
                raise ValueError
            uow.cameras.add(a_camera("CAM-AFTER"))
        uow.commit()
    cameras = seen(store, lambda uow: [c.camera_id for c in uow.cameras.find()])
    assert cameras == ["CAM-AFTER", "CAM-OUTER"]


def test_a_failed_outer_savepoint_undoes_its_released_inner_one(store: Store):
    with store.uow() as uow:
        with pytest.raises(ValueError), uow.savepoint("outer"):
            with uow.savepoint("inner"):
                uow.cameras.add(a_camera("CAM-INNER"))
            raise ValueError
        uow.commit()
    assert seen(store, lambda uow: uow.cameras.find()) == []


def test_concurrent_writers_keep_the_audit_chain_whole(store: Store):
    """Appenders on several threads: writers are serialised, so no two records claim the
    same predecessor and the chain verifies."""
    threads, appends = 4, 15
    start = threading.Barrier(threads)
    failures: list[BaseException] = []

    def append_many(worker: int) -> None:
        try:
            start.wait()
            for i in range(appends):
                entry = an_entry(f"w{worker}.{i}")
                committed(store, lambda uow, entry=entry: uow.audit.append(entry))
        except BaseException as exc:  # reported below, on the test's thread
            failures.append(exc)

    workers = [threading.Thread(target=append_many, args=(w,)) for w in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert failures == []
    records = seen(store, lambda uow: list(uow.audit.iter_all()))
    assert [r.seq for r in records] == list(range(1, threads * appends + 1))
    assert verify_chain(records) == []
