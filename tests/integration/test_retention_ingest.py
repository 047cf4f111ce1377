"""Ingest keeps going, and loses nothing, while the retention job deletes old reads."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta

import pytest

from tests.integration.test_retention import make_read
from veille.adapters.decoders.native_json import validate_batch
from veille.bootstrap import Platform
from veille.domain.retention import RetentionPolicy
from veille.service.ingest import STORED
from veille.service.retention import RetentionReport, run_retention

pytestmark = pytest.mark.integration

OLD_READS = 100_000
INGEST_BATCH = 250


def _prefill_old(platform: Platform) -> None:
    now = platform.clock()
    oldest = now - timedelta(days=420)
    step = timedelta(days=50) / OLD_READS
    for start in range(0, OLD_READS, 20_000):
        reads = [
            make_read(oldest + step * i, f"1OLD{i % 1000:03d}", f"CAM-{i % 7}")
            for i in range(start, start + 20_000)
        ]
        with platform.uow() as uow:
            uow.reads.add_many(reads)
            uow.commit()


def _payloads(camera_id: str, platform: Platform, n: int) -> list[dict]:
    captured = (platform.clock() - timedelta(seconds=10)).isoformat()
    return [
        {
            "read_id": str(uuid.uuid4()),
            "camera_id": camera_id,
            "captured_at": captured,
            "plate": f"1-NEW-{i % 1000:03d}",
            "confidence": 0.9,
        }
        for i in range(n)
    ]


def test_ingest_continues_while_retention_runs(platform: Platform) -> None:
    _prefill_old(platform)
    platform.start()
    outcome: dict[str, RetentionReport | BaseException] = {}

    def job() -> None:
        try:
            outcome["report"] = run_retention(
                uow_factory=platform.uow,
                images=platform.images,
                now=platform.clock(),
                policy=RetentionPolicy(),
                batch_size=2000,
            )
        except BaseException as exc:  # surfaced by the assertion below
            outcome["error"] = exc

    submitted: list[str] = []
    batches_during_job = 0
    job_thread = threading.Thread(target=job, name="retention")
    job_thread.start()
    # keep submitting until the job is done (and at least a few batches in any case)
    while job_thread.is_alive() or len(submitted) < 5 * INGEST_BATCH:
        running = job_thread.is_alive()
        items = _payloads("CAM-LIVE", platform, INGEST_BATCH)
        batch = validate_batch(
            items,
            camera_id="CAM-LIVE",
            now=platform.clock(),
            rules=platform.read_rules,
            images=platform.images,
        )
        results = platform.writer.submit(batch).result(timeout=60).results()
        assert [r.status for r in results] == [STORED] * INGEST_BATCH
        submitted += [item["read_id"] for item in items]
        batches_during_job += running and job_thread.is_alive()
    job_thread.join()

    assert "error" not in outcome, outcome.get("error")
    report = outcome["report"]
    assert isinstance(report, RetentionReport)
    assert report.deleted_reads == OLD_READS
    assert batches_during_job > 0  # ingest really ran while the job was deleting
    with platform.read_uow() as uow:
        stored = {
            str(uuid.UUID(bytes=row[0]))
            for row in uow.conn.execute("SELECT read_id FROM reads").fetchall()
        }
    assert stored == set(submitted)
