"""How a requested period is cut to the slices a caller may see (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from veille.domain.authorizations import PeriodClip, Slice, period_clip

pytestmark = pytest.mark.unit

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def day(n: int) -> datetime:
    return T0 + timedelta(days=n)


WINDOW = Slice(start=day(70), end=day(100))
AUTH = Slice(start=day(10), end=day(30), plates=frozenset({"1ABC123"}), auth_id=1)


def test_a_period_inside_what_is_open_is_not_clipped():
    assert period_clip([WINDOW, AUTH], start=day(80), end=day(90)) is None
    assert period_clip([WINDOW, AUTH], start=day(15), end=day(25)) is None


def test_the_parts_nothing_opens_are_listed_in_order():
    assert period_clip([WINDOW, AUTH], start=day(0), end=day(95)) == PeriodClip(
        day(0), day(95), day(10), ((day(0), day(10)), (day(30), day(70)))
    )


def test_overlapping_slices_merge_and_the_future_past_the_last_slice_is_not_a_clip():
    overlapping = [WINDOW, Slice(start=day(60), end=day(80), auth_id=2)]
    assert period_clip(overlapping, start=day(60), end=day(500)) is None


def test_nothing_open_gives_no_visible_start():
    clip = period_clip([WINDOW], start=day(0), end=day(20))
    assert clip is not None and clip.visible_from is None
    assert clip.not_open == ((day(0), day(20)),)


def test_a_cut_within_the_tolerance_is_not_reported():
    almost = day(70) - timedelta(seconds=3)
    assert period_clip([WINDOW], start=almost, end=day(90)) is not None
    assert period_clip([WINDOW], start=almost, end=day(90), tolerance=timedelta(minutes=1)) is None
