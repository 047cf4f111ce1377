"""Investigation maths without a database: speeds, polygons, clones, convoys, journeys."""

from __future__ import annotations

import itertools
import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from veille.domain import analysis as maths

pytestmark = pytest.mark.unit

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
lats = st.floats(49.5, 51.5)
lons = st.floats(2.5, 6.4)
seconds = st.floats(0, 86_400)


def at(lat: float, lon: float, s: float = 0.0, *, cam: str = "C") -> maths.Passage:
    return maths.Passage(f"{cam}-{s}", "1ABC123", cam, lat, lon, T0 + timedelta(seconds=s))


@given(lats, lons, seconds, lats, lons, seconds)
def test_speed_is_symmetric_and_never_negative(la1, lo1, s1, la2, lo2, s2):
    a, b = at(la1, lo1, s1), at(la2, lo2, s2)
    assert maths.speed_kmh(a, b) == maths.speed_kmh(b, a) >= 0


def test_speed_of_known_distances():
    brussels, ixelles = at(50.847, 4.352, 0), at(50.833, 4.367, 60)
    metres = maths.distance_m(brussels, ixelles)
    assert 1800 < metres < 1900
    assert maths.speed_kmh(brussels, ixelles) == pytest.approx(metres / 60 * 3.6)
    assert maths.speed_kmh(brussels, at(50.833, 4.367, 0)) == math.inf
    assert maths.speed_kmh(brussels, at(50.847, 4.352, 0)) == 0.0


def brute_force_inside(lon: float, lat: float, ring: list[list[float]]) -> bool:
    """Winding number: an independent reference for the ray casting under test."""
    winding = 0
    for (x1, y1), (x2, y2) in itertools.pairwise(ring):
        cross = (x2 - x1) * (lat - y1) - (lon - x1) * (y2 - y1)
        if y1 <= lat < y2 and cross > 0:
            winding += 1
        elif y2 <= lat < y1 and cross < 0:
            winding -= 1
    return winding != 0


@st.composite
def star_polygons(draw):
    """A simple (non self-intersecting) polygon: points around a centre by angle."""
    n = draw(st.integers(3, 12))
    angles = sorted(
        draw(
            st.lists(
                st.floats(0, 2 * math.pi, exclude_max=True), min_size=n, max_size=n, unique=True
            )
        )
    )
    assume(all(b - a > 1e-3 for a, b in itertools.pairwise(angles)))
    radii = draw(st.lists(st.floats(0.01, 0.2), min_size=n, max_size=n))
    ring = [
        [4.35 + r * math.cos(a), 50.85 + r * math.sin(a)]
        for a, r in zip(angles, radii, strict=True)
    ]
    return [*ring, ring[0]]


@given(star_polygons(), st.floats(4.1, 4.6), st.floats(50.6, 51.1))
def test_point_in_polygon_agrees_with_a_winding_number_reference(ring, lon, lat):
    assert maths.in_ring(lon, lat, ring) == brute_force_inside(lon, lat, ring)
    assert maths.in_polygon(lon, lat, [ring]) == brute_force_inside(lon, lat, ring)


def test_polygon_holes_and_validation():
    outer = [[4.0, 50.0], [5.0, 50.0], [5.0, 51.0], [4.0, 51.0], [4.0, 50.0]]
    hole = [[4.4, 50.4], [4.6, 50.4], [4.6, 50.6], [4.4, 50.6], [4.4, 50.4]]
    assert maths.in_polygon(4.2, 50.2, [outer, hole])
    assert not maths.in_polygon(4.5, 50.5, [outer, hole])
    assert not maths.in_polygon(5.5, 50.5, [outer])
    assert maths.validate_polygon([outer]) is None
    assert maths.validate_polygon([outer[:-1]]) is not None  # not closed
    assert maths.validate_polygon([]) is not None


def test_clone_pairs_flag_impossible_hops_only():
    brussels, antwerp = (50.847, 4.352), (51.219, 4.403)  # ~41 km
    ok = [at(*brussels, 0, cam="B"), at(*antwerp, 3600, cam="A")]  # 41 km/h
    assert maths.clone_pairs(ok, max_speed_kmh=180, min_distance_m=2000) == []
    cloned = [at(*brussels, 0, cam="B"), at(*antwerp, 300, cam="A"), at(*brussels, 7200, cam="B")]
    pairs = maths.clone_pairs(cloned, max_speed_kmh=180, min_distance_m=2000)
    assert len(pairs) == 1 and pairs[0].first.camera_id == "B" and pairs[0].second.camera_id == "A"
    assert pairs[0].implied_kmh == pytest.approx(pairs[0].distance_m / 300 * 3.6)
    near = [at(50.847, 4.352, 0), at(50.848, 4.352, 1)]  # 111 m in a second: camera jitter
    assert maths.clone_pairs(near, max_speed_kmh=180, min_distance_m=2000) == []
    same_instant = [at(*brussels, 0, cam="B"), at(*antwerp, 0, cam="A")]
    [instant] = maths.clone_pairs(same_instant, max_speed_kmh=180, min_distance_m=2000)
    assert instant.implied_kmh == math.inf


@given(st.lists(st.tuples(lats, lons, seconds), min_size=2, max_size=8))
def test_any_impossible_pair_shows_in_a_consecutive_pair(points):
    passages = [at(la, lo, s, cam=str(i)) for i, (la, lo, s) in enumerate(points)]
    found = maths.clone_pairs(passages, max_speed_kmh=150, min_distance_m=0)
    worst = max(maths.speed_kmh(a, b) for i, a in enumerate(passages) for b in passages[i + 1 :])
    assert (worst > 150) == bool(found)


def window(cam: str, s: float, *plates: str) -> maths.CoWindow:
    return maths.CoWindow(cam, T0 + timedelta(seconds=s), frozenset(plates))


@given(st.integers(0, 10_000), st.integers(0, 10_000))
def test_cooccurrence_weight_falls_with_busyness(quiet, busy):
    assume(quiet < busy)
    assert 0 < maths.cooccurrence_weight(busy) < maths.cooccurrence_weight(quiet) <= 1


@given(
    st.lists(st.tuples(st.sampled_from("ABCDE"), st.integers(0, 30)), max_size=12),
    st.sampled_from("ABCDE"),
    st.integers(0, 30),
)
def test_convoy_score_grows_with_every_co_occurrence(seen, cam, busy):
    windows = [window(c, i, "X", *(f"N{k}" for k in range(b))) for i, (c, b) in enumerate(seen)]
    before = {c.plate: c.score for c in maths.score_companions(windows, min_cameras=1)}
    extra = window(cam, 999, "X", *(f"N{k}" for k in range(busy)))
    after = {c.plate: c.score for c in maths.score_companions([*windows, extra], min_cameras=1)}
    assert after["X"] > before.get("X", 0.0)


def test_convoy_ranks_quiet_companions_above_rush_hour_neighbours():
    crowd = [f"P{k}" for k in range(40)]
    windows = [
        window("A", 0, "FRIEND", "BUSYBODY", *crowd),
        window("B", 100, "FRIEND", "BUSYBODY", *crowd),
        window("C", 200, "FRIEND", "BUSYBODY", *crowd),
        window("D", 300, "FRIEND"),  # a quiet road at night: only the friend is there
        window("E", 400, "BUSYBODY", *crowd),
    ]
    ranked = maths.score_companions(windows, min_cameras=3)
    assert [c.plate for c in ranked[:2]] == ["FRIEND", "BUSYBODY"]
    assert ranked[0].co_occurrences == ranked[1].co_occurrences == 4
    assert ranked[0].cameras == ("A", "B", "C", "D")
    assert all(c.plate in ("FRIEND", "BUSYBODY") or len(c.cameras) >= 3 for c in ranked)
    assert maths.score_companions(windows, min_cameras=5) == []


def test_journey_legs_gaps_direction_and_trips():
    route = [at(50.80, 4.35, 0), at(50.81, 4.35, 120), at(50.81, 4.37, 240), at(50.81, 4.37, 9000)]
    legs = maths.journey_legs(route, gap_s=1800)
    assert [leg.direction for leg in legs] == ["N", "E", ""]
    assert [leg.gap for leg in legs] == [False, False, True]
    assert legs[0].distance_m == pytest.approx(1112, rel=0.01)
    assert legs[0].speed_kmh == pytest.approx(legs[0].distance_m / 120 * 3.6)
    assert [len(t) for t in maths.split_trips(route, gap_s=1800)] == [3, 1]
    assert maths.compass(359) == "N" and maths.compass(135) == "SE" and maths.compass(250) == "W"


@given(lats, lons, lats, lons)
@example(49.5, 6.4, 51.0, 6.3999999999999995)  # once gave 360.0: a wrap-around in floats
def test_bearing_points_the_right_way(la1, lo1, la2, lo2):
    assume(abs(la1 - la2) > 1e-3 or abs(lo1 - lo2) > 1e-3)
    bearing = maths.bearing_deg(la1, lo1, la2, lo2)
    assert 0 <= bearing < 360
    if abs(lo2 - lo1) < 1e-9:
        assert maths.compass(bearing) == ("N" if la2 > la1 else "S")


def test_several_scenes_and_rare_visitors():
    scenes = [{"A", "B", "C"}, {"B", "C", "D"}, {"C", "E"}]
    assert maths.plates_at_scenes(scenes, min_scenes=2) == {"B": [0, 1], "C": [0, 1, 2]}
    assert maths.plates_at_scenes(scenes, min_scenes=3) == {"C": [0, 1, 2]}
    assert maths.rare_visitors({"A": 2, "B": 1, "Z": 5}, ["A", "Q"]) == {"B": 1, "Z": 5}
