"""`veille bench contention`: ingest commit latency while investigators search a large store.

The rule under test: no search holds the ingest writer longer than one short audit append.
One run, on a generated store (10 M reads by default), four phases of the same paced
ingest, each the same length:

1. **ingest alone**;
2. **ingest + searches as shipped**: a standing one-day cloned-plate sweep and 20
   investigators looping over plate, area, journey, convoy and scene analyses, each
   through `run_query` (a snapshot read, then a short audit append);
3. **ingest + the same searches, their audit records appended to an in-memory store**
   (a diagnostic: the searches then never contend for SQLite's write lock, so what
   remains of the slowdown is their share of the two cores and of Python's GIL);
4. **ingest + the same searches holding the write lock**: each analysis runs inside the
   write transaction, as `run_query` did before (the design this bench replaced).

A warm-up of ingest alone, not counted, comes first: the first commits into a
large store that is cold in the page cache are slow, and would otherwise be billed to
phase 1. Ingest is open loop, as cameras are: a pacer submits one read per submission at the
offered rate, never waiting for an answer, and each answer's latency is recorded when its
commit lands. A submission the writer refuses (queue full) or whose commit fails (SQLite's
10 s busy timeout ran out) is what a camera sees as a 503; both are counted.
"""

from __future__ import annotations

import math
import random
import statistics
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import asdict, dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from veille.adapters.decoders.native_json import validate_batch
from veille.adapters.memory.store import MemoryStore
from veille.adapters.sqlite.times import encode
from veille.bench.ingest import LETTERS, machine_description
from veille.bench.search import Case, _cases, _lawful
from veille.bench.store_gen import (
    DEFAULT_FOLDER,
    GeneratedStore,
    StoreSpec,
    load_or_generate,
    sqlite_store,
)
from veille.service.ingest import StoredBatch

PHASES = (
    "ingest alone",
    "ingest + searches (snapshot)",
    "ingest + searches, audit kept elsewhere",
    "ingest + searches holding the lock",
)
LOCKING, AUDIT_ELSEWHERE = PHASES[3], PHASES[2]
LIGHT = (
    "plate search, exact, 30 days",
    "area and time, 1 km, 1 h",
    "journey, 30 days",
    "convoy, 30 days",
    "three scenes",
)
SWEEP = "cloned-plate sweep, one day"


@dataclass(frozen=True)
class ContentionBenchConfig:
    reads: int = 10_000_000  # size of the generated store
    rate: float = 1600.0  # offered reads/s: the national peak
    seconds: float = 45.0  # length of each phase (≤ 60: the writer keeps a minute of commits)
    warmup_s: float = 15.0  # ingest first, not counted: the first commits into a large cold
    # store read its index pages from disk (one took 7 s at 10 M reads)
    searchers: int = 20  # concurrent investigators
    seed: int = 2026


def _pct(values: list[float], share: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


@dataclass
class _Tally:
    sent: int = 0
    acked: int = 0
    refused: int = 0  # WriterBusy or a failed commit: a camera would get 503
    ack_s: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def done(self, sent_at: float, future: Future[StoredBatch]) -> None:
        latency = time.perf_counter() - sent_at
        failed = future.cancelled() or future.exception() is not None
        with self.lock:
            if failed:
                self.refused += 1
            else:
                self.acked += 1
                self.ack_s.append(latency)


def _ingest(platform: Any, config: ContentionBenchConfig, stop: threading.Event) -> _Tally:
    """Submit one fresh read every 1/rate seconds until `stop`; return the tally."""
    tally = _Tally()
    rng = random.Random(config.seed)
    interval = 1.0 / config.rate
    began = time.perf_counter()
    n = 0
    while not stop.is_set():
        due = began + n * interval
        wait = due - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        camera_id = f"CONTENTION-{n % 64:03d}"
        item = {
            "read_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "camera_id": camera_id,
            "captured_at": (platform.clock() - timedelta(seconds=2)).isoformat(),
            "plate": f"{rng.randint(1, 9)}-{''.join(rng.choices(LETTERS, k=3))}-"
            f"{rng.randint(0, 999):03d}",
            "country": "BE",
            "confidence": 0.9,
        }
        batch = validate_batch(
            [item],
            camera_id=camera_id,
            now=platform.clock(),
            rules=platform.read_rules,
            images=platform.images,
            encode=platform.encode_read,
        )
        sent_at = time.perf_counter()
        future = platform.ingest_sink.submit(batch)
        tally.sent += 1
        future.add_done_callback(lambda f, t=sent_at: tally.done(t, f))
        n += 1
    return tally


@dataclass
class _SearchTally:
    timings: dict[str, list[float]] = field(default_factory=dict)
    errors: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, name: str, seconds: float) -> None:
        with self.lock:
            self.timings.setdefault(name, []).append(seconds)


def _searcher(
    store: Any,
    gen: GeneratedStore,
    cases: list[Case],
    *,
    hold_lock: bool,
    stop: threading.Event,
    tally: _SearchTally,
    index: int,
    audit: Callable[[], Any] | None = None,
) -> None:
    reader: Callable[[], Any] | None = store.uow if hold_lock else None
    n = index
    while not stop.is_set():
        case = cases[n % len(cases)]
        _, execute = case.make(n)
        started = time.perf_counter()
        try:
            _lawful(
                store,
                gen.now_dt,
                "bench.contention",
                {"analysis": case.name},
                case_ref="BENCH/2026/002",
                read_uow_factory=reader,
                audit_uow_factory=audit,
            )(execute)
        except Exception:  # a search that timed out on the lock: counted, not fatal
            with tally.lock:
                tally.errors += 1
        else:
            tally.add(case.name, time.perf_counter() - started)
        n += 1


def _commits_between(platform: Any, start: float, end: float) -> list[float]:
    """Durations (s) of the writer's commits that ended in [start, end]."""
    commits = platform.writer.counters.recent_commits()
    return [busy for ended, busy, _ in commits if start <= ended <= end]


def _phase(
    platform: Any,
    gen: GeneratedStore,
    config: ContentionBenchConfig,
    name: str,
    cases: list[Case],
) -> dict[str, Any]:
    stop = threading.Event()
    searches = _SearchTally()
    threads: list[threading.Thread] = []
    if name != PHASES[0]:
        hold = name == LOCKING
        # diagnostic: the same searches, their audit records appended to an in-memory
        # store, so they never contend for SQLite's write lock: what remains is their CPU
        side = MemoryStore() if name == AUDIT_ELSEWHERE else None
        audit = side.uow if side is not None else None
        light = [c for c in cases if c.name in LIGHT]
        sweep = [c for c in cases if c.name == SWEEP]
        threads.append(
            threading.Thread(
                target=_searcher,
                args=(platform.store, gen, sweep),
                kwargs={
                    "hold_lock": hold,
                    "stop": stop,
                    "tally": searches,
                    "index": 0,
                    "audit": audit,
                },
                daemon=True,
            )
        )
        for i in range(config.searchers):
            threads.append(
                threading.Thread(
                    target=_searcher,
                    args=(platform.store, gen, light),
                    kwargs={
                        "hold_lock": hold,
                        "stop": stop,
                        "tally": searches,
                        "index": i,
                        "audit": audit,
                    },
                    daemon=True,
                )
            )
    for t in threads:
        t.start()
    result: dict[str, _Tally] = {}
    pacer = threading.Thread(
        target=lambda: result.setdefault("tally", _ingest(platform, config, stop)), daemon=True
    )
    start = time.monotonic()
    pacer.start()
    time.sleep(config.seconds)
    stop.set()
    pacer.join()
    end = time.monotonic()
    for t in threads:
        t.join(timeout=120)
    # wait for the last answers of this phase
    tally = result["tally"]
    deadline = time.monotonic() + 60
    while tally.acked + tally.refused < tally.sent and time.monotonic() < deadline:
        time.sleep(0.05)
    commits = _commits_between(platform, start, time.monotonic())
    acks = tally.ack_s
    seconds = end - start
    return {
        "phase": name,
        "seconds": round(seconds, 1),
        "offered_per_s": round(tally.sent / seconds, 1),
        "acked_per_s": round(tally.acked / seconds, 1),
        "sent": tally.sent,
        "acked": tally.acked,
        "refused_503": tally.refused,
        "ack_p50_ms": round(_pct(acks, 0.5) * 1000, 1),
        "ack_p99_ms": round(_pct(acks, 0.99) * 1000, 1),
        "ack_max_ms": round(max(acks, default=0.0) * 1000, 1),
        "commits": len(commits),
        "commit_p50_ms": round(_pct(commits, 0.5) * 1000, 1),
        "commit_p99_ms": round(_pct(commits, 0.99) * 1000, 1),
        "commit_max_ms": round(max(commits, default=0.0) * 1000, 1),
        "searches": {
            k: {
                "runs": len(v),
                "p50_ms": round(statistics.median(v) * 1000, 1),
                "p95_ms": round(_pct(v, 0.95) * 1000, 1),
            }
            for k, v in sorted(searches.timings.items())
        },
        "search_errors": searches.errors,
    }


def run_contention_bench(
    config: ContentionBenchConfig | None = None,
    *,
    folder: Path = DEFAULT_FOLDER,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    from veille.bootstrap import bootstrap
    from veille.settings import Settings

    config = config or ContentionBenchConfig()
    say = log or (lambda _msg: None)
    say(f"store of {config.reads:,} reads…")
    gen = load_or_generate(StoreSpec(reads=config.reads, seed=config.seed), folder=folder, log=say)
    data = Path(gen.path).parent / f"contention-{Path(gen.path).stem}"
    data.mkdir(parents=True, exist_ok=True)
    settings = Settings(
        data_dir=data,
        database_path=Path(gen.path),
        image_fsync=False,
        run_jobs=False,
    )
    platform = bootstrap(settings)
    first_fresh = encode(gen.now_dt)
    try:
        platform.start()
        cases = _cases(sqlite_store(platform.store), gen, random.Random(config.seed), runs=200)
        if config.warmup_s > 0:
            say(f"warm-up: {config.warmup_s:.0f} s of ingest, not counted…")
            _phase(platform, gen, replace(config, seconds=config.warmup_s), PHASES[0], cases)
        phases = []
        for name in PHASES:
            say(f"{name}: {config.seconds:.0f} s at {config.rate:,.0f} reads/s offered…")
            phases.append(_phase(platform, gen, config, name, cases))
    finally:
        platform.stop()
        # leave the cached store as it was generated: the fresh reads all lie after its now
        from veille.adapters.sqlite.store import SqliteStore

        cleanup = SqliteStore(Path(gen.path))
        conn = cleanup.connection()
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(
            "DELETE FROM read_images WHERE read_id IN"
            " (SELECT read_id FROM reads WHERE captured_at > ?)",
            (first_fresh,),
        )
        conn.execute("DELETE FROM reads WHERE captured_at > ?", (first_fresh,))
        conn.execute("COMMIT")
        cleanup.close()
    return {
        "benchmark": "contention",
        "machine": machine_description(),
        "config": asdict(config),
        "store_reads": gen.reads,
        "phases": phases,
    }


def print_table(result: dict[str, Any]) -> None:
    m, cfg = result["machine"], result["config"]
    print(
        f"veille bench contention — {m['cpu']}, {m['cores']} cores, Python {m['python']},"
        f" SQLite {m['sqlite']}; store of {result['store_reads']:,} reads;"
        f" {cfg['rate']:,.0f} reads/s offered, one read per submission;"
        f" {cfg['searchers']} investigators + a one-day clone sweep"
    )
    print()
    head = ("phase", "acked/s", "503s", "ack p50/p99 ms", "commit p50/p99/max ms", "searches")
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join("---" for _ in head) + "|")
    for p in result["phases"]:
        runs = sum(s["runs"] for s in p["searches"].values())
        print(
            f"| {p['phase']} | {p['acked_per_s']:,.0f} | {p['refused_503']}"
            f" | {p['ack_p50_ms']} / {p['ack_p99_ms']}"
            f" | {p['commit_p50_ms']} / {p['commit_p99_ms']} / {p['commit_max_ms']}"
            f" | {runs} ({p['search_errors']} failed) |"
        )
    print()
    print("| phase | analysis | runs | p50 ms | p95 ms |")
    print("|---|---|---|---|---|")
    for p in result["phases"]:
        for name, s in p["searches"].items():
            print(f"| {p['phase']} | {name} | {s['runs']} | {s['p50_ms']} | {s['p95_ms']} |")
