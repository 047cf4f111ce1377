"""The analyses on a real store against the simulator's injected scenarios (ground truth)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from veille.adapters.decoders.native_json import parse_read
from veille.adapters.sqlite.store import SqliteStore
from veille.domain.access import Principal, Role, Scope, ScopeKind
from veille.domain.authorizations import WindowPolicy
from veille.domain.cameras import camera_from_record
from veille.service import analyses
from veille.service.queries import LegalPolicy, QueryContext, run_query
from veille.simulator.runner import SimulationConfig, build_simulation
from veille.simulator.scenarios import ConvoyScenario, GroundTruth

pytestmark = pytest.mark.integration

START = datetime(2026, 3, 3, 7, 30, tzinfo=UTC)
RATE, TOTAL = 20.0, 16_000  # 13 minutes of traffic after the scenarios' slots
NOW = START + timedelta(seconds=TOTAL / RATE) + timedelta(minutes=5)
PURPOSE = "judicial: investigation of an offence"
POLICY = LegalPolicy(
    purposes=frozenset({PURPOSE}),
    case_ref_pattern=re.compile(r"[A-Za-z0-9][A-Za-z0-9./_-]{3,63}"),
    window=WindowPolicy(),
)
INVESTIGATOR = Principal(
    user_id=7,
    username="ines",
    role=Role.INVESTIGATOR,
    org_id="federal",
    scope=Scope(ScopeKind.NATIONAL),
    designated=True,
    training_expires=NOW + timedelta(days=300),
)
EPS = timedelta(microseconds=1)


class World:
    """A simulated network loaded into a real SQLite store, and its ground truth."""

    def __init__(self, folder: Path):
        config = SimulationConfig(
            cameras=80,
            rate=RATE,
            seed=11,
            realtime=False,
            total=TOTAL,
            scenarios=(
                "route",
                "convoy",
                "near-point",
                "misread",
                "clone",
                ConvoyScenario(label="convoy-in-traffic", at_s=60.0),
            ),
        )
        sim = build_simulation(config, start=START)
        self.store = SqliteStore(folder / "gt.db")
        self.store.initialise()
        with self.store.uow() as uow:
            for record in sim.records:
                uow.cameras.add(camera_from_record(record, now=START - timedelta(days=1)))
            reads = [
                parse_read(r.payload, camera_id=r.camera_id, now=NOW).read
                for r in sim.reads(count=TOTAL)
            ]
            uow.reads.add_many(reads)
            uow.commit()
        self.truth: dict[str, GroundTruth] = {t.scenario: t for t in sim.ground_truth}

    def run(self, analysis: Any, **params: Any) -> dict[str, Any]:
        return run_query(
            uow_factory=self.store.uow,
            read_uow_factory=lambda: self.store.uow(write=False),
            ctx=QueryContext(INVESTIGATOR, PURPOSE, "BR.12.L3.004711/2026"),
            now=NOW,
            policy=POLICY,
            action="analysis.test",
            params={},
            execute=partial(analysis, **params),
        )

    def close(self) -> None:
        self.store.close()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):
    built = World(tmp_path_factory.mktemp("ground-truth"))
    yield built
    built.close()


DAY = {"start": START - timedelta(hours=2), "end": NOW}


@pytest.mark.parametrize("label", ["convoy-1", "convoy-in-traffic"])
def test_the_injected_convoy_partners_rank_first(world: World, label: str):
    truth = world.truth[label]
    leader = truth.details["leader"]
    partners = set(truth.plates) - {leader}
    result = world.run(analyses.convoy, plate=leader, window_s=60, min_cameras=3, **DAY)
    ranked = [c["plate"] for c in result["companions"]]
    assert set(ranked[: len(partners)]) == partners, ranked[:5]
    top = result["companions"][0]
    assert top["cameras"] == len(set(truth.cameras)) and top["co_occurrences"] >= 3
    assert result["target_cameras"] == sorted(set(truth.cameras))
    if label == "convoy-in-traffic":  # busy cameras: weights below 1, noise far behind
        assert top["score"] < top["co_occurrences"]
        others = result["companions"][len(partners) :]
        assert all(c["score"] < top["score"] and c["cameras"] < top["cameras"] for c in others)


def test_area_time_finds_every_vehicle_near_the_scene_and_no_decoy(world: World):
    truth = world.truth["near-point-1"]
    d = truth.details
    result = world.run(
        analyses.area_time,
        lat=d["lat"],
        lon=d["lon"],
        radius_m=d["radius_m"],
        start=d["window_start"],
        end=d["window_end"] + EPS,  # the truth's window includes its end
    )
    found = {v["plate"] for v in result["vehicles"]}
    assert set(truth.plates) == found
    assert not found & set(d["decoy_plates"])
    assert result["cameras"] == sorted(truth.cameras)
    assert result["reads"] == len(truth.reads)


def test_area_time_by_polygon_and_by_camera_list_agree_with_the_circle(world: World):
    truth = world.truth["near-point-1"]
    d = truth.details
    period = {"start": d["window_start"], "end": d["window_end"] + EPS}
    by_list = world.run(analyses.area_time, camera_ids=truth.cameras, **period)
    lat, lon, half = d["lat"], d["lon"], 0.02  # a square ~3 km wide around the point
    square = [
        [lon - half, lat - half],
        [lon + half, lat - half],
        [lon + half, lat + half],
        [lon - half, lat + half],
        [lon - half, lat - half],
    ]
    by_polygon = world.run(analyses.area_time, polygon=[square], **period)
    plates = {v["plate"] for v in by_list["vehicles"]}
    assert plates == set(truth.plates)
    assert set(truth.cameras) <= set(by_polygon["cameras"])
    assert plates <= {v["plate"] for v in by_polygon["vehicles"]}


def test_rare_visitors_include_the_injected_vehicles_new_to_the_place(world: World):
    truth = world.truth["near-point-1"]
    d = truth.details
    result = world.run(
        analyses.rare_visitors,
        lat=d["lat"],
        lon=d["lon"],
        radius_m=d["radius_m"],
        start=d["window_start"],
        end=d["window_end"] + EPS,
        baseline_start=START - timedelta(hours=3),
        baseline_end=d["window_start"],
    )
    injected = set(truth.plates) - set(d["background_plates"])
    assert injected <= {v["plate"] for v in result["visitors"]}
    assert result["baseline"]["clipped"] is False


def test_the_injected_clone_is_reported_on_demand_and_by_the_sweep(world: World):
    truth = world.truth["clone-1"]
    plate = truth.plates[0]
    one = world.run(analyses.cloned_plates, plate=plate, **DAY)
    assert one["count"] == 1
    finding = one["findings"][0]
    assert [finding["first"]["camera_id"], finding["second"]["camera_id"]] == truth.cameras
    assert finding["implied_kmh"] == pytest.approx(truth.details["implied_kmh"], rel=0.01)
    assert finding["first"]["images"] is not None
    sweep = world.run(analyses.cloned_plates, max_speed_kmh=130, **DAY)
    assert plate in {f["plate"] for f in sweep["findings"]}
    assert sweep["plates_checked"] > 100
    # traffic never exceeds ~54 km/h between reads: the clone is the only finding
    assert {f["plate"] for f in sweep["findings"]} == {plate}


def test_lookalike_search_finds_the_misreads_that_exact_search_misses(world: World):
    truth = world.truth["misread-1"]
    plate = truth.plates[0]
    misread_ids = set(truth.details["misread_read_ids"])
    exact = world.run(analyses.plate_search, plate=plate, mode="exact", **DAY)
    alike = world.run(analyses.plate_search, plate=plate, mode="lookalike", **DAY)
    exact_ids = {p["read_id"] for p in exact["passages"]}
    alike_ids = {p["read_id"] for p in alike["passages"]}
    assert alike_ids == set(truth.read_ids)
    assert not exact_ids & misread_ids and exact_ids == set(truth.read_ids) - misread_ids
    assert set(alike["plates"]) == {plate, *truth.details["variants"]}
    edit = world.run(analyses.plate_search, plate=plate, mode="edit", max_edits=1, **DAY)
    assert misread_ids <= {p["read_id"] for p in edit["passages"]}


def test_wildcard_search_finds_the_plate_from_a_partial_description(world: World):
    plate = world.truth["route-1"].plates[0]
    pattern = plate[:2] + "?" + plate[3:-2] + "*"
    prefix_only = plate[:4] + "*"
    for query in (pattern, prefix_only, "*" + plate[-4:]):
        result = world.run(analyses.plate_search, plate=query, mode="wildcard", **DAY)
        assert plate in result["plates"], query
        regex = re.compile(query.replace("?", ".").replace("*", ".*"))
        assert all(regex.fullmatch(p) for p in result["plates"])


def test_the_route_journey_has_the_route_cameras_in_order(world: World):
    truth = world.truth["route-1"]
    result = world.run(analyses.journey, plate=truth.plates[0], gap_minutes=30, **DAY)
    assert result["cameras"] == truth.cameras
    assert result["count"] == len(truth.cameras) and result["gaps"] == []
    assert [leg["from_camera_id"] for leg in result["legs"]] == truth.cameras[:-1]
    assert all(0 < leg["speed_kmh"] < 60 for leg in result["legs"])
    line = result["geojson"]["features"][-1]["geometry"]
    assert line["type"] == "LineString" and len(line["coordinates"]) == len(truth.cameras)
    short = world.run(analyses.journey, plate=truth.plates[0], gap_minutes=0.5, **DAY)
    assert short["trips"] == 1 + len(short["gaps"]) and short["gaps"]


def test_several_scenes_finds_the_convoy_at_its_first_and_last_camera(world: World):
    truth = world.truth["convoy-1"]
    first, last = truth.reads[0], truth.reads[-1]
    scenes = [
        {
            "lat": r.lat,
            "lon": r.lon,
            "radius_m": 50,
            "start": r.captured_at - timedelta(minutes=2),
            "end": r.captured_at + timedelta(minutes=2),
        }
        for r in (first, last)
    ]
    result = world.run(analyses.several_scenes, scenes=scenes, min_scenes=2, **DAY)
    assert {p["plate"] for p in result["plates"]} == set(truth.plates)
    assert all(p["scenes"] == [0, 1] and len(p["passages"]) == 2 for p in result["plates"])


def test_the_clone_sweep_job_records_the_clone_once_audited_and_within_the_window(world: World):
    store, plate = world.store, world.truth["clone-1"].plates[0]
    sweep = partial(
        analyses.run_clone_sweep,
        uow_factory=store.uow,
        read_uow_factory=lambda: store.uow(write=False),
        now=NOW,
        lookback=timedelta(hours=2),
        keep_findings=timedelta(days=365),
    )
    first = sweep(open_window=timedelta(days=30))
    again = sweep(open_window=timedelta(days=30))
    assert first.recorded == first.findings >= 1 and again.recorded == 0
    with store.uow(write=False) as uow:
        recorded = uow.clone_findings.find(plate=plate)
        audit = [r.entry for r in uow.audit.iter_all() if r.entry.action == "analysis.clone_sweep"]
    assert len(recorded) == 1 and recorded[0].implied_kmh is not None
    assert recorded[0].implied_kmh > 130
    assert [e.result_count for e in audit] == [first.recorded, 0]
    assert audit[0].actor.username == "job:clone-sweep" and audit[0].actor.role == "system"
    # the clone happened 28 minutes before NOW: a 20-minute open window never reaches it
    narrow = sweep(open_window=timedelta(minutes=20), dry_run=True)
    assert narrow.period_start == NOW - timedelta(minutes=20) and narrow.findings == 0
