"""The read repository: storing, de-duplicating, finding, counting and deleting reads."""

from __future__ import annotations

import uuid
from datetime import timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.contract.builders import NOW, Store, a_read, an_image, committed, seen
from tests.contract.conftest import Backend
from veille.domain.plates import canonical
from veille.domain.reads import Candidate, ImageRef, Read

pytestmark = pytest.mark.integration

H = timedelta(hours=1)


def store_reads(store: Store, *reads: Read) -> None:
    committed(store, lambda uow: uow.reads.add_many(list(reads)))


def ids(reads: list[Read]) -> list[uuid.UUID]:
    return [r.read_id for r in reads]


def test_a_stored_read_comes_back_whole(store: Store):
    read = a_read(
        "1ABC123",
        candidates=(Candidate("1ABC128", 0.4), Candidate("1A8C123", 0.2)),
        direction="receding",
        lane=2,
        vehicle_make="Volkswagen",
        vehicle_colour="grey",
        vehicle_type="car",
        images=(
            an_image("a" * 64),
            ImageRef(kind="overview", content_type="image/png", uri="https://img.example/1"),
        ),
        extra={"speed_kmh": 48, "tags": ["night"]},
    )
    store_reads(store, read)
    assert seen(store, lambda uow: uow.reads.get(read.read_id)) == read
    assert seen(store, lambda uow: uow.reads.get(uuid.uuid4())) is None


def test_a_stored_read_does_not_change_with_the_callers_objects(store: Store):
    read = a_read(extra={"note": "as sent"})
    store_reads(store, read)
    read.extra["note"] = "changed afterwards"
    assert seen(store, lambda uow: uow.reads.get(read.read_id)).extra == {"note": "as sent"}


def test_add_many_refuses_a_read_id_stored_already_and_stores_none_of_that_call(
    store: Store, backend: Backend
):
    first = a_read()
    store_reads(store, first)
    other = a_read("2XYZ999")
    with store.uow() as uow:
        with pytest.raises(backend.conflict):
            uow.reads.add_many([other, a_read("9ZZZ999", read_id=first.read_id)])
        uow.commit()
    with store.uow(write=False) as uow:
        assert uow.reads.count() == 1
        assert uow.reads.get(first.read_id) == first
        assert uow.reads.get(other.read_id) is None


def test_add_new_stores_only_unseen_ids_and_returns_the_very_objects_stored(store: Store):
    old = a_read("1OLD111")
    store_reads(store, old)
    fresh_a, fresh_b = a_read("1NEW111"), a_read("1NEW222")
    again_old = a_read("9OTHER9", read_id=old.read_id)
    repeat_a = a_read("9REPEAT", read_id=fresh_a.read_id)
    batch = [fresh_a, again_old, repeat_a, fresh_b]
    stored = committed(store, lambda uow: uow.reads.add_new(batch))
    assert [id(r) for r in stored] == [id(fresh_a), id(fresh_b)]  # the first of a repeat
    with store.uow(write=False) as uow:
        assert uow.reads.count() == 3
        assert uow.reads.get(old.read_id) == old
        assert uow.reads.get(fresh_a.read_id) == fresh_a
        assert uow.reads.get(fresh_b.read_id) == fresh_b


def test_add_new_keeps_no_image_of_an_ignored_duplicate(store: Store):
    original = a_read(images=(an_image("a" * 64),))
    store_reads(store, original)
    duplicate = a_read(read_id=original.read_id, images=(an_image("b" * 64),))
    assert committed(store, lambda uow: uow.reads.add_new([duplicate])) == []
    with store.uow(write=False) as uow:
        assert uow.reads.image_hashes([original.read_id]) == {"a" * 64}
        assert uow.reads.unreferenced(["b" * 64]) == {"b" * 64}


def test_add_new_of_nothing_stores_nothing(store: Store):
    assert committed(store, lambda uow: uow.reads.add_new([])) == []


def test_add_new_refuses_encoded_rows_that_do_not_match_the_reads(store: Store):
    with store.uow() as uow, pytest.raises(ValueError):
        uow.reads.add_new([a_read()], [])


# --- find --------------------------------------------------------------------------------


@pytest.fixture
def scene(store: Store) -> dict[str, Read]:
    """Reads of three plates at two cameras, stored out of capture order."""
    reads = {
        "early": a_read("1ABC123", camera_id="CAM-A", at=NOW - 3 * H),
        "late": a_read("1ABC123", camera_id="CAM-B", at=NOW + 2 * H),
        "start": a_read("1ABD123", camera_id="CAM-A", at=NOW),
        "lookalike": a_read("1A8C123", camera_id="CAM-B", at=NOW + H),
        "other": a_read("2XYZ999", camera_id="CAM-A", at=NOW + 30 * timedelta(minutes=1)),
        "end": a_read("1ABC123", camera_id="CAM-A", at=NOW + 5 * H),
    }
    store_reads(store, *reversed(reads.values()))
    return reads


def test_find_returns_the_reads_of_a_half_open_period_by_capture_time(
    store: Store, scene: dict[str, Read]
):
    found = seen(store, lambda uow: uow.reads.find(start=NOW, end=NOW + 5 * H))
    assert found == [scene["start"], scene["other"], scene["lookalike"], scene["late"]]


def test_find_narrows_by_plates_cameras_and_canonical_form(store: Store, scene: dict[str, Read]):
    period = {"start": NOW - 4 * H, "end": NOW + 6 * H}
    with store.uow(write=False) as uow:
        assert uow.reads.find(**period, plates=["1ABC123"]) == [
            scene["early"],
            scene["late"],
            scene["end"],
        ]
        assert uow.reads.find(**period, plates=["1ABC123", "2XYZ999"], camera_ids=["CAM-A"]) == [
            scene["early"],
            scene["other"],
            scene["end"],
        ]
        assert uow.reads.find(**period, camera_ids=iter(["CAM-B"])) == [
            scene["lookalike"],
            scene["late"],
        ]
        lookalikes = uow.reads.find(**period, canonical=scene["lookalike"].plate_canonical)
        assert lookalikes == [scene["early"], scene["lookalike"], scene["late"], scene["end"]]
        assert uow.reads.find(**period, canonical="NOSUCH") == []


def test_find_with_an_empty_list_of_plates_or_cameras_finds_nothing(
    store: Store, scene: dict[str, Read]
):
    period = {"start": NOW - 4 * H, "end": NOW + 6 * H}
    with store.uow(write=False) as uow:
        assert uow.reads.find(**period, plates=[]) == []
        assert uow.reads.find(**period, camera_ids=[]) == []
        assert uow.reads.find_prefix(**period, prefix="1", camera_ids=[]) == []
        assert uow.reads.distinct_plates(**period, plates=[]) == []


def test_a_period_is_a_pair_of_instants_whatever_their_offset(store: Store, scene: dict[str, Read]):
    brussels = timezone(timedelta(hours=1))
    start, end = NOW.astimezone(brussels), (NOW + 5 * H).astimezone(brussels)
    with store.uow(write=False) as uow:
        assert uow.reads.find(start=start, end=end, plates=["1ABC123"]) == [scene["late"]]
        assert uow.reads.find_prefix(start=start, end=end, prefix="1AB") == [
            scene["start"],
            scene["late"],
        ]
        assert uow.reads.distinct_plates(start=start, end=end, prefix="2") == ["2XYZ999"]


def test_find_limit_keeps_the_earliest(store: Store, scene: dict[str, Read]):
    found = seen(store, lambda uow: uow.reads.find(start=NOW - 4 * H, end=NOW + 6 * H, limit=2))
    assert found == [scene["early"], scene["start"]]


def test_find_prefix_finds_plates_that_start_with_it(store: Store, scene: dict[str, Read]):
    period = {"start": NOW - 4 * H, "end": NOW + 6 * H}
    with store.uow(write=False) as uow:
        assert uow.reads.find_prefix(**period, prefix="1AB") == [
            scene["early"],
            scene["start"],
            scene["late"],
            scene["end"],
        ]
        assert uow.reads.find_prefix(**period, prefix="1ABC123") == [
            scene["early"],
            scene["late"],
            scene["end"],
        ]
        assert uow.reads.find_prefix(**period, prefix="AB") == []
        assert uow.reads.find_prefix(**period, prefix="1", camera_ids=["CAM-B"]) == [
            scene["lookalike"],
            scene["late"],
        ]
        assert uow.reads.find_prefix(**period, prefix="1", plates=["1ABD123", "2XYZ999"]) == [
            scene["start"]
        ]
        assert uow.reads.find_prefix(start=NOW, end=NOW + 5 * H, prefix="1A", limit=2) == [
            scene["start"],
            scene["lookalike"],
        ]


def test_find_prefix_with_an_empty_prefix_finds_every_plate(store: Store, scene: dict[str, Read]):
    found = seen(store, lambda uow: uow.reads.find_prefix(start=NOW, end=NOW + 5 * H, prefix=""))
    assert found == [scene["start"], scene["other"], scene["lookalike"], scene["late"]]


def test_distinct_plates_sorted_filtered_and_by_number_of_cameras(
    store: Store, scene: dict[str, Read]
):
    period = {"start": NOW - 4 * H, "end": NOW + 6 * H}
    with store.uow(write=False) as uow:
        assert uow.reads.distinct_plates(**period) == ["1A8C123", "1ABC123", "1ABD123", "2XYZ999"]
        assert uow.reads.distinct_plates(start=NOW, end=NOW + 2 * H) == [
            "1A8C123",
            "1ABD123",
            "2XYZ999",
        ]
        assert uow.reads.distinct_plates(**period, camera_ids=["CAM-B"]) == ["1A8C123", "1ABC123"]
        assert uow.reads.distinct_plates(**period, plates=["1ABC123", "9NONE99"]) == ["1ABC123"]
        assert uow.reads.distinct_plates(**period, prefix="1AB") == ["1ABC123", "1ABD123"]
        assert uow.reads.distinct_plates(**period, min_cameras=2) == ["1ABC123"]
        # within the period the plate's second camera is out of reach
        assert uow.reads.distinct_plates(start=NOW + 3 * H, end=NOW + 6 * H, min_cameras=2) == []
        assert uow.reads.distinct_plates(**period, limit=2) == ["1A8C123", "1ABC123"]


# --- counting, images, deletion ----------------------------------------------------------


def test_count_counts_every_stored_read(store: Store, scene: dict[str, Read]):
    assert seen(store, lambda uow: uow.reads.count()) == len(scene)


def test_image_hashes_are_those_of_the_given_reads_in_the_image_store(store: Store):
    one = a_read(images=(an_image("a" * 64), an_image("b" * 64, kind="overview")))
    two = a_read(
        images=(an_image("c" * 64), ImageRef(kind="overview", content_type="image/jpeg", uri="x"))
    )
    three = a_read(images=(an_image("d" * 64),))
    store_reads(store, one, two, three)
    with store.uow(write=False) as uow:
        assert uow.reads.image_hashes([one.read_id, two.read_id]) == {"a" * 64, "b" * 64, "c" * 64}
        assert uow.reads.image_hashes([uuid.uuid4()]) == set()
        assert uow.reads.image_hashes([]) == set()


def test_delete_removes_reads_and_their_images_and_counts_what_it_removed(store: Store):
    shared = "e" * 64
    doomed = a_read(images=(an_image(shared), an_image("f" * 64)))
    keeper = a_read(images=(an_image(shared),))
    store_reads(store, doomed, keeper)
    deleted = committed(store, lambda uow: uow.reads.delete([doomed.read_id, uuid.uuid4()]))
    assert deleted == 1
    with store.uow(write=False) as uow:
        assert uow.reads.get(doomed.read_id) is None
        assert uow.reads.count() == 1
        assert uow.reads.image_hashes([doomed.read_id]) == set()
        # an image shared with a read still stored stays referenced
        assert uow.reads.unreferenced([shared, "f" * 64, "0" * 64]) == {"f" * 64, "0" * 64}
    assert committed(store, lambda uow: uow.reads.delete([])) == 0


# --- every filter at once, against the plain meaning of the port -------------------------

PLATES = ["1ABC123", "1ABD123", "1A8C123", "2XYZ999", "2XY7999"]
CAMERAS = ["CAM-A", "CAM-B", "CAM-C"]


@st.composite
def scenes(draw: st.DrawFn) -> list[Read]:
    minutes = draw(st.lists(st.integers(0, 600), min_size=0, max_size=25, unique=True))
    return [
        a_read(
            draw(st.sampled_from(PLATES)),
            camera_id=draw(st.sampled_from(CAMERAS)),
            at=NOW + timedelta(minutes=m),
        )
        for m in minutes
    ]


def subset(options: list[str]) -> st.SearchStrategy[list[str] | None]:
    return st.none() | st.lists(st.sampled_from(options), max_size=3)


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    reads=scenes(),
    lo=st.integers(-10, 610),
    span=st.integers(0, 620),
    plates=subset(PLATES),
    cameras=subset(CAMERAS),
    prefix=st.sampled_from(["", "1", "1AB", "2XY", "9"]),
    min_cameras=st.integers(1, 3),
    limit=st.integers(1, 30),
)
def test_queries_mean_what_the_port_says(
    store: Store,
    reads: list[Read],
    lo: int,
    span: int,
    plates: list[str] | None,
    cameras: list[str] | None,
    prefix: str,
    min_cameras: int,
    limit: int,
):
    start = NOW + timedelta(minutes=lo)
    end = start + timedelta(minutes=span)
    expected = sorted(
        (
            r
            for r in reads
            if start <= r.captured_at < end
            and (plates is None or r.plate in plates)
            and (cameras is None or r.camera_id in cameras)
        ),
        key=lambda r: r.captured_at,
    )
    by_prefix = [r for r in expected if r.plate.startswith(prefix)]
    cameras_of: dict[str, set[str]] = {}
    for read in by_prefix:
        cameras_of.setdefault(read.plate, set()).add(read.camera_id)
    period = {"start": start, "end": end, "plates": plates, "camera_ids": cameras}
    with store.uow() as uow:  # never committed: each example leaves the store empty
        uow.reads.add_many(reads)
        assert uow.reads.find(**period, limit=limit) == expected[:limit]
        canon = canonical("1ABC123")
        assert uow.reads.find(**period, canonical=canon) == [
            r for r in expected if r.plate_canonical == canon
        ]
        assert uow.reads.find_prefix(**period, prefix=prefix, limit=limit) == by_prefix[:limit]
        assert uow.reads.distinct_plates(
            **period, prefix=prefix or None, min_cameras=min_cameras
        ) == sorted(p for p, seen_at in cameras_of.items() if len(seen_at) >= min_cameras)
