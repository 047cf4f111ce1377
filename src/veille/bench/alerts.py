"""`veille bench alerts`: read-to-alert latency on the live channel under background ingest."""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import random
import shutil
import statistics
import tempfile
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson

from veille.bench.ingest import LETTERS, machine_description
from veille.domain.access import Role
from veille.domain.audit import system_actor
from veille.domain.hotlists import Category, Hotlist
from veille.domain.users import FEDERAL
from veille.entrypoints.server_process import free_port, start_server, stop_server


@dataclass(frozen=True)
class AlertBenchConfig:
    background_rate: float = 5000.0  # reads/s of unlisted traffic
    background_cameras: int = 450
    background_batch: int = 50  # reads per background request
    probes: int = 300  # listed reads whose alerts are timed
    probe_interval_s: float = 0.05
    hotlist_entries: int = 10_000
    warmup_s: float = 3.0
    seed: int = 11


def _plate(rng: random.Random) -> str:
    return f"{rng.randint(1, 9)}{''.join(rng.choices(LETTERS, k=3))}{rng.randint(0, 999):03d}"


def _read(camera_id: str, plate: str) -> dict[str, Any]:
    return {
        "read_id": str(uuid.uuid4()),
        "camera_id": camera_id,
        "captured_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "plate": plate,
        "country": "BE",
        "confidence": 0.9,
    }


def _background(
    url: str, tokens: dict[str, str], config: AlertBenchConfig, stop_at: float, counter: Any
) -> None:
    """Runs in its own process: posts unlisted reads at the configured rate."""

    async def post(client: httpx.AsyncClient, cam: str, body: bytes) -> None:
        try:
            resp = await client.post(
                "/api/v1/reads", content=body, headers={"Authorization": f"Bearer {tokens[cam]}"}
            )
        except httpx.HTTPError:
            return
        if resp.status_code == 200:
            with counter.get_lock():
                counter.value += config.background_batch

    async def main() -> None:
        rng = random.Random(config.seed + 7)
        cams = list(tokens)
        interval = config.background_batch / config.background_rate
        limits = httpx.Limits(max_connections=32)
        async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:
            pending: set[asyncio.Task[None]] = set()
            next_at = time.monotonic()
            while time.time() < stop_at:
                cam = rng.choice(cams)
                body = orjson.dumps(
                    [_read(cam, "BG" + _plate(rng)[:6]) for _ in range(config.background_batch)]
                )
                task = asyncio.create_task(post(client, cam, body))
                pending.add(task)
                task.add_done_callback(pending.discard)
                next_at += interval
                delay = next_at - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)

    asyncio.run(main())


def run_alert_bench(config: AlertBenchConfig) -> dict[str, Any]:
    from veille.bootstrap import bootstrap
    from veille.service import cameras as camera_service
    from veille.service import hotlists as hotlist_service
    from veille.service import users as user_service
    from veille.settings import Settings

    rng = random.Random(config.seed)
    work = Path(tempfile.mkdtemp(prefix="veille-bench-alerts-"))
    actor = system_actor("bench")
    try:
        platform = bootstrap(Settings(data_dir=work))
        platform.store.initialise()
        now = platform.clock()
        records = [
            (
                "bench",
                {
                    "camera_id": f"BG-{i:04d}",
                    "lat": 50.85,
                    "lon": 4.35,
                    "zone": "Bruxelles-Capitale/Ixelles",
                    "province": "Bruxelles-Capitale",
                    "phase": "live",
                },
            )
            for i in range(config.background_cameras)
        ] + [
            (
                "bench",
                {
                    "camera_id": "PROBE",
                    "lat": 50.85,
                    "lon": 4.36,
                    "zone": "Bruxelles-Capitale/Ixelles",
                    "province": "Bruxelles-Capitale",
                    "phase": "live",
                },
            )
        ]
        tokens = camera_service.import_cameras(
            uow=platform.uow(), records=records, now=now, issue_tokens="all", actor=actor
        ).tokens
        probe_token = tokens.pop("PROBE")
        user_service.ensure_organisation(uow=platform.uow(), org=FEDERAL)
        operator = user_service.create_user(
            uow=platform.uow(),
            username="op",
            password="operator password 1",
            role=Role.OPERATOR,
            org_id="federal",
            now=now,
            designated=True,
            training_expires=now + timedelta(days=1),
            actor=actor,
        )
        op_token, _ = user_service.issue_token(
            uow=platform.uow(), user_id=operator.user_id, now=now
        )
        listed = sorted({_plate(rng) for _ in range(config.hotlist_entries)})
        hotlist_service.save_list(
            uow=platform.uow(),
            now=now,
            actor=actor,
            hotlist=Hotlist("bench", "Bench list", Category.STOLEN_VEHICLE, "federal"),
        )
        hotlist_service.import_list(
            uow=platform.uow(),
            list_id="bench",
            now=now,
            actor=actor,
            records=[
                (f"e{i}", {"plate": p, "instructions": "bench"}) for i, p in enumerate(listed)
            ],
        )
        platform.store.close()

        port = free_port()
        url = f"http://127.0.0.1:{port}"
        server = start_server(work, port, {"VEILLE_RUN_JOBS": "false"})
        arrivals: dict[str, tuple[float, float, float]] = {}  # read_id -> (arrive, recv, pub)
        ready = threading.Event()
        stop_listen = threading.Event()

        def listen() -> None:
            with contextlib.suppress(httpx.HTTPError):  # the server stops at the end
                follow()

        def follow() -> None:
            with (
                httpx.Client(base_url=url, timeout=None) as client,
                client.stream(
                    "GET",
                    "/api/v1/alerts/stream",
                    headers={"Authorization": f"Bearer {op_token}"},
                ) as resp,
            ):
                ready.set()
                for line in resp.iter_lines():
                    if stop_listen.is_set():
                        return
                    if line.startswith("data: "):
                        arrive = time.time()
                        event = orjson.loads(line[6:])
                        if "read" not in event:  # a gap or closed event, not an alert
                            continue
                        received = datetime.fromisoformat(event["read"]["received_at"])
                        arrivals[event["read"]["read_id"]] = (
                            arrive,
                            received.timestamp(),
                            event["published_at"],
                        )

        listener = threading.Thread(target=listen, daemon=True)
        listener.start()
        ready.wait(10)
        counter = multiprocessing.Value("q", 0)
        duration = config.warmup_s + config.probes * config.probe_interval_s + 2
        stop_at = time.time() + duration
        background = multiprocessing.Process(
            target=_background, args=(url, tokens, config, stop_at, counter), daemon=True
        )
        started = time.time()
        background.start()
        time.sleep(config.warmup_s)
        sent: dict[str, float] = {}
        with httpx.Client(base_url=url, timeout=30) as client:
            for plate in rng.sample(listed, config.probes):
                read = _read("PROBE", plate)
                sent[read["read_id"]] = time.time()
                client.post(
                    "/api/v1/reads",
                    content=orjson.dumps(read),
                    headers={"Authorization": f"Bearer {probe_token}"},
                )
                time.sleep(config.probe_interval_s)
        background.join(duration + 30)
        elapsed = time.time() - started
        time.sleep(1.0)
        stop_listen.set()
        stop_server(server)
        from_receipt = sorted(
            (arrivals[r][0] - arrivals[r][1]) * 1000 for r in sent if r in arrivals
        )
        from_send = sorted((arrivals[r][0] - sent[r]) * 1000 for r in sent if r in arrivals)

        def pct(values: list[float], q: float) -> float:
            return round(values[min(len(values) - 1, int(len(values) * q))], 2) if values else -1

        return {
            "benchmark": "alerts",
            "config": asdict(config),
            "machine": machine_description(),
            "probes_sent": len(sent),
            "alerts_received": sum(1 for r in sent if r in arrivals),
            "background_reads_per_s": round(counter.value / elapsed),
            "latency_from_receipt_ms": {
                "p50": pct(from_receipt, 0.5),
                "p99": pct(from_receipt, 0.99),
                "max": round(from_receipt[-1], 2) if from_receipt else -1,
                "mean": round(statistics.fmean(from_receipt), 2) if from_receipt else -1,
            },
            "latency_from_client_send_ms": {
                "p50": pct(from_send, 0.5),
                "p99": pct(from_send, 0.99),
                "max": round(from_send[-1], 2) if from_send else -1,
            },
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


def print_table(result: dict[str, Any]) -> None:
    m, c = result["machine"], result["config"]
    r, s = result["latency_from_receipt_ms"], result["latency_from_client_send_ms"]
    print(f"veille bench alerts — {m['cpu']}, {m['cores']} cores, Python {m['python']}")
    print(
        f"{c['probes']} listed reads against a {c['hotlist_entries']:,}-entry hotlist, while"
        f" {result['background_reads_per_s']:,} reads/s of other traffic are ingested"
    )
    print()
    print(f"| {'measure':<44} | {'p50':>8} | {'p99':>8} | {'max':>8} |")
    print(f"|{'-' * 46}|{'-' * 10}|{'-' * 10}|{'-' * 10}|")
    print(
        f"| {'server receipt → alert on live channel (ms)':<44} | {r['p50']:>8} |"
        f" {r['p99']:>8} | {r['max']:>8} |"
    )
    print(
        f"| {'camera sends → alert on live channel (ms)':<44} | {s['p50']:>8} |"
        f" {s['p99']:>8} | {s['max']:>8} |"
    )
    print()
    print(f"alerts received: {result['alerts_received']}/{result['probes_sent']}")
