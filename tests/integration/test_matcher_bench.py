"""`veille bench matcher`, small: it times the server's own matcher layout, over a real
store, on simulated traffic left unfiltered, and judges alerts by the true plates."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from veille.bench.matcher import (
    NATIONAL,
    NOW,
    MatcherBenchConfig,
    judge_traffic,
    load_bench_lists,
    run_matcher_bench,
    simulated_traffic,
)
from veille.bootstrap import Platform, bootstrap
from veille.domain.hotlists import Category, Hotlist, HotlistEntry
from veille.domain.plates import DEFAULT_LOOKALIKES
from veille.service.hotlists import LARGE_LIST_ENTRIES, SMALL_LISTS
from veille.settings import Settings
from veille.simulator.traffic import LOOKALIKE_ALTERNATIVES

pytestmark = pytest.mark.integration


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    platform = bootstrap(Settings(data_dir=tmp_path))
    platform.store.initialise()
    yield platform
    platform.store.close()


def test_the_bench_times_the_production_layout_and_replaces_the_national_list():
    # 55,000 entries: a national list just over the size that earns an index of its own
    config = MatcherBenchConfig(entries=55_000, reads=1500, rebuild_probe_s=0.2, compare_rounds=1)
    result = run_matcher_bench(config)
    lists = result["lists"]
    assert lists[NATIONAL] >= LARGE_LIST_ENTRIES > max(n for k, n in lists.items() if k != NATIONAL)
    assert result["layout"] == {
        NATIONAL: lists[NATIONAL],
        SMALL_LISTS: sum(lists.values()) - lists[NATIONAL],
    }
    per_read = result["per_read"]
    assert per_read["reads"] == config.reads  # every simulated read is matched and timed
    assert per_read["alerting"] == per_read["true_hits"] + per_read["false_alerts"]
    # the earlier bench's single index, timed alongside on the same reads, finds the same
    assert result["against_one_index"]["reads_with_different_hits"] == 0
    assert len(result["against_one_index"]["rounds"]) == 1
    replaced = result["replacement_under_load"]
    assert replaced["lists_refreshed"] == [NATIONAL]  # only the national index rebuilt
    assert replaced["layout_after"][NATIONAL] == replaced["national_entries"]
    assert replaced["layout_after"][SMALL_LISTS] == result["layout"][SMALL_LISTS]
    assert replaced["errors"] == 0
    memory = replaced["refresh_memory"]
    assert memory["peak_rss_mib"] >= memory["rss_before_mib"] > 0


def test_load_bench_lists_stores_every_list_for_the_matchers_refresh(platform):
    config = MatcherBenchConfig(entries=3000)
    counts = load_bench_lists(uow_factory=platform.uow, config=config)
    with platform.uow() as uow:
        stored = {hl.list_id: uow.hotlists.count_entries(hl.list_id) for hl in uow.hotlists.lists()}
    assert stored == counts and sum(counts.values()) == config.entries
    platform.matcher.refresh(platform.uow)
    assert platform.matcher.layout() == {SMALL_LISTS: config.entries}  # all lists small


def _lookalike(plate: str) -> str:
    i = next(i for i, c in enumerate(plate) if c in LOOKALIKE_ALTERNATIVES)
    return plate[:i] + LOOKALIKE_ALTERNATIVES[plate[i]][0] + plate[i + 1 :]


def test_alerts_are_counted_unfiltered_and_judged_by_the_true_plate(platform):
    traffic = simulated_traffic(MatcherBenchConfig(reads=3000, seed=5), now=NOW)
    true_plates = sorted({t.true_plate for t in traffic})
    on_road = set(true_plates)
    wanted = true_plates[:3]  # vehicles that are on the list, and on the road
    # a listed plate no vehicle of the traffic has, one look-alike from a plate on the road
    neighbour = next(p for p in true_plates[3:] if _lookalike(p) not in on_road)
    decoy = _lookalike(neighbour)
    hotlist = Hotlist("planted", "Planted", Category.STOLEN_VEHICLE, "fed")
    entries = [
        HotlistEntry(entry_id=f"P{i}", list_id="planted", plate=plate)
        for i, plate in enumerate([*wanted, decoy])
    ]
    with platform.uow() as uow:
        uow.hotlists.save_list(hotlist, NOW)
        uow.hotlists.put_entries(entries, NOW)
        uow.hotlists.note_change("planted", NOW)
        uow.commit()
    platform.matcher.refresh(platform.uow)

    judged = judge_traffic(platform.matcher, traffic)

    canonical = DEFAULT_LOOKALIKES.canonical
    listed = {canonical(p) for p in [*wanted, decoy]}
    alerting = [t for t in traffic if t.read.plate_canonical in listed]
    true_hits = [t for t in alerting if t.true_plate in wanted]
    false_alerts = [t for t in alerting if t.true_plate not in wanted]
    assert judged["reads"] == len(traffic)
    assert judged["true_hits"] == len(true_hits) > 0  # hits are in the traffic, not filtered
    assert judged["false_alerts"] == len(false_alerts) > 0  # the decoy's neighbour, read right
    assert all(t.true_plate == neighbour for t in false_alerts)
    assert judged["false_alerts_by_read"] == {
        "misread": sum(1 for t in false_alerts if t.read.plate != t.true_plate),
        "read_right": sum(1 for t in false_alerts if t.read.plate == t.true_plate),
    }
    assert judged["false_alert_share"] == round(len(false_alerts) / len(traffic), 5)
    assert judged["alerting"] == len(alerting)
