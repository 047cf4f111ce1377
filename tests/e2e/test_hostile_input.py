"""Hostile input at the edge of the API: huge ids, poison reads, huge bodies, odd routes.

Every answer must be a documented error (`{"error": {"code", "message", …}}`) with a
4xx status, never a 500, and a bad item must never cost the good ones beside it.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import timedelta

import orjson
import pytest
from fastapi.testclient import TestClient

from tests.conftest import make_read
from veille.bootstrap import Platform
from veille.domain.access import Role, Scope, ScopeKind
from veille.domain.audit import system_actor
from veille.entrypoints.api.app import create_app
from veille.entrypoints.api.limits import BodyTooLarge
from veille.entrypoints.api.matrix import route_table
from veille.entrypoints.api.security import iter_api_routes
from veille.service import users as user_service

pytestmark = pytest.mark.e2e

ACTOR = system_actor("test")
PASSWORD = "a long enough password"


def assert_documented_error(
    resp, status: int | tuple[int, ...], code: str | None = None, *, report: bool = False
):
    """The documented error body; `report`: a refused import or replay, whose full
    report stands beside the error."""
    statuses = status if isinstance(status, tuple) else (status,)
    assert resp.status_code in statuses, (resp.status_code, resp.text[:300])
    body = resp.json()
    assert "error" in body if report else set(body) == {"error"}, body
    assert isinstance(body["error"]["code"], str) and body["error"]["code"]
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    if code is not None:
        assert body["error"]["code"] == code, body
    return body["error"]


@pytest.fixture
def people(platform: Platform) -> dict[Role, dict[str, str]]:
    """Bearer headers of one designated, trained user per role."""
    now = platform.clock()
    user_service.create_organisation(
        uow=platform.uow(),
        org_id="parquet-bxl",
        name="Parquet de Bruxelles",
        kind="judicial",
        scope=Scope(ScopeKind.DISTRICT, "Bruxelles"),
        now=now,
        actor=ACTOR,
    )
    user_service.create_organisation(
        uow=platform.uow(),
        org_id="fed",
        name="Federal police",
        kind="federal",
        scope=Scope(ScopeKind.NATIONAL, None),
        now=now,
        actor=ACTOR,
    )
    headers = {}
    for role in Role:
        user = user_service.create_user(
            uow=platform.uow(),
            username=f"h-{role.value}",
            password=PASSWORD,
            role=role,
            org_id="parquet-bxl" if role is Role.PROSECUTOR else "fed",
            now=now,
            designated=True,
            training_expires=now + timedelta(days=365),
            actor=ACTOR,
        )
        token, _ = user_service.issue_token(
            uow=platform.uow(), user_id=user.user_id, now=platform.clock()
        )
        headers[role] = {"Authorization": f"Bearer {token}"}
    return headers


# --- item 10: integer path ids out of range -------------------------------------------


def int_path_params(app) -> list[tuple[str, str, list[str]]]:
    """(method, path, names of its integer path parameters) of every route that has one."""
    found = []
    for path, route in iter_api_routes(app.routes):
        names = [p.name for p in route.dependant.path_params if p.field_info.annotation is int]
        if names:
            for method in sorted(route.methods):
                found.append((method, path, names))
    return found


@pytest.mark.parametrize("value", [2**63, 2**64, -(2**63) - 1, 0])
def test_every_integer_path_id_out_of_range_is_a_4xx_never_a_500(client, people, value):
    routes = int_path_params(client.app)
    # the routes the black-box test found 500s on are among those walked
    walked = {path for _, path, _ in routes}
    assert {
        "/api/v1/alerts/{alert_id}",
        "/api/v1/users/{user_id}",
        "/api/v1/webhooks/{webhook_id}/disable",
        "/api/v1/dead-letters/{dead_letter_id}/replay",
        "/api/v1/authorizations/{auth_id}/approve",
    } <= walked
    table = {(r.method, r.path): r for r in route_table(client.app)}
    for method, path, names in routes:
        row = table[(method, path)]
        role = next(r for r in Role if row.allows(r))
        url = path
        for name in names:
            url = url.replace("{" + name + "}", str(value))
        url = re.sub(r"\{[^}]+\}", "x" * 64, url)  # any other parameter: a harmless text
        resp = client.request(method, url, headers=people[role], json={})
        assert resp.status_code in (404, 422), (method, url, resp.status_code, resp.text[:200])
        assert_documented_error(resp, (404, 422))


def test_integer_path_ids_share_one_bounded_type(client):
    """Bounded in one place: every int path parameter carries the same limits."""
    for _, path, names in int_path_params(client.app):
        route = next(r for p, r in iter_api_routes(client.app.routes) if p == path)
        for param in route.dependant.path_params:
            if param.name in names:
                limits = {type(m).__name__: m for m in param.field_info.metadata}
                assert limits["Ge"].ge == 1 and limits["Le"].le == 2**63 - 1, path


# --- item 16: one error body everywhere ---------------------------------------------


def test_unknown_route_and_wrong_method_use_the_documented_error(client, people):
    assert_documented_error(client.get("/api/v1/no-such-thing"), 404, "not_found")
    assert_documented_error(client.get("/nowhere"), 404, "not_found")
    wrong = client.delete("/api/v1/auth/token")
    assert_documented_error(wrong, 405, "method_not_allowed")
    assert "POST" in wrong.headers["allow"]


def test_organisation_validation_errors_are_422_with_field_and_conflicts_409(client, people):
    admin = people[Role.ADMINISTRATOR]
    good = {"org_id": "zone-midi", "name": "Zone Midi", "kind": "local_zone"}
    good |= {"scope_kind": "zone", "scope_value": "Midi"}
    for bad, field in (
        ({**good, "kind": "pirates"}, "kind"),
        ({**good, "scope_value": None}, "scope_value"),
        ({**good, "org_id": "Not An Id!"}, "org_id"),
        ({**good, "scope_kind": "galaxy"}, "scope_kind"),
    ):
        resp = client.post("/api/v1/organisations", json=bad, headers=admin)
        err = assert_documented_error(resp, 422, "invalid_request")
        assert any(p["field"].endswith(field) and p["reason"] for p in err["problems"]), err
    assert client.post("/api/v1/organisations", json=good, headers=admin).status_code == 201
    again = client.post("/api/v1/organisations", json=good, headers=admin)
    assert_documented_error(again, 409, "conflict")


def test_a_crash_answers_the_documented_500_without_its_details(platform):
    app = create_app(platform)

    def broken() -> None:
        raise RuntimeError("secret internals")

    app.add_api_route("/api/v1/broken", broken, methods=["GET"])
    with TestClient(app, raise_server_exceptions=False) as crashing:
        resp = crashing.get("/api/v1/broken")
    assert_documented_error(resp, 500, "internal_error")
    assert "secret" not in resp.text


def test_malformed_json_body_on_a_pydantic_route_is_the_documented_422(client, people):
    resp = client.post(
        "/api/v1/organisations",
        content=b'{"org_id": ',
        headers={**people[Role.ADMINISTRATOR], "Content-Type": "application/json"},
    )
    assert_documented_error(resp, 422, "invalid_request")


# --- item 12: every route has a body limit ------------------------------------------


def test_an_oversized_body_to_sign_in_is_refused_before_it_is_read(client, platform):
    limit = platform.settings.max_request_body_bytes
    body = b'{"username": "x", "password": "' + b"p" * (limit + 10) + b'"}'
    resp = client.post(
        "/api/v1/auth/token", content=body, headers={"Content-Type": "application/json"}
    )
    assert_documented_error(resp, 413, "body_too_large")


def test_chunked_bodies_are_counted_as_they_arrive(client, platform):
    limit = platform.settings.max_request_body_bytes

    def chunks():
        for _ in range(limit // 4096 + 10):
            yield b"x" * 4096

    resp = client.post(
        "/api/v1/auth/token", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert_documented_error(resp, 413, "body_too_large")
    assert "content-length" not in resp.request.headers  # really sent chunked


def test_the_limit_stops_reading_an_endless_body_right_after_its_limit(platform):
    """At the ASGI level: a client streaming without end is cut off once it passes the
    limit; the route never sees more than the limit."""
    from veille.entrypoints.api.limits import BodyLimitMiddleware

    limit = platform.settings.max_request_body_bytes
    pulled, seen, sent = [], [], []

    async def endless():
        pulled.append(1)
        return {"type": "http.request", "body": b"x" * 65536, "more_body": True}

    async def route(scope, receive, send):
        while True:
            seen.append(len((await receive())["body"]))

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/api/v1/auth/token", "headers": []}
    with pytest.raises(BodyTooLarge):
        asyncio.run(BodyLimitMiddleware(route, settings=platform.settings)(scope, endless, send))
    assert len(pulled) == limit // 65536 + 1 and sum(seen) <= limit


def test_every_route_but_ingest_has_the_small_default_or_the_import_limit(client, platform):
    from veille.entrypoints.api.limits import body_limit_for

    settings = platform.settings
    for row in route_table(client.app):
        limit = body_limit_for(row.method, row.path, settings)
        if row.path == "/api/v1/reads":
            assert limit == settings.max_body_bytes
        elif (row.method, row.path) in (
            ("POST", "/api/v1/cameras/import"),
            ("PUT", "/api/v1/hotlists/{list_id}/entries"),
        ):
            assert limit == settings.max_import_body_bytes, row
        else:
            assert limit == settings.max_request_body_bytes, row
    assert settings.max_request_body_bytes < settings.max_import_body_bytes


def test_a_body_within_the_limit_still_works(client, platform, people):
    resp = client.post("/api/v1/auth/token", json={"username": "h-auditor", "password": PASSWORD})
    assert resp.status_code == 200, resp.text


# --- item 11: a poison read never sinks its batch -----------------------------------


def nested(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


@pytest.mark.parametrize("depth", [40, 253, 254, 300, 1000])
def test_a_deeply_nested_extra_is_rejected_alone_and_dead_lettered(
    client, platform, cams, admin_token, depth
):
    good = make_read("CAM-A")
    poison = make_read("CAM-A", extra=nested(depth))
    body = orjson.dumps({"reads": [good, poison]}) if depth < 250 else None
    if body is None:  # orjson cannot write it either: build the text by hand
        inner = '{"a":' * (depth - 1) + "{}" + "}" * (depth - 1)
        text = orjson.dumps({**poison, "extra": "__X__"}).decode().replace('"__X__"', inner)
        body = ("[" + orjson.dumps(good).decode() + "," + text + "]").encode()
    for _ in range(2):  # a retry of the same batch answers the same way
        resp = client.post("/api/v1/reads", content=body, headers=cams["CAM-A"].headers)
        assert resp.status_code == 200, resp.text[:300]
        results = resp.json()["results"]
        assert results[0]["status"] in ("stored", "duplicate")
        assert results[1]["status"] == "rejected"
        assert results[1]["errors"][0]["field"] == "extra"
        assert "nested" in results[1]["errors"][0]["reason"]
    with platform.read_uow() as uow:
        assert uow.reads.get(uuid.UUID(good["read_id"])) is not None
        dead = uow.dead_letters.find(status="open")
    assert len(dead) == 2  # one per post, each with the whole poison item
    kept = orjson.loads(dead[0].payload)  # valid JSON, however deep
    assert kept["read_id"] == poison["read_id"] and kept["camera_id"] == "CAM-A"
    assert dead[0].errors[0]["field"] == "extra"
    replay = client.post(
        f"/api/v1/dead-letters/{dead[0].id}/replay",
        headers={"Authorization": f"Bearer {admin_token}"},
    )
    assert_documented_error(replay, 409, "still_rejected", report=True)
    assert replay.json()["status"] == "still_rejected"
    assert "nested" in replay.json()["errors"][0]["reason"]


def test_a_huge_extra_is_rejected_with_its_size(client, platform, cams):
    from veille.domain.reads import MAX_EXTRA_BYTES

    good = make_read("CAM-A")
    fat = make_read("CAM-A", extra={"blob": "x" * (MAX_EXTRA_BYTES + 1)})
    resp = client.post("/api/v1/reads", json=[good, fat], headers=cams["CAM-A"].headers)
    assert resp.status_code == 200
    assert [r["status"] for r in resp.json()["results"]] == ["stored", "rejected"]
    err = resp.json()["results"][1]["errors"][0]
    assert err["field"] == "extra" and "bytes" in err["reason"]


def test_an_unexpected_failure_of_one_item_rejects_that_item_only(
    client, platform, cams, monkeypatch
):
    """Whatever breaks while preparing one read (here: the store's row encoding) becomes a
    rejection of that read, kept as a dead letter; its neighbours are stored."""
    original = platform.encode_read
    boom = make_read("CAM-A", plate="9-ZZZ-999")

    def fragile(read):
        if read.plate == "9ZZZ999":
            raise RuntimeError("encoder exploded")
        return original(read)

    monkeypatch.setattr(platform, "encode_read", fragile)
    good = make_read("CAM-A")
    resp = client.post("/api/v1/reads", json=[good, boom], headers=cams["CAM-A"].headers)
    assert resp.status_code == 200, resp.text
    assert [r["status"] for r in resp.json()["results"]] == ["stored", "rejected"]
    assert resp.json()["results"][1]["read_id"] == boom["read_id"]
    with platform.read_uow() as uow:
        dead = uow.dead_letters.find(status="open")
    assert [orjson.loads(d.payload)["read_id"] for d in dead] == [boom["read_id"]]


# --- item 13: plates in other scripts -----------------------------------------------


def test_a_search_for_text_that_cannot_be_a_plate_says_why(client, people):
    body = {
        "plate": "1-ABß-123",
        "start": "2026-11-20T00:00:00Z",
        "end": "2026-11-27T00:00:00Z",
        "purpose": "judicial: investigation of an offence",
        "case_ref": "BR.12.L3.004711/2026",
    }
    resp = client.post("/api/v1/search/plate", json=body, headers=people[Role.INVESTIGATOR])
    err = assert_documented_error(resp, 422, "bad_plate")
    assert "ß" in err["message"]


def test_a_cyrillic_read_is_stored_under_its_latin_plate(client, platform, cams):
    read = make_read("CAM-A", plate="1-АВС-123")  # Cyrillic А, В, С
    resp = client.post("/api/v1/reads", json=read, headers=cams["CAM-A"].headers)
    assert resp.json()["results"][0]["status"] == "stored"
    with platform.read_uow() as uow:
        stored = uow.reads.get(uuid.UUID(read["read_id"]))
    assert (stored.plate, stored.plate_raw) == ("1ABC123", "1-АВС-123")


def test_a_refused_hotlist_import_answers_the_error_body_with_its_report(client, people):
    manager = people[Role.HOTLIST_MANAGER]
    made = client.put(
        "/api/v1/hotlists/stolen",
        json={"name": "Stolen vehicles", "category": "stolen_vehicle"},
        headers=manager,
    )
    assert made.status_code == 201, made.text
    resp = client.put(
        "/api/v1/hotlists/stolen/entries",
        content="plate,country\n1-ABC-123,BE\n1-ABß-123,BE\n".encode(),
        headers={**manager, "Content-Type": "text/csv"},
    )
    err = assert_documented_error(resp, 422, "import_refused", report=True)
    [problem] = err["problems"]
    assert (problem["where"], problem["field"]) == ("line 3", "plate") and "ß" in problem["reason"]
    assert resp.json()["problems"] == err["problems"]  # the report, as before


def test_a_refused_camera_import_answers_the_error_body(client, people):
    resp = client.post(
        "/api/v1/cameras/import",
        json={"format": "records", "cameras": [{"camera_id": "X"}]},
        headers=people[Role.ADMINISTRATOR],
    )
    err = assert_documented_error(resp, 422, "import_refused", report=True)
    assert err["problems"]
