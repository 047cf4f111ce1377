"""`veille bench ingest` end to end, small: what it counts and how it takes its yardstick."""

from __future__ import annotations

import base64
import io
import math
from datetime import UTC, datetime

import pytest
from PIL import Image

from veille.adapters.decoders.native_json import parse_read
from veille.bench.ingest import (
    OVERVIEW_BYTES,
    PLATE_CROP_BYTES,
    IngestBenchConfig,
    add_images,
    make_workload,
    run_ingest_bench,
)

pytestmark = pytest.mark.e2e


def test_bench_takes_the_writers_commit_size_counts_the_store_and_alternates():
    config = IngestBenchConfig(
        reads=3000,
        batch=25,
        concurrency=8,
        cameras=12,
        duplicate_share=0.05,
        rounds=2,
        prefill=2000,
    )
    result = run_ingest_bench(config)
    assert result["order"] == ["end_to_end 1", "raw 1", "end_to_end 2", "raw 2"]
    assert result["all_stored_once"] is True
    for r in result["rounds"]:
        e2e = r["end_to_end"]
        # the store is counted, not the answers: re-sent reads are sent but not stored
        assert e2e["reads_sent"] > config.reads == e2e["reads_stored"]
        assert e2e["answered_duplicate"] == e2e["reads_sent"] - config.reads
        assert e2e["reads_per_s"] == pytest.approx(e2e["reads_stored"] / e2e["seconds"], rel=0.01)
        # the writer's counters of this run: every commit by size, every fresh read once
        assert sum(e2e["writer_commit_reads_le"].values()) == e2e["writer_commits"] > 0
        commit_size = max(1, round(config.reads / e2e["writer_commits"]))
        assert e2e["store_rows_before"] == config.prefill
        for raw in r["raw_sqlite"].values():
            assert raw["commit_rows"] == commit_size  # the writer's, not a fixed 1,000
            assert raw["commits"] == math.ceil(config.reads / commit_size)
            assert raw["store_rows_before"] == config.prefill  # an equally full store
            assert raw["rows_stored"] == config.reads
        assert r["ratio"] == pytest.approx(
            e2e["reads_per_s"] / r["raw_rows_per_s"], rel=0.01, abs=0.002
        )


def test_bench_images_are_distinct_real_jpegs_of_the_design_sizes():
    now = datetime.now(UTC)
    _, per_camera = make_workload(IngestBenchConfig(reads=6, cameras=2), now)
    add_images(per_camera, seed=3)
    reads = [r for rs in per_camera.values() for r in rs]
    seen = set()
    for read in reads:
        parsed = parse_read(read, camera_id=read["camera_id"], now=now)
        assert [u.ref.kind for u in parsed.uploads] == ["plate", "overview"]
        for upload, target in zip(parsed.uploads, (PLATE_CROP_BYTES, OVERVIEW_BYTES), strict=True):
            assert Image.open(io.BytesIO(upload.data)).format == "JPEG"
            assert abs(len(upload.data) - target) < target * 0.15
            seen.add(upload.ref.sha256)
    assert len(seen) == 2 * len(reads)  # one file each in the content-addressed store
    assert all(base64.b64decode(i["data"])[:2] == b"\xff\xd8" for i in reads[0]["images"])


def test_bench_one_event_with_images_stores_every_read():
    config = IngestBenchConfig(reads=150, batch=1, concurrency=8, cameras=20, rounds=1, images=True)
    result = run_ingest_bench(config)
    assert result["all_stored_once"] is True
    (only,) = result["rounds"]
    assert only["end_to_end"]["requests"] >= config.reads  # one event per request
    assert result["images_bytes"]["overview"] > result["images_bytes"]["plate"] > 2000
