"""Retention policy: properties of the pure rule, without any database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from veille.domain.retention import (
    Hold,
    HoldInvalid,
    RetentionPolicy,
    check_hold,
    kept_by,
    must_delete,
)

pytestmark = pytest.mark.unit

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
POLICY = RetentionPolicy()
PLATES = ["1ABC123", "2XYZ999", "AB123CD", "MAB1234"]
CAMERAS = ["BXL-001", "BXL-002", "ANT-007"]

moments = st.datetimes(
    min_value=datetime(2024, 1, 1), max_value=datetime(2026, 6, 1), timezones=st.just(UTC)
)
plates = st.sampled_from(PLATES)
cameras = st.sampled_from(CAMERAS)
max_ages = st.timedeltas(min_value=timedelta(days=1), max_value=timedelta(days=800))


@st.composite
def holds(draw: st.DrawFn) -> Hold:
    start = draw(moments)
    return Hold(
        hold_id=draw(st.integers(1, 10_000)),
        case_ref=draw(st.sampled_from(["PV-2025-001", "NOT-77/25"])),
        plates=frozenset(draw(st.lists(plates, max_size=2))),
        camera_ids=frozenset(draw(st.lists(cameras, max_size=2))),
        period_start=start,
        period_end=start + draw(st.timedeltas(min_value=timedelta(0), max_value=timedelta(400))),
        released_at=draw(st.sampled_from([None, None, NOW])),
    )


def test_default_policy_keeps_twelve_months() -> None:
    assert POLICY.cutoff(NOW) == NOW - timedelta(days=365)


@given(
    captured=moments, plate=plates, camera=cameras, hs=st.lists(holds(), max_size=4), age=max_ages
)
def test_nothing_younger_than_the_cutoff_is_deleted(captured, plate, camera, hs, age) -> None:
    policy = RetentionPolicy(max_age=age)
    if captured >= policy.cutoff(NOW):
        assert not must_delete(
            captured_at=captured, plate=plate, camera_id=camera, now=NOW, policy=policy, holds=hs
        )


@given(
    captured=moments, plate=plates, camera=cameras, hs=st.lists(holds(), max_size=4), age=max_ages
)
def test_older_reads_are_deleted_unless_an_active_hold_keeps_them(
    captured, plate, camera, hs, age
) -> None:
    policy = RetentionPolicy(max_age=age)
    if captured < policy.cutoff(NOW):
        held = any(
            h.released_at is None
            and h.period_start <= captured < h.period_end
            and (not h.plates or plate in h.plates)
            and (not h.camera_ids or camera in h.camera_ids)
            for h in hs
        )
        deleted = must_delete(
            captured_at=captured, plate=plate, camera_id=camera, now=NOW, policy=policy, holds=hs
        )
        assert deleted is not held


@given(hold=holds(), captured=moments, plate=plates, camera=cameras)
def test_a_hold_keeps_exactly_what_it_covers(hold, captured, plate, camera) -> None:
    in_period = hold.period_start <= captured < hold.period_end
    plate_ok = not hold.plates or plate in hold.plates
    camera_ok = not hold.camera_ids or camera in hold.camera_ids
    assert hold.keeps(plate=plate, camera_id=camera, captured_at=captured) == (
        in_period and plate_ok and camera_ok
    )


@given(hold=holds(), plate=plates, camera=cameras)
def test_hold_period_is_half_open(hold, plate, camera) -> None:
    assert not hold.keeps(plate=plate, camera_id=camera, captured_at=hold.period_end)
    if hold.period_end > hold.period_start:
        covered = (not hold.plates or plate in hold.plates) and (
            not hold.camera_ids or camera in hold.camera_ids
        )
        assert hold.keeps(plate=plate, camera_id=camera, captured_at=hold.period_start) == covered


def test_released_hold_keeps_nothing() -> None:
    old = NOW - timedelta(days=400)
    hold = Hold(1, "PV-1", frozenset({"1ABC123"}), frozenset(), old, old + timedelta(days=1))
    args = {"plate": "1ABC123", "camera_id": "BXL-001", "captured_at": old + timedelta(hours=1)}
    assert kept_by(**args, holds=[hold]) == hold
    assert not must_delete(**args, now=NOW, policy=POLICY, holds=[hold])
    released = Hold(
        1,
        "PV-1",
        frozenset({"1ABC123"}),
        frozenset(),
        old,
        old + timedelta(days=1),
        released_at=NOW,
    )
    assert kept_by(**args, holds=[released]) is None
    assert must_delete(**args, now=NOW, policy=POLICY, holds=[released])


@pytest.mark.parametrize(
    ("case_ref", "plates_", "cameras_", "days", "reason"),
    [
        (" ", ["1ABC123"], [], 1, "case reference"),
        ("PV-1", ["1ABC123"], [], 0, "ends before"),
        ("PV-1", [], [], 1, "at least one plate or one camera"),
    ],
)
def test_check_hold_refuses(case_ref, plates_, cameras_, days, reason) -> None:
    with pytest.raises(HoldInvalid, match=reason):
        check_hold(
            case_ref=case_ref,
            plates=plates_,
            camera_ids=cameras_,
            start=NOW,
            end=NOW + timedelta(days=days),
        )


def test_check_hold_accepts_camera_only_hold() -> None:
    check_hold(
        case_ref="PV-1", plates=[], camera_ids=["BXL-001"], start=NOW, end=NOW + timedelta(1)
    )
