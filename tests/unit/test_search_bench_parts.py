"""The search bench's pure parts: nearest-rank percentiles, run counts, scopes, partial plates."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from veille.bench.search import (
    ANALYSES,
    HEAVY_ANALYSES,
    LIGHT_ANALYSES,
    RunCounts,
    _partial,
    camera_ids_in,
    percentile,
)
from veille.bench.search_scopes import search_scopes
from veille.domain.access import ScopeKind
from veille.domain.cameras import Camera, Phase
from veille.domain.geography import BRUSSELS_REGION

pytestmark = pytest.mark.unit

NOW = datetime(2026, 12, 3, tzinfo=UTC)


def test_percentiles_are_nearest_rank() -> None:
    runs = [float(n) for n in range(200, 0, -1)]  # 1..200, in any order
    assert percentile(runs, 0.95) == 190  # the 190th fastest of 200
    assert percentile(runs, 0.5) == 100
    assert percentile(runs, 1.0) == 200
    twenty = [float(n) for n in range(1, 21)]
    assert percentile(twenty, 0.95) == 19  # of 20 runs p95 is the 19th, not the slowest
    assert percentile([7.0], 0.95) == 7.0
    five = [1.0, 2.0, 3.0, 4.0, 50.0]
    assert percentile(five, 0.95) == 50.0  # with 5 runs p95 is the maximum
    with pytest.raises(ValueError):
        percentile([], 0.95)
    with pytest.raises(ValueError):
        percentile(five, 0.0)


def test_light_analyses_get_200_runs_and_heavy_ones_20_by_default() -> None:
    counts = RunCounts()
    assert {counts.of(a) for a in LIGHT_ANALYSES} == {200}
    assert {counts.of(a) for a in HEAVY_ANALYSES} == {20}
    assert set(HEAVY_ANALYSES) == {"convoy", "three scenes", "clone sweep"}
    assert {"plate search", "partial plate", "area and time", "journey"} <= set(LIGHT_ANALYSES)
    assert set(ANALYSES) == set(LIGHT_ANALYSES) | set(HEAVY_ANALYSES)
    custom = RunCounts(light=7, heavy=3)
    assert custom.of("journey") == 7 and custom.of("clone sweep") == 3


def test_a_partial_plate_hides_two_characters_after_a_three_character_prefix() -> None:
    assert _partial("1ABC123") == "1AB?12?"
    assert _partial("AB123CD") == "AB1?3C?"
    assert _partial("ABC12345") == "ABC?23?5"
    assert _partial("XY12") == "XY1*"


def test_camera_ids_are_found_anywhere_in_a_result() -> None:
    result = {
        "passages": [{"camera_id": "A", "plate": "1ABC123"}, {"camera_id": "B"}],
        "findings": [{"first": {"camera_id": "C"}, "second": {"camera_id": "A"}}],
        "count": 3,
    }
    assert sorted(camera_ids_in(result)) == ["A", "A", "B", "C"]
    assert list(camera_ids_in(None)) == []


def _camera(cid: str, zone: str, province: str) -> Camera:
    return Camera(cid, cid, 50.8, 4.3, None, zone, province, "v", "veille-json", Phase.LIVE, NOW)


def test_scopes_are_the_busiest_brussels_zone_and_province_and_the_country() -> None:
    cameras = [
        _camera("B1", "Bruxelles-01", BRUSSELS_REGION),
        _camera("B2", "Bruxelles-02", BRUSSELS_REGION),
        _camera("B3", "Bruxelles-02", BRUSSELS_REGION),
        _camera("A1", "Antwerpen-01", "Antwerpen"),
        _camera("A2", "Antwerpen-01", "Antwerpen"),
        _camera("A3", "Antwerpen-01", "Antwerpen"),  # the busiest zone, but not in Brussels
        _camera("G1", "Gent-01", "Oost-Vlaanderen"),
    ]
    zone, province, national = search_scopes(cameras, ("zone", "province", "national"))
    assert zone.scope.kind is ScopeKind.ZONE and zone.scope.value == "Bruxelles-02"
    assert zone.cameras == {"B2", "B3"}
    assert province.scope.kind is ScopeKind.PROVINCE and province.scope.value == "Antwerpen"
    assert province.cameras == {"A1", "A2", "A3"}
    assert national.cameras is None and national.covers("anything")
    assert not zone.covers("A1") and zone.covers("B3")
    assert [s.name for s in search_scopes(cameras, ("national", "zone"))] == ["national", "zone"]
    with pytest.raises(ValueError):
        search_scopes(cameras, ("district",))
