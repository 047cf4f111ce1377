"""The law over HTTP: purpose-bound search, prosecutor authorizations, sessions, CSRF, TOTP."""

from __future__ import annotations

import logging
import uuid
from dataclasses import replace
from datetime import timedelta

import pyotp
import pytest
from fastapi.testclient import TestClient

from tests.conftest import create_through_api, register_cameras
from veille.bootstrap import bootstrap
from veille.domain.access import Role, Scope, ScopeKind
from veille.domain.audit import system_actor
from veille.domain.plates import canonical
from veille.domain.reads import Read
from veille.domain.users import FEDERAL
from veille.entrypoints.api.app import create_app
from veille.service import cameras as camera_service
from veille.service import users as user_service
from veille.settings import Settings

pytestmark = pytest.mark.e2e

ACTOR = system_actor("test")
PASSWORD = "investigate responsibly 2026"
PURPOSE = "judicial: investigation of an offence"


@pytest.fixture
def org_setup(platform):
    now = platform.clock()
    user_service.ensure_organisation(uow=platform.uow(), org=replace(FEDERAL, created_at=now))
    for org_id, kind, scope in (
        ("pz-midi", "local_zone", Scope(ScopeKind.ZONE, "Midi")),
        ("parquet-bxl", "judicial", Scope(ScopeKind.DISTRICT, "Bruxelles")),
        ("parquet-gent", "judicial", Scope(ScopeKind.DISTRICT, "Gent")),
        ("parquet-liege", "judicial", Scope(ScopeKind.DISTRICT, "Liège")),
        ("parquet-federal", "judicial", Scope(ScopeKind.DISTRICT, "federal")),
    ):
        user_service.create_organisation(
            uow=platform.uow(),
            org_id=org_id,
            name=org_id,
            kind=kind,
            scope=scope,
            now=now,
            actor=ACTOR,
        )
    return now


def make_user(platform, name, role, org="federal", trained=True):
    now = platform.clock()
    user = user_service.create_user(
        uow=platform.uow(),
        username=name,
        password=PASSWORD,
        role=role,
        org_id=org,
        now=now,
        designated=True,
        training_expires=now + timedelta(days=300) if trained else None,
        actor=ACTOR,
    )
    token, _ = user_service.issue_token(uow=platform.uow(), user_id=user.user_id, now=now)
    return user, {"Authorization": f"Bearer {token}"}


def store_read(platform, camera_id, plate, age):
    now = platform.clock()
    read = Read(
        read_id=uuid.uuid4(),
        camera_id=camera_id,
        captured_at=now - age,
        plate_raw=plate,
        plate=plate,
        plate_canonical=canonical(plate),
        country="BE",
        confidence=0.9,
        received_at=now - age,
    )
    with platform.uow() as uow:
        uow.reads.add_many([read])
        uow.commit()
    return read


def search(client, headers, plate, *, days=200, **kw):
    now_iso = "2100-01-01T00:00:00Z"
    body = {
        "plate": plate,
        "start": "2000-01-01T00:00:00Z",
        "end": now_iso,
        "purpose": PURPOSE,
        "case_ref": "BR.12.L3.004711/2026",
    }
    body.update(kw)
    return client.post("/api/v1/search/plate", json=body, headers=headers)


def audit_actions(platform):
    with platform.read_uow() as uow:
        return [
            (r.entry.action, r.entry.outcome, r.entry.actor.username) for r in uow.audit.iter_all()
        ]


def test_search_needs_purpose_and_case_and_is_audited_once(client, platform, org_setup):
    register_cameras(platform, "CAM-A")
    store_read(platform, "CAM-A", "1ABC123", timedelta(days=2))
    _, inv = make_user(platform, "ines", Role.INVESTIGATOR)
    before = len(audit_actions(platform))
    refused = search(client, inv, "1-ABC-123", purpose=None)
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "purpose_and_case_required"
    ok = search(client, inv, "1-abc-123")
    assert ok.status_code == 200 and ok.json()["count"] == 1
    passage = ok.json()["passages"][0]
    assert passage["camera_id"] == "CAM-A" and passage["zone"] == "Bruxelles-Capitale/Ixelles"
    actions = audit_actions(platform)[before:]
    assert actions == [
        ("reads.search.plate", "refused", "ines"),
        ("reads.search.plate", "ok", "ines"),
    ]


def test_zone_scoped_investigator_sees_only_their_zone(client, platform, org_setup):
    register_cameras(platform, "CAM-A")  # zone Bruxelles-Capitale/Ixelles
    store_read(platform, "CAM-A", "1ABC123", timedelta(days=1))
    _, midi = make_user(platform, "mira", Role.INVESTIGATOR, org="pz-midi")
    _, fed = make_user(platform, "fred", Role.INVESTIGATOR)
    assert search(client, midi, "1ABC123").json()["count"] == 0
    assert search(client, fed, "1ABC123").json()["count"] == 1


def test_authorization_flow_opens_old_reads_for_the_named_investigator_only(
    client, platform, org_setup
):
    register_cameras(platform, "CAM-A")
    old = store_read(platform, "CAM-A", "2XYZ999", timedelta(days=90))
    recent = store_read(platform, "CAM-A", "2XYZ999", timedelta(days=3))
    ines, inv = make_user(platform, "ines", Role.INVESTIGATOR)
    _, other = make_user(platform, "otto", Role.INVESTIGATOR)
    _, proc = make_user(platform, "pauline", Role.PROSECUTOR, org="parquet-bxl")
    _, proc_gent = make_user(platform, "gert", Role.PROSECUTOR, org="parquet-gent")

    ids = {p["read_id"] for p in search(client, inv, "2XYZ999").json()["passages"]}
    assert ids == {str(recent.read_id)}  # the old read is outside the open window

    now = platform.clock()
    req = client.post(
        "/api/v1/authorizations",
        headers=inv,
        json={
            "case_ref": "BR.12.L3.004711/2026",
            "purpose": PURPOSE,
            "district": "Bruxelles",
            "justification": "Vehicle seen leaving the scene of the armed robbery of 3 August.",
            "plates": ["2-XYZ-999"],
            "period_start": (now - timedelta(days=120)).isoformat(),
            "period_end": (now - timedelta(days=30)).isoformat(),
            "hold": True,
        },
    )
    assert req.status_code == 201, req.text
    auth_id = req.json()["auth_id"]
    assert req.json()["status"] == "pending" and req.json()["investigators"] == [ines.user_id]

    # pending: nothing opens; investigators cannot decide; another district cannot decide
    assert len(search(client, inv, "2XYZ999").json()["passages"]) == 1
    assert (
        client.post(
            f"/api/v1/authorizations/{auth_id}/approve",
            headers=inv,
            json={
                "reasons": "I approve myself",
                "expires_at": (now + timedelta(days=10)).isoformat(),
            },
        ).status_code
        == 403
    )
    elsewhere = client.post(
        f"/api/v1/authorizations/{auth_id}/approve",
        headers=proc_gent,
        json={
            "reasons": "Not my district anyway",
            "expires_at": (now + timedelta(days=10)).isoformat(),
        },
    )
    assert elsewhere.status_code == 409

    listed = client.get("/api/v1/authorizations/district?status=pending", headers=proc).json()
    assert [a["auth_id"] for a in listed["authorizations"]] == [auth_id]
    approved = client.post(
        f"/api/v1/authorizations/{auth_id}/approve",
        headers=proc,
        json={
            "reasons": "Serious offence; the plate is linked to the case file.",
            "conditions": "Only for the robbery of 3 August.",
            "expires_at": (now + timedelta(days=10)).isoformat(),
        },
    )
    assert approved.status_code == 200 and approved.json()["status"] == "approved"

    ids = {p["read_id"] for p in search(client, inv, "2XYZ999").json()["passages"]}
    assert ids == {str(recent.read_id), str(old.read_id)}
    assert len(search(client, other, "2XYZ999").json()["passages"]) == 1  # not named

    with platform.read_uow() as uow:
        hold = uow.conn.execute(
            "SELECT case_ref, plates FROM case_holds WHERE auth_id = ?", (auth_id,)
        ).fetchone()
    assert hold == ("BR.12.L3.004711/2026", '["2XYZ999"]')

    revoked = client.post(
        f"/api/v1/authorizations/{auth_id}/revoke",
        headers=proc,
        json={"reasons": "The case was closed by the court."},
    )
    assert revoked.status_code == 200
    assert len(search(client, inv, "2XYZ999").json()["passages"]) == 1
    actions = [a for a, _, _ in audit_actions(platform)]
    for action in ("authorization.request", "authorization.approve", "authorization.revoke"):
        assert action in actions


def test_refusal_needs_reasons_and_blanket_requests_are_refused(client, platform, org_setup):
    register_cameras(platform, "CAM-A")
    _, inv = make_user(platform, "ines", Role.INVESTIGATOR)
    _, proc = make_user(platform, "pauline", Role.PROSECUTOR, org="parquet-bxl")
    now = platform.clock()
    base = {
        "case_ref": "BR.12.L3.004711/2026",
        "purpose": PURPOSE,
        "district": "Bruxelles",
        "justification": "A reasoned justification of sufficient length.",
        "period_start": (now - timedelta(days=120)).isoformat(),
        "period_end": (now - timedelta(days=30)).isoformat(),
    }
    blanket = client.post("/api/v1/authorizations", headers=inv, json=base)
    assert blanket.status_code == 422 and "blanket" in blanket.json()["error"]["message"]
    admin_purpose = client.post(
        "/api/v1/authorizations",
        headers=inv,
        json={**base, "plates": ["1ABC123"], "purpose": "administrative: missing person"},
    )
    assert admin_purpose.status_code == 422
    req = client.post("/api/v1/authorizations", headers=inv, json={**base, "plates": ["1ABC123"]})
    auth_id = req.json()["auth_id"]
    short = client.post(
        f"/api/v1/authorizations/{auth_id}/refuse", headers=proc, json={"reasons": "no"}
    )
    assert short.status_code == 422
    refused = client.post(
        f"/api/v1/authorizations/{auth_id}/refuse",
        headers=proc,
        json={"reasons": "Not proportionate to the offence."},
    )
    assert refused.json()["status"] == "refused"
    assert refused.json()["decision_reasons"] == "Not proportionate to the offence."


def test_browser_session_needs_csrf_for_changes(client, platform, org_setup, admin_token):
    resp = client.post(
        "/api/v1/auth/session",
        json={"username": "admin", "password": "correct horse battery staple"},
    )
    assert resp.status_code == 200
    csrf = resp.json()["csrf_token"]
    cookie = resp.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" in cookie
    session = resp.cookies.get("veille_session")
    client.cookies.set("veille_session", session)
    assert client.get("/api/v1/auth/me").status_code == 200  # reading needs no CSRF token
    body = {
        "org_id": "pz-ouest",
        "name": "Zone Ouest",
        "kind": "local_zone",
        "scope_kind": "zone",
        "scope_value": "Bruxelles-Ouest",
    }
    assert client.post("/api/v1/organisations", json=body).status_code == 403
    assert (
        client.post(
            "/api/v1/organisations", json=body, headers={"X-CSRF-Token": "forged"}
        ).status_code
        == 403
    )
    ok = client.post("/api/v1/organisations", json=body, headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 201
    out = client.post("/api/v1/auth/sign-out", headers={"X-CSRF-Token": csrf})
    assert out.status_code == 200
    client.cookies.set("veille_session", session)
    assert client.get("/api/v1/auth/me").status_code == 401


def test_totp_required_role_and_codes(client, platform, org_setup):
    platform.settings.totp_required_roles = ["prosecutor"]
    user, _ = make_user(platform, "pauline", Role.PROSECUTOR, org="parquet-bxl")
    creds = {"username": "pauline", "password": PASSWORD}
    assert client.post("/api/v1/auth/token", json=creds).status_code == 401  # not enrolled
    secret = user_service.enrol_totp(
        uow=platform.uow(), user_id=user.user_id, now=platform.clock(), actor=ACTOR, confirmed=True
    )
    assert client.post("/api/v1/auth/token", json=creds).status_code == 401  # no code
    assert client.post("/api/v1/auth/token", json={**creds, "totp": "000000"}).status_code == 401
    code = pyotp.TOTP(secret).at(platform.clock())
    assert client.post("/api/v1/auth/token", json={**creds, "totp": code}).status_code == 200


def test_self_enrolment_is_pending_until_confirmed(client, platform, org_setup):
    _, headers = make_user(platform, "olga", Role.OPERATOR)
    enrol = client.post("/api/v1/auth/totp/enrol", headers=headers).json()
    assert enrol["otpauth_uri"].startswith("otpauth://totp/Veille:olga")
    # still pending: password alone signs in
    assert (
        client.post(
            "/api/v1/auth/token", json={"username": "olga", "password": PASSWORD}
        ).status_code
        == 200
    )
    wrong = client.post("/api/v1/auth/totp/confirm", headers=headers, json={"code": "123456"})
    assert wrong.status_code == 400
    code = pyotp.TOTP(enrol["secret"]).at(platform.clock())
    assert (
        client.post("/api/v1/auth/totp/confirm", headers=headers, json={"code": code}).status_code
        == 200
    )
    assert (
        client.post(
            "/api/v1/auth/token", json={"username": "olga", "password": PASSWORD}
        ).status_code
        == 401
    )


def test_lockout_over_http_and_failed_sign_ins_are_audited(client, platform, org_setup):
    make_user(platform, "olga", Role.OPERATOR)
    for _ in range(5):
        assert (
            client.post(
                "/api/v1/auth/token", json={"username": "olga", "password": "wrong password!"}
            ).status_code
            == 401
        )
    locked = client.post("/api/v1/auth/token", json={"username": "olga", "password": PASSWORD})
    assert locked.status_code == 401
    refusals = [a for a in audit_actions(platform) if a[:2] == ("auth.sign_in", "refused")]
    assert len(refusals) == 6 and {a[2] for a in refusals} == {"olga"}


def test_passwords_never_appear_in_responses_logs_or_audit(
    client, platform, org_setup, admin_token, caplog
):
    caplog.set_level(logging.DEBUG)
    secret_pw = "Sup3r-Secret-Passw0rd!"
    admin = {"Authorization": f"Bearer {admin_token}"}
    requested = client.post(
        "/api/v1/users",
        headers=admin,
        json={"username": "newbie", "password": secret_pw, "role": "operator", "org_id": "federal"},
    )
    created = create_through_api(
        client,
        platform,
        admin,
        {"username": "newbie2", "password": secret_pw, "role": "operator", "org_id": "federal"},
    )
    texts = [requested.text, str(created)]
    texts.append(client.get("/api/v1/user-grants", headers=admin).text)
    texts.append(
        client.post("/api/v1/auth/token", json={"username": "newbie2", "password": secret_pw}).text
    )
    texts.append(
        client.post(
            "/api/v1/auth/token", json={"username": "newbie2", "password": secret_pw + "x"}
        ).text
    )
    texts.append(
        client.patch(
            f"/api/v1/users/{created['user_id']}",
            headers=admin,
            json={"password": secret_pw + "-2"},
        ).text
    )
    texts.append(client.get("/api/v1/users", headers=admin).text)
    with platform.read_uow() as uow:
        texts.extend(str(r) for r in uow.audit.iter_all())
    texts.extend(r.getMessage() for r in caplog.records)
    for text in texts:
        assert secret_pw not in text
    database = platform.settings.database
    for path in (database, database.with_name(database.name + "-wal")):
        if path.exists():
            assert secret_pw.encode() not in path.read_bytes()


def register_liege_camera(platform, camera_id="CAM-L"):
    """A camera in the province of Liège (judicial district Liège)."""
    report = camera_service.import_cameras(
        uow=platform.uow(),
        records=[
            (
                "test",
                {
                    "camera_id": camera_id,
                    "lat": 50.633,
                    "lon": 5.580,
                    "zone": "Liège",
                    "province": "Liège",
                    "vendor": "Veille",
                    "protocol": "veille-json",
                    "phase": "live",
                },
            )
        ],
        now=platform.clock(),
        issue_tokens="none",
        actor=ACTOR,
    )
    assert report.applied, report.problems


def file_request(client, headers, platform, **kw):
    now = platform.clock()
    body = {
        "case_ref": "BR.12.L3.004711/2026",
        "purpose": PURPOSE,
        "justification": "Vehicle seen leaving the scene of the armed robbery of 3 August.",
        "period_start": (now - timedelta(days=120)).isoformat(),
        "period_end": (now - timedelta(days=30)).isoformat(),
    }
    body.update(kw)
    return client.post("/api/v1/authorizations", headers=headers, json=body)


def decide(client, headers, platform, auth_id, verb="approve"):
    body = {"reasons": "Serious offence; the plate is linked to the case file."}
    if verb == "approve":
        body["expires_at"] = (platform.clock() + timedelta(days=10)).isoformat()
    return client.post(f"/api/v1/authorizations/{auth_id}/{verb}", headers=headers, json=body)


def old_ids(client, headers, plate="2XYZ999"):
    passages = search(client, headers, plate).json()["passages"]
    return {p["read_id"] for p in passages}


def test_the_district_is_derived_from_the_cameras_not_declared(client, platform, org_setup):
    register_cameras(platform, "CAM-A")  # Brussels
    old = store_read(platform, "CAM-A", "2XYZ999", timedelta(days=90))
    _, inv = make_user(platform, "ines", Role.INVESTIGATOR)
    _, liege = make_user(platform, "luc", Role.PROSECUTOR, org="parquet-liege")
    _, bxl = make_user(platform, "pauline", Role.PROSECUTOR, org="parquet-bxl")

    mismatch = file_request(client, inv, platform, camera_ids=["CAM-A"], district="Liège")
    assert mismatch.status_code == 422
    assert "Brussel/Bruxelles" in mismatch.json()["error"]["message"]

    filed = file_request(client, inv, platform, camera_ids=["CAM-A"])
    assert filed.status_code == 201, filed.text
    auth_id = filed.json()["auth_id"]
    assert filed.json()["districts"] == ["Brussel/Bruxelles"]

    listed = client.get("/api/v1/authorizations/district", headers=liege).json()
    assert listed["authorizations"] == []
    assert decide(client, liege, platform, auth_id).status_code == 409
    assert str(old.read_id) not in old_ids(client, inv)

    assert decide(client, bxl, platform, auth_id).status_code == 200
    assert str(old.read_id) in old_ids(client, inv)


def test_an_area_and_a_plate_list_reach_the_districts_of_their_cameras(client, platform, org_setup):
    register_cameras(platform, "CAM-A")
    register_liege_camera(platform)
    _, inv = make_user(platform, "ines", Role.INVESTIGATOR)  # national scope
    _, midi = make_user(platform, "mira", Role.INVESTIGATOR, org="pz-midi")
    around_liege = {"lat": 50.633, "lon": 5.580, "radius_m": 2000}
    assert file_request(client, inv, platform, area=around_liege).json()["districts"] == ["Liège"]
    # only plates: the cameras the named investigators' scopes reach
    national = file_request(client, inv, platform, plates=["2XYZ999"]).json()
    assert national["districts"] == ["Brussel/Bruxelles", "Liège"]
    limited = file_request(client, inv, platform, plates=["2XYZ999"], district="Liège").json()
    assert limited["districts"] == ["Liège"]
    # a Midi investigator's scope holds no camera at all here
    nothing = file_request(client, midi, platform, plates=["2XYZ999"])
    assert nothing.status_code == 422 and "no camera" in nothing.json()["error"]["message"]


def test_a_request_spanning_districts_needs_each_districts_approval(client, platform, org_setup):
    register_cameras(platform, "CAM-A")
    register_liege_camera(platform)
    bxl_old = store_read(platform, "CAM-A", "2XYZ999", timedelta(days=90))
    liege_old = store_read(platform, "CAM-L", "2XYZ999", timedelta(days=80))
    _, inv = make_user(platform, "ines", Role.INVESTIGATOR)
    _, liege = make_user(platform, "luc", Role.PROSECUTOR, org="parquet-liege")
    _, bxl = make_user(platform, "pauline", Role.PROSECUTOR, org="parquet-bxl")
    _, federal = make_user(platform, "fed", Role.PROSECUTOR, org="parquet-federal")
    auth_id = file_request(client, inv, platform, camera_ids=["CAM-A", "CAM-L"]).json()["auth_id"]

    assert decide(client, federal, platform, auth_id).status_code == 409  # not configured
    first = decide(client, bxl, platform, auth_id)
    assert first.status_code == 200 and first.json()["status"] == "pending"
    assert [a["district"] for a in first.json()["approvals"]] == ["Brussel/Bruxelles"]
    assert decide(client, bxl, platform, auth_id).status_code == 409  # already approved
    assert old_ids(client, inv) == set()  # one approval of two opens nothing
    second = decide(client, liege, platform, auth_id)
    assert second.status_code == 200 and second.json()["status"] == "approved"
    assert old_ids(client, inv) == {str(bxl_old.read_id), str(liege_old.read_id)}

    refused_id = file_request(client, inv, platform, camera_ids=["CAM-A", "CAM-L"]).json()
    assert decide(client, liege, platform, refused_id["auth_id"], "refuse").json()["status"] == (
        "refused"
    )
    assert decide(client, bxl, platform, refused_id["auth_id"]).status_code == 409


def test_a_request_spanning_districts_goes_to_the_federal_prosecutor_when_configured(
    client, platform, org_setup
):
    platform.settings.cross_district_approval = "federal"
    register_cameras(platform, "CAM-A")
    register_liege_camera(platform)
    liege_old = store_read(platform, "CAM-L", "2XYZ999", timedelta(days=80))
    _, inv = make_user(platform, "ines", Role.INVESTIGATOR)
    _, liege = make_user(platform, "luc", Role.PROSECUTOR, org="parquet-liege")
    _, federal = make_user(platform, "fed", Role.PROSECUTOR, org="parquet-federal")
    spanning = file_request(client, inv, platform, camera_ids=["CAM-A", "CAM-L"]).json()
    single = file_request(client, inv, platform, camera_ids=["CAM-L"]).json()

    assert decide(client, liege, platform, spanning["auth_id"]).status_code == 409
    assert decide(client, federal, platform, single["auth_id"]).status_code == 409
    listed = client.get("/api/v1/authorizations/district", headers=federal).json()
    assert [a["auth_id"] for a in listed["authorizations"]] == [spanning["auth_id"]]
    approved = decide(client, federal, platform, spanning["auth_id"])
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    assert str(liege_old.read_id) in old_ids(client, inv)


def test_the_district_mapping_comes_from_the_configured_file(tmp_path):
    mapping = tmp_path / "districts.json"
    mapping.write_text(
        '{"districts": ["Centrum"], "provinces": {"Bruxelles-Capitale": "Centrum"},'
        ' "aliases": {"Bruxelles": "Centrum"}, "federal": null}'
    )
    settings = Settings(
        data_dir=tmp_path / "var", image_fsync=False, run_jobs=False, district_map_file=mapping
    )
    platform = bootstrap(settings)
    platform.store.initialise()
    try:
        register_cameras(platform, "CAM-A")
        user_service.ensure_organisation(
            uow=platform.uow(), org=replace(FEDERAL, created_at=platform.clock())
        )
        _, inv = make_user(platform, "ines", Role.INVESTIGATOR)
        with TestClient(create_app(platform)) as client:
            filed = file_request(client, inv, platform, camera_ids=["CAM-A"])
        assert filed.status_code == 201 and filed.json()["districts"] == ["Centrum"]
    finally:
        platform.stop()


def test_the_search_route_is_an_alias_of_the_plate_analysis(client, platform, org_setup):
    """One plate search: `/search/plate` answers what `/analyses/plate` answers, and both
    refuse a bad plate and a backwards period the same way (checked in one place)."""
    register_cameras(platform, "CAM-A")
    store_read(platform, "CAM-A", "1ABC123", timedelta(days=2))
    store_read(platform, "CAM-A", "1A8C123", timedelta(days=1))  # a look-alike: B/8
    _, inv = make_user(platform, "ines", Role.INVESTIGATOR)
    for lookalike, mode in ((False, "exact"), (True, "lookalike")):
        alias = search(client, inv, "1-abc-123", lookalike=lookalike)
        assert alias.status_code == 200, alias.text
        canonical = client.post("/api/v1/analyses/plate", json=body_of(alias), headers=inv)
        assert canonical.status_code == 200, canonical.text
        assert alias.json()["plate"] == "1ABC123" and alias.json()["mode"] == mode
        got = [p["read_id"] for p in alias.json()["passages"]]
        assert got == [p["read_id"] for p in canonical.json()["passages"]]
        assert len(got) == (2 if lookalike else 1)
    for route in ("/api/v1/search/plate", "/api/v1/analyses/plate"):
        bad = client.post(route, json={**LAWFUL, "plate": "1-ABß-123"}, headers=inv)
        assert bad.status_code == 422 and bad.json()["error"]["code"] == "bad_plate", route
        backwards = {**LAWFUL, "plate": "1ABC123", "start": LAWFUL["end"], "end": LAWFUL["start"]}
        bad = client.post(route, json=backwards, headers=inv)
        assert bad.status_code == 422 and bad.json()["error"]["code"] == "bad_period", route


LAWFUL = {
    "start": "2000-01-01T00:00:00Z",
    "end": "2100-01-01T00:00:00Z",
    "purpose": PURPOSE,
    "case_ref": "BR.12.L3.004711/2026",
}


def body_of(answer):
    """The body the alias was sent, as the canonical route takes it."""
    return {**LAWFUL, "plate": answer.json()["plate"], "mode": answer.json()["mode"]}
