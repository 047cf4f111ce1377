"""`veille bench matcher`: the production hotlist matcher over a real store: its build,
memory, µs per simulated read, the share of ordinary reads that alert, and a full
replacement of the national list while matching goes on."""

from __future__ import annotations

import gc
import math
import os
import random
import shutil
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from veille.adapters.decoders.native_json import parse_read
from veille.bench.ingest import LETTERS, machine_description
from veille.domain.hotlists import Category, Hit, Hotlist, HotlistEntry
from veille.domain.matcher import HotlistIndex
from veille.domain.plates import wildcard_regex
from veille.domain.reads import Read
from veille.service.hotlists import HotlistMatcher
from veille.service.ports import UnitOfWork
from veille.simulator.runner import SimulationConfig, build_simulation

NOW = datetime(2025, 3, 1, 12, tzinfo=UTC)
FIRST_DIGITS = "123456789"
INSTRUCTIONS = (
    "Stolen vehicle: stop only with backup, confirm the plate and the images first.",
    "Report the sighting to the dispatching, do not stop.",
    "Schengen alert: discreet check, follow the SIRENE instructions.",
)
COUNTRIES = ("FR", "NL", "DE", "LU")
NATIONAL = "national-stolen"


class ReadMatcher(Protocol):
    """What ingest calls per read (`HotlistMatcher.match`)."""

    def match(
        self, *, plate: str, plate_canonical: str, country: str | None, now: datetime
    ) -> list[Hit]: ...


@dataclass(frozen=True)
class MatcherBenchConfig:
    entries: int = 1_000_000
    reads: int = 50_000  # simulator reads, every one matched (none filtered out)
    cameras: int = 450  # of the simulated network
    traffic_rate: float = 200.0  # reads/s of the simulation (sizes its vehicle pool)
    investigation_lists: int = 6  # the first with max_edits 2, the others 1; lookalike on
    investigation_entries: int = 10_000  # over all investigation lists
    wildcards_per_list: int = 10  # in each investigation list (their limit)
    rebuild_probe_s: float = 1.5  # matching measured this long before the rebuild
    compare_rounds: int = 3  # alternated rounds against one index of every list (0: none)
    seed: int = 3


def _be_plate(rng: random.Random, first: str) -> str:
    return f"{rng.choice(first)}{''.join(rng.choices(LETTERS, k=3))}{rng.randint(0, 999):03d}"


def bench_lists(config: MatcherBenchConfig) -> list[Hotlist]:
    lists = [
        Hotlist("national-stolen", "Stolen vehicles (national)", Category.STOLEN_VEHICLE, "fed"),
        Hotlist("sis", "Schengen alerts", Category.SCHENGEN_ALERT, "fed", default_priority=2),
        Hotlist("uninsured", "Uninsured vehicles", Category.UNINSURED, "fed", default_priority=5),
    ]
    for n in range(config.investigation_lists):
        lists.append(
            Hotlist(
                f"inv-{n}",
                f"Investigation {n}",
                Category.INVESTIGATION,
                f"zone-{5339 + n}",
                max_edits=2 if n == 0 else 1,  # budget 2 is loose: one small list
                max_wildcards=config.wildcards_per_list,
                default_priority=1,
            )
        )
    return lists


def bench_entries(config: MatcherBenchConfig, *, seed: int | None = None) -> Iterator[HotlistEntry]:
    """The entries, streamed: a national list of ~94 % of them, SIS, uninsured, investigations."""
    rng = random.Random(config.seed if seed is None else seed)
    lists = bench_lists(config)
    investigations = [hl for hl in lists if hl.category is Category.INVESTIGATION]
    wild = config.wildcards_per_list * len(investigations)
    edits = min(config.investigation_entries, config.entries // 100)
    rest = max(0, config.entries - edits - wild)
    sis, uninsured = rest * 3 // 100, rest * 3 // 100
    stolen = rest - sis - uninsured
    reported = NOW - timedelta(days=400)
    n = 0
    for list_id, count in (("national-stolen", stolen), ("sis", sis), ("uninsured", uninsured)):
        for _ in range(count):
            n += 1
            foreign = list_id == "sis" and rng.random() < 0.5
            yield HotlistEntry(
                entry_id=f"E{n:08d}",
                list_id=list_id,
                plate=_be_plate(rng, FIRST_DIGITS),
                country=rng.choice(COUNTRIES) if foreign else "BE",
                priority=2 if list_id != "uninsured" else 5,
                valid_from=reported + timedelta(minutes=rng.randint(0, 570_000)),
                valid_until=NOW + timedelta(days=365) if list_id == "sis" else None,
                source_ref=f"PV BR.{rng.randint(10, 99)}.L3.{n:06d}/24",
                instructions=INSTRUCTIONS[n % len(INSTRUCTIONS)],
            )
    for i in range(edits + wild):
        n += 1
        hotlist = investigations[i % len(investigations)]
        plate = _be_plate(rng, FIRST_DIGITS)
        if i >= edits:  # a partial plate seen by a witness: 1-AB?-1?3
            plate = plate[:3] + "?" + plate[4] + "?" + plate[6]
        yield HotlistEntry(
            entry_id=f"E{n:08d}",
            list_id=hotlist.list_id,
            plate=plate,
            priority=1,
            source_ref=f"{hotlist.owner_org}/2025/{n}",
            instructions="Investigation: do not intercept, inform the case officer.",
            covert=i % 3 == 0,
        )


def load_bench_lists(
    *, uow_factory: Callable[[], UnitOfWork], config: MatcherBenchConfig, now: datetime = NOW
) -> dict[str, int]:
    """Store the bench lists and their entries (streamed, one transaction), each list's
    change noted as the hotlist services note it; answer the entries per list."""
    counts: dict[str, int] = {}

    def counted(entries: Iterable[HotlistEntry]) -> Iterator[HotlistEntry]:
        for entry in entries:
            counts[entry.list_id] = counts.get(entry.list_id, 0) + 1
            yield entry

    lists = bench_lists(config)
    with uow_factory() as uow:
        for hotlist in lists:
            uow.hotlists.save_list(hotlist, now)
            uow.hotlists.replace_entries(hotlist.list_id, (), now)
        uow.hotlists.put_entries(counted(bench_entries(config)), now)
        for hotlist in lists:
            uow.hotlists.note_change(hotlist.list_id, now)
        uow.commit()
    return counts


def replace_national_list(
    *, uow_factory: Callable[[], UnitOfWork], config: MatcherBenchConfig, seed: int,
    now: datetime = NOW,
) -> int:  # fmt: skip
    """Replace the national list in full with one drawn from `seed` (its monthly refresh);
    answer its new entry count."""
    count = 0

    def national() -> Iterator[HotlistEntry]:
        nonlocal count
        for entry in bench_entries(config, seed=seed):
            if entry.list_id == NATIONAL:
                count += 1
                yield entry

    with uow_factory() as uow:
        uow.hotlists.replace_entries(NATIONAL, national(), now)
        uow.hotlists.note_change(NATIONAL, now)
        uow.commit()
    return count


@dataclass(frozen=True, slots=True)
class TrafficRead:
    """A simulated read as ingest parsed it, with the plate of the vehicle really there."""

    read: Read
    true_plate: str


def simulated_traffic(config: MatcherBenchConfig, *, now: datetime = NOW) -> list[TrafficRead]:
    """`config.reads` reads of the simulator's traffic, parsed by the native JSON decoder
    as ingest parses them; none left out, whatever it matches."""
    span = timedelta(seconds=config.reads / config.traffic_rate + 120)
    simulation = build_simulation(
        SimulationConfig(
            cameras=config.cameras,
            rate=config.traffic_rate,
            seed=config.seed,
            realtime=False,
            total=config.reads,
        ),
        start=now - span,
    )
    return [
        TrafficRead(parse_read(r.payload, camera_id=r.camera_id, now=now).read, r.true_plate)
        for r in simulation.reads(count=config.reads)
    ]


def is_true_hit(hit: Hit, true_plate: str) -> bool:
    """Whether the hit names the vehicle that was really there: the entry is its plate
    (or, for a witness's partial plate, the pattern fits it)."""
    if hit.entry.is_wildcard:
        return wildcard_regex(hit.entry.plate).fullmatch(true_plate) is not None
    return hit.entry.plate == true_plate


def judge_traffic(
    matcher: ReadMatcher, traffic: Sequence[TrafficRead], *, now: datetime = NOW
) -> dict[str, Any]:
    """Time `matcher.match` per read (as ingest calls it) and sort the reads that alert:
    true hits (a hit on the true plate) and false alerts (hits, none on the true plate;
    by whether the camera misread the plate, and by the best hit's kind)."""
    timings: list[int] = []
    clock = time.perf_counter_ns
    match = matcher.match
    alerted = true_hits = 0
    false_by_read: dict[str, int] = {"misread": 0, "read_right": 0}
    false_by_kind: dict[str, int] = {}
    for item in traffic:
        read = item.read
        t0 = clock()
        hits = match(
            plate=read.plate, plate_canonical=read.plate_canonical, country=read.country, now=now
        )
        timings.append(clock() - t0)
        if not hits:
            continue
        alerted += 1
        if any(is_true_hit(hit, item.true_plate) for hit in hits):
            true_hits += 1
            continue
        false_by_read["misread" if read.plate != item.true_plate else "read_right"] += 1
        kind = hits[0].kind.value
        false_by_kind[kind] = false_by_kind.get(kind, 0) + 1
    timings.sort()
    n = max(1, len(traffic))
    false_alerts = alerted - true_hits
    return {
        "reads": len(traffic),
        "misreads": sum(1 for t in traffic if t.read.plate != t.true_plate),
        "alerting": alerted,
        "true_hits": true_hits,
        "false_alerts": false_alerts,
        "alerting_share": round(alerted / n, 5),
        "true_hit_share": round(true_hits / n, 5),
        "false_alert_share": round(false_alerts / n, 5),
        "false_alerts_by_read": false_by_read,
        "false_alerts_by_kind": dict(sorted(false_by_kind.items())),
        "p50_us": _us(timings, 0.5),
        "p99_us": _us(timings, 0.99),
        "mean_us": round(statistics.fmean(timings) / 1000, 2) if timings else -1,
    }


def _us(ordered: list[int], q: float) -> float:
    if not ordered:
        return -1
    rank = min(len(ordered), max(1, math.ceil(round(q * len(ordered), 9))))  # nearest rank
    return round(ordered[rank - 1] / 1000, 2)


def _timed_pass(matcher: ReadMatcher, reads: Sequence[Read]) -> tuple[list[int], list[set[str]]]:
    clock = time.perf_counter_ns
    match = matcher.match
    timings: list[int] = []
    found: list[set[str]] = []
    for read in reads:
        t0 = clock()
        hits = match(
            plate=read.plate, plate_canonical=read.plate_canonical, country=read.country, now=NOW
        )
        timings.append(clock() - t0)
        found.append({hit.entry.entry_id for hit in hits})
    return timings, found


def compare_with_one_index(
    matcher: HotlistMatcher,
    uow_factory: Callable[[], UnitOfWork],
    traffic: Sequence[TrafficRead],
    rounds: int,
) -> dict[str, Any]:
    """The production layout against one index of every list (what the bench timed
    before issue 11), alternated on the same reads in one run, so the machine's load
    weighs on both alike; and whether both find the same entries for every read."""
    with uow_factory() as uow:
        single = HotlistIndex.build(
            uow.hotlists.lists(), uow.hotlists.entries(), lookalikes=matcher.lookalikes
        )
    reads = [t.read for t in traffic]
    out: list[dict[str, Any]] = []
    differing = 0
    for n in range(rounds):
        production, found_p = _timed_pass(matcher, reads)
        one, found_one = _timed_pass(single, reads)
        if n == 0:
            differing = sum(1 for a, b in zip(found_p, found_one, strict=True) if a != b)
        mean_p, mean_one = statistics.fmean(production), statistics.fmean(one)
        out.append(
            {
                "production_mean_us": round(mean_p / 1000, 2),
                "one_index_mean_us": round(mean_one / 1000, 2),
                "production_p50_us": _us(sorted(production), 0.5),
                "one_index_p50_us": _us(sorted(one), 0.5),
                "ratio_of_means": round(mean_p / mean_one, 2),
            }
        )
    return {"rounds": out, "reads_with_different_hits": differing}


class PeakRss:
    """The peak resident set of this process during a block: the kernel's high-water mark
    reset on entry (Linux), else RSS sampled every 5 ms."""

    def __init__(self) -> None:
        self.before_kib = self.peak_kib = 0
        self._sampler: threading.Thread | None = None
        self._done = threading.Event()

    def __enter__(self) -> PeakRss:
        gc.collect()
        self.before_kib = _status_kib("VmRSS")
        try:
            Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
        except OSError:
            self._sampler = threading.Thread(target=self._sample, daemon=True)
            self._sampler.start()
        return self

    def _sample(self) -> None:
        while not self._done.wait(0.005):
            self.peak_kib = max(self.peak_kib, _status_kib("VmRSS"))

    def __exit__(self, *exc: object) -> None:
        if self._sampler is not None:
            self._done.set()
            self._sampler.join()
        else:
            self.peak_kib = _status_kib("VmHWM")
        self.peak_kib = max(self.peak_kib, self.before_kib)

    def as_dict(self) -> dict[str, float]:
        return {
            "rss_before_mib": round(self.before_kib / 1024, 1),
            "peak_rss_mib": round(self.peak_kib / 1024, 1),
            "peak_over_before_mib": round((self.peak_kib - self.before_kib) / 1024, 1),
        }


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1])
    return 0


class _Matching:
    """A thread that matches reads through the matcher and keeps the rate per phase."""

    def __init__(self, matcher: ReadMatcher, traffic: Sequence[TrafficRead]):
        self.matcher, self.reads = matcher, [t.read for t in traffic]
        self.phase = "before"
        self.stop = False
        self.counts: dict[str, int] = {}
        self.longest_gap_ms: dict[str, float] = {}
        self.errors = 0

    def run(self) -> None:
        last = time.perf_counter()
        i = 0
        while not self.stop:
            read = self.reads[i % len(self.reads)]
            i += 1
            try:
                self.matcher.match(
                    plate=read.plate,
                    plate_canonical=read.plate_canonical,
                    country=read.country,
                    now=NOW,
                )
            except Exception:
                self.errors += 1
            now = time.perf_counter()
            phase = self.phase
            self.counts[phase] = self.counts.get(phase, 0) + 1
            gap = (now - last) * 1000
            if gap > self.longest_gap_ms.get(phase, 0.0):
                self.longest_gap_ms[phase] = gap
            last = now


def _replacement_under_load(
    config: MatcherBenchConfig,
    matcher: HotlistMatcher,
    uow_factory: Callable[[], UnitOfWork],
    traffic: Sequence[TrafficRead],
) -> dict[str, Any]:
    """Replace the national list in the store, then refresh the matcher as its watcher
    would while a thread keeps matching; the peak RSS of each step."""
    t0 = time.perf_counter()
    with PeakRss() as store_rss:
        stored = replace_national_list(uow_factory=uow_factory, config=config, seed=config.seed + 7)
    store_s = time.perf_counter() - t0
    old = matcher.layout()
    probe = _Matching(matcher, traffic)
    thread = threading.Thread(target=probe.run, daemon=True)
    thread.start()
    time.sleep(config.rebuild_probe_s)
    before_n = probe.counts.get("before", 0)
    probe.phase = "during"
    t0 = time.perf_counter()
    with PeakRss() as refresh_rss:
        changed = matcher.refresh(uow_factory)
    seconds = time.perf_counter() - t0
    probe.phase = "after"
    time.sleep(0.2)
    probe.stop = True
    thread.join()
    during = probe.counts.get("during", 0)
    before_rate = before_n / config.rebuild_probe_s
    during_rate = during / seconds
    return {
        "national_entries": stored,
        "store_replacement_s": round(store_s, 2),
        "store_replacement_memory": store_rss.as_dict(),
        "refresh_s": round(seconds, 2),
        "refresh_memory": refresh_rss.as_dict(),
        "lists_refreshed": sorted(changed),
        "layout_before": old,
        "layout_after": matcher.layout(),
        "matches_per_s_before": round(before_rate),
        "matches_per_s_during": round(during_rate),
        "during_over_before": round(during_rate / max(1.0, before_rate), 2),
        "longest_gap_before_ms": round(probe.longest_gap_ms.get("before", 0.0), 1),
        "longest_gap_during_ms": round(probe.longest_gap_ms.get("during", 0.0), 1),
        "errors": probe.errors,
    }


def _sizes(config: MatcherBenchConfig) -> dict[str, int]:
    counts: dict[str, int] = {}
    budgets = {hl.list_id: hl.max_edits for hl in bench_lists(config)}
    for entry in bench_entries(config):
        kind = "wildcard" if entry.is_wildcard else f"budget_{budgets[entry.list_id]}"
        counts[kind] = counts.get(kind, 0) + 1
    return counts


def run_matcher_bench(config: MatcherBenchConfig | None = None) -> dict[str, Any]:
    """The bench lists in a SQLite store, indexed by the platform's own `HotlistMatcher`
    (its refresh: an index per large list, one shared by the rest); simulated reads
    matched through it; a full national-list replacement under matching load."""
    from veille.bootstrap import bootstrap
    from veille.entrypoints.runtime import tune_garbage_collector
    from veille.settings import Settings

    config = config or MatcherBenchConfig()
    load_before = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="veille-bench-matcher-"))
    thresholds = gc.get_threshold()
    try:
        settings = Settings(data_dir=work)
        platform = bootstrap(settings)
        platform.store.initialise()
        # the collector as `veille serve` tunes it: the matcher lives in a server process
        gc_in_force = tune_garbage_collector(settings.gc_gen0_threshold)
        t0 = time.perf_counter()
        sizes = _sizes(config)  # one pass over the generated entries: their cost alone
        generate_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        per_list = load_bench_lists(uow_factory=platform.uow, config=config)
        load_s = time.perf_counter() - t0
        matcher = platform.matcher  # the server's own, as bootstrap builds it
        t0 = time.perf_counter()
        with PeakRss() as build_rss:
            matcher.refresh(platform.uow)
        build_s = time.perf_counter() - t0
        gc.collect()
        retained_kib = _status_kib("VmRSS") - build_rss.before_kib
        layout = matcher.layout()  # what the reads are matched against
        t0 = time.perf_counter()
        traffic = simulated_traffic(config)
        traffic_s = time.perf_counter() - t0
        judged = judge_traffic(matcher, traffic)
        compared = (
            compare_with_one_index(matcher, platform.uow, traffic, config.compare_rounds)
            if config.compare_rounds
            else None
        )
        gc.collect()  # the single index is gone before the replacement's memory is taken
        replacement = _replacement_under_load(config, matcher, platform.uow, traffic)
        platform.store.close()
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
        shutil.rmtree(work, ignore_errors=True)
    return {
        "benchmark": "matcher",
        "config": asdict(config),
        "machine": machine_description(),
        "load_average": {"before": list(load_before), "after": list(os.getloadavg())},
        "entries": sizes,
        "lists": per_list,
        "layout": layout,
        "large_list_entries": matcher.large_list_entries,
        "gc_thresholds": list(gc_in_force),
        "build": {
            "entries": sum(per_list.values()),
            "generating_entries_s": round(generate_s, 2),
            "storing_s": round(load_s, 2),
            "refresh_s": round(build_s, 2),
            "entries_per_s": round(sum(per_list.values()) / max(1e-9, build_s)),
        },
        "memory": {
            **build_rss.as_dict(),
            "rss_retained_mib": round(retained_kib / 1024, 1),
            "bytes_per_entry": round(retained_kib * 1024 / max(1, config.entries)),
        },
        "traffic_s": round(traffic_s, 2),
        "per_read": judged,
        "against_one_index": compared,
        "replacement_under_load": replacement,
    }


def print_table(result: dict[str, Any]) -> None:
    m, sizes = result["machine"], result["entries"]
    b, mem, r = result["build"], result["memory"], result["per_read"]
    rb, load = result["replacement_under_load"], result["load_average"]
    print(f"veille bench matcher — {m['cpu']}, {m['cores']} cores, Python {m['python']}")
    print(
        f"{b['entries']:,} entries: {sizes.get('budget_0', 0):,} in lists without an edit"
        f" budget, {sizes.get('budget_1', 0):,} with 1, {sizes.get('budget_2', 0):,} with 2,"
        f" {sizes.get('wildcard', 0)} wildcards; {r['reads']:,} simulated reads, none"
        f" filtered (load average {load['before'][0]:.2f} before, {load['after'][0]:.2f} after)"
    )
    layout = ", ".join(f"{key} {n:,}" for key, n in result["layout"].items())
    print(
        f"indexes, as HotlistMatcher.refresh lays them out (own index from"
        f" {result['large_list_entries']:,} entries): {layout};"
        f" garbage collector thresholds {tuple(result['gc_thresholds'])}, as the server's"
    )
    print()
    print(f"| {'measure':<52} | {'value':>12} |")
    print(f"|{'-' * 54}|{'-' * 14}|")
    false_by = r["false_alerts_by_read"]
    kinds = ", ".join(f"{k} {n}" for k, n in r["false_alerts_by_kind"].items()) or "none"
    rows = [
        ("storing the lists in SQLite (s)", f"{b['storing_s']}"),
        ("first refresh: every index built from the store (s)", f"{b['refresh_s']}"),
        ("memory: RSS retained by the indexes (MiB)", f"{mem['rss_retained_mib']}"),
        ("memory: peak RSS over before, first refresh (MiB)", f"{mem['peak_over_before_mib']}"),
        ("bytes per entry (RSS retained)", f"{mem['bytes_per_entry']}"),
        ("µs per read, p50", f"{r['p50_us']}"),
        ("µs per read, mean", f"{r['mean_us']}"),
        ("µs per read, p99", f"{r['p99_us']}"),
        ("reads that alert", f"{r['alerting_share']:.3%}"),
        ("  true hits (the true plate is listed)", f"{r['true_hit_share']:.3%}"),
        ("  false alerts (a listed plate it is not)", f"{r['false_alert_share']:.3%}"),
        (
            "  false alerts: misread / read right",
            f"{false_by['misread']} / {false_by['read_right']}",
        ),
        ("national list replaced in the store (s)", f"{rb['store_replacement_s']}"),
        (
            "  peak RSS over before (MiB)",
            f"{rb['store_replacement_memory']['peak_over_before_mib']}",
        ),
        ("refresh after the replacement (s)", f"{rb['refresh_s']}"),
        ("  peak RSS (MiB)", f"{rb['refresh_memory']['peak_rss_mib']}"),
        ("  peak RSS over before (MiB)", f"{rb['refresh_memory']['peak_over_before_mib']}"),
        ("matches/s before the replacement", f"{rb['matches_per_s_before']:,}"),
        ("matches/s during the refresh", f"{rb['matches_per_s_during']:,}"),
        ("longest gap between matches, before (ms)", f"{rb['longest_gap_before_ms']}"),
        ("longest gap between matches, during (ms)", f"{rb['longest_gap_during_ms']}"),
        ("lists refreshed / match errors", f"{','.join(rb['lists_refreshed'])} / {rb['errors']}"),
    ]
    for name, value in rows:
        print(f"| {name:<52} | {value:>12} |")
    print()
    print(f"false alerts by the best hit's kind: {kinds}")
    compared = result.get("against_one_index")
    if compared:
        print()
        print(
            "production layout against one index of every list, alternated on the same reads"
            f" ({compared['reads_with_different_hits']} reads with different hits):"
        )
        for n, rnd in enumerate(compared["rounds"], 1):
            print(
                f"  round {n}: mean {rnd['production_mean_us']} µs against"
                f" {rnd['one_index_mean_us']} µs (ratio {rnd['ratio_of_means']}),"
                f" p50 {rnd['production_p50_us']} against {rnd['one_index_p50_us']} µs"
            )
