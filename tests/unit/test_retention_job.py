"""The retention job over the purge port, on the in-memory store: batches, holds, files."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta

import pytest

from tests.contract.builders import a_read, an_image
from veille.adapters.memory.store import MemoryStore
from veille.domain.audit import system_actor
from veille.domain.reads import Read
from veille.domain.retention import RetentionPolicy
from veille.service.retention import DRY_RUN, PURGE, place_hold, run_retention

pytestmark = pytest.mark.unit

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
POLICY = RetentionPolicy()
CUTOFF = POLICY.cutoff(NOW)
D = timedelta(days=1)
ADMIN = system_actor("test:admin")


class CheckedImages:
    """An image store at the edge that refuses to delete a file a committed read still
    references: it proves the job deletes files only after the commit that freed them."""

    def __init__(self, store: MemoryStore, hashes: set[str]):
        self.store = store
        self.files = set(hashes)

    def delete(self, sha256: str) -> bool:
        with self.store.uow(write=False) as uow:
            assert uow.reads.unreferenced([sha256]) == {sha256}, "deleted before the commit"
        present = sha256 in self.files
        self.files.discard(sha256)
        return present

    def delete_many(self, sha256s: Sequence[str]) -> int:
        return sum(self.delete(sha256) for sha256 in sha256s)

    def put(self, sha256: str, data: bytes, content_type: str) -> None:
        self.files.add(sha256)

    def get(self, sha256: str) -> bytes | None:
        return None

    def exists(self, sha256: str) -> bool:
        return sha256 in self.files

    def stored_before(self, moment: float) -> Iterator[str]:
        return iter(sorted(self.files))

    def sealed_segments(self, now: float) -> Iterator[str]:
        return iter(())  # these reads' images are single files: no log segment


def old_reads(store: MemoryStore) -> list[Read]:
    """Ten reads past the maximum, one a day, each with its own image; two recent ones."""
    reads = [
        a_read(f"1OLD{i:03}", at=CUTOFF - (10 - i) * D, images=(an_image(f"{i:064x}"),))
        for i in range(10)
    ]
    reads += [a_read("1NEW001", at=CUTOFF), a_read("1NEW002", at=NOW)]
    with store.uow() as uow:
        uow.reads.add_many(reads)
        uow.commit()
    return reads


def test_the_job_purges_in_batches_deletes_files_after_commit_and_audits_once():
    store = MemoryStore()
    reads = old_reads(store)
    images = CheckedImages(store, {i.sha256 or "" for r in reads for i in r.images})
    report = run_retention(
        uow_factory=store.uow, images=images, now=NOW, policy=POLICY, batch_size=3
    )
    assert (report.deleted_reads, report.deleted_images, report.batches) == (10, 10, 4)
    assert images.files == set()
    with store.uow(write=False) as uow:
        assert {r.plate for r in uow.reads.find(start=CUTOFF - 20 * D, end=NOW + D)} == {
            "1NEW001",
            "1NEW002",
        }
        [record] = uow.audit.search(action=PURGE)
    assert record.entry.result_count == 10 and record.entry.params["batches"] == 4
    again = run_retention(uow_factory=store.uow, images=images, now=NOW, policy=POLICY)
    assert (again.deleted_reads, again.batches) == (0, 0)


def test_a_hold_placed_during_a_run_protects_its_reads_from_the_next_batch_on():
    store = MemoryStore()
    old_reads(store)
    images = CheckedImages(store, set())
    placed: list[int] = []

    def between_batches() -> bool:
        if not placed:  # after the first batch: a prosecutor's hold arrives
            hold = place_hold(
                uow=store.uow(),
                case_ref="PV-2026-0001",
                plates=["1OLD001", "1OLD008"],
                camera_ids=[],
                start=CUTOFF - 20 * D,
                end=CUTOFF,
                actor=ADMIN,
                now=NOW,
            )
            placed.append(hold.hold_id)
        return False

    report = run_retention(
        uow_factory=store.uow,
        images=images,
        now=NOW,
        policy=POLICY,
        batch_size=3,
        should_stop=between_batches,
    )
    # 1OLD001 was in the first batch, before the hold; 1OLD008 came after it
    assert (report.deleted_reads, report.kept_by_holds) == (9, 1)
    assert report.holds == tuple(placed)
    with store.uow(write=False) as uow:
        old = uow.reads.find(start=CUTOFF - 20 * D, end=CUTOFF)
    assert [r.plate for r in old] == ["1OLD008"]


def test_a_dry_run_reads_through_a_read_only_unit_of_work_and_changes_nothing():
    store = MemoryStore()
    reads = old_reads(store)
    images = CheckedImages(store, {i.sha256 or "" for r in reads for i in r.images})
    report = run_retention(
        uow_factory=store.uow,
        read_uow_factory=lambda: store.uow(write=False),
        images=images,
        now=NOW,
        policy=POLICY,
        batch_size=4,
        dry_run=True,
    )
    assert (report.deleted_reads, report.deleted_images, report.dry_run) == (10, 10, True)
    assert len(images.files) == 10
    with store.uow(write=False) as uow:
        assert uow.reads.count() == 12
        assert [r.entry.result_count for r in uow.audit.search(action=DRY_RUN)] == [10]
        assert uow.audit.search(action=PURGE) == []
