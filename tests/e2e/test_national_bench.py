"""`veille bench national` end to end on a tiny plan: the real server and load generator
as their own processes, people, cameras and hotlists through the API, operators and
investigators at work, a job and a hotlist replacement during the steps, then the
report and the exactly-once check."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from veille.bench.national.report import format_report
from veille.bench.national.run import NationalConfig, run_national
from veille.entrypoints.cli import app

pytestmark = pytest.mark.e2e

STEP_KEYS = {
    "offered_rate", "acknowledged_rate", "ack_p50_ms", "ack_p99_ms", "ack_p999_ms",
    "status_503", "resends", "backlog", "alerts", "searches", "writer", "processes",
    "generator_limited", "jobs", "hotlist_replacement",
}  # fmt: skip


def _check_report(report: dict[str, Any], out: Path, steps: list[str]) -> None:
    assert [r["step"] for r in report["steps"]] == steps
    for row in report["steps"]:
        assert set(row) >= STEP_KEYS
        assert row["acknowledged_rate"] > 0
        assert row["writer"]["commits"] > 0
        assert row["writer"]["commit_p99_ms_le"] is not None
        assert {"server", "loadgen", "orchestrator"} <= set(row["processes"])
        assert row["processes"]["server"]["rss_peak_mib"] > 0
        assert set(row["backlog"]) >= {"first", "last", "slope_per_s", "grows"}
    first = report["steps"][0]
    assert first["hotlist_replacement"]
    assert all(j["returncode"] == 0 for j in report["summary"]["jobs"])
    assert {j["step"] for j in report["summary"]["jobs"]} == set(steps)
    summary = report["summary"]
    replacement = summary["hotlist_replacement"]
    assert replacement["list_id"] == "national-stolen" and replacement["server_rss_peak_mib"] > 0
    assert summary["alerts"]["samples"] > 0  # a national operator sees every alert
    searched = {k.split("/")[0] for r in report["steps"] for k in r["searches"]}
    assert searched & {"plate", "area", "journey", "convoy", "scenes", "clones"}
    assert all(s["errors"] == 0 for r in report["steps"] for s in r["searches"].values())
    exactly = summary["exactly_once"]
    assert exactly["verdict"] is True, exactly
    assert exactly["acknowledged"] == exactly["stored_once"] > 0
    assert exactly["image_rows_expected"] == 2 * exactly["acknowledged"]
    assert report["machine"]["cores"] and report["machine"]["load_average"]
    assert orjson.loads((out / "report.json").read_bytes())["benchmark"] == "national"
    for name in ("plan.json", "cameras.json", "hit-plates.txt", "server.log"):
        assert (out / name).exists(), name
    assert (out / "loadgen" / "acks.jsonl").stat().st_size > 0
    text = format_report(report)
    assert "exactly once: YES" in text and "| 1x (hotlist replaced) |" in text


def test_a_tiny_national_run_reports_every_step_and_every_read_stored_once(
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    config = NationalConfig(
        out=out,
        cameras=50,
        steps=("1x", "2x"),
        step_seconds=4.0,
        prefill_reads=0,
        investigators=2,
        operators=2,
        hotlist_entries=2000,
        peak=20.0,
        min_alerts=50,
        drain_s=10.0,
        image_pool=8,
        jobs=("retention",),
        investigator_pause_s=0.2,
    )
    report = run_national(config, log=lambda _: None)
    _check_report(report, out, ["1x", "2x"])


@pytest.mark.slow
def test_a_longer_national_run_with_a_search_for_the_highest_rate(tmp_path: Path) -> None:
    out = tmp_path / "out"
    config = NationalConfig(
        out=out,
        cameras=500,
        steps=("1x", "2x", "max"),
        step_seconds=30.0,
        prefill_reads=0,
        investigators=6,
        operators=6,
        hotlist_entries=50_000,
        peak=100.0,
        min_alerts=500,
        image_pool=32,
    )
    report = run_national(config, log=lambda _: None)
    _check_report(report, out, ["1x", "2x", "max"])
    search = report["steps"][-1]
    assert search["tried_rates"] and search["sustainable"] is not None


def test_the_command_refuses_an_unknown_step() -> None:
    result = CliRunner().invoke(app, ["bench", "national", "--steps", "1x,fast"])
    assert result.exit_code == 2
    assert "1x, 2x, … or max" in result.output
