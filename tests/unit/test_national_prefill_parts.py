"""The prefilled store's pure parts: the month's hours, the reads per hour, the plates."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime

import pytest

from veille.bench.national.prefill import (
    PLATE_PATTERNS,
    WEEKEND_FACTOR,
    hour_weights,
    plates_as_printed,
    split_reads,
)
from veille.domain.plates import fits_country, normalise

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("total", [0, 1, 719, 720, 20_000, 50_000_000])
def test_the_reads_split_over_the_hours_sum_to_the_total(total: int) -> None:
    weights = hour_weights(datetime(2026, 11, 3, 9, 41, tzinfo=UTC), 720)
    counts = split_reads(total, weights)
    assert len(counts) == 720 and sum(counts) == total and min(counts) >= 0
    if total >= 20_000:  # each hour within one read of its exact share
        whole = sum(weights)
        assert all(abs(c - total * w / whole) < 1 for c, w in zip(counts, weights, strict=True))


def test_the_hours_follow_the_diurnal_curve_in_brussels_time_and_the_week() -> None:
    monday = datetime(2026, 11, 30, 0, 0, tzinfo=UTC)  # 01:00 in Brussels (UTC+1)
    weights = hour_weights(monday, 24 * 7)
    # the rushes, 07:00–09:00 and 16:00–18:00 in Brussels, are 06–08 and 15–17 UTC
    assert set(sorted(range(24), key=weights.__getitem__)[-4:]) == {6, 7, 15, 16}
    assert weights[7] > 10 * weights[2]  # far above the night
    saturday = 5 * 24
    assert weights[saturday + 7] == pytest.approx(weights[7] * WEEKEND_FACTOR)
    summer = hour_weights(datetime(2026, 7, 6, 0, 0, tzinfo=UTC), 24)  # UTC+2
    assert summer[6] == pytest.approx(weights[7])  # the same local hour


def test_plates_are_printed_in_their_country_s_formats_at_their_shares() -> None:
    plates = plates_as_printed(random.Random(4), 40_000)
    assert len(plates) == 40_000
    for raw, country in plates:
        assert fits_country(normalise(raw), country), (raw, country)
    shares = Counter(country for _, country in plates)
    for country in {c for c, _, _ in PLATE_PATTERNS}:
        expected = sum(w for c, _, w in PLATE_PATTERNS if c == country)
        assert abs(shares[country] / len(plates) - expected) < 0.01, country
    assert Counter(raw[1] for raw, c in plates if c == "BE" and raw[1] == "-")  # 1-ABC-123
    assert len(set(plates)) > 0.99 * len(plates)
    assert plates_as_printed(random.Random(4), 100) == plates_as_printed(random.Random(4), 100)
