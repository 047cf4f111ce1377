"""Clone findings recorded by the clone sweep."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from tests.contract.builders import NOW, Store, committed, seen
from veille.domain.analysis import CloneFinding

pytestmark = pytest.mark.integration

H = timedelta(hours=1)


def a_finding(
    plate: str, second_at: datetime, *, first: str = "", second: str = ""
) -> CloneFinding:
    return CloneFinding(
        plate=plate,
        first_read_id=first or str(uuid.uuid4()),
        second_read_id=second or str(uuid.uuid4()),
        first_camera_id="CAM-A",
        second_camera_id="CAM-B",
        first_at=second_at - timedelta(minutes=3),
        second_at=second_at,
        distance_m=42_000.0,
        implied_kmh=840.0,
        found_at=NOW,
    )


def _strip(finding: CloneFinding) -> CloneFinding:
    """The finding as it was handed in: the store gives each one its id."""
    return replace(finding, finding_id=None)


def test_a_pair_of_reads_is_recorded_once(store: Store):
    first = a_finding("1ABC123", NOW)
    repeat = a_finding("1ABC123", NOW, first=first.first_read_id, second=first.second_read_id)
    same_pair_upper = a_finding(
        "1ABC123",
        NOW,
        first=first.first_read_id.upper(),
        second=first.second_read_id.upper(),
    )
    other = a_finding("2XYZ999", NOW - H)
    assert committed(store, lambda uow: uow.clone_findings.add_many([first, repeat, other])) == 2
    assert committed(store, lambda uow: uow.clone_findings.add_many([same_pair_upper])) == 0
    assert committed(store, lambda uow: uow.clone_findings.add_many([])) == 0
    stored = seen(store, lambda uow: uow.clone_findings.find())
    assert [_strip(f) for f in stored] == [first, other]
    assert all(f.finding_id is not None for f in stored)
    assert len({f.finding_id for f in stored}) == 2


def test_findings_are_listed_newest_first_by_plate_and_since(store: Store):
    old, mid, new = (a_finding("1ABC123", NOW + k * H) for k in (0, 1, 2))
    other = a_finding("2XYZ999", NOW + H)
    committed(store, lambda uow: uow.clone_findings.add_many([mid, old, other, new]))

    def listed(**filters: object) -> list[CloneFinding]:
        return seen(store, lambda uow: [_strip(f) for f in uow.clone_findings.find(**filters)])

    assert listed() == [new, mid, other, old]  # one instant: in the order recorded
    assert listed(plate="1ABC123") == [new, mid, old]
    assert listed(plate="1ABC123", since=NOW + H) == [new, mid]  # since: inclusive
    assert listed(plate="1ABC123", limit=1) == [new]
    assert listed(plate="9NONE99") == []


def test_purge_deletes_findings_whose_second_read_is_older_than_the_cutoff(store: Store):
    old, edge, new = (a_finding("1ABC123", NOW + k * H) for k in (0, 1, 2))
    committed(store, lambda uow: uow.clone_findings.add_many([old, edge, new]))
    assert committed(store, lambda uow: uow.clone_findings.purge(before=NOW + H)) == 1
    assert committed(store, lambda uow: uow.clone_findings.purge(before=NOW + H)) == 0
    remaining = seen(store, lambda uow: [_strip(f) for f in uow.clone_findings.find()])
    assert remaining == [new, edge]
