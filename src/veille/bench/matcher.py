"""`veille bench matcher`: hotlist index build time, memory, µs per read, rebuild under load."""

from __future__ import annotations

import gc
import random
import statistics
import threading
import time
import tracemalloc
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from veille.bench.ingest import LETTERS, machine_description
from veille.domain.hotlists import Category, Hotlist, HotlistEntry
from veille.domain.matcher import HotlistIndex, MatcherHolder
from veille.domain.plates import DEFAULT_LOOKALIKES

NOW = datetime(2025, 3, 1, 12, tzinfo=UTC)
FIRST_DIGITS = "123456789"
INSTRUCTIONS = (
    "Stolen vehicle: stop only with backup, confirm the plate and the images first.",
    "Report the sighting to the dispatching, do not stop.",
    "Schengen alert: discreet check, follow the SIRENE instructions.",
)
COUNTRIES = ("FR", "NL", "DE", "LU")


@dataclass(frozen=True)
class MatcherBenchConfig:
    entries: int = 1_000_000
    reads: int = 200_000
    hit_share: float = 0.005
    investigation_lists: int = 6  # the first with max_edits 2, the others 1; lookalike on
    investigation_entries: int = 10_000  # over all investigation lists
    wildcards_per_list: int = 10  # in each investigation list (their limit)
    rebuild_probe_s: float = 1.5  # matching measured this long before the rebuild
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


def _lookalike_variant(rng: random.Random, plate: str) -> str:
    out = list(plate)
    for _ in range(2):
        i = rng.randrange(len(out))
        for members in DEFAULT_LOOKALIKES.classes:
            if out[i] in members:
                out[i] = rng.choice(sorted(members))
    return "".join(out)


def _edit_variant(rng: random.Random, plate: str) -> str:
    i = rng.randrange(len(plate))
    return plate[:i] + plate[i + 1 :] if rng.random() < 0.5 else plate[:i] + "X" + plate[i:]


Reads = list[tuple[str, str, str | None]]  # (plate, canonical, country)


def bench_reads(config: MatcherBenchConfig, index: HotlistIndex) -> Reads:
    """Uniformly random BE plates that hit nothing, with `hit_share` of them replaced by
    exact, look-alike, edit-distance and wildcard variants of entries."""
    rng = random.Random(config.seed + 1)
    sample: dict[str, list[str]] = {"exact": [], "edit": [], "wild": []}
    for entry in bench_entries(config):
        if entry.is_wildcard:
            sample["wild"].append(entry.plate)
        elif entry.list_id.startswith("inv-"):
            sample["edit"].append(entry.plate)
        elif entry.country == "BE" and rng.random() < 0.01:
            sample["exact"].append(entry.plate)
    reads: Reads = []
    while len(reads) < config.reads:
        if rng.random() < config.hit_share:
            roll = rng.random()
            if roll < 0.4 and sample["exact"]:
                plate = rng.choice(sample["exact"])
            elif roll < 0.7 and sample["exact"]:
                plate = _lookalike_variant(rng, rng.choice(sample["exact"]))
            elif roll < 0.9 and sample["edit"]:
                plate = _edit_variant(rng, rng.choice(sample["edit"]))
            elif sample["wild"]:
                pattern = rng.choice(sample["wild"])
                plate = "".join(rng.choice(LETTERS) if c == "?" else c for c in pattern)
            else:
                continue
        else:
            plate = _background_plate(rng, index)
        reads.append((plate, DEFAULT_LOOKALIKES.canonical(plate), "BE"))
    return reads


def _background_plate(rng: random.Random, index: HotlistIndex) -> str:
    """A uniformly random BE plate that hits nothing: a car on no list."""
    while True:
        plate = _be_plate(rng, FIRST_DIGITS)
        canonical = DEFAULT_LOOKALIKES.canonical(plate)
        if not index.match(plate=plate, plate_canonical=canonical, country="BE", now=NOW):
            return plate


def natural_hit_shares(index: HotlistIndex, reads: int, seed: int) -> dict[str, float]:
    """Share of uniformly random BE plates that hit, by kind of list: on a big list,
    look-alike classes and edit budgets find near plates that are other cars."""
    rng = random.Random(seed)
    counts = {"any": 0, "budget_0": 0, "budget_1": 0, "budget_2": 0}
    for _ in range(reads):
        plate = _be_plate(rng, FIRST_DIGITS)
        canonical = DEFAULT_LOOKALIKES.canonical(plate)
        hits = index.match(plate=plate, plate_canonical=canonical, country="BE", now=NOW)
        counts["any"] += bool(hits)
        for budget in {hit.list.max_edits for hit in hits}:
            counts[f"budget_{budget}"] += 1
    return {name: round(count / reads, 4) for name, count in counts.items()}


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS"):
            return int(line.split()[1])
    return 0


def _per_read(index: HotlistIndex, reads: Reads) -> dict[str, Any]:
    timings = []
    hits = 0
    clock = time.perf_counter_ns
    match = index.match
    for plate, canonical, country in reads:
        t0 = clock()
        found = match(plate=plate, plate_canonical=canonical, country=country, now=NOW)
        timings.append(clock() - t0)
        hits += bool(found)
    timings.sort()
    return {
        "reads": len(reads),
        "reads_with_hits": hits,
        "hit_share": round(hits / max(1, len(reads)), 4),
        "p50_us": round(timings[len(timings) // 2] / 1000, 2),
        "p99_us": round(timings[int(len(timings) * 0.99)] / 1000, 2),
        "mean_us": round(statistics.fmean(timings) / 1000, 2),
    }


class _Matching:
    """A thread that matches reads through the holder and keeps the rate per phase."""

    def __init__(self, holder: MatcherHolder, reads: Reads):
        self.holder, self.reads = holder, reads
        self.phase = "before"
        self.stop = False
        self.counts: dict[str, int] = {}
        self.longest_gap_ms: dict[str, float] = {}
        self.errors = 0

    def run(self) -> None:
        last = time.perf_counter()
        i = 0
        while not self.stop:
            plate, canonical, country = self.reads[i % len(self.reads)]
            i += 1
            try:
                self.holder.match(plate=plate, plate_canonical=canonical, country=country, now=NOW)
            except Exception:
                self.errors += 1
            now = time.perf_counter()
            phase = self.phase
            self.counts[phase] = self.counts.get(phase, 0) + 1
            gap = (now - last) * 1000
            if gap > self.longest_gap_ms.get(phase, 0.0):
                self.longest_gap_ms[phase] = gap
            last = now


def _rebuild_under_load(
    config: MatcherBenchConfig, holder: MatcherHolder, reads: Reads
) -> dict[str, Any]:
    probe = _Matching(holder, reads)
    thread = threading.Thread(target=probe.run, daemon=True)
    thread.start()
    time.sleep(config.rebuild_probe_s)
    before_n = probe.counts.get("before", 0)
    probe.phase = "during"
    t0 = time.perf_counter()
    old = holder.current
    holder.rebuild_with(bench_lists(config), bench_entries(config, seed=config.seed + 7))
    seconds = time.perf_counter() - t0
    probe.phase = "after"
    time.sleep(0.2)
    probe.stop = True
    thread.join()
    during = probe.counts.get("during", 0)
    before_rate = before_n / config.rebuild_probe_s
    during_rate = during / seconds
    return {
        "seconds": round(seconds, 2),
        "swapped": holder.current is not old,
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


def run_matcher_bench(
    entries: int = 1_000_000, reads: int = 200_000, seed: int = 3, **overrides: Any
) -> dict[str, Any]:
    """Build, memory, µs per read and a rebuild under load; returns the figures as a dict."""
    config = MatcherBenchConfig(entries=entries, reads=reads, seed=seed, **overrides)
    lists = bench_lists(config)
    t0 = time.perf_counter()
    sizes = _sizes(config)  # one pass over the generated entries: their cost alone
    generate_s = time.perf_counter() - t0
    gc.collect()
    rss0 = _rss_kib()
    t0 = time.perf_counter()
    index = HotlistIndex.build(lists, bench_entries(config))
    build_s = time.perf_counter() - t0
    gc.collect()
    rss_delta_mib = (_rss_kib() - rss0) / 1024
    read_sample = bench_reads(config, index)
    per_read = _per_read(index, read_sample)
    natural = natural_hit_shares(index, min(20_000, reads), seed + 2)
    holder = MatcherHolder(index)
    del index
    rebuild = _rebuild_under_load(config, holder, read_sample)
    holder.replace(HotlistIndex.build((), ()))
    gc.collect()
    tracemalloc.start()
    traced = HotlistIndex.build(lists, bench_entries(config))
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del traced
    return {
        "config": asdict(config),
        "machine": machine_description(),
        "entries": sizes,
        "build": {
            "entries": entries,
            "seconds": round(build_s, 2),
            "generating_entries_s": round(generate_s, 2),
            "indexing_s": round(build_s - generate_s, 2),
            "entries_per_s": round(entries / max(1e-9, build_s - generate_s)),
        },
        "memory": {
            "rss_delta_mib": round(rss_delta_mib, 1),
            "tracemalloc_retained_mib": round(current / 2**20, 1),
            "tracemalloc_peak_mib": round(peak / 2**20, 1),
            "bytes_per_entry": round(current / max(1, entries)),
        },
        "per_read": per_read,
        "natural_hit_share": natural,
        "rebuild_under_load": rebuild,
    }


def print_table(result: dict[str, Any]) -> None:
    m, cfg, sizes = result["machine"], result["config"], result["entries"]
    b, mem, r = result["build"], result["memory"], result["per_read"]
    rb, natural = result["rebuild_under_load"], result["natural_hit_share"]
    print(f"veille bench matcher — {m['cpu']}, {m['cores']} cores, Python {m['python']}")
    print(
        f"{cfg['entries']:,} entries: {sizes.get('budget_0', 0):,} in lists without an edit"
        f" budget, {sizes.get('budget_1', 0):,} with 1, {sizes.get('budget_2', 0):,} with 2,"
        f" {sizes.get('wildcard', 0)} wildcards; {cfg['reads']:,} reads"
    )
    print()
    print(f"| {'measure':<46} | {'value':>12} |")
    print(f"|{'-' * 48}|{'-' * 14}|")
    rows = [
        ("index build, entries streamed in (s)", f"{b['seconds']}"),
        ("  of which generating the entries (s)", f"{b['generating_entries_s']}"),
        ("  indexing rate (entries/s)", f"{b['entries_per_s']:,}"),
        ("memory: RSS growth (MiB)", f"{mem['rss_delta_mib']}"),
        ("memory: tracemalloc retained (MiB)", f"{mem['tracemalloc_retained_mib']}"),
        ("memory: tracemalloc peak during build (MiB)", f"{mem['tracemalloc_peak_mib']}"),
        ("bytes per entry (retained)", f"{mem['bytes_per_entry']}"),
        ("µs per read, p50", f"{r['p50_us']}"),
        ("µs per read, mean", f"{r['mean_us']}"),
        ("µs per read, p99", f"{r['p99_us']}"),
        ("reads with a hit (injected)", f"{r['hit_share']:.2%}"),
        ("random BE plates hitting: any list", f"{natural['any']:.2%}"),
        ("  a budget-0 list (look-alike)", f"{natural['budget_0']:.2%}"),
        ("  a budget-1 list", f"{natural['budget_1']:.2%}"),
        ("  a budget-2 list", f"{natural['budget_2']:.2%}"),
        ("replacement build under load (s)", f"{rb['seconds']}"),
        ("matches/s before the rebuild", f"{rb['matches_per_s_before']:,}"),
        ("matches/s during the rebuild", f"{rb['matches_per_s_during']:,}"),
        ("longest gap between matches, before (ms)", f"{rb['longest_gap_before_ms']}"),
        ("longest gap between matches, during (ms)", f"{rb['longest_gap_during_ms']}"),
        (
            "new index swapped in / match errors",
            f"{'yes' if rb['swapped'] else 'NO'} / {rb['errors']}",
        ),
    ]
    for name, value in rows:
        print(f"| {name:<46} | {value:>12} |")
