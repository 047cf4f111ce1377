"""The alert benchmark's arithmetic: nearest-rank percentiles and background coverage."""

from __future__ import annotations

import pytest

from veille.bench.alerts import background_coverage, latency_summary, nearest_rank

pytestmark = pytest.mark.unit


def test_nearest_rank_takes_the_ceiling_of_q_times_n():
    assert nearest_rank(1000, 0.99) == 990
    assert nearest_rank(1000, 0.999) == 999
    assert nearest_rank(1000, 0.5) == 500
    assert nearest_rank(300, 0.99) == 297  # the 4th largest of 300, not the 3rd
    assert nearest_rank(1, 0.99) == 1
    with pytest.raises(ValueError):
        nearest_rank(0, 0.5)


def test_latency_summary_reports_the_samples_and_the_rank_of_each_value():
    values = [float(v) for v in range(1000, 0, -1)]  # 1..1000, unsorted
    summary = latency_summary(values)
    assert summary["samples"] == 1000
    assert summary["ranks"] == {"p50": 500, "p99": 990, "p99.9": 999, "max": 1000}
    assert (summary["p50"], summary["p99"], summary["p99.9"], summary["max"]) == (
        500.0,
        990.0,
        999.0,
        1000.0,
    )
    assert latency_summary([]) == {"samples": 0}


def test_a_probe_is_covered_only_by_a_background_request_overlapping_it():
    background = [(0.0, 1.0), (5.0, 6.0), (2.0, 9.0)]
    probes = [
        (0.5, 0.6),  # inside the first request
        (1.5, 1.9),  # between requests: nothing in flight
        (8.5, 9.5),  # the long request ends inside it
        (9.5, 10.0),  # after the background stopped
        (-1.0, 0.0),  # ends as the first request starts: no overlap
    ]
    assert background_coverage(probes, background) == [True, False, True, False, False]
    assert background_coverage([(0.0, 1.0)], []) == [False]
