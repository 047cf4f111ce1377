"""`veille bench retention`: ingest throughput without, then with, the retention job running."""

from __future__ import annotations

import hashlib
import random
import shutil
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from veille.adapters.decoders.native_json import validate_batch
from veille.adapters.sqlite.repositories import INSERT_IMAGE, INSERT_READ
from veille.adapters.sqlite.times import encode
from veille.bench.ingest import LETTERS, machine_description
from veille.bench.store_gen import sqlite_store
from veille.domain.plates import canonical
from veille.domain.retention import RetentionPolicy
from veille.service.jobs import RETENTION_BATCH_SIZE, RETENTION_PAUSE_S
from veille.service.retention import RetentionReport, run_retention


@dataclass(frozen=True)
class RetentionBenchConfig:
    old_reads: int = 300_000  # captured 12–14 months ago: all to delete
    recent_reads: int = 50_000  # captured in the last 12 months: all to keep
    old_image_share: float = 0.1  # share of old reads with two image files (plate, overview)
    batch: int = 1000  # reads per ingest submission
    submitters: int = 4  # concurrent submitting threads (requests in flight)
    baseline_reads: int = 100_000  # reads ingested to measure the rate without the job
    job_batch_size: int = RETENTION_BATCH_SIZE  # as the scheduled job runs
    pause_s: float = RETENTION_PAUSE_S
    synchronous: str = "FULL"
    seed: int = 11


# country, confidence, direction, lane, make, colour, type, details
_CONSTANT = ("BE", 0.9, "approaching", 1, None, None, None, None)


def _prefill(platform: Any, config: RetentionBenchConfig, now: datetime) -> dict[str, Any]:
    """Old and recent reads, inserted raw (the same rows the repository writes)."""
    rng = random.Random(config.seed)
    plates = [
        f"{rng.randint(1, 9)}{''.join(rng.choices(LETTERS, k=3))}{rng.randint(0, 999):03d}"
        for _ in range(5000)
    ]
    started = time.perf_counter()
    old_span = timedelta(days=60)
    oldest = now - timedelta(days=365) - old_span
    recent_span = timedelta(days=364)
    images_written = 0
    conn = sqlite_store(platform.store).connection()
    total = config.old_reads + config.recent_reads
    for chunk in range(0, total, 20_000):
        rows, image_rows = [], []
        for i in range(chunk, min(total, chunk + 20_000)):
            if i < config.old_reads:
                captured = oldest + old_span * (i / max(1, config.old_reads))
            else:
                j = i - config.old_reads
                captured = now - recent_span + recent_span * (j / max(1, config.recent_reads))
            rid = uuid.UUID(int=rng.getrandbits(128), version=4).bytes
            plate = rng.choice(plates)
            micros = encode(captured)
            camera = f"BENCH-{i % 450:05d}"
            rows.append((rid, camera, micros, micros, plate, plate, canonical(plate), *_CONSTANT))
            if i < config.old_reads and rng.random() < config.old_image_share:
                for position, kind in enumerate(("plate", "overview")):
                    data = f"{kind} image of read {i}".encode()
                    sha = hashlib.sha256(data).hexdigest()
                    platform.images.put(sha, data)
                    images_written += 1
                    image_rows.append((rid, position, kind, "image/jpeg", sha, len(data), None))
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(INSERT_READ, rows)
        conn.executemany(INSERT_IMAGE, image_rows)
        conn.execute("COMMIT")
    return {
        "old_reads": config.old_reads,
        "recent_reads": config.recent_reads,
        "old_image_files": images_written,
        "seconds": round(time.perf_counter() - started, 1),
    }


class _Ingest:
    """Submitting threads: validate a batch of fresh reads, hand it to the writer, wait."""

    def __init__(self, platform: Any, config: RetentionBenchConfig):
        self.platform = platform
        self.config = config
        self.lock = threading.Lock()
        self.done: list[tuple[float, int, float]] = []  # (finished at, reads stored, latency)
        self.sent = 0

    def _items(self, camera_id: str, rng: random.Random) -> list[dict[str, Any]]:
        captured = (self.platform.clock() - timedelta(seconds=30)).isoformat()
        return [
            {
                "read_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "camera_id": camera_id,
                "captured_at": captured,
                "plate": f"{rng.randint(1, 9)}-{''.join(rng.choices(LETTERS, k=3))}-"
                f"{rng.randint(0, 999):03d}",
                "country": "BE",
                "confidence": 0.9,
                "direction": "approaching",
                "lane": 1,
                "vehicle": {"make": "VW", "colour": "grey", "type": "car"},
            }
            for _ in range(self.config.batch)
        ]

    def _worker(self, index: int, should_stop: Callable[[], bool]) -> None:
        rng = random.Random(self.config.seed * 1000 + index + len(self.done))
        camera_id = f"INGEST-{index:03d}"
        while not should_stop():
            items = self._items(camera_id, rng)
            t0 = time.perf_counter()
            batch = validate_batch(
                items,
                camera_id=camera_id,
                now=self.platform.clock(),
                rules=self.platform.read_rules,
                images=self.platform.images,
                encode=self.platform.encode_read,
            )
            stored = self.platform.writer.submit(batch).result().stored
            t1 = time.perf_counter()
            with self.lock:
                self.done.append((t1, stored, t1 - t0))
                self.sent += len(items)

    def run(self, should_stop: Callable[[], bool]) -> None:
        threads = [
            threading.Thread(target=self._worker, args=(i, should_stop), daemon=True)
            for i in range(self.config.submitters)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    def stored(self) -> int:
        with self.lock:
            return sum(n for _, n, _ in self.done)

    def window(self, start: float, end: float) -> dict[str, Any]:
        """Reads acknowledged between `start` and `end`, and their batch latencies."""
        with self.lock:
            inside = [(n, lat) for t, n, lat in self.done if start <= t <= end]
        reads = sum(n for n, _ in inside)
        lats = sorted(lat for _, lat in inside) or [0.0]
        seconds = end - start
        return {
            "reads": reads,
            "seconds": round(seconds, 2),
            "reads_per_s": round(reads / seconds) if seconds > 0 else 0,
            "batch_p50_ms": round(statistics.median(lats) * 1000, 1),
            "batch_p99_ms": round(lats[max(0, int(len(lats) * 0.99) - 1)] * 1000, 1),
            "batch_max_ms": round(lats[-1] * 1000, 1),
        }


def run_retention_bench(config: RetentionBenchConfig | None = None) -> dict[str, Any]:
    from veille.bootstrap import bootstrap
    from veille.settings import Settings

    config = config or RetentionBenchConfig()
    work = Path(tempfile.mkdtemp(prefix="veille-bench-retention-"))
    platform = bootstrap(
        Settings(data_dir=work, sqlite_synchronous=config.synchronous, image_fsync=False)
    )
    try:
        platform.start()
        now = platform.clock()
        prefill = _prefill(platform, config, now)

        ingest = _Ingest(platform, config)
        base_start = time.perf_counter()
        ingest.run(lambda: ingest.stored() >= config.baseline_reads)
        before = ingest.window(base_start, time.perf_counter())

        outcome: dict[str, Any] = {}

        def job() -> None:
            try:
                outcome["report"] = run_retention(
                    uow_factory=platform.uow,
                    images=platform.images,
                    now=now,
                    policy=RetentionPolicy(),
                    batch_size=config.job_batch_size,
                    pause_s=config.pause_s,
                )
            finally:
                outcome["end"] = time.perf_counter()

        job_thread = threading.Thread(target=job, name="retention", daemon=True)
        job_start = time.perf_counter()
        job_thread.start()
        ingest.run(lambda: not job_thread.is_alive())
        job_thread.join()
        during = ingest.window(job_start, outcome["end"])
        report: RetentionReport = outcome["report"]

        cutoff = encode(RetentionPolicy().cutoff(now))
        old_left = (
            sqlite_store(platform.store)
            .connection()
            .execute("SELECT count(*) FROM reads WHERE captured_at < ?", (cutoff,))
            .fetchone()[0]
        )
        with platform.read_uow() as uow:
            total = uow.reads.count()
        expected_total = config.recent_reads + ingest.sent
        return {
            "benchmark": "retention",
            "config": asdict(config),
            "machine": machine_description(),
            "prefill": prefill,
            "ingest_before": before,
            "ingest_during": during,
            "ratio": round(during["reads_per_s"] / before["reads_per_s"], 3)
            if before["reads_per_s"]
            else None,
            "job": {
                "deleted_reads": report.deleted_reads,
                "deleted_image_files": report.deleted_images,
                "batches": report.batches,
                "seconds": round(report.seconds, 2),
                "reads_per_s": round(report.deleted_reads / report.seconds)
                if report.seconds
                else 0,
            },
            "old_reads_left": old_left,
            "reads_in_store": total,
            "every_ingested_read_stored": total == expected_total
            and ingest.stored() == ingest.sent,
        }
    finally:
        platform.stop()
        shutil.rmtree(work, ignore_errors=True)


def print_table(result: dict[str, Any]) -> None:
    m, cfg = result["machine"], result["config"]
    before, during, job = result["ingest_before"], result["ingest_during"], result["job"]
    print(
        f"veille bench retention — {m['cpu']}, {m['cores']} cores, Python {m['python']},"
        f" SQLite {m['sqlite']}, synchronous={cfg['synchronous']}"
    )
    print(
        f"{cfg['old_reads']:,} old + {cfg['recent_reads']:,} recent reads;"
        f" ingest: {cfg['submitters']} submitters × {cfg['batch']} reads;"
        f" job batches of {cfg['job_batch_size']}, pause {cfg['pause_s']} s"
    )
    print()
    print(f"| {'measure':<40} | {'value':>12} |")
    print(f"|{'-' * 42}|{'-' * 14}|")
    rows = [
        ("ingest reads/s without the job", f"{before['reads_per_s']:,}"),
        ("ingest reads/s while the job runs", f"{during['reads_per_s']:,}"),
        ("ratio during / without", f"{result['ratio']:.2f}"),
        (
            "batch latency p50 without / during (ms)",
            f"{before['batch_p50_ms']}/{during['batch_p50_ms']}",
        ),
        (
            "batch latency p99 without / during (ms)",
            f"{before['batch_p99_ms']}/{during['batch_p99_ms']}",
        ),
        (
            "batch latency max without / during (ms)",
            f"{before['batch_max_ms']}/{during['batch_max_ms']}",
        ),
        ("job: reads deleted", f"{job['deleted_reads']:,}"),
        ("job: image files deleted", f"{job['deleted_image_files']:,}"),
        ("job: seconds", f"{job['seconds']}"),
        ("job: reads deleted/s", f"{job['reads_per_s']:,}"),
        ("old reads left", f"{result['old_reads_left']:,}"),
        ("every ingested read stored", "yes" if result["every_ingested_read_stored"] else "NO"),
    ]
    for name, value in rows:
        print(f"| {name:<40} | {value:>12} |")
