"""`veille bench alerts` end to end, small: a run whose background stopped early fails."""

from __future__ import annotations

import orjson
import pytest
from typer.testing import CliRunner

from veille.bench.alerts import AlertBenchConfig, run_alert_bench
from veille.entrypoints.cli import app

pytestmark = pytest.mark.e2e


def test_a_background_that_stops_before_the_probes_fails_the_run():
    # the background stops 0.2 s after it starts; the probes begin after a 2 s warm-up
    config = AlertBenchConfig(
        background_rate=400,
        background_cameras=4,
        background_batch=10,
        probes=20,
        probe_interval_s=0.02,
        hotlist_entries=100,
        warmup_s=2.0,
        alert_wait_s=5.0,
        stop_background_after_s=0.2,
    )
    result = run_alert_bench(config)
    assert result["ok"] is False
    bg = result["background"]
    assert bg["requests_acknowledged"] > 0  # it ran, then stopped: the case to catch
    assert bg["probes_without_background"] > 0
    assert bg["coverage"] == 1 - bg["probes_without_background"] / result["probes_sent"]
    assert any("no acknowledged background" in p for p in result["problems"])
    # the probes themselves were all timed, with the ranks their percentiles took
    assert result["alerts_received"] == result["probes_sent"] == 20
    latency = result["latency_from_receipt_ms"]
    assert latency["samples"] == 20
    assert latency["ranks"] == {"p50": 10, "p99": 20, "p99.9": 20, "max": 20}
    assert latency["p50"] <= latency["p99"] <= latency["max"]


def test_the_command_exits_non_zero_and_says_why():
    result = CliRunner().invoke(
        app,
        [
            "bench",
            "alerts",
            "--probes",
            "10",
            "--background-rate",
            "400",
            "--entries",
            "50",
            "--stop-background-after",
            "0",
            "--json",
        ],
    )
    assert result.exit_code == 1
    assert "bench alerts failed:" in result.stderr
    body = orjson.loads(result.stdout[result.stdout.index("{") :])
    assert body["ok"] is False
    assert body["background"]["coverage"] < 1
    assert body["problems"]
