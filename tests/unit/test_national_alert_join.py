"""The national bench's alert join: earliest arrival per read, unknown reads set apart."""

import pytest

from veille.bench.national.alert_join import alert_latency, nearest_rank

pytestmark = pytest.mark.unit


def test_each_read_counts_once_at_its_earliest_arrival() -> None:
    sent = {"a": 10.0, "b": 20.0}
    result = alert_latency(
        first_sent_at=sent, arrivals=[("a", 10.3), ("a", 10.1), ("b", 20.2), ("x", 5.0)]
    )
    assert result.alerts == 2
    assert result.unmatched == 1
    assert result.p50_ms == pytest.approx(100.0)
    assert result.p99_ms == pytest.approx(200.0)


def test_nearest_rank_of_nothing_is_none() -> None:
    assert nearest_rank([], 0.5) is None
    assert nearest_rank([1.0, 2.0, 3.0, 4.0], 0.5) == 2.0
