"""`veille bench ingest`: end-to-end HTTP ingest rate vs. the raw SQLite insert rate.

Both sides are counted by the rows that end up in the store, start from equally prefilled
copies of one store, take turns round after round, and the raw side commits as many rows
a transaction as the writer was measured to commit in the end-to-end run before it.
"""

from __future__ import annotations

import asyncio
import base64
import os
import platform as pyplatform
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from veille.adapters.decoders.native_json import parse_read
from veille.adapters.sqlite.database import connect, migrate
from veille.adapters.sqlite.repositories import (
    INSERT_IMAGE,
    INSERT_LOCATED_IMAGE,
    INSERT_READ,
    image_rows,
    insert_read_rows,
    read_row,
)
from veille.domain.audit import system_actor
from veille.entrypoints.server_process import free_port, start_server, stop_server

LETTERS = "ABCDEFGHJKLMNPRSTVWXYZ"


@dataclass(frozen=True)
class IngestBenchConfig:
    reads: int = 200_000
    batch: int = 1000
    concurrency: int = 16
    cameras: int = 50
    duplicate_share: float = 0.01
    synchronous: str = "FULL"
    seed: int = 7
    rounds: int = 2  # end to end, then raw, this many times
    images: bool = False  # each read with a ~3 KB plate crop and a ~25 KB overview inline
    prefill: int = 0  # reads in the store before each timed run (both sides alike)


def machine_description() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    import sqlite3

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": mem_gib,
        "python": sys.version.split()[0],
        "sqlite": sqlite3.sqlite_version,
        "os": f"{pyplatform.system()} {pyplatform.release()}",
    }


def _plate(rng: random.Random) -> str:
    return f"{rng.randint(1, 9)}-{''.join(rng.choices(LETTERS, k=3))}-{rng.randint(0, 999):03d}"


def make_workload(
    config: IngestBenchConfig, now: datetime
) -> tuple[list[str], dict[str, list[dict[str, Any]]]]:
    """Camera ids and, per camera, its reads; ~3 passages per plate, realistic fields."""
    rng = random.Random(config.seed)
    camera_ids = [f"BENCH-{i:05d}" for i in range(config.cameras)]
    plates = [_plate(rng) for _ in range(max(1, config.reads // 3))]
    per_camera: dict[str, list[dict[str, Any]]] = {c: [] for c in camera_ids}
    start = now - timedelta(hours=1)
    for i in range(config.reads):
        camera = camera_ids[i % len(camera_ids)]
        per_camera[camera].append(
            {
                "read_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "camera_id": camera,
                "captured_at": (start + timedelta(seconds=3600 * i / config.reads))
                .isoformat()
                .replace("+00:00", "Z"),
                "plate": rng.choice(plates),
                "country": "BE",
                "confidence": round(rng.uniform(0.6, 0.99), 3),
                "direction": rng.choice(("approaching", "receding")),
                "lane": rng.randint(1, 3),
                "vehicle": {
                    "make": rng.choice(("VW", "Renault", "BMW", "Toyota")),
                    "colour": rng.choice(("grey", "black", "white", "blue")),
                    "type": "car",
                },
            }
        )
    return camera_ids, per_camera


def _bodies(
    config: IngestBenchConfig, per_camera: dict[str, list[dict[str, Any]]], rng: random.Random
) -> list[tuple[str, bytes, int]]:
    """(camera id, JSON body, reads in it) for every request, duplicates mixed in."""
    out = []
    for camera, reads in per_camera.items():
        for start in range(0, len(reads), config.batch):
            chunk = reads[start : start + config.batch]
            dups = [r for r in chunk if rng.random() < config.duplicate_share]
            # a re-sent read travels in a later batch, as a camera resending would do it
            out.append((camera, orjson.dumps({"reads": chunk}), len(chunk)))
            if dups:
                out.append((camera, orjson.dumps({"reads": dups}), len(dups)))
    rng.shuffle(out)
    return out


async def _post(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str, token: str, body: bytes
) -> tuple[int, bytes, float | None]:
    """One keep-alive HTTP/1.1 POST on an open connection; (status, body, Retry-After)."""
    head = (
        f"POST /api/v1/reads HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    writer.write(head + body)
    await writer.drain()
    status_line = await reader.readline()
    status = int(status_line.split()[1])
    length, chunked, retry_after = 0, False, None
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        if name.lower() == "content-length":
            length = int(value)
        elif name.lower() == "transfer-encoding" and "chunked" in value.lower():
            chunked = True
        elif name.lower() == "retry-after" and value.strip().isdigit():
            retry_after = float(value.strip())
    if not chunked:
        return status, await reader.readexactly(length), retry_after
    parts = []
    while (size := int((await reader.readline()).strip(), 16)) > 0:
        parts.append(await reader.readexactly(size))
        await reader.readline()
    await reader.readline()
    return status, b"".join(parts), retry_after


async def _send_all(
    base: str, bodies: list[tuple[str, bytes, int]], tokens: dict[str, str], concurrency: int
) -> tuple[float, list[float], dict[str, int]]:
    """Post every body over `concurrency` keep-alive connections.

    A bare asyncio HTTP/1.1 client, so that on a 2-core machine the load generator takes
    as little CPU from the server as possible (the server is what is measured).
    """
    host, _, port = base.removeprefix("http://").partition(":")
    queue: asyncio.Queue[tuple[str, bytes, int]] = asyncio.Queue()
    for item in bodies:
        queue.put_nowait(item)
    latencies: list[float] = []
    counts = {"stored": 0, "duplicate": 0, "rejected": 0, "busy_resent": 0}

    async def worker() -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while not queue.empty():
                camera, body, _n = queue.get_nowait()
                t0 = time.perf_counter()
                status, content, retry_after = await _post(
                    reader, writer, base, tokens[camera], body
                )
                while status == 503 and retry_after is not None:  # saturated: as a camera,
                    counts["busy_resent"] += 1  # wait and send the same reads again
                    await asyncio.sleep(retry_after)
                    status, content, retry_after = await _post(
                        reader, writer, base, tokens[camera], body
                    )
                latencies.append(time.perf_counter() - t0)
                if status != 200:
                    raise RuntimeError(f"ingest answered {status}: {content[:200]!r}")
                doc = orjson.loads(content)
                for key in ("stored", "duplicate", "rejected"):
                    counts[key] += doc[key]
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    return elapsed, latencies, counts


RAW_METHODS = ("executemany", "multi-row")
PREFILL_COMMIT_ROWS = 20_000


@dataclass(frozen=True)
class RawRows:
    """The table rows of the workload, as the ingest path stores them."""

    reads: list[tuple[Any, ...]]
    images: list[list[tuple[Any, ...]]]  # per read, its read_images rows (same order)


def raw_rows(per_camera: dict[str, list[dict[str, Any]]], now: datetime) -> RawRows:
    """The reads (and read_images) rows of the workload's reads, as ingest encodes them."""
    parsed = [
        parse_read(r, camera_id=r["camera_id"], now=now).read
        for reads in per_camera.values()
        for r in reads
    ]
    # as the writer stores inline images: located in a segment of the image log (the
    # raw side writes no image bytes), so they stay out of the single-file index
    return RawRows(
        [read_row(r) for r in parsed],
        [[(*row, 1, 0) for row in image_rows(r)] for r in parsed],
    )


def reads_in_store(path: Path) -> int:
    """Rows in the store's reads table: what was stored, not what was answered."""
    conn = connect(path)
    try:
        return int(conn.execute("SELECT count(*) FROM reads").fetchone()[0])
    finally:
        conn.close()


@dataclass(frozen=True)
class RawRun:
    method: str
    commit_rows: int  # rows per transaction, the writer's measured commit size
    commits: int
    store_rows_before: int
    stored_rows: int  # counted in the store afterwards
    seconds: float

    @property
    def rows_per_s(self) -> float:
        return self.stored_rows / self.seconds


def raw_insert(
    rows: RawRows, db: Path, *, commit_rows: int, method: str, synchronous: str
) -> RawRun:
    """Insert the workload's rows into the store file `db`, `commit_rows` a transaction.

    One thread and nothing else, through the same schema and pragmas: `executemany` of
    the one-row INSERT, or `multi-row`, the statements the ingest writer itself uses;
    the reads' image rows go in the same transaction, as the writer does it.
    """
    conn = connect(db, synchronous=synchronous)
    migrate(conn)
    before = int(conn.execute("SELECT count(*) FROM reads").fetchone()[0])
    commits = 0
    started = time.perf_counter()
    for start in range(0, len(rows.reads), commit_rows):
        chunk = rows.reads[start : start + commit_rows]
        conn.execute("BEGIN IMMEDIATE")
        if method == "executemany":
            conn.executemany(INSERT_READ, chunk)
        else:
            insert_read_rows(conn, chunk, ignore_existing=True)
        images = [row for per in rows.images[start : start + commit_rows] for row in per]
        if images:
            conn.executemany(INSERT_LOCATED_IMAGE, images)
        conn.execute("COMMIT")
        commits += 1
    elapsed = time.perf_counter() - started
    after = int(conn.execute("SELECT count(*) FROM reads").fetchone()[0])
    conn.close()
    return RawRun(method, commit_rows, commits, before, after - before, elapsed)


# --- images: real JPEG bytes, one distinct image per read and kind -----------------------

PLATE_CROP_BYTES = 3 * 1024
OVERVIEW_BYTES = 25 * 1024


def _jpeg_near(rng: random.Random, size: tuple[int, int], target: int) -> bytes:
    """A noisy gradient encoded as JPEG at the quality whose size is nearest `target`."""
    import io

    from PIL import Image

    w, h = size
    base = rng.randint(60, 180)
    noise = rng.randbytes(w * h * 3)
    pixels = bytes(
        min(255, base + (i // 3 % w) * 50 // w + (noise[i] % 50)) for i in range(w * h * 3)
    )
    image = Image.frombytes("RGB", size, pixels)
    best = b""
    for quality in range(20, 96, 3):
        out = io.BytesIO()
        image.save(out, "JPEG", quality=quality)
        data = out.getvalue()
        if not best or abs(len(data) - target) < abs(len(best) - target):
            best = data
    return best


def _unique(jpeg: bytes, tag: bytes) -> bytes:
    """The same picture with a JPEG comment segment (COM) naming the read: a distinct file
    for the content-addressed image store, still a valid JPEG."""
    return jpeg[:2] + b"\xff\xfe" + (len(tag) + 2).to_bytes(2, "big") + tag + jpeg[2:]


def image_pool(seed: int, variants: int = 3) -> tuple[list[bytes], list[bytes]]:
    """A few plate crops (~3 KB) and overviews (~25 KB) that reads' images derive from."""
    rng = random.Random(seed)
    plates = [_jpeg_near(rng, (200, 50), PLATE_CROP_BYTES) for _ in range(variants)]
    overviews = [_jpeg_near(rng, (640, 360), OVERVIEW_BYTES) for _ in range(variants)]
    return plates, overviews


def add_images(per_camera: dict[str, list[dict[str, Any]]], seed: int) -> None:
    """Give every read its plate crop and overview, inline base64, as a camera sends them."""
    plates, overviews = image_pool(seed)
    i = 0
    for reads in per_camera.values():
        for read in reads:
            tag = read["read_id"].encode()
            read["images"] = [
                {
                    "kind": kind,
                    "content_type": "image/jpeg",
                    "data": base64.b64encode(_unique(pool[i % len(pool)], tag)).decode(),
                }
                for kind, pool in (("plate", plates), ("overview", overviews))
            ]
            i += 1


# --- the store: cameras, a monitoring account, and the prefill --------------------------


def _prefill(db: Path, config: IngestBenchConfig, camera_ids: list[str], now: datetime) -> None:
    """Insert `config.prefill` older reads (random read ids, realistic plates, the image
    rows of two images each with --images), so inserts meet full plate-keyed indexes."""
    rng = random.Random(config.seed + 2)
    conn = connect(db, synchronous="OFF")
    oldest = now - timedelta(days=30)
    done = 0
    while done < config.prefill:
        n = min(PREFILL_COMMIT_ROWS, config.prefill - done)
        reads, images = [], []
        for _ in range(n):
            read_id = uuid.UUID(int=rng.getrandbits(128), version=4)
            camera = rng.choice(camera_ids)
            payload = {
                "read_id": str(read_id),
                "camera_id": camera,
                "captured_at": (oldest + timedelta(seconds=rng.uniform(0, 29 * 86400)))
                .isoformat()
                .replace("+00:00", "Z"),
                "plate": _plate(rng),
                "country": "BE",
                "confidence": round(rng.uniform(0.6, 0.99), 3),
                "direction": rng.choice(("approaching", "receding")),
                "lane": rng.randint(1, 3),
            }
            read = parse_read(payload, camera_id=camera, now=now).read
            reads.append(read_row(read))
            if config.images:
                images += [
                    (
                        read_id.bytes,
                        pos,
                        kind,
                        "image/jpeg",
                        f"{rng.getrandbits(256):064x}",
                        size,
                        None,
                    )
                    for pos, (kind, size) in enumerate(
                        (("plate", PLATE_CROP_BYTES), ("overview", OVERVIEW_BYTES))
                    )
                ]
        conn.execute("BEGIN IMMEDIATE")
        insert_read_rows(conn, reads, ignore_existing=True)
        if images:
            conn.executemany(INSERT_IMAGE, images)
        conn.execute("COMMIT")
        done += n
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


@dataclass(frozen=True)
class Template:
    """A ready store folder that each run starts from a copy of."""

    folder: Path
    camera_tokens: dict[str, str]
    monitor_token: str  # a supervisor's, for the writer's counters (/api/v1/ingest/stats)


def make_template(
    config: IngestBenchConfig, folder: Path, camera_ids: list[str], now: datetime
) -> Template:
    from veille.bootstrap import bootstrap
    from veille.domain.access import Role
    from veille.domain.users import FEDERAL
    from veille.service import cameras as camera_service
    from veille.service import users as user_service
    from veille.settings import Settings

    platform = bootstrap(Settings(data_dir=folder, sqlite_synchronous=config.synchronous))
    platform.store.initialise()
    actor = system_actor("bench")
    records = [
        (
            "bench",
            {
                "camera_id": c,
                "lat": 50.85,
                "lon": 4.35,
                "zone": "Bench",
                "province": "Bruxelles-Capitale",
                "phase": "live",
            },
        )
        for c in camera_ids
    ]
    tokens = camera_service.import_cameras(
        uow=platform.uow(), records=records, now=now, issue_tokens="all", actor=actor
    ).tokens
    user_service.ensure_organisation(uow=platform.uow(), org=FEDERAL)
    monitor = user_service.create_user(
        uow=platform.uow(),
        username="bench-monitor",
        password="bench monitor password 1",
        role=Role.SUPERVISOR,
        org_id="federal",
        now=now,
        designated=True,
        training_expires=now + timedelta(days=1),
        actor=actor,
    )
    monitor_token, _ = user_service.issue_token(
        uow=platform.uow(), user_id=monitor.user_id, now=now
    )
    platform.store.close()
    if config.prefill:
        _prefill(folder / "veille.db", config, camera_ids, now)
    return Template(folder, tokens, monitor_token)


# --- one end-to-end run, one raw run, and the rounds that interleave them ---------------


@dataclass(frozen=True)
class EndToEndRun:
    reads_sent: int  # duplicates included
    requests: int
    seconds: float
    store_rows_before: int
    stored_rows: int  # counted in the store afterwards
    answered: dict[str, int]  # stored / duplicate / rejected / busy_resent, from the answers
    latencies: list[float]
    writer_commits: int
    writer_stored: int
    commit_reads_le: dict[str, int]  # the writer's commits of this run, by size

    @property
    def reads_per_s(self) -> float:
        return self.stored_rows / self.seconds

    @property
    def reads_per_commit(self) -> float:
        return self.writer_stored / max(1, self.writer_commits)


def _writer_stats(base: str, token: str) -> dict[str, Any]:
    import httpx

    resp = httpx.get(
        f"{base}/api/v1/ingest/stats", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    resp.raise_for_status()
    stats: dict[str, Any] = resp.json()
    return stats


def end_to_end_run(
    config: IngestBenchConfig,
    template: Template,
    folder: Path,
    bodies: list[tuple[str, bytes, int]],
) -> EndToEndRun:
    shutil.copytree(template.folder, folder)
    before = reads_in_store(folder / "veille.db")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start_server(folder, port, {"VEILLE_SQLITE_SYNCHRONOUS": config.synchronous})
    try:
        first = _writer_stats(base, template.monitor_token)
        elapsed, latencies, counts = asyncio.run(
            _send_all(base, bodies, template.camera_tokens, config.concurrency)
        )
        last = _writer_stats(base, template.monitor_token)
    finally:
        stop_server(server)
    sizes = {
        k: n - first["commit_reads_le"].get(k, 0)
        for k, n in last["commit_reads_le"].items()
        if n - first["commit_reads_le"].get(k, 0)
    }
    return EndToEndRun(
        reads_sent=sum(n for _, _, n in bodies),
        requests=len(bodies),
        seconds=elapsed,
        store_rows_before=before,
        stored_rows=reads_in_store(folder / "veille.db") - before,
        answered=counts,
        latencies=latencies,
        writer_commits=last["commits"] - first["commits"],
        writer_stored=last["stored"] - first["stored"],
        commit_reads_le=sizes,
    )


@dataclass(frozen=True)
class Round:
    number: int
    end_to_end: EndToEndRun
    raw: dict[str, RawRun]  # by method

    @property
    def raw_rate(self) -> float:
        # the faster way to insert is the yardstick: the ratio is never flattered by it
        return max(r.rows_per_s for r in self.raw.values())

    @property
    def ratio(self) -> float:
        return self.end_to_end.reads_per_s / self.raw_rate


def run_rounds(
    rounds: int,
    end_to_end: Callable[[int], EndToEndRun],
    raw: Callable[[int, int], dict[str, RawRun]],
    on_event: Callable[[str], None] = lambda _: None,
) -> list[Round]:
    """End to end, then raw at the commit size that run measured, round after round: the
    two sides take turns, so the machine's load weighs on both alike."""
    out = []
    for number in range(1, rounds + 1):
        on_event(f"end_to_end {number}")
        e2e = end_to_end(number)
        commit_rows = max(1, round(e2e.reads_per_commit))
        on_event(f"raw {number}")
        out.append(Round(number, e2e, raw(number, commit_rows)))
    return out


def run_ingest_bench(config: IngestBenchConfig) -> dict[str, Any]:
    now = datetime.now(UTC)
    work = Path(tempfile.mkdtemp(prefix="veille-bench-"))
    order: list[str] = []
    load_before = _load_average()
    try:
        camera_ids, per_camera = make_workload(config, now)
        if config.images:
            add_images(per_camera, config.seed + 3)
        template = make_template(config, work / "template", camera_ids, now)
        bodies = _bodies(config, per_camera, random.Random(config.seed + 1))
        rows = raw_rows(per_camera, now)

        def e2e(number: int) -> EndToEndRun:
            folder = work / f"e2e-{number}"
            try:
                return end_to_end_run(config, template, folder, bodies)
            finally:
                shutil.rmtree(folder, ignore_errors=True)

        def raw(number: int, commit_rows: int) -> dict[str, RawRun]:
            runs = {}
            for method in RAW_METHODS:
                db = work / f"raw-{number}-{method}.db"
                shutil.copyfile(template.folder / "veille.db", db)
                try:
                    runs[method] = raw_insert(
                        rows,
                        db,
                        commit_rows=commit_rows,
                        method=method,
                        synchronous=config.synchronous,
                    )
                finally:
                    for suffix in ("", "-wal", "-shm"):
                        Path(f"{db}{suffix}").unlink(missing_ok=True)
            return runs

        done = run_rounds(config.rounds, e2e, raw, order.append)
        result = report(config, done, order, images=_image_sizes(per_camera))
        result["machine"]["load_average_before"] = load_before
        return result
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _image_sizes(per_camera: dict[str, list[dict[str, Any]]]) -> dict[str, int] | None:
    first = next((r for reads in per_camera.values() for r in reads if "images" in r), None)
    if first is None:
        return None
    return {i["kind"]: len(base64.b64decode(i["data"])) for i in first["images"]}


def _ms(values: list[float], share: float) -> float:
    return round(values[max(0, int(len(values) * share) - 1)] * 1000, 1)


def report(
    config: IngestBenchConfig,
    rounds: list[Round],
    order: list[str],
    *,
    images: dict[str, int] | None = None,
) -> dict[str, Any]:
    def e2e_dict(e: EndToEndRun) -> dict[str, Any]:
        lat = sorted(e.latencies)
        return {
            "reads_sent": e.reads_sent,
            "requests": e.requests,
            "seconds": round(e.seconds, 3),
            "reads_per_s": round(e.reads_per_s),
            "store_rows_before": e.store_rows_before,
            "reads_stored": e.stored_rows,
            **{f"answered_{k}": v for k, v in e.answered.items()},
            "writer_commits": e.writer_commits,
            "writer_reads_per_commit": round(e.reads_per_commit, 1),
            "writer_commit_reads_le": e.commit_reads_le,
            "request_p50_ms": round(statistics.median(lat) * 1000, 1),
            "request_p99_ms": _ms(lat, 0.99),
        }

    def raw_dict(r: RawRun) -> dict[str, Any]:
        return {
            "commit_rows": r.commit_rows,
            "commits": r.commits,
            "store_rows_before": r.store_rows_before,
            "rows_stored": r.stored_rows,
            "seconds": round(r.seconds, 3),
            "rows_per_s": round(r.rows_per_s),
        }

    per_round = [
        {
            "round": r.number,
            "end_to_end": e2e_dict(r.end_to_end),
            "raw_sqlite": {m: raw_dict(run) for m, run in r.raw.items()},
            "raw_rows_per_s": round(r.raw_rate),
            "ratio": round(r.ratio, 3),
        }
        for r in rounds
    ]
    all_latencies = sorted(x for r in rounds for x in r.end_to_end.latencies)
    stored_once = all(
        r.end_to_end.stored_rows == config.reads and r.end_to_end.answered["stored"] == config.reads
        for r in rounds
    )
    return {
        "benchmark": "ingest",
        "config": asdict(config),
        "machine": {**machine_description(), "load_average": _load_average()},
        "order": order,
        "images_bytes": images,
        "rounds": per_round,
        "end_to_end": {
            "reads_per_s_median": round(
                statistics.median(r.end_to_end.reads_per_s for r in rounds)
            ),
            "writer_reads_per_commit_median": round(
                statistics.median(r.end_to_end.reads_per_commit for r in rounds), 1
            ),
            "request_p50_ms": round(statistics.median(all_latencies) * 1000, 1),
            "request_p99_ms": _ms(all_latencies, 0.99),
        },
        "raw_sqlite": {"rows_per_s_median": round(statistics.median(r.raw_rate for r in rounds))},
        "ratio": round(statistics.median(r.ratio for r in rounds), 3),
        "all_stored_once": stored_once,
    }


def _load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def print_table(result: dict[str, Any]) -> None:
    m, cfg = result["machine"], result["config"]
    print(
        f"veille bench ingest — {m['cpu']}, {m['cores']} cores, Python {m['python']},"
        f" SQLite {m['sqlite']}, synchronous={cfg['synchronous']},"
        f" load average before {m.get('load_average_before')}, after {m['load_average']}"
    )
    shape = ", with a plate crop and an overview inline" if cfg["images"] else ", no images"
    print(
        f"{cfg['reads']} reads from {cfg['cameras']} cameras, {cfg['batch']} per request"
        f"{shape}, {cfg['concurrency']} connections, {cfg['duplicate_share']:.0%} re-sent,"
        f" into a store of {cfg['prefill']:,} reads; {cfg['rounds']} rounds, end to end then"
        " raw at the writer's measured commit size"
    )
    print()
    head = (
        "round",
        "e2e reads/s",
        "reads/commit",
        "raw execmany/s",
        "raw multi-row/s",
        "ratio",
        "req p99 ms",
        "stored",
    )
    widths = [max(len(h), 8) for h in head]
    print("| " + " | ".join(h.rjust(w) for h, w in zip(head, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in result["rounds"]:
        e, raw = r["end_to_end"], r["raw_sqlite"]
        cells = (
            str(r["round"]),
            f"{e['reads_per_s']:,}",
            f"{e['writer_reads_per_commit']:,}",
            f"{raw['executemany']['rows_per_s']:,}",
            f"{raw['multi-row']['rows_per_s']:,}",
            f"{r['ratio']:.2f}",
            f"{e['request_p99_ms']}",
            f"{e['reads_stored']:,}",
        )
        print("| " + " | ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True)) + " |")
    print()
    e2e = result["end_to_end"]
    print(f"median ratio end-to-end / faster raw: {result['ratio']:.2f}")
    print(
        f"median end-to-end {e2e['reads_per_s_median']:,} reads/s (reads in the store);"
        f" request p50/p99 {e2e['request_p50_ms']}/{e2e['request_p99_ms']} ms"
    )
    last = result["rounds"][-1]["end_to_end"]
    print(
        f"writer commits by reads (last round, power-of-two upper bounds):"
        f" {last['writer_commit_reads_le']}"
    )
    print(
        f"requests resent after 503 busy (last round): {last['answered_busy_resent']:,};"
        f" every read stored exactly once: {'yes' if result['all_stored_once'] else 'NO'}"
    )
