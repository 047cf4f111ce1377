"""`veille bench search`: latency of each analysis through `run_query` at 1 M and 10 M reads."""

from __future__ import annotations

import functools
import math
import os
import random
import re
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from veille.adapters.sqlite.store import SqliteStore
from veille.adapters.sqlite.times import decode, encode
from veille.bench.ingest import machine_description
from veille.bench.page_cache import PageCacheProbe
from veille.bench.search_scopes import SCOPE_NAMES, SearchScope, search_scopes
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
    policy = bench_policy()

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


# ---- scoped, warm and cold runs (issue 11): `measure_searches` ------------------------

LIGHT_ANALYSES = (
    "query overhead",
    "plate search",
    "partial plate",
    "area and time",
    "journey",
)
HEAVY_ANALYSES = ("convoy", "three scenes", "clone sweep")
ANALYSES = LIGHT_ANALYSES + HEAVY_ANALYSES
TARGETS_MS: dict[str, float | None] = {
    "query overhead": None,
    "plate search": 10,
    "partial plate": None,  # no target set yet (issue 11 names none)
    "area and time": 100,
    "journey": 20,
    "convoy": 1000,
    "three scenes": 500,
    "clone sweep": 10_000,
}
SAMPLE_BATCH = 5000  # random read ids drawn per sampling query
SAMPLE_BATCHES = 400  # at most: 2 M ids, enough for a zone holding 0.1 % of the reads
WARMUP_RUNS = 2  # warm runs only: a cold run is cold by construction
RESIDENCY_CHECKS = 20  # timed runs preceded by a page-cache residency check, at most


@dataclass(frozen=True)
class RunCounts:
    """Timed runs per analysis: many for light analyses, fewer for heavy ones."""

    light: int = 200
    heavy: int = 20

    def of(self, analysis: str) -> int:
        return self.heavy if analysis in HEAVY_ANALYSES else self.light


@dataclass(frozen=True)
class SearchFigure:
    """One analysis timed in one scope, warm or cold, through run_query (audit included)."""

    analysis: str
    scope: str  # zone, province or national
    scope_value: str | None  # the zone's or province's name
    scope_cameras: int | None  # None: every camera
    cold: bool
    runs: int
    p50_ms: float
    p95_ms: float
    max_ms: float
    rows_p50: int
    rows_max: int
    rows_outside_scope: int  # rows at a camera outside the scope, over all runs: must be 0
    resident_before_p50: float  # share of the database file in the page cache before a run
    resident_before_max: float
    resident_checks: int  # timed runs whose residency was checked (every one up to 20 runs)
    target_ms: float | None
    truncated: bool
    load_1min: float  # load average when the figure was done

    @property
    def passed(self) -> bool | None:
        return None if self.target_ms is None else self.p95_ms <= self.target_ms


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile: p95 of 200 runs is the 190th fastest, of 20 the 19th."""
    if not values:
        raise ValueError("no values")
    if not 0 < share <= 1:
        raise ValueError("share must be in (0, 1]")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


# The legal frame, once per process as a server keeps it: a new one per query (a new
# district map, so the directory's district index worked out again over 10,000 cameras)
# cost ~5 ms a query, more than a plate search itself.
@functools.cache
def bench_policy() -> LegalPolicy:
    """The legal frame of every bench query (the default 30-day open window)."""
    return LegalPolicy(
        purposes=frozenset({PURPOSE}),
        case_ref_pattern=re.compile(r"[A-Za-z0-9][A-Za-z0-9./_-]{3,63}"),
        window=WindowPolicy(),  # the default 30-day open window: the whole store
    )


def scoped_principal(scope: SearchScope, now: datetime) -> Principal:
    """A designated, trained investigator holding this scope."""
    return replace(_principal(now), username=f"bench-{scope.name}", scope=scope.scope)


@dataclass(frozen=True)
class _StoreFacts:
    """What the cases need to know of a store: its clock, window and a day to sweep."""

    now: datetime
    month: tuple[datetime, datetime]
    sweep_day: tuple[datetime, datetime]


def _facts(store: SqliteStore) -> _StoreFacts:
    manifest = store.path.with_suffix(".json")
    if manifest.exists():  # a generated store: its own clock and the day its clone was planted
        gen = GeneratedStore(**orjson.loads(manifest.read_bytes()))
        clone = gen.patterns.get("clone", {})
        now = gen.now_dt
        if "day_start" in clone:
            day = (
                datetime.fromisoformat(clone["day_start"]),
                datetime.fromisoformat(clone["day_end"]),
            )
            return _StoreFacts(now, (now - timedelta(days=30), now), day)
    else:  # another store (a prefilled one): its last read sets the clock
        last = store.connection().execute("SELECT max(captured_at) FROM reads").fetchone()[0]
        now = decode(int(last)) + timedelta(seconds=1) if last is not None else datetime.now(UTC)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return _StoreFacts(
        now, (now - timedelta(days=30), now), (midnight - timedelta(days=1), midnight)
    )


def sample_reads(
    conn: Any, rng: random.Random, count: int, scope: SearchScope, start_us: int, end_us: int
) -> list[tuple[str, str, int]]:
    """(plate, camera, captured_at µs) of random reads inside the scope and the period:
    read-weighted, as searches are, so a busy camera is sampled more often."""
    top = conn.execute("SELECT max(id) FROM reads").fetchone()[0] or 0
    found: list[tuple[str, str, int]] = []
    for _ in range(SAMPLE_BATCHES):
        if len(found) >= count or top == 0:
            break
        ids = [rng.randint(1, top) for _ in range(SAMPLE_BATCH)]
        marks = ",".join("?" * len(ids))
        for plate, camera, at in conn.execute(
            f"SELECT plate, camera_id, captured_at FROM reads WHERE id IN ({marks})", ids
        ):
            if scope.covers(str(camera)) and start_us <= int(at) < end_us:
                found.append((str(plate), str(camera), int(at)))
    if not found:
        raise ValueError(f"no read found in the {scope.label} scope")
    rng.shuffle(found)
    return found[:count]


def _partial(plate: str) -> str:
    """A witness's partial plate: the first three characters, then one unknown, two known,
    one unknown (`1AB?12?`); shorter plates keep their first three and a `*`."""
    if len(plate) >= 7:
        return f"{plate[:3]}?{plate[4:6]}?{plate[7:]}"
    return f"{plate[:3]}*"


def scoped_cases(
    store: SqliteStore, facts: _StoreFacts, scope: SearchScope, rng: random.Random, runs: RunCounts
) -> dict[str, Case]:
    """Every analysis, its parameters drawn per run from reads inside the scope."""
    conn = store.connection()
    month = facts.month
    lo_us, hi_us = encode(month[0]), encode(month[1])
    wanted = max(runs.light, runs.heavy) + WARMUP_RUNS
    samples = sample_reads(conn, rng, 2 * wanted + 3 * runs.heavy, scope, lo_us, hi_us)
    plates = [s[0] for s in samples]
    cams = {
        str(cid): (float(lat), float(lon))
        for cid, lat, lon in conn.execute("SELECT camera_id, lat, lon FROM cameras")
    }

    def at(n: int) -> tuple[str, str, int]:
        return samples[n % len(samples)]

    def overhead(_n: int) -> tuple[dict[str, Any], Execute]:
        return {}, lambda a: (None, 0)

    def plate(n: int) -> tuple[dict[str, Any], Execute]:
        p = plates[n % len(plates)]
        return {"plate": p, "mode": "exact"}, lambda a: analyses.plate_search(
            a, plate=p, mode="exact", start=month[0], end=month[1]
        )

    def partial(n: int) -> tuple[dict[str, Any], Execute]:
        p = _partial(plates[-1 - n % len(plates)])
        return {"plate": p, "mode": "wildcard"}, lambda a: analyses.plate_search(
            a, plate=p, mode="wildcard", start=month[0], end=month[1]
        )

    def area(n: int) -> tuple[dict[str, Any], Execute]:
        _, cid, when = at(n)
        lat, lon = cams[cid]
        mid = decode(when)
        lo, hi = mid - timedelta(minutes=30), mid + timedelta(minutes=30)
        return {"lat": lat, "lon": lon, "radius_m": 1000}, lambda a: analyses.area_time(
            a, start=lo, end=hi, lat=lat, lon=lon, radius_m=1000
        )

    def journey(n: int) -> tuple[dict[str, Any], Execute]:
        p = plates[(n * 7 + 3) % len(plates)]
        return {"plate": p}, lambda a: analyses.journey(a, plate=p, start=month[0], end=month[1])

    def convoy(n: int) -> tuple[dict[str, Any], Execute]:
        p = plates[(n * 11 + 5) % len(plates)]
        return {"plate": p}, lambda a: analyses.convoy(
            a, plate=p, start=month[0], end=month[1], window_s=60, min_cameras=3
        )

    def scenes(n: int) -> tuple[dict[str, Any], Execute]:
        given = []
        for k in range(3):
            _, cid, when = samples[-1 - (3 * n + k) % len(samples)]
            lat, lon = cams[cid]
            mid = decode(when)
            given.append(
                {
                    "lat": lat,
                    "lon": lon,
                    "radius_m": 500,
                    "start": mid - timedelta(minutes=30),
                    "end": mid + timedelta(minutes=30),
                }
            )
        return {"scenes": 3}, lambda a: analyses.several_scenes(
            a, scenes=given, start=month[0], end=month[1], min_scenes=2
        )

    def sweep(_n: int) -> tuple[dict[str, Any], Execute]:
        day = facts.sweep_day
        return {"sweep": "one day"}, lambda a: analyses.cloned_plates(
            a, start=day[0], end=day[1], max_plates=SWEEP_MAX_PLATES
        )

    makers: dict[str, Callable[[int], tuple[dict[str, Any], Execute]]] = {
        "query overhead": overhead,
        "plate search": plate,
        "partial plate": partial,
        "area and time": area,
        "journey": journey,
        "convoy": convoy,
        "three scenes": scenes,
        "clone sweep": sweep,
    }
    return {
        name: Case(name, TARGETS_MS[name], name in HEAVY_ANALYSES, make)
        for name, make in makers.items()
    }


def camera_ids_in(result: Any) -> Iterator[str]:
    """Every `camera_id` anywhere in an analysis's result (passages, findings, features)."""
    if isinstance(result, dict):
        for key, value in result.items():
            if key == "camera_id" and isinstance(value, str):
                yield value
            else:
                yield from camera_ids_in(value)
    elif isinstance(result, list | tuple):
        for item in result:
            yield from camera_ids_in(item)


def _time_scoped(
    case: Case,
    store: SqliteStore,
    facts: _StoreFacts,
    scope: SearchScope,
    directory: CameraDirectory,
    probe: PageCacheProbe,
    *,
    runs: int,
    cold: bool,
) -> SearchFigure:
    ctx = QueryContext(
        principal=scoped_principal(scope, facts.now), purpose=PURPOSE, case_ref="BENCH/2026/001"
    )
    action = f"bench.{case.name.replace(' ', '_')}"
    timings: list[float] = []
    rows: list[int] = []
    resident: list[float] = []
    outside = 0
    truncated = False
    warmup = 0 if cold else WARMUP_RUNS
    # mincore over a 2.4 GB store takes 0.1-0.3 s: checked before 20 of the timed runs
    every = max(1, runs // RESIDENCY_CHECKS)
    for n in range(warmup + runs):
        params, execute = case.make(n)
        if cold:
            probe.evict_store(store.path)
            # and SQLite's own page cache, which outlives a transaction in WAL mode
            store.connection().execute("PRAGMA shrink_memory")
        if n >= warmup and (n - warmup) % every == 0:
            resident.append(probe.residency(store.path))
        began = time.perf_counter()
        result, count = run_query(
            uow_factory=store.uow,
            read_uow_factory=lambda: store.uow(write=False),
            ctx=ctx,
            now=facts.now,
            policy=bench_policy(),
            action=action,
            params=params,
            execute=_with_count(execute),
            cameras=directory,
        )
        elapsed = (time.perf_counter() - began) * 1000
        if n < warmup:
            continue
        timings.append(elapsed)
        rows.append(count)
        outside += sum(1 for cid in camera_ids_in(result) if not scope.covers(cid))
        truncated |= isinstance(result, dict) and bool(result.get("truncated"))
    return SearchFigure(
        analysis=case.name,
        scope=scope.name,
        scope_value=scope.scope.value,
        scope_cameras=scope.camera_count,
        cold=cold,
        runs=runs,
        p50_ms=round(statistics.median(timings), 2),
        p95_ms=round(percentile(timings, 0.95), 2),
        max_ms=round(max(timings), 2),
        rows_p50=int(statistics.median(rows)),
        rows_max=max(rows),
        rows_outside_scope=outside,
        resident_before_p50=round(statistics.median(resident), 4),
        resident_before_max=round(max(resident), 4),
        resident_checks=len(resident),
        target_ms=case.target_ms,
        truncated=truncated,
        load_1min=round(os.getloadavg()[0], 2),
    )


def _with_count(execute: Execute) -> Callable[[ReadAccess], tuple[tuple[Any, int], int]]:
    """The analysis, returning its row count beside its result (run_query keeps only the
    result for the caller and the count for the audit record)."""

    def run(access: ReadAccess) -> tuple[tuple[Any, int], int]:
        result, count = execute(access)
        return (result, count), count

    return run


def measure_searches(
    store_path: Path,
    *,
    scopes: Sequence[str] = SCOPE_NAMES,
    analyses_wanted: Sequence[str] = ANALYSES,
    runs: RunCounts = RunCounts(),
    cold: bool = False,
    seed: int = 2026,
    log: Callable[[str], None] | None = None,
) -> list[SearchFigure]:
    """Time each analysis in each scope through run_query, warm or cold (the store's files
    evicted from the page cache, and SQLite's cache emptied, before every timed run).

    Callable beside a running server (the national test does, under load): it opens its
    own connections to the store and appends its own audit records to it.
    """
    say = log or (lambda _msg: None)
    unknown = [a for a in analyses_wanted if a not in ANALYSES]
    if unknown:
        raise ValueError(f"unknown analysis {unknown[0]!r}: choose from {', '.join(ANALYSES)}")
    store = SqliteStore(Path(store_path))
    store.initialise()  # a cached store may predate the latest migrations
    figures = []
    try:
        facts = _facts(store)
        with store.uow(write=False) as uow:
            cameras = uow.cameras.find()
        directory = CameraDirectory()  # one per process, as a server keeps one
        with PageCacheProbe() as probe:  # out of process: our SQLite locks stay held
            for scope in search_scopes(cameras, scopes):
                cases = scoped_cases(store, facts, scope, random.Random(seed), runs)
                for name in analyses_wanted:
                    say(f"{'cold' if cold else 'warm'} {scope.label}: {name} × {runs.of(name)}…")
                    figures.append(
                        _time_scoped(
                            cases[name],
                            store,
                            facts,
                            scope,
                            directory,
                            probe,
                            runs=runs.of(name),
                            cold=cold,
                        )
                    )
    finally:
        store.close()
    return figures


def run_scoped_search_bench(
    *,
    sizes: Sequence[int] = (10_000_000,),
    scopes: Sequence[str] = SCOPE_NAMES,
    modes: Sequence[bool] = (False, True),
    runs: RunCounts = RunCounts(),
    seed: int = 2026,
    folder: Path = DEFAULT_FOLDER,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Per generated store: the planted-pattern check, then every analysis in every scope,
    warm then cold (`modes`: False is warm, True is cold)."""
    say = log or (lambda _msg: None)
    per_size = []
    for size in sizes:
        say(f"store of {size:,} reads…")
        gen = load_or_generate(StoreSpec(reads=size, seed=seed), folder=folder, log=say)
        store = SqliteStore(Path(gen.path))
        store.initialise()
        try:
            found = _planted_found(store, gen)
        finally:
            store.close()
        load_before = round(os.getloadavg()[0], 2)
        figures = []
        for cold in modes:
            figures += measure_searches(
                Path(gen.path), scopes=scopes, runs=runs, cold=cold, seed=seed, log=say
            )
        per_size.append(
            {
                "reads": gen.reads,
                "cameras": gen.cameras,
                "vehicles": gen.vehicles,
                "store": gen.path,
                "store_mib": round(Path(gen.path).stat().st_size / 2**20),
                "planted_found": found,
                "load_1min_before": load_before,
                "load_1min_after": round(os.getloadavg()[0], 2),
                "figures": [{**asdict(f), "passed": f.passed} for f in figures],
            }
        )
    return {
        "benchmark": "search",
        "machine": machine_description(),
        "runs": asdict(runs),
        "seed": seed,
        "synchronous": "FULL",
        "sizes": per_size,
    }


def print_scoped_table(result: dict[str, Any]) -> None:
    m = result["machine"]
    print(f"machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, SQLite {m['sqlite']}")
    print(
        f"runs: {result['runs']['light']} per light analysis, {result['runs']['heavy']} per heavy"
    )
    for size in result["sizes"]:
        print(
            f"\nstore: {size['reads']:,} reads, {size['cameras']:,} cameras,"
            f" {size['vehicles']:,} vehicles, {size['store_mib']:,} MiB;"
            f" load average {size['load_1min_before']} -> {size['load_1min_after']}"
        )
        print(f"  planted patterns found (national): {size['planted_found']}")
        print(
            f"  {'cache':5} {'scope':8} {'cameras':>7} {'analysis':15} {'runs':>4}"
            f" {'p50 ms':>9} {'p95 ms':>9} {'max ms':>9} {'rows':>6} {'target':>7}  ok "
            f" {'resident':>8} {'outside':>7} {'load':>5}"
        )
        for f in size["figures"]:
            target = f"{f['target_ms']:g}" if f["target_ms"] is not None else "-"
            ok = {True: "yes", False: "NO", None: ""}[f["passed"]] + ("*" if f["truncated"] else "")
            cams = "all" if f["scope_cameras"] is None else f"{f['scope_cameras']:,}"
            print(
                f"  {'cold' if f['cold'] else 'warm':5} {f['scope']:8} {cams:>7}"
                f" {f['analysis']:15} {f['runs']:>4} {f['p50_ms']:>9.1f} {f['p95_ms']:>9.1f}"
                f" {f['max_ms']:>9.1f} {f['rows_p50']:>6} {target:>7}  {ok:3}"
                f" {f['resident_before_p50']:>8.1%} {f['rows_outside_scope']:>7}"
                f" {f['load_1min']:>5}"
            )
    print(
        "  resident: median share of the database file in the page cache before a timed run;"
        " outside: rows returned from cameras outside the scope (must be 0);"
        " * some runs were truncated"
    )
