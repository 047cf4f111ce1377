"""Where image bytes are: the locations `add_new` records from its `located` callback,
and the per-segment reference counts that decide when a log segment can go."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import pytest

from tests.contract.builders import NOW, Store, a_read, an_image, committed, seen
from veille.domain.reads import ImageRef, Read
from veille.service.ports import ImageLocation, ImagePlacer

pytestmark = pytest.mark.integration

PLATE, OVERVIEW, OLD_FILE = "a" * 64, "b" * 64, "c" * 64
SEGMENT = "20260301T11-000000000000.seg"
CLIP = ImageRef(kind="other", content_type="video/mp4", uri="https://nvr.example/clip/1")


def placer(locations: dict[str, ImageLocation], calls: list[list[Read]]) -> ImagePlacer:
    """Places every image at `locations`, recording which reads it was asked for."""

    def place(fresh: Sequence[Read]) -> dict[str, ImageLocation]:
        calls.append(list(fresh))
        return locations

    return place


def test_add_new_records_where_each_image_went(store: Store):
    read = a_read(
        images=(an_image(PLATE), an_image(OVERVIEW, "overview"), CLIP, an_image(OLD_FILE))
    )
    where = {PLATE: ImageLocation(SEGMENT, 0), OVERVIEW: ImageLocation(SEGMENT, 3120)}
    calls: list[list[Read]] = []
    stored = committed(store, lambda uow: uow.reads.add_new([read], None, placer(where, calls)))
    assert stored == [read] and calls == [[read]]
    located = seen(store, lambda uow: uow.reads.image_locations([read.read_id]))
    # an image the placer did not name (written as a single file) has no location
    assert located == {**where, OLD_FILE: None}
    assert seen(store, lambda uow: uow.reads.segment_images([SEGMENT, "other.seg"])) == {SEGMENT: 2}


def test_a_duplicate_gets_no_image_written_again(store: Store):
    read = a_read(images=(an_image(PLATE),))
    where = {PLATE: ImageLocation(SEGMENT, 0)}
    committed(store, lambda uow: uow.reads.add_new([read], None, placer(where, [])))
    calls: list[list[Read]] = []
    again = committed(store, lambda uow: uow.reads.add_new([read], None, placer(where, calls)))
    assert again == [] and calls in ([], [[]])
    assert seen(store, lambda uow: uow.reads.segment_images([SEGMENT])) == {SEGMENT: 1}


def test_deleting_and_purging_reads_count_their_images_out_of_their_segment(store: Store):
    old = [a_read(at=NOW - timedelta(days=1), images=(an_image(f"{i}" * 64),)) for i in range(3)]
    where = {r.images[0].sha256 or "": ImageLocation(SEGMENT, i * 100) for i, r in enumerate(old)}
    committed(store, lambda uow: uow.reads.add_new(old, None, placer(where, [])))
    committed(store, lambda uow: uow.reads.delete([old[0].read_id]))
    assert seen(store, lambda uow: uow.reads.segment_images([SEGMENT])) == {SEGMENT: 2}
    # a segment still referred to is not forgotten
    committed(store, lambda uow: uow.reads.forget_segments([SEGMENT]))
    assert seen(store, lambda uow: uow.reads.segment_images([SEGMENT])) == {SEGMENT: 2}

    step = committed(store, lambda uow: uow.reads.purge_before(cutoff=NOW, holds=[], limit=10))
    # located images go with their segment, not one by one
    assert step.deleted == 2 and step.orphaned_images == frozenset()
    assert seen(store, lambda uow: uow.reads.segment_images([SEGMENT])) == {SEGMENT: 0}
    committed(store, lambda uow: uow.reads.forget_segments([SEGMENT]))
    assert seen(store, lambda uow: uow.reads.segment_images([SEGMENT])) == {}


def test_a_located_image_does_not_keep_a_single_file_of_the_same_bytes(store: Store):
    committed(
        store,
        lambda uow: uow.reads.add_new(
            [a_read(images=(an_image(PLATE),))],
            None,
            placer({PLATE: ImageLocation(SEGMENT, 0)}, []),
        ),
    )
    assert seen(store, lambda uow: uow.reads.unreferenced([PLATE])) == {PLATE}
