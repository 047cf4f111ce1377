"""The national bench's report: windows of samples turned into a row per step, and tables."""

from __future__ import annotations

from typing import Any

import pytest

from veille.bench.national.report import (
    backlog_trend,
    bucket_delta,
    bucket_percentile,
    build_report,
    format_report,
    processes_window,
    replacement_memory,
    searches_window,
    writer_window,
)

pytestmark = pytest.mark.unit


def test_bucket_percentile_is_the_bound_of_the_bucket_holding_the_rank() -> None:
    buckets = {"4": 90, "64": 9, "1024": 1}
    assert bucket_percentile(buckets, 0.5) == 4
    assert bucket_percentile(buckets, 0.9) == 4
    assert bucket_percentile(buckets, 0.95) == 64
    assert bucket_percentile(buckets, 0.999) == 1024
    assert bucket_percentile({}, 0.5) is None
    assert bucket_percentile({"8": 0}, 0.5) is None


def test_bucket_delta_keeps_what_happened_between_two_samples() -> None:
    assert bucket_delta({"4": 10, "8": 2}, {"4": 15, "8": 2, "16": 1}) == {"4": 5, "16": 1}


def _stats(at: float, commits: int, stored: int, busy: float, took: dict[str, int]) -> Any:
    return (
        at,
        {
            "commits": commits,
            "stored": stored,
            "writer_busy_s": busy,
            "commit_ms_le": took,
            "refused_busy": commits // 10,
            "writer_queued_reads": commits,
        },
    )


def test_writer_window_takes_the_commits_made_during_the_window() -> None:
    stats = [
        _stats(0.0, 10, 100, 0.1, {"4": 10}),
        _stats(1.0, 20, 300, 0.3, {"4": 19, "64": 1}),  # the window starts here
        _stats(2.0, 120, 1300, 1.3, {"4": 100, "64": 20}),
        _stats(3.0, 220, 2300, 2.3, {"4": 198, "64": 21, "512": 1}),
        _stats(4.0, 1000, 9999, 9.9, {"4": 999}),  # after the window
    ]
    w = writer_window(stats, 1.0, 3.0)
    assert w["commits"] == 200
    assert w["reads_per_commit"] == 10.0
    assert w["commit_mean_ms"] == 10.0
    assert w["commit_ms_le"] == {"4": 179, "64": 20, "512": 1}
    assert w["commit_p50_ms_le"] == 4 and w["commit_p99_ms_le"] == 64
    assert w["commit_max_ms_le"] == 512
    assert w["busy_share"] == 1.0
    assert w["refused_busy"] == 20
    assert w["queued_max"] == 220
    assert writer_window(stats, 10.0, 20.0) == {"commits": 0}


def _proc(at: float, role: str, pid: int, cpu: float, rss_mib: float) -> dict[str, Any]:
    return {"at": at, "role": role, "pid": pid, "cpu_s": cpu, "rss_kb": int(rss_mib * 1024)}


def test_processes_window_sums_a_roles_processes() -> None:
    samples = [
        _proc(0.0, "server", 1, 10.0, 100),
        _proc(0.0, "loadgen", 2, 1.0, 50),
        _proc(0.0, "loadgen", 3, 1.0, 50),
        _proc(2.0, "server", 1, 13.0, 300),
        _proc(2.0, "loadgen", 2, 2.0, 60),
        _proc(2.0, "loadgen", 3, 1.5, 60),
        _proc(9.0, "server", 1, 99.0, 999),  # outside
    ]
    p = processes_window(samples, 0.0, 2.0)
    assert p["server"] == {
        "processes": 1,
        "cpu_cores": 1.5,
        "rss_mean_mib": 200.0,
        "rss_peak_mib": 300.0,
    }
    assert p["loadgen"]["processes"] == 2
    assert p["loadgen"]["cpu_cores"] == 0.75
    assert p["loadgen"]["rss_peak_mib"] == 120.0


def _search(analysis: str, scope: str, at: float, ms: float, status: int = 200) -> Any:
    return {"analysis": analysis, "scope": scope, "started_at": at, "ms": ms, "status": status}


def test_searches_window_groups_by_analysis_and_scope_and_leaves_errors_out() -> None:
    searches = [_search("plate", "zone", 1.0, float(ms)) for ms in range(1, 101)]
    searches += [_search("plate", "zone", 1.0, 99999.0, status=503)]
    searches += [_search("area", "national", 1.5, 40.0), _search("area", "national", 5.0, 1.0)]
    s = searches_window(searches, 0.0, 2.0)
    assert s["plate/zone"] == {
        "runs": 101,
        "errors": 1,
        "statuses": [503],
        "p50_ms": 50.0,
        "p95_ms": 95.0,
    }
    assert s["area/national"]["runs"] == 1 and s["area/national"]["p95_ms"] == 40.0


def test_backlog_trend_is_the_least_squares_slope() -> None:
    assert backlog_trend([0, 10, 20, 30])["slope_per_s"] == 10.0
    flat = backlog_trend([5, 5, 5])
    assert flat == {"first": 5, "last": 5, "max": 5, "slope_per_s": 0.0}
    assert backlog_trend([])["slope_per_s"] is None


def _step(name: str, start: float, end: float, **extra: Any) -> dict[str, Any]:
    step = {
        "step": name,
        "started_at": start,
        "ended_at": end,
        "offered_rate": 100.0,
        "acknowledged_rate": 99.0,
        "offered": 1000,
        "acknowledged": 990,
        "ack_latency": {"p50_ms": 5.0, "p99_ms": 50.0, "p999_ms": 80.0, "samples": 990},
        "status_503": 3,
        "resends": 4,
        "timeouts": 1,
        "backlog_series": [1, 2, 1, 2, 1, 2, 1, 2, 1],
        "generator_lag_p99_ms": 2.0,
        "generator_limited": False,
        "sustainable": None,
        "highest_sustainable_rate": None,
        "tried_rates": [],
    }
    step.update(extra)
    return step


REPLACEMENT = {
    "list_id": "national-stolen", "step": "1x", "started_at": 103.0,
    "answered_at": 105.0, "entries": 940, "seconds": 2.0,
}  # fmt: skip


def _report() -> dict[str, Any]:
    steps = [
        _step("1x", 100.0, 110.0),
        _step(
            "max",
            110.0,
            120.0,
            generator_limited=True,
            sustainable=True,
            highest_sustainable_rate=125.0,
            tried_rates=[
                {"rate": 100.0, "sustainable": True},
                {"rate": 125.0, "sustainable": True},
            ],
        ),
    ]
    acks = {"1x": {"r1": 101.0, "r2": 102.0}, "max": {"r3": 111.0}}
    arrivals = [("r1", 101.05), ("r1", 101.5), ("r2", 102.2), ("r3", 111.01), ("other", 1.0)]
    samples = [_proc(t, "server", 1, t / 2, 100 + t) for t in range(100, 121)]
    exactly = {
        "verdict": True, "acknowledged": 3, "stored_once": 3, "missing": 0, "duplicated": 0,
        "image_rows_expected": 6, "image_rows_missing": 0, "image_bytes_missing": 0,
        "image_bytes_checked": 3, "image_bytes_wrong": 0, "unacknowledged": 1,
        "unacknowledged_stored": 1,
    }  # fmt: skip
    return build_report(
        config={"cameras": 50, "investigators": 2, "operators": 2, "step_seconds": 10},
        steps=steps,
        acks_by_step=acks,
        arrivals=arrivals,
        stats=[_stats(float(t), t, t * 10, t / 100, {"4": t}) for t in range(99, 121)],
        samples=samples,
        searches=[_search("plate", "zone", 105.0, 12.0), _search("plate", "zone", 115.0, 30.0)],
        jobs=[{"name": "retention", "step": "1x", "seconds": 1.5, "returncode": 0}],
        replacement={
            "list_id": "national-stolen",
            "step": "1x",
            "started_at": 103.0,
            "answered_at": 105.0,
            "entries": 940,
            "seconds": 2.0,
        },
        exactly_once=exactly,
        done={"interrupted": False},
        setup={"store_reads": 0, "hotlist_entries": 1000},
        machine={"cpu": "test", "cores": 2, "load_average": [1.0, 1.0, 1.0]},
        replacement_settle_s=5.0,
    )


def test_report_has_a_row_per_step_with_alerts_joined_by_step() -> None:
    report = _report()
    first, search = report["steps"]
    assert [r["step"] for r in report["steps"]] == ["1x", "max"]
    assert first["alerts"] == {"p50_ms": 50.0, "p99_ms": 200.0, "samples": 2}
    assert search["alerts"]["samples"] == 1
    assert first["hotlist_replacement"] and not search["hotlist_replacement"]
    assert first["jobs"][0]["name"] == "retention" and search["jobs"] == []
    assert first["searches"]["plate/zone"]["p95_ms"] == 12.0
    assert search["searches"]["plate/zone"]["p95_ms"] == 30.0
    assert first["writer"]["commits"] == 10
    assert first["processes"]["server"]["cpu_cores"] == 0.5
    assert search["highest_sustainable_rate"] == 125.0
    summary = report["summary"]
    assert summary["alerts"]["samples"] == 3 and summary["alerts"]["unmatched"] == 1
    assert summary["exactly_once"]["verdict"] is True


def test_replacement_memory_is_the_server_peak_from_the_request_to_the_settling() -> None:
    samples = [
        _proc(t, "server", 1, 0.0, m)
        for t, m in ((102.0, 100), (104.0, 400), (109.0, 300), (200.0, 900))
    ]
    got = replacement_memory(
        {"started_at": 103.0, "answered_at": 105.0, "list_id": "l"}, samples, settle_s=5.0
    )
    assert got is not None
    assert got["server_rss_before_mib"] == 100.0
    assert got["server_rss_peak_mib"] == 400.0
    assert replacement_memory(None, samples, 5.0) is None


def test_the_printed_report_says_the_verdict_and_flags_generator_limited_steps() -> None:
    text = format_report(_report())
    assert "| 1x (hotlist replaced) |" in text
    assert "generator-limited steps" in text and ": max" in text
    assert "highest sustainable rate 125.0 reads/s" in text
    assert "exactly once: YES" in text
    assert "1 of 1 unacknowledged reads stored anyway" in text
