"""Investigation's query handlers on the in-memory store: the law of every search (audit
first, purpose and case, the open window), honest caps, parameters checked once, exports."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.contract.builders import a_camera, a_read
from tests.unit.fakes import FakePlatform
from veille.adapters.memory.store import MemoryStore
from veille.domain.access import Principal, Role, Scope, ScopeKind
from veille.domain.audit import AuditEntry
from veille.domain.reads import Read
from veille.service.analyses import AnalysisError
from veille.service.analysis_exports import AnalysisResult, ExportDocument, result_sha256
from veille.service.commands.investigation import (
    AnalysisExport,
    Journey,
    PlatePassages,
    PlatesAtScenes,
    PlateSearch,
    Scene,
    VehiclesInArea,
)
from veille.service.errors import Forbidden, Invalid
from veille.service.handlers import investigation
from veille.service.queries import AccessRefused, PurposeAndCaseRequired, QueryContext

pytestmark = pytest.mark.unit

PURPOSE = "judicial: investigation of an offence"
CASE = "BR.12.L3.004711/2026"
PLATE = "1ABC123"
LAT, LON = 50.846, 4.352


def platform_over(store: MemoryStore) -> FakePlatform:
    fake = FakePlatform()
    fake.store = store
    investigation.register(fake.bus, fake.deps())
    return fake


@pytest.fixture
def fake() -> FakePlatform:
    fake = platform_over(MemoryStore())
    with fake.store.uow() as uow:
        for n, lat in enumerate((LAT, LAT + 0.01)):
            uow.cameras.add(a_camera(f"CAM-{n}", lat=lat, lon=LON))
        uow.commit()
    return fake


def store_reads(fake: FakePlatform, *ago: timedelta, camera: str = "CAM-0") -> list[Read]:
    reads = [a_read(PLATE, camera_id=camera, at=fake.now - age) for age in ago]
    with fake.store.uow() as uow:
        uow.reads.add_many(reads)
        uow.commit()
    return reads


def investigator(now: datetime, *, designated: bool = True) -> Principal:
    return Principal(
        user_id=7,
        username="ines",
        role=Role.INVESTIGATOR,
        org_id="federal",
        scope=Scope(ScopeKind.NATIONAL),
        designated=designated,
        training_expires=now + timedelta(days=200),
    )


def lawful(
    fake: FakePlatform, *, days: float = 7, purpose: str | None = PURPOSE, case: str | None = CASE
) -> dict[str, Any]:
    ctx = QueryContext(principal=investigator(fake.now), purpose=purpose, case_ref=case)
    return {"ctx": ctx, "start": fake.now - timedelta(days=days), "end": fake.now}


def audit(fake: FakePlatform) -> list[AuditEntry]:
    with fake.store.uow(write=False) as uow:
        return [r.entry for r in uow.audit.search(limit=1000)]


def test_a_search_answers_once_its_audit_record_is_committed(fake):
    store_reads(fake, timedelta(hours=2), timedelta(hours=1))
    found = fake.bus.handle(PlatePassages(**lawful(fake), plate="1-abc-123"))
    assert isinstance(found, AnalysisResult)
    assert found.result["count"] == 2 and found.sha256 == result_sha256(found.result)
    [entry] = audit(fake)
    assert (entry.action, entry.outcome, entry.result_count) == ("analysis.plate", "ok", 2)
    assert (entry.purpose, entry.case_ref, entry.actor.username) == (PURPOSE, CASE, "ines")
    assert entry.params["plate"] == "1-abc-123" and entry.params["authorizations"] == []


def test_no_result_leaves_when_its_audit_record_cannot_be_committed():
    fake = platform_over(MemoryStore(busy_timeout=0.01))
    holding, release = threading.Event(), threading.Event()

    def hold_the_writer() -> None:
        with fake.store.uow():
            holding.set()
            release.wait()

    other = threading.Thread(target=hold_the_writer)
    other.start()
    try:
        assert holding.wait(timeout=30)
        # the snapshot read does not wait for the writer; the audit append does, and fails
        with pytest.raises(TimeoutError):
            fake.bus.handle(PlatePassages(**lawful(fake), plate=PLATE))
    finally:
        release.set()
        other.join()
    assert audit(fake) == []


@pytest.mark.parametrize(("purpose", "case"), [(None, CASE), ("curiosity", CASE), (PURPOSE, "")])
def test_a_search_without_purpose_or_case_is_refused_and_the_refusal_audited(fake, purpose, case):
    store_reads(fake, timedelta(hours=1))
    query = PlateSearch(**lawful(fake, purpose=purpose, case=case), plate=PLATE)
    with pytest.raises(PurposeAndCaseRequired) as refused:
        fake.bus.handle(query)
    assert isinstance(refused.value, Invalid) and refused.value.audited
    [entry] = audit(fake)
    assert (entry.action, entry.outcome) == ("reads.search.plate", "refused")
    assert entry.result_count is None and "refusal" in entry.params


def test_a_caller_not_designated_is_forbidden_and_the_refusal_audited(fake):
    ctx = QueryContext(
        principal=investigator(fake.now, designated=False), purpose=PURPOSE, case_ref=CASE
    )
    query = Journey(ctx=ctx, start=fake.now - timedelta(days=1), end=fake.now, plate=PLATE)
    with pytest.raises(AccessRefused) as refused:
        fake.bus.handle(query)
    assert isinstance(refused.value, Forbidden) and refused.value.code == "forbidden"
    assert [(e.action, e.outcome) for e in audit(fake)] == [("analysis.journey", "refused")]


def test_reads_older_than_the_open_window_are_not_returned_and_the_period_says_so(fake):
    recent, _old = store_reads(fake, timedelta(days=2), timedelta(days=40))
    found = fake.bus.handle(PlatePassages(**lawful(fake, days=60), plate=PLATE)).result
    assert [p["read_id"] for p in found["passages"]] == [str(recent.read_id)]
    clip = found["period_clipped"]
    assert clip is not None and clip["visible_from"] is not None
    inside = fake.bus.handle(PlatePassages(**lawful(fake, days=7), plate=PLATE)).result
    assert inside["period_clipped"] is None


def test_a_capped_result_says_it_was_capped(fake):
    store_reads(fake, *(timedelta(hours=h) for h in (1, 2, 3)))
    capped = fake.bus.handle(PlatePassages(**lawful(fake), plate=PLATE, limit=2)).result
    assert capped["count"] == 2
    assert capped["truncated"] is True and capped["limits_reached"] == ["limit"]
    whole = fake.bus.handle(PlatePassages(**lawful(fake), plate=PLATE, limit=3)).result
    assert whole["truncated"] is False and whole["limits_reached"] == []


def test_a_scene_whose_start_is_after_its_end_is_invalid_naming_the_field(fake):
    start = fake.now - timedelta(hours=3)
    scenes = (
        Scene(lat=LAT, lon=LON, radius_m=200, start=start, end=fake.now),
        Scene(lat=LAT, lon=LON, radius_m=200, start=fake.now, end=start),  # backwards
    )
    with pytest.raises(AnalysisError) as refused:
        fake.bus.handle(PlatesAtScenes(**lawful(fake), scenes=scenes))
    assert isinstance(refused.value, Invalid) and refused.value.code == "bad_period"
    assert [p.as_dict() for p in refused.value.problems] == [
        {"field": "scenes.1.end", "reason": "must be after the scene's start"}
    ]
    assert audit(fake) == []  # refused before any read: nothing was searched


def test_a_period_that_ends_before_it_starts_is_invalid_naming_the_field(fake):
    backwards = {**lawful(fake), "start": fake.now, "end": fake.now - timedelta(days=1)}
    with pytest.raises(AnalysisError) as refused:
        fake.bus.handle(PlatePassages(**backwards, plate=PLATE))
    assert refused.value.code == "bad_period"
    assert [p.field for p in refused.value.problems] == ["end"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"mode": "edit", "max_edits": 3}, "max_edits"),
        ({"mode": "wildcard", "plate": "*"}, "plate"),
        ({"mode": "soundex"}, "mode"),
    ],
)
def test_plate_parameters_are_checked_by_the_analysis_naming_the_field(fake, change, field):
    with pytest.raises(AnalysisError) as refused:
        fake.bus.handle(PlatePassages(**lawful(fake), **{"plate": PLATE, **change}))
    assert [p.field for p in refused.value.problems] == [field]


@pytest.mark.parametrize("radius", [0.0, 50_001.0, float("nan"), float("inf")])
def test_a_circle_out_of_range_is_invalid_naming_the_field(fake, radius):
    query = VehiclesInArea(**lawful(fake), lat=LAT, lon=LON, radius_m=radius)
    with pytest.raises(AnalysisError) as refused:
        fake.bus.handle(query)
    assert [p.field for p in refused.value.problems] == ["radius_m"]


def test_an_export_is_audited_as_its_own_record_with_the_result_hash(fake):
    store_reads(fake, timedelta(hours=2))
    store_reads(fake, timedelta(hours=1), camera="CAM-1")
    journey = Journey(**lawful(fake), plate=PLATE)
    document = fake.bus.handle(AnalysisExport(journey, "csv"))
    assert isinstance(document, ExportDocument)
    assert document.media_type.startswith("text/csv") and document.filename.endswith(".csv")
    assert document.content.decode().splitlines()[0].startswith("seq,captured_at,camera_id")
    analysed, exported = audit(fake)
    assert (analysed.action, exported.action) == ("analysis.journey", "analysis.export")
    assert exported.params["sha256"] == document.sha256
    assert exported.params["format"] == "csv" and exported.result_count == 2
    assert document.sha256 == fake.bus.handle(journey).sha256  # the same result as JSON


def test_an_unknown_export_format_is_refused_before_anything_is_read(fake):
    with pytest.raises(AnalysisError) as refused:
        fake.bus.handle(AnalysisExport(Journey(**lawful(fake), plate=PLATE), "docx"))
    assert [p.field for p in refused.value.problems] == ["format"]
    assert audit(fake) == []
