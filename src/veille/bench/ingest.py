"""`veille bench ingest`: end-to-end HTTP ingest rate vs. the raw SQLite insert rate."""

from __future__ import annotations

import asyncio
import os
import platform as pyplatform
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from veille.adapters.decoders.native_json import parse_read
from veille.adapters.sqlite.database import connect, migrate
from veille.adapters.sqlite.repositories import INSERT_READ, insert_read_rows, read_row
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


def raw_rows(per_camera: dict[str, list[dict[str, Any]]], now: datetime) -> list[tuple[Any, ...]]:
    """The table rows of the workload's reads, as the ingest path would store them."""
    return [
        read_row(parse_read(r, camera_id=r["camera_id"], now=now).read)
        for reads in per_camera.values()
        for r in reads
    ]


def raw_insert_rate(
    rows: list[tuple[Any, ...]], config: IngestBenchConfig, folder: Path, method: str
) -> float:
    """Rows/s inserting the same rows through the same schema, batch by batch, same pragmas.

    One thread, one transaction per batch, nothing else: `executemany` of the one-row
    INSERT, or `multi-row`, the statements the ingest writer itself uses.
    """
    conn = connect(folder / f"raw-{method}.db", synchronous=config.synchronous)
    migrate(conn)
    started = time.perf_counter()
    for start in range(0, len(rows), config.batch):
        conn.execute("BEGIN IMMEDIATE")
        if method == "executemany":
            conn.executemany(INSERT_READ, rows[start : start + config.batch])
        else:
            insert_read_rows(conn, rows[start : start + config.batch], ignore_existing=True)
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return len(rows) / elapsed


def run_ingest_bench(config: IngestBenchConfig) -> dict[str, Any]:
    from veille.bootstrap import bootstrap
    from veille.service import cameras as camera_service
    from veille.settings import Settings

    now = datetime.now(UTC)
    work = Path(tempfile.mkdtemp(prefix="veille-bench-"))
    try:
        camera_ids, per_camera = make_workload(config, now)
        platform = bootstrap(Settings(data_dir=work / "e2e", sqlite_synchronous=config.synchronous))
        platform.store.initialise()
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
            uow=platform.uow(),
            records=records,
            now=now,
            issue_tokens="all",
            actor=system_actor("bench"),
        ).tokens
        platform.store.close()
        bodies = _bodies(config, per_camera, random.Random(config.seed + 1))
        sent = sum(n for _, _, n in bodies)

        port = free_port()
        server = start_server(work / "e2e", port, {"VEILLE_SQLITE_SYNCHRONOUS": config.synchronous})
        try:
            elapsed, latencies, counts = asyncio.run(
                _send_all(f"http://127.0.0.1:{port}", bodies, tokens, config.concurrency)
            )
        finally:
            stop_server(server)
        check = connect(work / "e2e" / "veille.db")
        in_store = check.execute("SELECT count(*) FROM reads").fetchone()[0]
        check.close()

        # the faster way to insert is the yardstick: the ratio is never flattered by it
        rows = raw_rows(per_camera, now)
        raw = {m: raw_insert_rate(rows, config, work, m) for m in RAW_METHODS}
        raw_rate = max(raw.values())
        e2e_rate = sent / elapsed
        latencies.sort()
        return {
            "benchmark": "ingest",
            "config": asdict(config),
            "machine": machine_description(),
            "end_to_end": {
                "reads_sent": sent,
                "requests": len(bodies),
                "seconds": round(elapsed, 3),
                "reads_per_s": round(e2e_rate),
                "stored": counts["stored"],
                "duplicate": counts["duplicate"],
                "rejected": counts["rejected"],
                "busy_resent": counts["busy_resent"],
                "reads_in_store": in_store,
                "request_p50_ms": round(statistics.median(latencies) * 1000, 1),
                "request_p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 1),
            },
            "raw_sqlite": {
                "rows": len(rows),
                "rows_per_s": round(raw_rate),
                **{f"{m}_rows_per_s": round(rate) for m, rate in raw.items()},
            },
            "ratio": round(e2e_rate / raw_rate, 3),
            "all_stored_once": in_store == config.reads and counts["stored"] == config.reads,
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


def print_table(result: dict[str, Any]) -> None:
    e2e, raw, m = result["end_to_end"], result["raw_sqlite"], result["machine"]
    cfg = result["config"]
    print(
        f"veille bench ingest — {m['cpu']}, {m['cores']} cores, Python {m['python']},"
        f" SQLite {m['sqlite']}, synchronous={cfg['synchronous']}"
    )
    print(
        f"{cfg['reads']} reads from {cfg['cameras']} cameras, {cfg['batch']} per request,"
        f" {cfg['concurrency']} connections, {cfg['duplicate_share']:.0%} re-sent"
    )
    print()
    print(f"| {'measure':<34} | {'value':>12} |")
    print(f"|{'-' * 36}|{'-' * 14}|")
    rows = [
        ("end-to-end reads/s (HTTP, durable)", f"{e2e['reads_per_s']:,}"),
        ("raw SQLite, executemany, rows/s", f"{raw['executemany_rows_per_s']:,}"),
        ("raw SQLite, multi-row, rows/s", f"{raw['multi-row_rows_per_s']:,}"),
        ("ratio end-to-end / faster raw", f"{result['ratio']:.2f}"),
        ("request latency p50 (ms)", f"{e2e['request_p50_ms']}"),
        ("request latency p99 (ms)", f"{e2e['request_p99_ms']}"),
        ("stored / duplicate / rejected", f"{e2e['stored']}/{e2e['duplicate']}/{e2e['rejected']}"),
        ("requests resent after 503 busy", f"{e2e['busy_resent']:,}"),
        ("reads in store", f"{e2e['reads_in_store']:,}"),
        ("every read stored exactly once", "yes" if result["all_stored_once"] else "NO"),
    ]
    for name, value in rows:
        print(f"| {name:<34} | {value:>12} |")
