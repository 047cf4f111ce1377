"""`measure_searches` on a small generated store: scopes restrict cameras, cold runs start
from an evicted page cache (checked with mincore), and the run counts are honoured."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import pytest

from veille.adapters.sqlite.store import SqliteStore
from veille.bench.page_cache import PageCacheProbe, evict, residency
from veille.bench.search import (
    RunCounts,
    _facts,
    _time_scoped,
    measure_searches,
    scoped_cases,
)
from veille.bench.search_scopes import SearchScope, search_scopes
from veille.bench.store_gen import GeneratedStore, StoreSpec, load_or_generate
from veille.domain.access import Scope, ScopeKind
from veille.domain.geography import BRUSSELS_REGION
from veille.service.queries import CameraDirectory

pytestmark = pytest.mark.integration

READS = 20_000
SEED = 11
RUNS = RunCounts(light=4, heavy=2)


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> GeneratedStore:
    folder = tmp_path_factory.mktemp("stores")
    return load_or_generate(StoreSpec(reads=READS, seed=SEED), folder=folder)


def _audited(path: str, action: str) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(
            conn.execute("SELECT count(*) FROM audit_log WHERE action = ?", (action,)).fetchone()[0]
        )
    finally:
        conn.close()


def test_a_zone_sees_only_its_cameras_and_the_run_counts_are_honoured(
    generated: GeneratedStore,
) -> None:
    before = _audited(generated.path, "bench.plate_search")
    figures = measure_searches(
        Path(generated.path),
        scopes=("zone", "national"),
        analyses_wanted=("plate search", "journey", "clone sweep"),
        runs=RUNS,
        seed=SEED,
    )
    assert [(f.scope, f.analysis) for f in figures] == [
        ("zone", "plate search"),
        ("zone", "journey"),
        ("zone", "clone sweep"),
        ("national", "plate search"),
        ("national", "journey"),
        ("national", "clone sweep"),
    ]
    # light analyses 4 runs, heavy ones 2; each warm run after two untimed warm-ups
    assert [f.runs for f in figures] == [4, 4, 2, 4, 4, 2]
    assert _audited(generated.path, "bench.plate_search") - before == 2 * (4 + 2)
    conn = sqlite3.connect(generated.path)
    zones = dict(
        conn.execute(
            "SELECT zone, count(*) FROM cameras WHERE province = ? GROUP BY zone",
            (BRUSSELS_REGION,),
        ).fetchall()
    )
    conn.close()
    zone_plate = figures[0]
    assert zone_plate.scope_value is not None and zone_plate.scope_value in zones
    assert zone_plate.scope_cameras == max(zones.values())
    assert zone_plate.rows_max > 0  # the zone's searches find reads: sampled inside it
    assert all(f.rows_outside_scope == 0 for f in figures)
    assert figures[3].scope_cameras is None and figures[3].rows_max > 0
    for f in figures:
        assert f.p50_ms <= f.p95_ms <= f.max_ms
        assert not f.cold


def test_the_outside_scope_count_catches_rows_a_scope_should_not_see(
    generated: GeneratedStore,
) -> None:
    """A national investigator timed as if in the zone: their rows at other cameras count."""
    store = SqliteStore(Path(generated.path))
    store.initialise()
    try:
        with store.uow(write=False) as uow:
            (zone,) = search_scopes(uow.cameras.find(), ("zone",))
        wrong = SearchScope("zone", Scope(ScopeKind.NATIONAL), zone.cameras)
        national = SearchScope("national", Scope(ScopeKind.NATIONAL), None)
        facts = _facts(store)
        cases = scoped_cases(store, facts, national, random.Random(SEED), RunCounts(20, 2))
        with PageCacheProbe() as probe:
            figure = _time_scoped(
                cases["plate search"],
                store,
                facts,
                wrong,
                CameraDirectory(),
                probe,
                runs=20,
                cold=False,
            )
    finally:
        store.close()
    assert figure.rows_outside_scope > 0


def test_cold_runs_start_from_an_evicted_page_cache(generated: GeneratedStore) -> None:
    path = Path(generated.path)
    path.read_bytes()  # every page in the page cache
    assert residency(path).share > 0.99
    evict(path)
    assert residency(path).share < 0.01
    path.read_bytes()
    warm = measure_searches(
        path, scopes=("national",), analyses_wanted=("plate search",), runs=RUNS, seed=SEED
    )
    cold = measure_searches(
        path,
        scopes=("national",),
        analyses_wanted=("plate search",),
        runs=RUNS,
        cold=True,
        seed=SEED,
    )
    assert warm[0].resident_before_p50 > 0.9
    assert cold[0].cold and cold[0].runs == 4
    # each timed run began with (almost) nothing of the database in memory
    assert cold[0].resident_before_max < 0.01
