"""The search benchmark's generated store is valid and its harness runs end to end."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from veille.adapters.sqlite.database import connect
from veille.adapters.sqlite.times import encode
from veille.bench.search import run_search_bench
from veille.bench.store_gen import GeneratedStore, StoreSpec, load_or_generate
from veille.domain.cameras import camera_from_record

pytestmark = pytest.mark.integration

READS = 20_000
SEED = 5


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> GeneratedStore:
    folder = tmp_path_factory.mktemp("stores")
    return load_or_generate(StoreSpec(reads=READS, seed=SEED), folder=folder)


def test_every_camera_is_a_valid_import_record(generated: GeneratedStore) -> None:
    conn = connect(generated.path, readonly=True)
    columns = ("camera_id", "name", "lat", "lon", "heading", "zone", "province", "vendor")
    rows = conn.execute(f"SELECT {', '.join(columns)}, protocol, phase FROM cameras").fetchall()
    assert len(rows) == generated.cameras == 10_000
    for row in rows:
        record = dict(zip((*columns, "protocol", "phase"), row, strict=True))
        camera_from_record(record, now=generated.now_dt)  # raises CameraInvalid if not


def test_reads_fall_in_the_thirty_days_and_repeat_realistically(
    generated: GeneratedStore,
) -> None:
    conn = connect(generated.path, readonly=True)
    count, lo, hi, bad_received = conn.execute(
        "SELECT count(*), min(captured_at), max(captured_at),"
        " sum(received_at < captured_at) FROM reads"
    ).fetchone()
    assert count == generated.reads
    assert abs(count - READS) < READS * 0.1
    assert lo >= encode(generated.now_dt - timedelta(days=30))
    assert hi < encode(generated.now_dt)
    assert bad_received == 0
    orphans = conn.execute(
        "SELECT count(*) FROM reads WHERE camera_id NOT IN (SELECT camera_id FROM cameras)"
    ).fetchone()[0]
    assert orphans == 0
    assert 0.2 <= generated.stats["top_5pct_share_of_reads"] <= 0.4
    assert generated.stats["plates_seen_once_or_twice"] >= 0.3


def test_planted_patterns_are_in_the_store(generated: GeneratedStore) -> None:
    conn = connect(generated.path, readonly=True)
    convoy = generated.patterns["convoy"]

    def passages(plate: str) -> int:
        return conn.execute("SELECT count(*) FROM reads WHERE plate = ?", (plate,)).fetchone()[0]

    assert passages(convoy["target"]) >= convoy["shared_passages"]
    assert passages(convoy["partner"]) >= convoy["shared_passages"]
    scenes = generated.patterns["scenes"]
    for n, scene in enumerate(scenes["scenes"]):
        seen = {
            row[0]
            for row in conn.execute(
                "SELECT plate FROM reads WHERE camera_id = ? AND captured_at >= ?"
                " AND captured_at < ?",
                (
                    scene["camera_id"],
                    encode(datetime.fromisoformat(scene["start"])),
                    encode(datetime.fromisoformat(scene["end"])),
                ),
            )
        }
        assert set(scenes["at_all_three"]) <= seen
        assert (set(scenes["at_two"]) <= seen) == (n < 2)
    clone = generated.patterns["clone"]
    cameras = conn.execute(
        "SELECT count(DISTINCT camera_id) FROM reads WHERE plate = ? AND captured_at >= ?"
        " AND captured_at < ?",
        (
            clone["plate"],
            encode(datetime.fromisoformat(clone["day_start"])),
            encode(datetime.fromisoformat(clone["day_end"])),
        ),
    ).fetchone()[0]
    assert cameras >= 4


def test_a_second_call_reuses_the_cached_store(generated: GeneratedStore) -> None:
    again = load_or_generate(StoreSpec(reads=READS, seed=SEED), folder=Path(generated.path).parent)
    assert again.now == generated.now and again.generation_s == generated.generation_s


def test_the_harness_times_every_analysis(generated: GeneratedStore) -> None:
    result = run_search_bench(
        sizes=(READS,), repeats=2, seed=SEED, folder=Path(generated.path).parent
    )
    (size,) = result["sizes"]
    names = [a["analysis"] for a in size["analyses"]]
    assert len(names) == 7 and any(n.startswith("cloned-plate") for n in names)
    for row in size["analyses"]:
        assert row["runs"] >= 2 and row["p50_ms"] <= row["p95_ms"] <= row["max_ms"]
    assert size["planted_found"] == {
        "convoy_partner_ranked_first": True,
        "scene_visitors_found": True,
        "clone_found": True,
    }
    assert result["growth"] == []
