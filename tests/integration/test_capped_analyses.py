"""Every analysis says when one of its caps left reads out, and when its period was clipped."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from tests.integration.test_lawful_queries import (
    CAMERAS,
    NOW,
    a_read,
    lawful,
    make_store,
    principal,
    store_reads,
)
from veille.service import analyses

pytestmark = pytest.mark.integration

TARGET, FRIEND = "1ABC123", "2DEF456"
DAY = NOW - timedelta(days=2)
PERIOD = {"start": NOW - timedelta(days=5), "end": NOW}
EVERYWHERE = {"lat": 50.85, "lon": 4.35, "radius_m": 20_000}


def scenes() -> list[dict[str, Any]]:
    return [
        {**EVERYWHERE, "start": DAY - timedelta(hours=1), "end": DAY + timedelta(hours=1)},
        {**EVERYWHERE, "start": DAY - timedelta(hours=2), "end": DAY + timedelta(hours=2)},
    ]


# each analysis, with its caps wide open and with one cap set below what the store holds
CASES: list[tuple[str, Any, dict[str, Any], dict[str, Any], str]] = [
    ("plate", analyses.plate_search, {"plate": TARGET}, {"limit": 3}, "limit"),
    ("area", analyses.area_time, EVERYWHERE, {"limit_per_camera": 1}, "limit_per_camera"),
    ("journey", analyses.journey, {"plate": TARGET}, {"limit": 2}, "limit"),
    (
        "convoy",
        analyses.convoy,
        {"plate": TARGET, "min_cameras": 1},
        {"max_target_passages": 2},
        "max_target_passages",
    ),
    (
        "convoy",
        analyses.convoy,
        {"plate": TARGET, "min_cameras": 1},
        {"max_window_reads": 1},
        "max_window_reads",
    ),
    (
        "convoy",
        analyses.convoy,
        {"plate": TARGET, "min_cameras": 1},
        {"limit": 1},
        "limit",
    ),
    ("scenes", analyses.several_scenes, {"scenes": scenes()}, {"max_rows": 1}, "max_rows"),
    (
        "rare-visitors",
        analyses.rare_visitors,
        {**EVERYWHERE, "baseline_start": NOW - timedelta(days=20), "baseline_end": DAY},
        {"limit_per_camera": 1},
        "limit_per_camera",
    ),
    ("clones", analyses.cloned_plates, {}, {"max_plates": 1}, "max_plates"),
    ("clones", analyses.cloned_plates, {}, {"max_rows": 1}, "max_rows"),
]


@pytest.fixture
def store(tmp_path):
    """TARGET at every camera ten minutes apart, FRIEND five seconds behind it, and a
    third plate (LONER) with the convoy, seen at one camera only."""
    store = make_store(tmp_path)
    reads = []
    for n, (cid, *_) in enumerate(CAMERAS):
        at = DAY + timedelta(minutes=10 * n)
        reads += [a_read(cid, TARGET, at), a_read(cid, FRIEND, at + timedelta(seconds=5))]
    reads.append(a_read(CAMERAS[0][0], "3LON333", DAY + timedelta(seconds=8)))
    store_reads(store, reads)
    yield store
    store.close()


def run(store, fn, **params):
    return lawful(store, principal(), execute=lambda access: fn(access, **params))


@pytest.mark.parametrize(
    ("kind", "fn", "params", "cap", "name"), CASES, ids=[f"{c[0]}-{c[4]}" for c in CASES]
)
def test_an_analysis_at_one_of_its_caps_says_it_was_truncated(store, kind, fn, params, cap, name):
    whole = run(store, fn, **PERIOD, **params)
    assert whole["analysis"] == kind
    assert (whole["truncated"], whole["limits_reached"]) == (False, [])
    capped = run(store, fn, **PERIOD, **params, **cap)
    assert (capped["truncated"], capped["limits_reached"]) == (True, [name])


ONE_PER_KIND = {kind: (fn, params) for kind, fn, params, _cap, _name in CASES}


@pytest.mark.parametrize("kind", ONE_PER_KIND)
def test_every_analysis_says_when_its_period_reached_before_the_window(store, kind):
    fn, params = ONE_PER_KIND[kind]
    assert run(store, fn, **PERIOD, **params)["period_clipped"] is None
    since = NOW - timedelta(days=90)
    clipped = run(store, fn, start=since, end=NOW, **params)["period_clipped"]
    assert clipped["requested_start"] == since.isoformat().replace("+00:00", "Z")
    assert clipped["visible_from"] == (NOW - timedelta(days=30)).isoformat().replace("+00:00", "Z")


@pytest.mark.parametrize(("limit", "count", "truncated"), [(4, 4, False), (3, 3, True)])
def test_a_country_filter_never_hides_passages_behind_the_limit(store, limit, count, truncated):
    """Reads of another country, earlier than the wanted ones, fill the first rows the
    store returns: the search loads on until the limit is settled."""
    dutch = [a_read(CAMERAS[1][0], TARGET, DAY - timedelta(hours=h)) for h in range(1, 11)]
    store_reads(store, [replace(r, country="NL") for r in dutch])
    found = run(store, analyses.plate_search, **PERIOD, plate=TARGET, country="BE", limit=limit)
    assert (found["count"], found["truncated"]) == (count, truncated)
    assert {p["country"] for p in found["passages"]} == {"BE"}


def test_each_scene_says_whether_its_own_period_was_clipped(store):
    old_scene = {**EVERYWHERE, "start": NOW - timedelta(days=90), "end": DAY + timedelta(hours=1)}
    answer = run(
        store,
        analyses.several_scenes,
        start=NOW - timedelta(days=100),
        end=NOW,
        scenes=[old_scene, scenes()[1]],
    )
    first, second = answer["scenes"]
    assert first["period_clipped"]["requested_start"] == (
        NOW - timedelta(days=90)
    ).isoformat().replace("+00:00", "Z")
    assert second["period_clipped"] is None
    assert {p["plate"] for p in answer["plates"]} >= {TARGET, FRIEND}
