"""The load generator's pure parts: per-read JPEG variants, percentiles, the backlog verdict."""

from __future__ import annotations

import base64
import hashlib
import io
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PIL import Image

from veille.adapters.decoders.native_json import parse_read
from veille.bench.national.loadgen import backlog_grows, generator_limited, merge_snapshots
from veille.bench.national.loadgen_images import ImagePool
from veille.bench.national.loadgen_population import percentile
from veille.bench.national.loadgen_traffic import ReadFactory, load_hit_plates

pytestmark = pytest.mark.unit


def test_each_read_gets_its_own_real_jpegs_of_the_design_sizes() -> None:
    pool = ImagePool(size=3, seed=1)
    seen: set[str] = set()
    for serial in range(12):
        (plate, plate_b64), (overview, overview_b64) = pool.images_for(serial)
        assert base64.b64decode(plate_b64) == plate  # the spliced base64 is the file's
        assert base64.b64decode(overview_b64) == overview
        for data, (low, high) in ((plate, (2_700, 3_300)), (overview, (23_000, 28_000))):
            assert low <= len(data) <= high
            image = Image.open(io.BytesIO(data))
            image.load()
            assert image.format == "JPEG"
            seen.add(hashlib.sha256(data).hexdigest())
    assert len(seen) == 24  # 3 templates of each kind, 12 reads: all distinct all the same


def test_the_reads_are_valid_native_reads_and_hits_come_from_the_file(tmp_path: Path) -> None:
    hits = tmp_path / "hits.txt"
    hits.write_text("# hotlist\n1-HIT-001 BE\n\nAB-123-CD fr\n")
    plates = load_hit_plates(str(hits))
    assert plates == [("1-HIT-001", "BE"), ("AB-123-CD", "FR")]
    factory = ReadFactory(seed=3, hit_plates=plates, hit_share=0.2, pool_size=200)
    now = datetime.now(UTC)
    reads = [factory.read(camera_id="CAM-1", captured_at=now) for _ in range(2_000)]
    for read in reads:
        parse_read(read, camera_id="CAM-1", now=now)  # raises if the decoder refuses it
    hit_reads = sum(r["plate"] in {"1-HIT-001", "AB-123-CD"} for r in reads)
    assert 0.15 * len(reads) <= hit_reads <= 0.25 * len(reads)
    assert len({r["read_id"] for r in reads}) == len(reads)


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 99.9) == 100.0
    assert percentile([], 99) is None


def test_a_backlog_that_climbs_grows_and_a_noisy_flat_one_does_not() -> None:
    flat = [80, 95, 70, 85, 90, 75, 88, 82, 79]
    climbing = [80, 300, 600, 900, 1_200, 1_500, 1_800, 2_100, 2_400]
    assert not backlog_grows(flat, rate=1_600)
    assert backlog_grows(climbing, rate=1_600)
    assert not backlog_grows([5, 900], rate=1_600)  # too short to tell


def test_progress_of_worker_processes_adds_up() -> None:
    merged = merge_snapshots(
        [
            {"offered": 10, "acknowledged": 8, "in_flight": 1, "backlog": 2, "held": 0,
             "send_lag_ms": 1.5},
            {"offered": 12, "acknowledged": 12, "in_flight": 0, "backlog": 0, "held": 0,
             "send_lag_ms": 4.0},
        ]
    )  # fmt: skip
    assert merged == {
        "offered": 22, "acknowledged": 20, "in_flight": 1, "backlog": 2, "held": 0,
        "send_lag_ms": 4.0,
    }  # fmt: skip


def test_the_generator_is_the_limit_only_when_its_lag_matters_against_the_server() -> None:
    assert generator_limited(985.0, 2_282.0)
    assert not generator_limited(228.0, 18_205.0)  # the server, starving it, is the limit
    assert not generator_limited(5.8, 13.0)
    assert generator_limited(80.0, None)
