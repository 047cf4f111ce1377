"""Judicial districts: the camera mapping, its file, request districts and approvals (pure)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from veille.adapters.district_config import (
    district_map_from_json,
    district_map_json,
    load_district_map,
)
from veille.domain.access import Scope, ScopeKind
from veille.domain.authorizations import (
    Area,
    Authorization,
    AuthorizationError,
    AuthorizationStatus,
    reachable_cameras,
    request_districts,
    with_resolved_districts,
)
from veille.domain.cameras import Camera, Phase
from veille.domain.districts import (
    BRUSSELS,
    FEDERAL_PROSECUTOR,
    CrossDistrictRule,
    DistrictMapInvalid,
    belgian_district_map,
)
from veille.domain.geography import PROVINCES

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
BELGIUM = belgian_district_map()


def camera(camera_id: str, zone: str, province: str, lat: float = 50.8, lon: float = 4.3):
    return Camera(
        camera_id, camera_id, lat, lon, None, zone, province, "v", "json", Phase.LIVE, NOW
    )


CAMS = {
    c.camera_id: c
    for c in (
        camera("BXL", "Midi", "Bruxelles-Capitale", 50.836, 4.308),
        camera("HAL", "Zennevallei", "Vlaams-Brabant", 50.734, 4.234),
        camera("LEU", "Leuven", "Vlaams-Brabant", 50.880, 4.701),
        camera("LGE", "Liège", "Liège", 50.633, 5.580),
        camera("EUP", "Weser-Göhl", "Liège", 50.630, 6.031),
    )
}


def test_every_province_has_a_district_and_the_2014_exceptions_hold():
    assert {p for p in PROVINCES if BELGIUM.by_province.get(p) is None} == set()
    assert len(BELGIUM.districts) == 12
    assert {cid: BELGIUM.of_camera(c) for cid, c in CAMS.items()} == {
        "BXL": BRUSSELS,
        "HAL": BRUSSELS,  # Halle-Vilvoorde belongs to the Brussels district
        "LEU": "Leuven",
        "LGE": "Liège",
        "EUP": "Eupen",  # the German-speaking zones form the district of Eupen
    }


def test_a_camera_entry_overrides_its_zone_and_province():
    mapping = replace(BELGIUM, by_camera={"LGE": "Eupen"})
    assert mapping.of_camera(CAMS["LGE"]) == "Eupen"


def test_names_resolve_through_aliases_and_unknown_names_resolve_to_nothing():
    assert BELGIUM.resolve("Bruxelles") == BRUSSELS
    assert BELGIUM.resolve("gent") == "Oost-Vlaanderen"
    assert BELGIUM.resolve("federal") == FEDERAL_PROSECUTOR
    assert BELGIUM.resolve("Atlantis") is None
    assert BELGIUM.resolve("") is None


def test_a_mapping_file_replaces_the_default(tmp_path: Path):
    path = tmp_path / "districts.json"
    path.write_bytes(
        orjson.dumps(
            {
                "districts": ["Noord", "Zuid"],
                "provinces": {"Liège": "Zuid", "Bruxelles-Capitale": "Noord"},
                "cameras": {"BXL": "Zuid"},
                "aliases": {"North": "Noord"},
                "federal": None,
            }
        )
    )
    mapping = load_district_map(path)
    assert mapping.of_camera(CAMS["BXL"]) == "Zuid"
    assert mapping.of_camera(CAMS["LEU"]) is None  # Vlaams-Brabant is mapped nowhere
    assert mapping.resolve("north") == "Noord" and mapping.resolve("federal") is None
    assert district_map_from_json(district_map_json(mapping)) == mapping
    assert load_district_map(None) == BELGIUM


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ([], "(file)"),
        ({"districts": []}, "districts"),
        ({"districts": ["A"], "provinces": {"Liège": "B"}}, "provinces.Liège"),
        ({"districts": ["A"], "provinces": {"Liège": "A"}, "aliases": {"x": "Q"}}, "aliases.x"),
        ({"districts": ["A"], "provinces": {"Liège": "A"}, "federal": "A"}, "federal"),
        ({"districts": ["A"], "provinces": {"Liège": 3}}, "provinces"),
        ({"districts": ["A"], "provinces": {"Liège": "A"}, "zone": {}}, "zone"),
    ],
)
def test_a_bad_mapping_file_names_the_field_at_fault(tmp_path: Path, data, field):
    path = tmp_path / "districts.json"
    path.write_bytes(orjson.dumps(data))
    with pytest.raises(DistrictMapInvalid) as bad:
        load_district_map(path)
    assert bad.value.field == f"{path}: {field}"


def test_an_unreadable_mapping_file_is_refused(tmp_path: Path):
    with pytest.raises(DistrictMapInvalid, match="cannot be read"):
        load_district_map(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{nope")
    with pytest.raises(DistrictMapInvalid, match="not valid JSON"):
        load_district_map(tmp_path / "bad.json")


NATIONAL = [Scope(ScopeKind.NATIONAL)]


def districts_of(camera_ids=(), area=None, scopes=NATIONAL, declared=None):
    reach = reachable_cameras(
        cameras=CAMS.values(), camera_ids=frozenset(camera_ids), area=area, scopes=scopes
    )
    return request_districts(
        cameras=CAMS,
        reachable=reach,
        named=frozenset(camera_ids),
        declared=declared,
        districts=BELGIUM,
    )


def test_request_districts_come_from_the_cameras_it_reaches():
    assert districts_of(["BXL", "HAL"]) == {BRUSSELS}
    assert districts_of(["BXL", "LGE"]) == {BRUSSELS, "Liège"}
    assert districts_of(area=Area(50.633, 5.580, 1000)) == {"Liège"}
    # plates only: every camera a named investigator's scope holds
    assert districts_of() == {BRUSSELS, "Leuven", "Liège", "Eupen"}
    assert districts_of(scopes=[Scope(ScopeKind.ZONE, "Midi")]) == {BRUSSELS}
    assert districts_of(scopes=[Scope(ScopeKind.PROVINCE, "Liège")]) == {"Liège", "Eupen"}


def test_a_declared_district_narrows_a_request_naming_no_camera_and_never_widens_it():
    assert districts_of(declared="Liège") == {"Liège"}
    assert districts_of(declared="Bruxelles") == {BRUSSELS}  # an alias
    assert districts_of(["BXL"], declared="Bruxelles") == {BRUSSELS}
    with pytest.raises(AuthorizationError, match="lie in Brussel/Bruxelles, not Liège"):
        districts_of(["BXL"], declared="Liège")
    with pytest.raises(AuthorizationError, match="not a configured judicial district"):
        districts_of(declared="Atlantis")
    with pytest.raises(AuthorizationError, match="no camera"):
        districts_of(scopes=[Scope(ScopeKind.ZONE, "Midi")], declared="Liège")


def test_a_named_camera_placed_in_no_district_is_refused():
    mapping = replace(BELGIUM, by_province={"Liège": "Liège"}, by_zone={})
    with pytest.raises(AuthorizationError, match="camera BXL lies in no configured"):
        request_districts(
            cameras=CAMS,
            reachable=frozenset({"BXL"}),
            named=frozenset({"BXL"}),
            declared=None,
            districts=mapping,
        )


def pending(districts: frozenset[str]) -> Authorization:
    return Authorization(
        auth_id=1,
        case_ref="PV-1",
        purpose="judicial: investigation of an offence",
        justification="x" * 30,
        district="",
        requested_by=7,
        requested_by_name="inv7",
        requested_at=NOW,
        investigators=frozenset({7}),
        plates=frozenset({"1ABC123"}),
        camera_ids=frozenset(),
        area=None,
        period_start=NOW - timedelta(days=200),
        period_end=NOW - timedelta(days=100),
        hold_requested=False,
        status=AuthorizationStatus.PENDING,
        districts=districts,
    )


def approve(auth: Authorization, district: str, days: int = 10) -> Authorization:
    return auth.approve(
        district=district,
        by=9,
        by_name=f"proc-{district}",
        at=NOW,
        expires_at=NOW + timedelta(days=days),
        reasons=f"reasons of {district}",
        conditions=f"conditions of {district}",
    )


def test_a_request_spanning_districts_is_approved_when_each_district_has_approved():
    auth = pending(frozenset({BRUSSELS, "Liège"}))
    half = approve(auth, BRUSSELS, days=20)
    assert half.status is AuthorizationStatus.PENDING and half.approved_districts == frozenset()
    with pytest.raises(AuthorizationError, match="already approved"):
        approve(half, BRUSSELS)
    whole = approve(half, "Liège", days=5)
    assert whole.status is AuthorizationStatus.APPROVED
    assert whole.approved_districts == {BRUSSELS, "Liège"}
    assert whole.expires_at == NOW + timedelta(days=5)  # the earliest expiry given
    assert whole.decision_reasons == (
        f"[{BRUSSELS}] reasons of {BRUSSELS}\n[Liège] reasons of Liège"
    )


def test_one_districts_refusal_refuses_the_whole_request():
    auth = approve(pending(frozenset({BRUSSELS, "Liège"})), BRUSSELS)
    refused = auth.refuse(district="Liège", by=9, by_name="p", at=NOW, reasons="disproportionate")
    assert refused.status is AuthorizationStatus.REFUSED
    assert refused.decision_reasons == "[Liège] disproportionate"


def test_a_federal_approval_settles_a_request_spanning_districts():
    auth = pending(frozenset({BRUSSELS, "Liège"}))
    whole = approve(auth, FEDERAL_PROSECUTOR)
    assert whole.status is AuthorizationStatus.APPROVED
    assert whole.approved_districts == {BRUSSELS, "Liège"}


@pytest.mark.parametrize(
    ("districts", "prosecutor", "rule", "allowed"),
    [
        ({"Liège"}, "Liège", CrossDistrictRule.EACH_DISTRICT, True),
        ({"Liège"}, BRUSSELS, CrossDistrictRule.EACH_DISTRICT, False),
        ({"Liège"}, FEDERAL_PROSECUTOR, CrossDistrictRule.EACH_DISTRICT_OR_FEDERAL, False),
        ({"Liège", BRUSSELS}, "Liège", CrossDistrictRule.EACH_DISTRICT, True),
        ({"Liège", BRUSSELS}, "Liège", CrossDistrictRule.FEDERAL, False),
        ({"Liège", BRUSSELS}, "Liège", CrossDistrictRule.EACH_DISTRICT_OR_FEDERAL, True),
        ({"Liège", BRUSSELS}, "Namur", CrossDistrictRule.EACH_DISTRICT_OR_FEDERAL, False),
        ({"Liège", BRUSSELS}, FEDERAL_PROSECUTOR, CrossDistrictRule.EACH_DISTRICT, False),
        ({"Liège", BRUSSELS}, FEDERAL_PROSECUTOR, CrossDistrictRule.FEDERAL, True),
        ({"Liège", BRUSSELS}, FEDERAL_PROSECUTOR, CrossDistrictRule.EACH_DISTRICT_OR_FEDERAL, True),
    ],
)
def test_who_decides_a_request(districts, prosecutor, rule, allowed):
    auth = pending(frozenset(districts))
    try:
        as_district = auth.deciding_as(
            prosecutor_district=prosecutor, federal=FEDERAL_PROSECUTOR, rule=rule
        )
    except AuthorizationError:
        assert not allowed
    else:
        assert allowed and as_district == prosecutor


def test_an_old_record_reads_its_district_through_the_aliases():
    old = replace(pending(frozenset({"Bruxelles"})), status=AuthorizationStatus.APPROVED)
    assert with_resolved_districts(old, BELGIUM).approved_districts == {BRUSSELS}
    unknown = replace(old, districts=frozenset({"Liege"}))  # a spelling nobody maps
    assert with_resolved_districts(unknown, BELGIUM).approved_districts == frozenset()


def test_an_authorization_opens_only_for_its_own_case_and_purpose():
    auth = pending(frozenset({BRUSSELS}))
    assert auth.opens_for(case_ref="PV-1", purpose="judicial: investigation of an offence")
    assert not auth.opens_for(case_ref="PV-2", purpose="judicial: investigation of an offence")
    assert not auth.opens_for(case_ref="PV-1", purpose="administrative: missing person")
