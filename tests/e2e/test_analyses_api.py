"""The analyses over HTTP and the CLI: purpose and case, scope, open window, audit, exports."""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from veille.bootstrap import Platform
from veille.domain.access import Role, Scope, ScopeKind
from veille.domain.audit import system_actor
from veille.domain.cameras import Camera, Phase
from veille.domain.plates import canonical
from veille.domain.reads import ImageRef, Read
from veille.domain.users import FEDERAL
from veille.entrypoints import cli_analyses
from veille.entrypoints.api import analyses as analyses_api
from veille.entrypoints.api.app import create_app
from veille.service import users as user_service
from veille.service.analysis_exports import canonical_json, result_sha256

pytestmark = pytest.mark.e2e

ACTOR = system_actor("test")
PASSWORD = "investigate responsibly 2026"
PURPOSE = "judicial: investigation of an offence"
CASE = "BR.12.L3.004711/2026"
TARGET, FRIEND, CLONE = "1ABC123", "2DEF456", "1XYZ789"
# (camera, zone, lat, lon): two cameras in Bruxelles-Capitale/Ixelles, two in Midi, one in
# Polbruno; LIEGE stands far away (a clone seen there five minutes later is impossible).
CAMERAS = [
    ("CAPIX-1", "Bruxelles-Capitale/Ixelles", 50.847, 4.352),
    ("CAPIX-2", "Bruxelles-Capitale/Ixelles", 50.833, 4.367),
    ("MIDI-1", "Midi", 50.836, 4.308),
    ("MIDI-2", "Midi", 50.827, 4.345),
    ("LIEGE-1", "Polbruno", 50.633, 5.580),
]
MIDI = {"MIDI-1", "MIDI-2"}


@pytest.fixture
def app_client(platform: Platform) -> Iterator[TestClient]:
    app = create_app(platform)
    paths = {getattr(r, "path", "") for r in app.routes}
    if "/api/v1/analyses/plate" not in paths:  # until the lead wires the router into app.py
        app.include_router(analyses_api.router)
    with TestClient(app) as test_client:
        yield test_client


def make_user(platform: Platform, name: str, org: str = "federal") -> dict[str, str]:
    now = platform.clock()
    user = user_service.create_user(
        uow=platform.uow(),
        username=name,
        password=PASSWORD,
        role=Role.INVESTIGATOR,
        org_id=org,
        now=now,
        designated=True,
        training_expires=now + timedelta(days=300),
        actor=ACTOR,
    )
    token, _ = user_service.issue_token(uow=platform.uow(), user_id=user.user_id, now=now)
    return {"Authorization": f"Bearer {token}"}


def read(camera_id: str, plate: str, at: datetime) -> Read:
    return Read(
        read_id=uuid.uuid4(),
        camera_id=camera_id,
        captured_at=at,
        plate_raw=plate,
        plate=plate,
        plate_canonical=canonical(plate),
        country="BE",
        confidence=0.9,
        received_at=at,
        images=(ImageRef(kind="plate", content_type="image/jpeg", uri=f"s3://img/{plate}.jpg"),),
    )


@pytest.fixture
def world(platform: Platform, app_client: TestClient) -> dict[str, Any]:
    """Cameras, organisations, two investigators, and reads (one beyond the open window)."""
    now = platform.clock()
    user_service.ensure_organisation(uow=platform.uow(), org=replace(FEDERAL, created_at=now))
    user_service.create_organisation(
        uow=platform.uow(),
        org_id="pz-midi",
        name="Zone Midi",
        kind="local_zone",
        scope=Scope(ScopeKind.ZONE, "Midi"),
        now=now,
        actor=ACTOR,
    )
    day = now - timedelta(days=2)
    reads = []
    for n, cam in enumerate(("CAPIX-1", "CAPIX-2", "MIDI-1", "MIDI-2")):
        t = day + timedelta(minutes=10 * n)
        reads += [read(cam, TARGET, t), read(cam, FRIEND, t + timedelta(seconds=5))]
    reads += [read("MIDI-1", CLONE, day), read("LIEGE-1", CLONE, day + timedelta(minutes=5))]
    reads += [read("MIDI-2", CLONE, day + timedelta(hours=3))]
    old = read("MIDI-1", TARGET, now - timedelta(days=40))  # beyond the 30-day open window
    with platform.uow() as uow:
        for cid, zone, lat, lon in CAMERAS:
            uow.cameras.add(
                Camera(
                    cid,
                    cid,
                    lat,
                    lon,
                    None,
                    zone,
                    "Bruxelles-Capitale",
                    "Veille",
                    "veille-json",
                    Phase.LIVE,
                    now,
                )
            )
        uow.reads.add_many([*reads, old])
        uow.commit()
    return {
        "fed": make_user(platform, "fred"),
        "midi": make_user(platform, "mira", org="pz-midi"),
        "old_read": str(old.read_id),
        "day": day,
    }


def bodies(day: datetime) -> dict[str, dict[str, Any]]:
    iso = lambda m: m.isoformat().replace("+00:00", "Z")  # noqa: E731
    far = {"lat": 50.84, "lon": 4.35, "radius_m": 50_000}
    return {
        "plate": {"plate": "1-abc-123"},
        "area": dict(far),
        "journey": {"plate": TARGET},
        "convoy": {"plate": TARGET, "min_cameras": 1},
        "scenes": {
            "scenes": [
                {
                    **far,
                    "start": iso(day - timedelta(days=60)),
                    "end": iso(day + timedelta(days=1)),
                },
                {
                    **far,
                    "start": iso(day - timedelta(hours=1)),
                    "end": iso(day + timedelta(hours=5)),
                },
            ]
        },
        "rare-visitors": {
            **far,
            "baseline_start": "2020-01-01T00:00:00Z",
            "baseline_end": iso(day - timedelta(days=1)),
        },
        "clones": {},
    }


def post(client: TestClient, headers: dict[str, str], kind: str, body: dict[str, Any], **kw: Any):
    payload = {
        "purpose": PURPOSE,
        "case_ref": CASE,
        "start": "2000-01-01T00:00:00Z",
        "end": "2100-01-01T00:00:00Z",
        **body,
        **kw,
    }
    return client.post(f"/api/v1/analyses/{kind}", json=payload, headers=headers)


def audit(platform: Platform) -> list[Any]:
    with platform.read_uow() as uow:
        return [r.entry for r in uow.audit.iter_all()]


def values(node: Any, key: str) -> set[Any]:
    """Every value under `key` anywhere in a JSON document."""
    found: set[Any] = set()
    if isinstance(node, dict):
        for k, v in node.items():
            if k == key and isinstance(v, str):
                found.add(v)
            found |= values(v, key)
    elif isinstance(node, list):
        for item in node:
            found |= values(item, key)
    return found


KINDS = list(bodies(datetime.now(UTC)))


@pytest.mark.parametrize("kind", KINDS)
def test_each_analysis_is_lawful_audited_once_and_kept_in_scope_and_window(
    app_client, platform, world, kind
):
    body = bodies(world["day"])[kind]
    before = len(audit(platform))
    refused = post(app_client, world["fed"], kind, body, purpose=None, case_ref=None)
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["code"] == "purpose_and_case_required"
    no_case = post(app_client, world["fed"], kind, body, case_ref="")
    assert no_case.status_code == 422
    ok = post(app_client, world["fed"], kind, body)
    assert ok.status_code == 200, ok.text
    entries = audit(platform)[before:]
    action = "analysis." + kind.replace("-", "_")
    assert [(e.action, e.outcome) for e in entries] == [
        (action, "refused"),
        (action, "refused"),
        (action, "ok"),
    ]
    last = entries[-1]
    assert (last.purpose, last.case_ref, last.actor.username) == (PURPOSE, CASE, "fred")
    assert last.result_count == ok.json()["count"]
    answer = ok.json()
    claimed = answer.pop("sha256")
    assert claimed == ok.headers["x-veille-result-sha256"] == result_sha256(answer)

    # scope and window: a Midi investigator sees Midi cameras only, nobody the 40-day-old read
    midi = post(app_client, world["midi"], kind, body).json()
    assert values(midi, "camera_id") <= MIDI
    if kind != "clones":  # the only clone pair crosses into Liège, outside Midi
        assert values(midi, "camera_id") == MIDI
    assert values(answer, "camera_id") - MIDI, f"{kind}: the federal investigator sees more"
    assert world["old_read"] not in values(midi, "read_id") | values(answer, "read_id")


def test_results_are_right_for_the_federal_investigator(app_client, world):
    day, fed = world["day"], world["fed"]
    plate = post(app_client, fed, "plate", {"plate": "1-ABC-123"}).json()
    assert plate["count"] == 4 and plate["passages"][0]["images"][0]["uri"].endswith(".jpg")
    convoy = post(app_client, fed, "convoy", {"plate": TARGET}).json()
    assert convoy["companions"][0]["plate"] == FRIEND
    assert convoy["companions"][0]["cameras"] == 4
    clones = post(app_client, fed, "clones", {}).json()
    assert [f["plate"] for f in clones["findings"]] == [CLONE]
    assert clones["findings"][0]["second"]["camera_id"] == "LIEGE-1"
    journey = post(app_client, fed, "journey", {"plate": TARGET, "gap_minutes": 5}).json()
    assert journey["cameras"] == ["CAPIX-1", "CAPIX-2", "MIDI-1", "MIDI-2"]
    assert len(journey["gaps"]) == 3 and journey["trips"] == 4
    scenes = post(app_client, fed, "scenes", bodies(day)["scenes"]).json()
    assert {p["plate"] for p in scenes["plates"]} == {TARGET, FRIEND, CLONE}
    backwards = bodies(day)["scenes"]
    second = backwards["scenes"][1]
    second["start"], second["end"] = second["end"], second["start"]
    refused_scene = post(app_client, fed, "scenes", backwards)
    assert refused_scene.status_code == 422, refused_scene.text
    assert refused_scene.json()["error"]["code"] == "bad_period"
    assert refused_scene.json()["error"]["problems"] == [
        {"field": "scenes.1.end", "reason": "must be after the scene's start"}
    ]
    wild = post(app_client, fed, "plate", {"plate": "1?BC*", "mode": "wildcard"}).json()
    assert wild["plates"] == [TARGET]
    refused = post(app_client, fed, "plate", {"plate": "*", "mode": "wildcard"})
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "bad_parameters"
    both = post(
        app_client, fed, "area", {"lat": 50.8, "lon": 4.3, "radius_m": 10, "camera_ids": ["MIDI-1"]}
    )
    assert both.status_code == 422


@pytest.mark.parametrize(
    ("fmt", "media_type"),
    [
        ("csv", "text/csv"),
        ("geojson", "application/geo+json"),
        ("html", "text/html"),
        ("pdf", "application/pdf"),
    ],
)
def test_exports_carry_the_hash_and_are_audited(app_client, platform, world, fmt, media_type):
    before = len(audit(platform))
    # a period inside the open window: a clipped one names the window's edge, which moves
    # with the clock, so two runs of it would not give the same result
    recent = {"plate": TARGET, "start": (world["day"] - timedelta(days=1)).isoformat()}
    answer = post(app_client, world["fed"], "journey", recent, format=fmt)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith(media_type)
    disposition = answer.headers["content-disposition"]
    assert disposition.startswith("attachment;") and f".{fmt}" in disposition
    digest = answer.headers["x-veille-result-sha256"]
    plain = post(app_client, world["fed"], "journey", recent).json()
    assert plain["sha256"] == digest  # the same result, whatever the format
    if fmt == "csv":
        rows = list(csv.reader(io.StringIO(answer.text)))
        assert rows[0][:3] == ["seq", "captured_at", "camera_id"] and len(rows) == 5
    elif fmt == "geojson":
        doc = answer.json()
        assert doc["type"] == "FeatureCollection" and doc["veille"]["sha256"] == digest
        kinds = [f["geometry"]["type"] for f in doc["features"]]
        assert kinds == ["Point"] * 4 + ["LineString"]
    elif fmt == "html":
        assert CASE in answer.text and digest in answer.text and PURPOSE in answer.text
        assert cli_analyses.verify_document(answer.text) == (digest, digest)
    else:
        assert answer.content.startswith(b"%PDF") and b"result.json" in answer.content
    entries = audit(platform)[before:]
    assert [(e.action, e.outcome) for e in entries] == [
        ("analysis.journey", "ok"),
        ("analysis.export", "ok"),
        ("analysis.journey", "ok"),
    ]
    export = entries[1]
    assert export.params["sha256"] == digest and export.params["format"] == fmt
    assert (export.case_ref, export.purpose, export.target) == (CASE, PURPOSE, "journey")


def test_every_analysis_exports_every_table(app_client, world):
    for kind, body in bodies(world["day"]).items():
        answer = post(app_client, world["fed"], kind, body, format="csv")
        assert answer.status_code == 200, (kind, answer.text)
        header = answer.text.splitlines()[0]
        assert "plate" in header or "seq" in header, kind
        geo = post(app_client, world["fed"], kind, body, format="geojson").json()
        assert geo["type"] == "FeatureCollection", kind
        pdf = post(app_client, world["fed"], kind, body, format="pdf")
        assert pdf.content.startswith(b"%PDF"), kind


def test_the_cli_runs_analyses_and_verifies_reports(app_client, world, monkeypatch, tmp_path):
    token = world["fed"]["Authorization"].split()[1]

    def in_process(url: str, token: str) -> TestClient:
        app_client.headers["Authorization"] = f"Bearer {token}"
        return app_client

    monkeypatch.setattr(cli_analyses, "http_client", in_process)
    monkeypatch.setattr(TestClient, "__exit__", lambda *a: None)  # keep the shared client open
    runner = CliRunner()
    common = ["--purpose", PURPOSE, "--case", CASE, "--start", "-30d", "--token", token]
    shown = runner.invoke(cli_analyses.analyses_app, ["journey", TARGET, *common])
    assert shown.exit_code == 0, shown.output
    answer = json.loads(shown.stdout)
    assert answer["cameras"] == ["CAPIX-1", "CAPIX-2", "MIDI-1", "MIDI-2"]
    assert "note:" not in shown.stderr  # "-30d" is the window itself: nothing clipped
    older = [*common[:4], "--start", "-60d", *common[6:]]
    clipped = runner.invoke(cli_analyses.analyses_app, ["journey", TARGET, *older])
    assert clipped.exit_code == 0, clipped.output
    assert json.loads(clipped.stdout)["period_clipped"]["visible_from"]
    assert "note: the period was clipped to what you may see" in clipped.stderr
    saved = tmp_path / "journey.json"
    saved.write_text(shown.stdout)
    assert runner.invoke(cli_analyses.analyses_app, ["verify", str(saved)]).exit_code == 0
    answer["passages"][0]["camera_id"] = "EDITED"
    saved.write_text(json.dumps(answer))
    assert runner.invoke(cli_analyses.analyses_app, ["verify", str(saved)]).exit_code == 1

    report = tmp_path / "clones.pdf"
    done = runner.invoke(
        cli_analyses.analyses_app, ["clones", *common, "--format", "pdf", "--output", str(report)]
    )
    assert done.exit_code == 0, done.output
    assert report.read_bytes().startswith(b"%PDF")
    pdf_check = runner.invoke(cli_analyses.analyses_app, ["verify", str(report)])
    assert pdf_check.exit_code == 2, pdf_check.output  # a one-line pointer, no traceback
    assert pdf_check.exception is None or isinstance(pdf_check.exception, SystemExit)
    assert "result.json" in pdf_check.output and "--sha256" in pdf_check.output
    not_json = tmp_path / "notes.txt"
    not_json.write_bytes(b"\xff\xfe not a report")
    other = runner.invoke(cli_analyses.analyses_app, ["verify", str(not_json)])
    assert other.exit_code == 2 and "not a Veille JSON answer" in other.output
    refused = runner.invoke(
        cli_analyses.analyses_app, ["plate", TARGET, *common[2:], "--purpose", "curiosity"]
    )
    assert refused.exit_code == 1 and "purpose_and_case_required" in refused.output


def test_canonical_json_is_what_the_standard_library_gives():
    result = {"b": [1, 2.5, None, "é"], "a": {"z": True, "y": "x<y"}}
    expected = json.dumps(result, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert canonical_json(result) == expected.encode("utf-8")


def test_pdf_text_is_transliterated_for_the_core_font():
    from veille.service.analysis_exports import latin1

    assert latin1("Łódź — “Chaussée” … 5€") == 'Lódz - "Chaussée" ... 5EUR'
    assert latin1("東") == "?"


def test_the_clone_sweep_job_runs_on_the_platform_and_is_audited(platform, world):
    from veille.service.commands.jobs import SweepClones

    now = platform.clock()
    recent = [
        read("MIDI-1", "9QQQ999", now - timedelta(minutes=30)),
        read("LIEGE-1", "9QQQ999", now - timedelta(minutes=25)),
    ]
    with platform.uow() as uow:
        uow.reads.add_many(recent)
        uow.commit()
    report = platform.bus.handle(SweepClones())
    assert report.recorded == 1 and report.as_dict()["findings"] == 1  # day-old clone: too old
    assert platform.bus.handle(SweepClones()).recorded == 0
    with platform.read_uow() as uow:
        [finding] = uow.clone_findings.find()
    assert (finding.plate, finding.second_camera_id) == ("9QQQ999", "LIEGE-1")
    sweeps = [e for e in audit(platform) if e.action == "analysis.clone_sweep"]
    assert [e.result_count for e in sweeps] == [1, 0]


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _window_start(platform: Platform) -> datetime:
    return platform.clock() - timedelta(days=platform.settings.open_window_days)


@pytest.mark.parametrize("kind", KINDS)
def test_every_analysis_says_whether_it_was_capped_and_whether_its_period_was_clipped(
    app_client, platform, world, kind
):
    body = bodies(world["day"])[kind]
    before = _window_start(platform)
    answer = post(app_client, world["fed"], kind, body).json()
    after = _window_start(platform)
    assert (answer["truncated"], answer["limits_reached"]) == (False, [])
    clip = answer["period_clipped"]
    assert clip["requested_start"] == "2000-01-01T00:00:00Z"
    assert before <= _instant(clip["visible_from"]) <= after
    assert clip["not_open"] == [{"start": "2000-01-01T00:00:00Z", "end": clip["visible_from"]}]
    recent = (world["day"] - timedelta(days=1)).isoformat()
    assert post(app_client, world["fed"], kind, body, start=recent).json()["period_clipped"] is None


def test_a_capped_plate_analysis_says_so_over_http(app_client, world):
    capped = post(app_client, world["fed"], "plate", {"plate": TARGET, "limit": 3}).json()
    assert (capped["count"], capped["truncated"], capped["limits_reached"]) == (3, True, ["limit"])
    whole = post(app_client, world["fed"], "plate", {"plate": TARGET, "limit": 4}).json()
    assert (whole["count"], whole["truncated"]) == (4, False)


@pytest.mark.parametrize(
    ("route", "body"), [("plate", {"plate": TARGET}), ("camera", {"camera_id": "MIDI-1"})]
)
def test_the_searches_say_whether_they_were_capped_and_clipped(
    app_client, platform, world, route, body
):
    payload = {
        "purpose": PURPOSE,
        "case_ref": CASE,
        "start": "2000-01-01T00:00:00Z",
        "end": "2100-01-01T00:00:00Z",
        **body,
    }
    url = f"/api/v1/search/{route}"
    whole = app_client.post(url, json=payload, headers=world["fed"]).json()
    assert whole["truncated"] is False and whole["count"] >= 2
    assert whole["period_clipped"]["requested_start"] == "2000-01-01T00:00:00Z"
    capped = app_client.post(url, json={**payload, "limit": 1}, headers=world["fed"]).json()
    assert (capped["count"], capped["truncated"]) == (1, True)
    recent = {**payload, "start": (world["day"] - timedelta(days=1)).isoformat()}
    assert app_client.post(url, json=recent, headers=world["fed"]).json()["period_clipped"] is None


def test_reports_and_maps_say_when_their_result_was_capped_or_clipped(app_client, world):
    capped = post(app_client, world["fed"], "plate", {"plate": TARGET, "limit": 1}, format="html")
    assert "TRUNCATED at limit" in capped.text
    assert "clipped to what the caller may see: visible from" in capped.text
    recent = (world["day"] - timedelta(days=1)).isoformat()
    whole = post(app_client, world["fed"], "plate", {"plate": TARGET}, format="html", start=recent)
    assert "complete within the caps" in whole.text and "as requested" in whole.text
    geo = post(app_client, world["fed"], "plate", {"plate": TARGET, "limit": 1}, format="geojson")
    assert geo.json()["veille"]["truncated"] is True
    assert geo.json()["veille"]["period_clipped"]["visible_from"]
