"""The retention purge port: `reads.purge_before` agrees with the domain's hold rule.

The rule is `domain.retention.purgeable` (what `must_delete` applies with the policy's
cutoff); a store may evaluate it row by row or in SQL, or drop whole partitions, but what
it deletes, keeps and reports must be what the domain function says.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.contract.builders import NOW, Store, a_read, an_image, committed, seen
from tests.contract.conftest import Backend
from veille.domain.reads import Read
from veille.domain.retention import Hold, purgeable
from veille.service.ports import PurgeBatch

pytestmark = pytest.mark.integration

M = timedelta(minutes=1)
CUTOFF = NOW
DOOMED_ONLY, SHARED_RECENT, SHARED_HELD = "a" * 64, "b" * 64, "c" * 64


def a_hold(hold_id: int = 1, **fields: Any) -> Hold:
    values: dict[str, Any] = {
        "case_ref": f"PV-{hold_id}",
        "plates": frozenset(),
        "camera_ids": frozenset(),
        "period_start": CUTOFF - 60 * M,
        "period_end": CUTOFF,
    }
    values.update(fields)
    return Hold(hold_id=hold_id, **values)


def run_to_the_end(uow: Any, *, holds: list[Hold], limit: int, preview: bool = False):
    """Every step of a purge, as the retention job takes them, in one unit of work."""
    purge = uow.reads.preview_purge_before if preview else uow.reads.purge_before
    steps: list[PurgeBatch] = []
    cursor = None
    while True:
        step = purge(cutoff=CUTOFF, holds=holds, limit=limit, after=cursor)
        steps.append(step)
        if step.done:
            return steps
        cursor = step.resume_after
        assert len(steps) < 10_000, "the purge does not end"


def stored(uow: Any, reads: list[Read]) -> set[uuid.UUID]:
    return {r.read_id for r in reads if uow.reads.get(r.read_id) is not None}


def test_a_step_deletes_the_doomed_keeps_the_held_and_reports_orphaned_images(store: Store):
    doomed = a_read("1OLD111", at=CUTOFF - 30 * M, images=(an_image(DOOMED_ONLY),))
    sharing_recent = a_read("1OLD222", at=CUTOFF - 20 * M, images=(an_image(SHARED_RECENT),))
    sharing_held = a_read("1OLD333", at=CUTOFF - 10 * M, images=(an_image(SHARED_HELD),))
    by_plate = a_read("1HLD001", at=CUTOFF - 40 * M, images=(an_image(SHARED_HELD),))
    by_camera = a_read("1OLD444", camera_id="CAM-H", at=CUTOFF - 50 * M)
    of_released = a_read("1REL001", at=CUTOFF - 45 * M)
    at_cutoff = a_read("1CUT001", at=CUTOFF)
    recent = a_read("1NEW001", at=CUTOFF + 5 * M, images=(an_image(SHARED_RECENT),))
    reads = [doomed, sharing_recent, sharing_held, by_plate, by_camera, of_released]
    reads += [at_cutoff, recent]
    committed(store, lambda uow: uow.reads.add_many(reads))
    holds = [
        a_hold(1, plates=frozenset({"1HLD001"})),
        a_hold(2, camera_ids=frozenset({"CAM-H"})),
        a_hold(3, plates=frozenset({"1REL001"}), released_at=NOW, released_by="bob"),
    ]
    step = committed(
        store, lambda uow: uow.reads.purge_before(cutoff=CUTOFF, holds=holds, limit=100)
    )
    assert (step.deleted, step.kept_by_holds, step.done) == (4, 2, True)
    # an image still referenced by a recent or a held read is not orphaned
    assert step.orphaned_images == frozenset({DOOMED_ONLY})
    with store.uow(write=False) as uow:
        assert stored(uow, reads) == {by_plate.read_id, by_camera.read_id}.union(
            {at_cutoff.read_id, recent.read_id}
        )
        assert uow.reads.image_hashes([doomed.read_id, sharing_held.read_id]) == set()
        assert uow.reads.unreferenced([SHARED_RECENT, SHARED_HELD]) == set()


def test_steps_go_oldest_first_through_ties_and_step_over_held_reads(
    store: Store, backend: Backend
):
    same_instant = [a_read(f"1AAA{i:03}", at=CUTOFF - 10 * M) for i in range(5)]
    held = [a_read("1HLD001", at=CUTOFF - 20 * M), a_read("1HLD001", at=CUTOFF - 5 * M)]
    reads = [*same_instant, *held, a_read("1NEW001", at=CUTOFF)]
    committed(store, lambda uow: uow.reads.add_many(reads))
    holds = [a_hold(plates=frozenset({"1HLD001"}))]
    with store.uow() as uow:
        steps = run_to_the_end(uow, holds=holds, limit=2)
        uow.commit()
    if backend.purges_row_by_row:
        # 7 reads before the cutoff, 2 a step; the oldest (held) one is examined first
        assert [(s.deleted, s.kept_by_holds, s.done) for s in steps] == [
            (1, 1, False),
            (2, 0, False),
            (2, 0, False),
            (0, 1, True),
        ]
    assert sum(s.kept_by_holds for s in steps) == 2  # each held read examined once
    assert sum(s.deleted for s in steps) == 5
    assert seen(store, lambda uow: stored(uow, reads)) == {r.read_id for r in reads[5:]}


def test_a_step_commits_nothing_itself(store: Store):
    reads = [a_read(f"1AAA{i:03}", at=CUTOFF - i * M) for i in range(1, 4)]
    committed(store, lambda uow: uow.reads.add_many(reads))
    with store.uow() as uow:
        assert uow.reads.purge_before(cutoff=CUTOFF, holds=[], limit=10).deleted == 3
        assert uow.reads.count() == 0
    # left without commit: rolled back with the caller's unit of work
    assert seen(store, lambda uow: uow.reads.count()) == 3


def test_a_preview_changes_nothing_and_announces_what_the_purge_does(store: Store):
    reads = [
        a_read("1OLD111", at=CUTOFF - 3 * M, images=(an_image(DOOMED_ONLY),)),
        a_read("1OLD222", at=CUTOFF - 2 * M, images=(an_image(SHARED_RECENT),)),
        a_read("1HLD001", at=CUTOFF - 1 * M),
        a_read("1NEW001", at=CUTOFF, images=(an_image(SHARED_RECENT),)),
    ]
    committed(store, lambda uow: uow.reads.add_many(reads))
    holds = [a_hold(plates=frozenset({"1HLD001"}))]
    with store.uow(write=False) as uow:  # a read-only unit of work serves a preview
        preview = uow.reads.preview_purge_before(cutoff=CUTOFF, holds=holds, limit=10)
        assert uow.reads.count() == 4
    assert seen(store, lambda uow: uow.reads.count()) == 4
    # in a preview, every image the doomed reads reference (an upper bound)
    assert preview.orphaned_images == frozenset({DOOMED_ONLY, SHARED_RECENT})
    purge = committed(
        store, lambda uow: uow.reads.purge_before(cutoff=CUTOFF, holds=holds, limit=10)
    )
    assert (preview.deleted, preview.kept_by_holds, preview.done) == (2, 1, True)
    assert (purge.deleted, purge.kept_by_holds, purge.done) == (2, 1, True)
    assert purge.orphaned_images == frozenset({DOOMED_ONLY})


def test_a_purge_of_a_store_with_nothing_before_the_cutoff_is_done_at_once(store: Store):
    assert seen(
        store, lambda uow: uow.reads.preview_purge_before(cutoff=CUTOFF, holds=[], limit=5)
    ) == PurgeBatch(
        deleted=0, kept_by_holds=0, orphaned_images=frozenset(), done=True, resume_after=None
    )
    committed(store, lambda uow: uow.reads.add_many([a_read(at=CUTOFF)]))
    step = committed(store, lambda uow: uow.reads.purge_before(cutoff=CUTOFF, holds=[], limit=5))
    assert (step.deleted, step.kept_by_holds, step.done) == (0, 0, True)
    assert seen(store, lambda uow: uow.reads.count()) == 1


def test_a_limit_below_one_is_refused(store: Store):
    with store.uow() as uow, pytest.raises(ValueError):
        uow.reads.purge_before(cutoff=CUTOFF, holds=[], limit=0)


# --- random reads and holds, against the domain ------------------------------------------

PLATES = ["1ABC123", "2XYZ999", "1HLD001"]
CAMERAS = ["CAM-A", "CAM-B", "CAM-H"]
IMAGES = ["1" * 64, "2" * 64, "3" * 64, "4" * 64]


@st.composite
def random_reads(draw: st.DrawFn) -> list[Read]:
    return [
        a_read(
            draw(st.sampled_from(PLATES)),
            camera_id=draw(st.sampled_from(CAMERAS)),
            at=CUTOFF + draw(st.integers(-20, 4)) * M,  # ties, and reads either side
            images=tuple(an_image(h) for h in draw(st.sets(st.sampled_from(IMAGES), max_size=2))),
        )
        for _ in range(draw(st.integers(0, 25)))
    ]


@st.composite
def random_holds(draw: st.DrawFn) -> list[Hold]:
    holds = []
    for hold_id in range(1, draw(st.integers(0, 3)) + 1):
        start = CUTOFF + draw(st.integers(-25, 2)) * M
        holds.append(
            a_hold(
                hold_id,
                plates=frozenset(draw(st.sets(st.sampled_from(PLATES), max_size=2))),
                camera_ids=frozenset(draw(st.sets(st.sampled_from(CAMERAS), max_size=2))),
                period_start=start,
                period_end=start + draw(st.integers(0, 15)) * M,
                released_at=draw(st.sampled_from([None, None, NOW])),
            )
        )
    return holds


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(reads=random_reads(), holds=random_holds(), limit=st.integers(1, 8))
def test_the_purge_agrees_with_the_domain_on_random_reads_and_holds(
    store: Store, backend: Backend, reads: list[Read], holds: list[Hold], limit: int
):
    def domain_dooms(read: Read) -> bool:
        return purgeable(
            captured_at=read.captured_at,
            plate=read.plate,
            camera_id=read.camera_id,
            cutoff=CUTOFF,
            holds=holds,
        )

    doomed = [r for r in reads if domain_dooms(r)]
    survivors = [r for r in reads if not domain_dooms(r)]
    held = [r for r in survivors if r.captured_at < CUTOFF]
    referenced_by_doomed = {i.sha256 for r in doomed for i in r.images}
    still_referenced = {i.sha256 for r in survivors for i in r.images}
    with store.uow() as uow:  # never committed: each example leaves the store empty
        uow.reads.add_many(reads)
        previewed = run_to_the_end(uow, holds=holds, limit=limit, preview=True)
        assert uow.reads.count() == len(reads)
        steps = run_to_the_end(uow, holds=holds, limit=limit)

        assert stored(uow, reads) == {r.read_id for r in survivors}
        for run in (previewed, steps):
            assert sum(s.deleted for s in run) == len(doomed)
            assert sum(s.kept_by_holds for s in run) == len(held)
        assert set().union(*(s.orphaned_images for s in previewed)) == referenced_by_doomed
        orphaned = [h for s in steps for h in s.orphaned_images]
        assert len(orphaned) == len(set(orphaned)), "an image reported orphaned twice"
        assert set(orphaned) == referenced_by_doomed - still_referenced
        if backend.purges_row_by_row:
            for step in steps:
                assert step.deleted + step.kept_by_holds <= limit
                # a step that examined less than its limit has nothing left after it
                assert step.done or step.deleted + step.kept_by_holds == limit
        after_the_end = uow.reads.purge_before(
            cutoff=CUTOFF, holds=holds, limit=limit, after=steps[-1].resume_after
        )
        assert (after_the_end.deleted, after_the_end.kept_by_holds) == (0, 0)
        assert after_the_end.done
