"""`veille bench search`: latency of each analysis through `run_query` at 1 M and 10 M reads."""

from __future__ import annotations

import math
import random
import re
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from veille.adapters.sqlite.store import SqliteStore
from veille.adapters.sqlite.times import decode
from veille.bench.ingest import machine_description
from veille.bench.store_gen import DEFAULT_FOLDER, GeneratedStore, StoreSpec, load_or_generate
from veille.domain.access import Principal, Role, Scope, ScopeKind
from veille.domain.authorizations import WindowPolicy
from veille.service import analyses
from veille.service.queries import (
    CameraDirectory,
    LegalPolicy,
    QueryContext,
    ReadAccess,
    run_query,
)

PURPOSE = "judicial: investigation of an offence"
HEAVY_SHARE = 8  # heavy analyses (convoy, scenes, clone sweep) run repeats // 8 times, ≥ 3
# A sweep checks every plate of the day: the analysis's default cap (50,000 plates) would
# stop a 10 M-read store's day (~89,000 plates) half-way and miss the planted clone.
SWEEP_MAX_PLATES = 10_000_000

Execute = Callable[[ReadAccess], tuple[Any, int]]


@dataclass(frozen=True)
class Case:
    """One analysis to time: its name, target, and a maker of (params, execute) per run."""

    name: str
    target_ms: float | None
    heavy: bool
    make: Callable[[int], tuple[dict[str, Any], Execute]]


def _percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile (p95 of 40 runs is the 38th fastest)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def _sample(conn: Any, rng: random.Random, count: int) -> list[tuple[str, str, int]]:
    """(plate, camera, captured_at µs) of random reads: read-weighted, as searches are."""
    top = conn.execute("SELECT max(id) FROM reads").fetchone()[0]
    ids = [rng.randint(1, top) for _ in range(count)]
    marks = ",".join("?" * len(ids))
    rows = conn.execute(
        f"SELECT plate, camera_id, captured_at FROM reads WHERE id IN ({marks})", ids
    ).fetchall()
    rng.shuffle(rows)
    return [(str(p), str(c), int(t)) for p, c, t in rows]


def _cases(store: SqliteStore, gen: GeneratedStore, rng: random.Random, runs: int) -> list[Case]:
    now = gen.now_dt
    month = (now - timedelta(days=30), now)
    conn = store.connection()
    plates = [row[0] for row in _sample(conn, rng, runs * 2 + 4)]
    places = _sample(conn, rng, runs + 2)
    cams = {
        cid: (lat, lon) for cid, lat, lon in conn.execute("SELECT camera_id, lat, lon FROM cameras")
    }
    convoy = gen.patterns["convoy"]
    scenes = gen.patterns["scenes"]["scenes"]
    clone = gen.patterns["clone"]
    day = (datetime.fromisoformat(clone["day_start"]), datetime.fromisoformat(clone["day_end"]))

    def plate(n: int) -> tuple[dict[str, Any], Execute]:
        p = plates[n % len(plates)]
        return {"plate": p, "mode": "exact"}, lambda a: analyses.plate_search(
            a, plate=p, mode="exact", start=month[0], end=month[1]
        )

    def area(n: int) -> tuple[dict[str, Any], Execute]:
        _, cid, at = places[n % len(places)]
        lat, lon = cams[cid]
        mid = decode(at)
        lo, hi = mid - timedelta(minutes=30), mid + timedelta(minutes=30)
        return {"lat": lat, "lon": lon, "radius_m": 1000}, lambda a: analyses.area_time(
            a, start=lo, end=hi, lat=lat, lon=lon, radius_m=1000
        )

    def journey(n: int) -> tuple[dict[str, Any], Execute]:
        p = plates[-1 - n % len(plates)]
        return {"plate": p}, lambda a: analyses.journey(a, plate=p, start=month[0], end=month[1])

    def convoy_case(_n: int) -> tuple[dict[str, Any], Execute]:
        p = convoy["target"]
        return {"plate": p}, lambda a: analyses.convoy(
            a, plate=p, start=month[0], end=month[1], window_s=60, min_cameras=3
        )

    def scenes_case(_n: int) -> tuple[dict[str, Any], Execute]:
        given = [
            {
                "lat": s["lat"],
                "lon": s["lon"],
                "radius_m": s["radius_m"],
                "start": datetime.fromisoformat(s["start"]),
                "end": datetime.fromisoformat(s["end"]),
            }
            for s in scenes
        ]
        return {"scenes": 3}, lambda a: analyses.several_scenes(
            a, scenes=given, start=month[0], end=month[1], min_scenes=2
        )

    def clones(_n: int) -> tuple[dict[str, Any], Execute]:
        return {"sweep": "one day"}, lambda a: analyses.cloned_plates(
            a, start=day[0], end=day[1], max_plates=SWEEP_MAX_PLATES
        )

    def overhead(_n: int) -> tuple[dict[str, Any], Execute]:
        return {}, lambda a: (None, 0)

    return [
        Case("query overhead (no analysis)", None, False, overhead),
        Case("plate search, exact, 30 days", 10, False, plate),
        Case("area and time, 1 km, 1 h", 100, False, area),
        Case("journey, 30 days", 20, False, journey),
        Case("convoy, 30 days", 1000, True, convoy_case),
        Case("three scenes", 500, True, scenes_case),
        Case("cloned-plate sweep, one day", 10_000, True, clones),
    ]


def _principal(now: datetime) -> Principal:
    return Principal(
        user_id=1,
        username="bench-investigator",
        role=Role.INVESTIGATOR,
        org_id="federal",
        scope=Scope(ScopeKind.NATIONAL),
        designated=True,
        training_expires=now + timedelta(days=365),
    )


# One camera directory per store, as a server process keeps one: loaded on the first
# query, reloaded only when the cameras change.
_DIRECTORIES: dict[str, CameraDirectory] = {}


def _lawful(
    store: SqliteStore,
    now: datetime,
    action: str,
    params: dict[str, Any],
    *,
    case_ref: str = "BENCH/2026/001",
    read_uow_factory: Callable[[], Any] | None = None,
    audit_uow_factory: Callable[[], Any] | None = None,
) -> Any:
    """Run one analysis as an investigator would: through run_query, audited.

    By default it reads from a snapshot and appends its record to `store`; a bench may
    pass other factories (the write transaction, to measure the old design; another store
    for the record, to tell lock contention from CPU)."""
    ctx = QueryContext(principal=_principal(now), purpose=PURPOSE, case_ref=case_ref)
    policy = LegalPolicy(
        purposes=frozenset({PURPOSE}),
        case_ref_pattern=re.compile(r"[A-Za-z0-9][A-Za-z0-9./_-]{3,63}"),
        window=WindowPolicy(),  # the default 30-day open window: the whole store
    )

    def run(execute: Execute) -> Any:
        return run_query(
            uow_factory=audit_uow_factory or store.uow,
            read_uow_factory=read_uow_factory or (lambda: store.uow(write=False)),
            ctx=ctx,
            now=now,
            policy=policy,
            action=action,
            params=params,
            execute=execute,
            cameras=_DIRECTORIES.setdefault(str(store.path), CameraDirectory()),
        )

    return run


@dataclass
class _Observed:
    """What the analysis itself returned and took, seen from inside run_query."""

    count: int = 0
    ms: float = 0.0
    truncated: bool = False


def _time_case(
    case: Case, store: SqliteStore, now: datetime, runs: int, warmup: int
) -> dict[str, Any]:
    timings: list[float] = []
    inside: list[float] = []  # the analysis alone, inside run_query's snapshot
    rows: list[int] = []
    truncated = False
    first_ms = None
    for n in range(warmup + runs):
        params, execute = case.make(n)
        seen = _Observed()

        def observed(
            access: ReadAccess, execute: Execute = execute, seen: _Observed = seen
        ) -> tuple[Any, int]:
            began = time.perf_counter()
            result, count = execute(access)
            seen.ms = (time.perf_counter() - began) * 1000
            seen.count = count
            seen.truncated = isinstance(result, dict) and bool(result.get("truncated"))
            return result, count

        run = _lawful(store, now, f"bench.{case.name.split(',')[0].replace(' ', '_')}", params)
        started = time.perf_counter()
        run(observed)
        elapsed = (time.perf_counter() - started) * 1000
        if n < warmup:
            first_ms = elapsed if first_ms is None else first_ms
            continue
        timings.append(elapsed)
        rows.append(seen.count)
        inside.append(seen.ms)
        truncated |= seen.truncated
    p95 = _percentile(timings, 0.95)
    return {
        "analysis": case.name,
        "runs": runs,
        "first_ms": round(first_ms or 0.0, 2),
        "p50_ms": round(statistics.median(timings), 2),
        "p95_ms": round(p95, 2),
        "max_ms": round(max(timings), 2),
        "analysis_p50_ms": round(statistics.median(inside), 2),
        "analysis_p95_ms": round(_percentile(inside, 0.95), 2),
        "rows_p50": int(statistics.median(rows)),
        "rows_max": max(rows),
        "truncated": truncated,
        "target_ms": case.target_ms,
        "passed": None if case.target_ms is None else p95 <= case.target_ms,
    }


def _planted_found(store: SqliteStore, gen: GeneratedStore) -> dict[str, bool]:
    """Whether each analysis finds what the generator planted (a sanity check, not timed)."""
    now = gen.now_dt
    month = (now - timedelta(days=30), now)
    p = gen.patterns
    run = _lawful(store, now, "bench.check", {})

    conv = run(
        lambda a: analyses.convoy(a, plate=p["convoy"]["target"], start=month[0], end=month[1])
    )
    scenes = [
        {
            **{k: s[k] for k in ("lat", "lon", "radius_m")},
            "start": datetime.fromisoformat(s["start"]),
            "end": datetime.fromisoformat(s["end"]),
        }
        for s in p["scenes"]["scenes"]
    ]
    sc = run(lambda a: analyses.several_scenes(a, scenes=scenes, start=month[0], end=month[1]))
    day = [datetime.fromisoformat(p["clone"][k]) for k in ("day_start", "day_end")]
    cl = run(
        lambda a: analyses.cloned_plates(a, start=day[0], end=day[1], max_plates=SWEEP_MAX_PLATES)
    )
    at_three = {r["plate"] for r in sc["plates"] if r["count"] == 3}
    return {
        "convoy_partner_ranked_first": bool(conv["companions"])
        and conv["companions"][0]["plate"] == p["convoy"]["partner"],
        "scene_visitors_found": set(p["scenes"]["at_all_three"]) <= at_three
        and set(p["scenes"]["at_two"]) <= {r["plate"] for r in sc["plates"]},
        "clone_found": p["clone"]["plate"] in {f["plate"] for f in cl["findings"]},
    }


def bench_store(gen: GeneratedStore, *, repeats: int, seed: int, warmup: int = 2) -> dict[str, Any]:
    """Time every analysis on one generated store."""
    store = SqliteStore(Path(gen.path))
    store.initialise()  # a cached store may predate the latest migrations
    try:
        rng = random.Random(seed)
        heavy_runs = max(3, repeats // HEAVY_SHARE)
        results = []
        for case in _cases(store, gen, rng, repeats):
            runs = heavy_runs if case.heavy else repeats
            results.append(_time_case(case, store, gen.now_dt, runs, 1 if case.heavy else warmup))
        found = _planted_found(store, gen)
    finally:
        store.close()
    return {
        "reads": gen.reads,
        "cameras": gen.cameras,
        "vehicles": gen.vehicles,
        "store": gen.path,
        "store_mib": round(Path(gen.path).stat().st_size / 2**20),
        "generation_s": gen.generation_s,
        "stats": gen.stats,
        "planted_found": found,
        "analyses": results,
    }


def run_search_bench(
    sizes: tuple[int, ...] = (1_000_000, 10_000_000),
    repeats: int = 40,
    seed: int = 2026,
    folder: Path = DEFAULT_FOLDER,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Generate (or reuse) a store per size, time each analysis, compare the sizes."""
    say = log or (lambda _msg: None)
    per_size = []
    for size in sizes:
        say(f"store of {size:,} reads…")
        gen = load_or_generate(StoreSpec(reads=size, seed=seed), folder=folder, log=say)
        say(f"timing analyses on {gen.reads:,} reads…")
        per_size.append(bench_store(gen, repeats=repeats, seed=seed))
    growth = []
    if len(per_size) > 1:
        small, large = per_size[0], per_size[-1]
        store_ratio = large["reads"] / small["reads"]
        for a, b in zip(small["analyses"], large["analyses"], strict=True):
            growth.append(
                {
                    "analysis": a["analysis"],
                    "p95_small_ms": a["p95_ms"],
                    "p95_large_ms": b["p95_ms"],
                    "latency_ratio": round(b["p95_ms"] / a["p95_ms"], 2) if a["p95_ms"] else None,
                    "store_ratio": round(store_ratio, 2),
                }
            )
    return {
        "benchmark": "search",
        "machine": machine_description(),
        "repeats": repeats,
        "seed": seed,
        "synchronous": "FULL",
        "sizes": per_size,
        "growth": growth,
    }


def print_table(result: dict[str, Any]) -> None:
    m = result["machine"]
    print(f"machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, SQLite {m['sqlite']}")
    for size in result["sizes"]:
        print(
            f"\nstore: {size['reads']:,} reads, {size['cameras']:,} cameras,"
            f" {size['vehicles']:,} vehicles, {size['store_mib']:,} MiB"
        )
        print(f"  planted patterns found: {size['planted_found']}")
        header = f"  {'analysis':34} {'runs':>4} {'p50 ms':>9} {'p95 ms':>9} {'max ms':>9}"
        print(header + f" {'rows':>6} {'target':>8}  ok  {'analysis alone p50/p95 ms':>26}")
        for a in size["analyses"]:
            target = f"{a['target_ms']:g}" if a["target_ms"] is not None else "-"
            ok = {True: "yes", False: "NO", None: ""}[a["passed"]] + ("*" if a["truncated"] else "")
            print(
                f"  {a['analysis']:34} {a['runs']:>4} {a['p50_ms']:>9.1f} {a['p95_ms']:>9.1f}"
                f" {a['max_ms']:>9.1f} {a['rows_p50']:>6} {target:>8}  {ok:3}"
                f" {a['analysis_p50_ms']:>12.1f} / {a['analysis_p95_ms']:<9.1f}"
            )
    if any(a["truncated"] for size in result["sizes"] for a in size["analyses"]):
        print("  * some runs returned a truncated result")
    if result["growth"]:
        print("\ngrowth of p95 from the smallest to the largest store")
        for g in result["growth"]:
            print(
                f"  {g['analysis']:34} {g['p95_small_ms']:>9.1f} -> {g['p95_large_ms']:>9.1f} ms"
                f"  ×{g['latency_ratio']} (store ×{g['store_ratio']})"
            )
