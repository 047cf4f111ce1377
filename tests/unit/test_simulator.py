"""Simulated camera network: cameras, traffic, scenarios and their ground truth."""

from __future__ import annotations

import csv
import io
import itertools
import random
import re
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from veille.adapters.decoders.native_json import parse_read
from veille.domain.cameras import camera_from_record
from veille.domain.geography import BRUSSELS_REGION, BRUSSELS_ZONES, haversine_m
from veille.domain.plates import DEFAULT_LOOKALIKES, normalise
from veille.simulator.network import (
    allocate,
    build_network,
    camera_records,
    network_csv,
    network_geojson,
)
from veille.simulator.runner import (
    SimulationConfig,
    build_simulation,
    fast_mode_start,
    generate_reads,
)
from veille.simulator.scenarios import (
    MAX_PLAUSIBLE_KMH,
    CloneScenario,
    ConvoyScenario,
    MisreadScenario,
    NearPointScenario,
    RouteScenario,
    scenario_from_name,
)
from veille.simulator.traffic import TrafficModel, lookalike_variant

pytestmark = pytest.mark.unit

START = datetime(2025, 3, 3, 7, 30, tzinfo=UTC)
ALL_SCENARIOS = ("route", "convoy", "near-point", "misread", "clone")


def canonical(plate: str) -> str:
    return DEFAULT_LOOKALIKES.canonical(normalise(plate))


def km_h(a, b, sites_by_id) -> float | None:
    """Implied speed between two reads (None when they are at the same instant and place)."""
    ca, cb = sites_by_id[a.camera_id], sites_by_id[b.camera_id]
    metres = haversine_m(ca.lat, ca.lon, cb.lat, cb.lon)
    seconds = (b.captured_at - a.captured_at).total_seconds()
    if seconds <= 0:
        return None if metres == 0 else float("inf")
    return metres / seconds * 3.6


# --- cameras -------------------------------------------------------------------------


def test_network_is_deterministic_under_a_seed():
    assert build_network(cameras=450, seed=7) == build_network(cameras=450, seed=7)
    assert build_network(cameras=450, seed=7) != build_network(cameras=450, seed=8)


@pytest.mark.parametrize("count", [6, 19, 450])
def test_network_covers_every_zone_in_proportion(count):
    sites = build_network(cameras=count, seed=1)
    assert len(sites) == count
    per_zone = Counter(s.zone for s in sites)
    assert set(per_zone) == {z.name for z in BRUSSELS_ZONES}
    if count == 450:  # Bruxelles-Ouest has 5 communes of 19, Capitale/Ixelles 2
        assert per_zone["Bruxelles-Ouest"] == pytest.approx(450 * 5 / 19, abs=1)
        assert per_zone["Bruxelles-Capitale/Ixelles"] == pytest.approx(450 * 2 / 19, abs=1)


def test_every_camera_record_is_valid_and_near_its_commune():
    sites = build_network(cameras=450, seed=1)
    centres = {c.name: c for z in BRUSSELS_ZONES for c in z.communes}
    zone_of = {c.name: z.name for z in BRUSSELS_ZONES for c in z.communes}
    for site, record in zip(sites, camera_records(sites), strict=True):
        camera = camera_from_record(record, now=START)
        assert camera.phase.value == "live"
        assert camera.province == BRUSSELS_REGION
        assert re.fullmatch(r"BXL-[A-Z]+-\d{4}", camera.camera_id)
        assert zone_of[site.commune] == camera.zone
        centre = centres[site.commune]
        assert haversine_m(centre.lat, centre.lon, camera.lat, camera.lon) <= 1510
        assert 0 <= camera.heading < 360
    assert len({s.camera_id for s in sites}) == len(sites)
    assert {s.vendor for s in sites} == {"Hikvision", "Genetec", "Axis", "Veille"}


def test_csv_and_geojson_carry_the_same_cameras():
    sites = build_network(cameras=25, seed=3)
    rows = list(csv.DictReader(io.StringIO(network_csv(sites))))
    assert [r["camera_id"] for r in rows] == [s.camera_id for s in sites]
    for row in rows:
        camera_from_record(row, now=START)
    geo = network_geojson(sites)
    assert geo["type"] == "FeatureCollection"
    for feature, site in zip(geo["features"], sites, strict=True):
        assert feature["geometry"]["coordinates"] == [site.lon, site.lat]  # lon first
        assert feature["properties"]["camera_id"] == site.camera_id


@given(total=st.integers(0, 2000), weights=st.lists(st.integers(1, 9), min_size=1, max_size=8))
def test_allocate_sums_and_covers(total, weights):
    counts = allocate(total, weights)
    assert sum(counts) == total
    if total >= len(weights):
        assert min(counts) >= 1


# --- traffic -------------------------------------------------------------------------


def test_reads_are_deterministic_under_a_seed():
    config = SimulationConfig(cameras=60, rate=30, seed=5, realtime=False, scenarios=ALL_SCENARIOS)
    first = list(generate_reads(config, START, 2000))
    again = list(generate_reads(config, START, 2000))
    other = list(
        generate_reads(SimulationConfig(cameras=60, rate=30, seed=6, realtime=False), START, 2000)
    )
    assert first == again
    assert [r["read_id"] for _, r in first] != [r["read_id"] for _, r in other]
    assert len({r["read_id"] for _, r in first}) == 2000
    # A run at another time drives the same vehicles but sends new read ids.
    later = list(generate_reads(config, START + timedelta(days=1), 2000))
    assert not {r["read_id"] for _, r in first} & {r["read_id"] for _, r in later}
    assert [r["plate"] for _, r in first] == [r["plate"] for _, r in later]
    truth = build_simulation(config, start=START).ground_truth
    truth_later = build_simulation(config, start=START + timedelta(days=1)).ground_truth
    assert [t.plates for t in truth] == [t.plates for t in truth_later]


def test_every_generated_read_passes_parse_read():
    config = SimulationConfig(
        cameras=450,
        rate=100,
        seed=2,
        realtime=False,
        scenarios=ALL_SCENARIOS,
        model=TrafficModel(misread_probability=0.05),
    )
    reads = list(generate_reads(config, START, 6000))
    now = START + timedelta(minutes=2)
    for camera_id, payload in reads:
        parsed = parse_read(payload, camera_id=camera_id, now=now).read
        assert parsed.captured_at.tzinfo is not None
        assert payload["captured_at"].endswith("Z")
    fields = {k for _, p in reads for k in p}
    assert {"candidates", "vehicle", "direction", "lane"} <= fields
    assert {p["vehicle"]["type"] for _, p in reads} == {"car", "van", "truck", "motorbike"}


def test_rate_and_virtual_clock():
    config = SimulationConfig(cameras=100, rate=50, seed=1, realtime=False)
    sim = build_simulation(config, start=START)
    reads = list(sim.reads(count=15000))
    assert reads[0].captured_at >= START
    times = [r.captured_at for r in reads]
    assert times == sorted(times)
    span = (times[-1] - START).total_seconds()
    assert span == pytest.approx(15000 / 50, rel=0.1)
    per_minute = Counter(int((t - START).total_seconds() // 60) for t in times[:-1])
    full_minutes = [per_minute[m] for m in range(int(span // 60))]
    assert all(abs(n - 3000) < 450 for n in full_minutes)  # no warm-up ramp


def test_until_stops_the_stream():
    sim = build_simulation(SimulationConfig(cameras=20, rate=20, realtime=False), start=START)
    until = START + timedelta(seconds=30)
    reads = list(sim.reads(until=until))
    assert reads and all(r.captured_at < until for r in reads)
    assert len(reads) == pytest.approx(600, rel=0.3)
    with pytest.raises(RuntimeError):
        next(sim.reads())


def test_plates_repeat_and_countries_mix():
    sim = build_simulation(SimulationConfig(cameras=450, rate=20, seed=4), start=START)
    reads = list(sim.reads(count=20000))
    seen = Counter(r.true_plate for r in reads)
    assert max(seen.values()) >= 4  # commuters pass again and again
    assert len(seen) > 1000
    countries = Counter(r.payload["country"] for r in reads)
    assert countries["BE"] / len(reads) > 0.7
    assert {"FR", "NL", "DE", "LU"} <= set(countries)
    be_new = [
        r
        for r in reads
        if r.payload["country"] == "BE"
        and r.plate == r.true_plate
        and re.fullmatch(r"\d-[A-Z]{3}-\d{3}", r.payload["plate"])
    ]
    assert len(be_new) / countries["BE"] > 0.7


def test_speeds_are_plausible_except_the_clone():
    config = SimulationConfig(cameras=450, rate=60, seed=9, realtime=False, scenarios=ALL_SCENARIOS)
    sim = build_simulation(config, start=START)
    reads = list(sim.reads(count=20000))
    clone_plates = {p for t in sim.ground_truth if t.kind == "clone" for p in t.plates}
    by_id = {s.camera_id: s for s in sim.sites}
    tracks = defaultdict(list)
    for read in reads:
        tracks[read.true_plate].append(read)
    checked = 0
    for plate, track in tracks.items():
        speeds = [km_h(a, b, by_id) for a, b in itertools.pairwise(track)]
        if plate in clone_plates:
            assert max(s for s in speeds if s is not None) > MAX_PLAUSIBLE_KMH
            continue
        for speed in speeds:
            if speed is not None:
                assert speed <= MAX_PLAUSIBLE_KMH, (plate, speed)
                checked += 1
    assert checked > 8000


def test_natural_misreads_are_lookalikes_offering_the_truth_as_candidate():
    config = SimulationConfig(
        cameras=50, rate=20, seed=3, realtime=False, model=TrafficModel(misread_probability=0.2)
    )
    reads = list(build_simulation(config, start=START).reads(count=3000))
    misread = [r for r in reads if r.plate != r.true_plate]
    assert 300 < len(misread) < 900
    for read in misread:
        assert canonical(read.plate) == canonical(read.true_plate)
        assert read.payload["confidence"] < 0.85
        assert normalise(read.payload["candidates"][0]["plate"]) == read.true_plate


def test_lookalike_variant():
    rng = random.Random(1)
    assert lookalike_variant("EHP-399", rng) is None  # E, H, P, 3, 9 have no look-alike
    variant = lookalike_variant("1-BOS-808", rng, substitutions=2)
    assert variant is not None and variant != "1-BOS-808"
    assert variant.count("-") == 2
    assert canonical(variant) == canonical("1-BOS-808")


# --- scenarios -----------------------------------------------------------------------


def test_route_scenario_follows_the_given_cameras():
    sites = build_network(cameras=450, seed=1)
    cameras = (sites[3].camera_id, sites[100].camera_id, sites[200].camera_id)
    route = RouteScenario(plate="1-ABC-123", cameras=cameras, at_s=-3600, speed_kmh=50)
    sim = build_simulation(SimulationConfig(rate=20, scenarios=(route,)), start=START)
    (truth,) = sim.ground_truth
    assert truth.scenario == "route-1" and truth.plates == ["1ABC123"]
    assert [r.camera_id for r in truth.reads] == list(cameras) == truth.cameras
    assert truth.reads[0].captured_at == START - timedelta(seconds=3600)
    assert truth.end < START
    streamed = [r for r in sim.reads(count=500) if r.true_plate == "1ABC123"]
    assert [r.read_id for r in streamed] == truth.read_ids
    assert all(r.payload["plate"] == "1-ABC-123" for r in streamed)
    by_id = {s.camera_id: s for s in sites}
    for a, b in itertools.pairwise(streamed):
        assert km_h(a, b, by_id) <= 50 / TrafficModel().detour_factor + 0.5


def test_convoy_partners_pass_the_same_cameras_seconds_apart():
    convoy = ConvoyScenario(vehicles=3, max_gap_s=8)
    sim = build_simulation(SimulationConfig(seed=2, scenarios=(convoy, "convoy")), start=START)
    for truth in sim.ground_truth:
        assert truth.kind == "convoy"
        assert 2 <= len(truth.plates) <= 3 and len(set(truth.plates)) == len(truth.plates)
        by_plate = defaultdict(list)
        for read in truth.reads:
            by_plate[read.true_plate].append(read)
        assert set(by_plate) == set(truth.plates)
        for plate in truth.plates:
            assert [r.camera_id for r in by_plate[plate]] == truth.cameras
        for passage in zip(*(by_plate[p] for p in truth.plates), strict=True):
            times = [r.captured_at for r in passage]
            assert len({r.camera_id for r in passage}) == 1
            assert max(times) - min(times) <= timedelta(seconds=8 * (len(truth.plates) - 1))
            assert max(times) > min(times)


def test_near_point_truth_is_exactly_the_passages_in_radius_and_window():
    # The window overlaps the traffic, so background vehicles must join the truth too.
    point = NearPointScenario(
        lat=50.847, lon=4.352, radius_m=600, window_start_s=-120, window_end_s=240, vehicles=5
    )
    sim = build_simulation(SimulationConfig(rate=40, seed=4, scenarios=(point,)), start=START)
    (truth,) = sim.ground_truth
    reads = list(sim.reads(until=START + timedelta(seconds=560)))  # decoys come after
    window = (truth.details["window_start"], truth.details["window_end"])
    by_id = {s.camera_id: s for s in sim.sites}

    def near(read) -> bool:
        site = by_id[read.camera_id]
        return (
            haversine_m(50.847, 4.352, site.lat, site.lon) <= 600
            and window[0] <= read.captured_at <= window[1]
        )

    expected = {r.read_id for r in reads if near(r)}
    assert {r.read_id for r in truth.reads} == expected
    assert set(truth.plates) == {r.true_plate for r in reads if near(r)}
    assert truth.details["background_plates"]
    injected = set(truth.plates) - set(truth.details["background_plates"])
    assert len(injected) == 5
    for decoy in truth.details["decoy_plates"]:
        assert decoy not in truth.plates
        assert any(r.true_plate == decoy for r in reads)


def test_misreads_are_lookalike_variants_of_one_plate():
    misread = MisreadScenario(variants=3, correct_reads=2)
    sim = build_simulation(SimulationConfig(rate=20, seed=5, scenarios=(misread,)), start=START)
    (truth,) = sim.ground_truth
    (plate,) = truth.plates
    variants = truth.details["variants"]
    assert len(set(variants)) == 3 and plate not in variants
    assert {canonical(v) for v in variants} == {canonical(plate)} == {truth.details["canonical"]}
    assert sorted(r.plate for r in truth.reads if r.plate != plate) == sorted(variants)
    assert len(truth.details["misread_read_ids"]) == 3
    # Traffic never drives a look-alike of a scenario plate: the truth stays unambiguous.
    reads = list(sim.reads(count=10000))
    assert {r.read_id for r in reads if canonical(r.plate) == canonical(plate)} == set(
        truth.read_ids
    )


def test_clone_is_two_vehicles_too_far_apart_for_the_time():
    sim = build_simulation(SimulationConfig(seed=6, scenarios=("clone",)), start=START)
    (truth,) = sim.ground_truth
    first, second = truth.reads
    assert first.plate == second.plate == truth.plates[0]
    metres = haversine_m(first.lat, first.lon, second.lat, second.lon)
    seconds = (second.captured_at - first.captured_at).total_seconds()
    assert metres >= 5000 and metres / seconds * 3.6 > MAX_PLAUSIBLE_KMH
    assert truth.details["implied_kmh"] == pytest.approx(metres / seconds * 3.6, rel=0.01)
    assert truth.as_dict()["reads"][0]["captured_at"].endswith("Z")


def test_scenarios_refuse_impossible_parameters():
    sites = build_network(cameras=450, seed=1)
    neighbours = (sites[0].camera_id, sites[1].camera_id)  # same commune: too close
    with pytest.raises(ValueError, match="plausible"):
        build_simulation(
            SimulationConfig(scenarios=(CloneScenario(cameras=neighbours),)), start=START
        )
    with pytest.raises(ValueError, match="no camera"):
        build_simulation(
            SimulationConfig(scenarios=(NearPointScenario(lat=51.2, lon=4.4),)), start=START
        )
    with pytest.raises(ValueError, match="look-alike"):
        build_simulation(
            SimulationConfig(scenarios=(MisreadScenario(plate="EHP-399"),)), start=START
        )
    with pytest.raises(ValueError, match="unknown scenario"):
        scenario_from_name("teleport")


def test_default_scenarios_end_before_the_traffic_starts():
    sim = build_simulation(SimulationConfig(scenarios=ALL_SCENARIOS), start=START)
    assert [t.scenario for t in sim.ground_truth] == [
        "route-1",
        "convoy-1",
        "near-point-1",
        "misread-1",
        "clone-1",
    ]
    for truth in sim.ground_truth:
        assert truth.end is not None and truth.end < START
        assert truth.as_dict()["reads"]
    plates = [p for t in sim.ground_truth for p in t.plates]
    assert len(plates) == len(set(plates))


# --- configuration -------------------------------------------------------------------


def test_config_validation_and_fast_mode_start():
    with pytest.raises(ValueError):
        SimulationConfig(batch_size=0)
    with pytest.raises(ValueError):
        SimulationConfig(realtime=True, start=START)
    now = datetime(2025, 3, 3, 12, tzinfo=UTC)
    fast = SimulationConfig(rate=100, total=6000, realtime=False)
    assert fast_mode_start(fast, now=now) == now - timedelta(seconds=60 + 60)
    assert fast_mode_start(SimulationConfig(realtime=False, start=START), now=now) == START
    with pytest.raises(ValueError, match="total or a duration"):
        fast_mode_start(SimulationConfig(realtime=False), now=now)


def test_progress_warns_once_when_the_server_refuses_the_cameras_credentials():
    from veille.entrypoints.mainjob import ProgressLine
    from veille.simulator.client import ClientStats

    out = io.StringIO()
    progress = ProgressLine(out)
    progress(ClientStats(generated=10, stored=10))
    assert "WARNING" not in out.getvalue() and "REFUSED AUTH" not in out.getvalue()
    refused = ClientStats(generated=30, stored=10, failed=20, auth_failed=20)
    refused.failures.append("BXL-MIDI-0001: HTTP 401: unknown or revoked camera credential")
    progress(refused)
    progress(refused)
    text = out.getvalue()
    assert text.count("WARNING: the server refuses this simulation's cameras") == 1
    assert "BXL-MIDI-0001: HTTP 401" in text and "--reissue-tokens" in text
    assert text.count("REFUSED AUTH 20") == 2  # every progress line keeps saying it
