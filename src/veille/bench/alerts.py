"""`veille bench alerts`: read-to-alert latency on the live channel under background ingest."""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import math
import multiprocessing
import os
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
    probes: int = 1000  # listed reads whose alerts are timed
    probe_interval_s: float = 0.05  # probes leave on this schedule, whatever each one takes
    hotlist_entries: int = 10_000
    warmup_s: float = 3.0  # background alone, after its first acknowledged request
    alert_wait_s: float = 10.0  # after the last probe, the longest wait for its alerts
    seed: int = 11
    # Stop the background this long after it starts, whatever the probes: only to prove
    # that the coverage check fails such a run (the bench's own tests).
    stop_background_after_s: float | None = None


MAX_BACKGROUND_IN_FLIGHT = 64  # twice the background's connections
PERCENTILES: tuple[tuple[str, float], ...] = (("p50", 0.5), ("p99", 0.99), ("p99.9", 0.999))


def nearest_rank(count: int, q: float) -> int:
    """The 1-based rank of the `q` quantile of `count` sorted samples (nearest-rank method):
    the p99 of 1,000 samples is the 990th, of 300 the 297th."""
    if count < 1:
        raise ValueError("no samples")
    return min(count, max(1, math.ceil(round(q * count, 9))))


def latency_summary(values: list[float]) -> dict[str, Any]:
    """Sample count, nearest-rank percentiles with the rank each one took, max and mean."""
    ordered = sorted(values)
    if not ordered:
        return {"samples": 0}
    ranks = {name: nearest_rank(len(ordered), q) for name, q in PERCENTILES}
    ranks["max"] = len(ordered)
    summary: dict[str, Any] = {"samples": len(ordered), "ranks": ranks}
    for name, rank in ranks.items():
        summary[name] = round(ordered[rank - 1], 2)
    summary["mean"] = round(statistics.fmean(ordered), 2)
    return summary


Span = tuple[float, float]  # (start, end), wall-clock seconds


def background_coverage(probes: list[Span], background: list[Span]) -> list[bool]:
    """For each probe, whether an acknowledged background request overlapped its span."""
    ordered = sorted(background)
    starts = [start for start, _ in ordered]
    latest_end: list[float] = []  # the latest end among the requests started so far
    for _, end in ordered:
        latest_end.append(max(end, latest_end[-1]) if latest_end else end)
    covered = []
    for start, end in probes:
        before = bisect.bisect_left(starts, end)  # requests started before the probe ended
        covered.append(before > 0 and latest_end[before - 1] > start)
    return covered


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
    url: str,
    tokens: dict[str, str],
    config: AlertBenchConfig,
    started: Any,  # multiprocessing Event: set on the first acknowledged request
    stop: Any,  # multiprocessing Event: set by the probes once they are done
    results: Any,  # multiprocessing Queue: the spans of the acknowledged requests
) -> None:
    """Runs in its own process: posts unlisted reads at the configured rate until `stop`."""
    spans: list[Span] = []
    outcome = {"failed": 0, "refused": 0}

    async def post(client: httpx.AsyncClient, cam: str, body: bytes) -> None:
        begun = time.time()
        try:
            resp = await client.post(
                "/api/v1/reads", content=body, headers={"Authorization": f"Bearer {tokens[cam]}"}
            )
        except httpx.HTTPError:
            outcome["failed"] += 1
            return
        if resp.status_code != 200:
            outcome["refused"] += 1
            return
        spans.append((begun, time.time()))
        if not started.is_set():
            started.set()

    async def main() -> None:
        rng = random.Random(config.seed + 7)
        cams = list(tokens)
        interval = config.background_batch / config.background_rate
        limits = httpx.Limits(max_connections=32)
        give_up = config.stop_background_after_s
        async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:
            pending: set[asyncio.Task[None]] = set()
            next_at = time.monotonic()
            ends_at = math.inf if give_up is None else next_at + give_up
            while not stop.is_set():
                cam = rng.choice(cams)
                body = orjson.dumps(
                    [_read(cam, "BG" + _plate(rng)[:6]) for _ in range(config.background_batch)]
                )
                task = asyncio.create_task(post(client, cam, body))
                pending.add(task)
                task.add_done_callback(pending.discard)
                if time.monotonic() >= ends_at:  # an early stop, after one request at least
                    break
                if len(pending) >= MAX_BACKGROUND_IN_FLIGHT:
                    # the server is slower than the rate asked: wait for it rather than
                    # pile up requests it cannot take (the rate reached is reported)
                    await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                    next_at = time.monotonic()
                next_at += interval
                delay = next_at - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            if stop.is_set():  # the probes are done: what is in flight covers none of them
                for task in pending:
                    task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    try:
        asyncio.run(main())
    finally:
        results.put({"spans": spans, **outcome})


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
            snapshot=platform.read_uow,
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
        # spawn, not fork: this process already runs the listener thread
        mp = multiprocessing.get_context("spawn")
        started, stop, results = mp.Event(), mp.Event(), mp.Queue()
        background = mp.Process(
            target=_background,
            args=(url, tokens, config, started, stop, results),
            daemon=True,
        )
        load_before = os.getloadavg()
        background.start()
        try:
            return _probe(
                config,
                url=url,
                rng=rng,
                listed=listed,
                probe_token=probe_token,
                arrivals=arrivals,
                background_began=_first_acknowledged(started, background, timeout=60),
                stop=stop,
                results=results,
                load_before=load_before,
            )
        finally:
            stop.set()
            stop_listen.set()
            background.join(30)
            if background.is_alive():
                background.terminate()
            stop_server(server)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _first_acknowledged(started: Any, background: Any, *, timeout: float) -> bool:
    """Wait for the background's first acknowledged request; False if it ends without one."""
    deadline = time.monotonic() + timeout
    while not started.wait(0.1):
        if not background.is_alive() or time.monotonic() > deadline:
            return bool(started.is_set())
    return True


def _probe(
    config: AlertBenchConfig,
    *,
    url: str,
    rng: random.Random,
    listed: list[str],
    probe_token: str,
    arrivals: dict[str, tuple[float, float, float]],
    background_began: bool,
    stop: Any,
    results: Any,
    load_before: tuple[float, float, float],
) -> dict[str, Any]:
    """Send the probes on their schedule, then stop the background and judge the run."""
    time.sleep(config.warmup_s)
    sent: dict[str, Span] = {}  # read_id -> (sent, answered)
    behind_s = 0.0  # how far the probes fell behind their schedule, at worst
    refused_probes = 0
    with httpx.Client(base_url=url, timeout=30) as client:
        schedule = time.monotonic()
        for n, plate in enumerate(rng.sample(listed, config.probes)):
            delay = schedule + n * config.probe_interval_s - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            else:
                behind_s = max(behind_s, -delay)
            read = _read("PROBE", plate)
            began = time.time()
            try:
                resp = client.post(
                    "/api/v1/reads",
                    content=orjson.dumps(read),
                    headers={"Authorization": f"Bearer {probe_token}"},
                )
            except httpx.HTTPError:
                resp = None
            if resp is None or resp.status_code != 200:
                refused_probes += 1
                continue
            sent[read["read_id"]] = (began, time.time())
    waited_until = time.monotonic() + config.alert_wait_s
    while time.monotonic() < waited_until and any(r not in arrivals for r in sent):
        time.sleep(0.05)
    # the background runs until every probe is done: probes end on the alert, so
    # the background stops only once the last alert arrived (or was given up on)
    stop.set()
    load_after = os.getloadavg()
    report = results.get(timeout=120)

    # a probe spans its send to its alert (or to its answer, if no alert came)
    probe_spans = [
        (began, max(answered, arrivals[r][0]) if r in arrivals else answered)
        for r, (began, answered) in sent.items()
    ]
    spans: list[Span] = report["spans"]
    covered = background_coverage(probe_spans, spans)
    uncovered = covered.count(False)
    received = sum(1 for r in sent if r in arrivals)
    problems = []
    if not background_began:
        problems.append("the background load never had a request acknowledged")
    if uncovered:
        problems.append(
            f"{uncovered} of {len(sent)} probes ran with no acknowledged background"
            " request in flight: their latencies are not under load"
        )
    if refused_probes:
        problems.append(f"{refused_probes} of {config.probes} probes were refused or failed")
    if received < len(sent):
        problems.append(f"{len(sent) - received} of {len(sent)} probes raised no alert")
    active_s = max(e for _, e in spans) - min(s for s, _ in spans) if spans else 0.0
    from_receipt = [(arrivals[r][0] - arrivals[r][1]) * 1000 for r in sent if r in arrivals]
    from_send = [(arrivals[r][0] - sent[r][0]) * 1000 for r in sent if r in arrivals]
    return {
        "benchmark": "alerts",
        "ok": not problems,
        "problems": problems,
        "config": asdict(config),
        "machine": machine_description(),
        "load_average": {"before": list(load_before), "after": list(load_after)},
        "probes_sent": len(sent),
        "alerts_received": received,
        "probes_behind_schedule_max_s": round(behind_s, 3),
        "background": {
            "coverage": round((len(sent) - uncovered) / max(1, len(sent)), 4),
            "probes_without_background": uncovered,
            "requests_acknowledged": len(spans),
            "requests_failed": report["failed"],
            "requests_refused": report["refused"],
            "reads_per_s": round(len(spans) * config.background_batch / max(1e-9, active_s)),
            "active_s": round(active_s, 2),
        },
        "latency_from_receipt_ms": latency_summary(from_receipt),
        "latency_from_client_send_ms": latency_summary(from_send),
    }


def print_table(result: dict[str, Any]) -> None:
    m, c, bg = result["machine"], result["config"], result["background"]
    r, s = result["latency_from_receipt_ms"], result["latency_from_client_send_ms"]
    load = result["load_average"]
    print(f"veille bench alerts — {m['cpu']}, {m['cores']} cores, Python {m['python']}")
    print(
        f"{c['probes']} listed reads against a {c['hotlist_entries']:,}-entry hotlist, while"
        f" {bg['reads_per_s']:,} reads/s of other traffic are ingested"
        f" (load average {load['before'][0]:.2f} before, {load['after'][0]:.2f} after)"
    )
    print()
    names = [name for name, _ in PERCENTILES] + ["max"]
    print(f"| {'measure':<44} |" + "".join(f" {n:>8} |" for n in names))
    print(f"|{'-' * 46}|" + f"{'-' * 10}|" * len(names))
    for label, summary in (
        ("server receipt → alert on live channel (ms)", r),
        ("camera sends → alert on live channel (ms)", s),
    ):
        print(f"| {label:<44} |" + "".join(f" {summary.get(n, '-'):>8} |" for n in names))
    print()
    if r.get("samples"):
        ranks = ", ".join(f"{n} the {rank:,}th" for n, rank in r["ranks"].items())
        print(f"nearest-rank of {r['samples']:,} sorted samples: {ranks}")
    print(f"alerts received: {result['alerts_received']}/{result['probes_sent']}")
    print(
        f"background coverage: {bg['coverage']:.1%} of the probes had an acknowledged"
        f" background request in flight ({bg['requests_acknowledged']:,} requests"
        f" over {bg['active_s']} s; {bg['requests_failed']} failed, {bg['requests_refused']}"
        " refused)"
    )
    print(f"probes behind their schedule, at worst: {result['probes_behind_schedule_max_s']} s")
    for problem in result["problems"]:
        print(f"FAILED: {problem}")
