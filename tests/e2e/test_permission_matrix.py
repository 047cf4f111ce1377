"""Walk every route with every role, with no credentials, an expired certificate, a revoked
token, a deleted user's token and a camera token: the answers must follow the matrix."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient

from tests.conftest import register_cameras
from veille.bootstrap import Platform
from veille.domain.access import Role, Scope, ScopeKind
from veille.domain.audit import AuditEntry, system_actor
from veille.domain.users import FEDERAL
from veille.entrypoints.api.app import create_app
from veille.entrypoints.api.matrix import RouteAccess, matrix_markdown, route_table
from veille.entrypoints.api.security import CAMERA, PUBLIC
from veille.service import users as user_service

pytestmark = pytest.mark.e2e

ACTOR = system_actor("test")
PASSWORD = "a long enough password"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "permissions.md"


def concrete(path: str) -> str:
    """A path with placeholders filled by values that exist nowhere (no side effects)."""
    path = path.replace("{phase}", "testing")
    return re.sub(r"\{[^}]+\}", "999999", path)


@dataclass
class Answer:
    status_code: int
    body: bytes

    def json(self):
        return orjson.loads(self.body)


def call(client: TestClient, row: RouteAccess, headers: dict[str, str]) -> Answer:
    """Call a route; a live (server-sent events) stream is closed once its status is known.

    A server error comes back as an answer (a 500), not as an exception in the test.
    """
    with client.stream(row.method, concrete(row.path), headers=headers, json={}) as resp:
        if resp.headers.get("content-type", "").startswith("text/event-stream"):
            return Answer(resp.status_code, b"")
        return Answer(resp.status_code, resp.read())


# What an allowed caller may get for an empty request besides a 2xx: the documented client
# errors, each in the documented error format. Anything else (a 500 above all) is a defect.
DOCUMENTED_CLIENT_ERRORS = frozenset({400, 404, 409, 413, 422})
# Camera registration answers a bad record with its import report (docs/cameras.md).
IMPORT_REPORT_ROUTES = frozenset({("POST", "/api/v1/cameras"), ("POST", "/api/v1/cameras/import")})


@pytest.fixture
def client(platform: Platform) -> Iterator[TestClient]:
    """A client that returns a server error as the 500 it is, so the matrix can name it."""
    with TestClient(create_app(platform), raise_server_exceptions=False) as test_client:
        yield test_client


def assert_allowed(answer: Answer, row: RouteAccess, *context: object) -> None:
    """An allowed route answers a 2xx, or a documented 4xx that names what is wrong."""
    if 200 <= answer.status_code < 300:
        return
    where = (answer.status_code, row, *context, answer.body)
    assert answer.status_code in DOCUMENTED_CLIENT_ERRORS, where
    body = answer.json()
    if (row.method, row.path) in IMPORT_REPORT_ROUTES and "error" not in body:
        assert body["applied"] is False and body["problems"], where
        assert all(p["field"] and p["reason"] for p in body["problems"]), where
        return
    error = body["error"]
    assert isinstance(error.get("code"), str) and error["code"], where
    assert isinstance(error.get("message"), str) and error["message"], where


@pytest.fixture
def people(platform: Platform) -> dict[str, int]:
    """One designated, trained user per role (prosecutor in a judicial district)."""
    now = platform.clock()
    user_service.ensure_organisation(uow=platform.uow(), org=replace(FEDERAL, created_at=now))
    user_service.create_organisation(
        uow=platform.uow(),
        org_id="parquet-bxl",
        name="Parquet de Bruxelles",
        kind="judicial",
        scope=Scope(ScopeKind.DISTRICT, "Bruxelles"),
        now=now,
        actor=ACTOR,
    )
    ids = {}
    for role in Role:
        user = user_service.create_user(
            uow=platform.uow(),
            username=f"u-{role.value}",
            password=PASSWORD,
            role=role,
            org_id="parquet-bxl" if role is Role.PROSECUTOR else "federal",
            now=now,
            designated=True,
            training_expires=now + timedelta(days=365),
            actor=ACTOR,
        )
        ids[role.value] = user.user_id
    return ids


def bearer(platform: Platform, user_id: int) -> dict[str, str]:
    token, _ = user_service.issue_token(uow=platform.uow(), user_id=user_id, now=platform.clock())
    return {"Authorization": f"Bearer {token}"}


def refusal_count(platform: Platform) -> int:
    with platform.read_uow() as uow:
        return sum(1 for r in uow.audit.iter_all() if r.entry.action == "access.refused")


def last_refusal(platform: Platform) -> AuditEntry:
    with platform.read_uow() as uow:
        return uow.audit.last().entry


def test_every_route_answers_as_the_matrix_says(client, platform, people):
    rows = route_table(client.app)
    refused_calls = 0
    assert len(rows) >= 30
    assert {(r.method, r.path, r.access) for r in rows} >= {
        ("GET", "/api/v1/user-grants", "users:manage"),
        ("POST", "/api/v1/user-grants/{grant_id}/approve", "users:manage"),
        ("POST", "/api/v1/user-grants/{grant_id}/refuse", "users:manage"),
        ("GET", "/api/v1/user-grants/report", "audit:read"),
    }
    for row in rows:
        anonymous = call(client, row, {})
        if row.access == PUBLIC:
            assert_allowed(anonymous, row)
        else:
            assert anonymous.status_code == 401, (row, anonymous.body)
        for role in Role:
            resp = call(client, row, bearer(platform, people[role.value]))
            if row.access == CAMERA:
                assert resp.status_code == 401, (row, role)  # a user is not a camera
            elif row.allows(role):
                assert_allowed(resp, row, role)
            else:
                assert resp.status_code == 403, (row, role, resp.body)
                assert resp.json()["error"]["code"] == "forbidden"
                refused = last_refusal(platform)
                assert refused.actor.username == f"u-{role.value}", (row, role)
                assert refused.params["route"] == f"{row.method} {row.path}", (row, role)
                refused_calls += 1
    assert refusal_count(platform) == refused_calls  # one record per refusal, none per 401


def test_expired_or_missing_training_blocks_every_data_route(client, platform, people):
    data_rows = [r for r in route_table(client.app) if r.needs_training]
    assert {r.access for r in data_rows} >= {"reads:search", "alerts:view", "alerts:decide"}
    for when in (platform.clock() - timedelta(days=1), None):
        for user_id in people.values():
            user_service.update_user(
                uow=platform.uow(),
                user_id=user_id,
                now=platform.clock(),
                actor=ACTOR,
                training_expires=when,
                clear_training=when is None,
            )
        for row in data_rows:
            role = next(r for r in Role if row.allows(r))
            resp = call(client, row, bearer(platform, people[role.value]))
            assert resp.status_code == 403, (row, role)
            assert "training" in resp.json()["error"]["message"]
    # and a trained user who is not designated is refused as well
    user_service.update_user(
        uow=platform.uow(),
        user_id=people["supervisor"],
        now=platform.clock(),
        actor=ACTOR,
        designated=False,
        training_expires=platform.clock() + timedelta(days=30),
    )
    search = next(r for r in data_rows if r.path == "/api/v1/search/plate")
    resp = call(client, search, bearer(platform, people["supervisor"]))
    assert resp.status_code == 403 and "designated" in resp.json()["error"]["message"]


def test_revoked_token_and_deleted_user_get_401_everywhere(client, platform, people):
    rows = [r for r in route_table(client.app) if r.access not in (PUBLIC, CAMERA)]
    headers = bearer(platform, people["administrator"])
    assert client.post("/api/v1/auth/sign-out", headers=headers).status_code == 200
    for row in rows:
        assert call(client, row, headers).status_code == 401, row
    auditor = bearer(platform, people["auditor"])
    assert client.get("/api/v1/auth/me", headers=auditor).status_code == 200
    user_service.delete_user(
        uow=platform.uow(), user_id=people["auditor"], now=platform.clock(), actor=ACTOR
    )
    for row in rows:
        assert call(client, row, auditor).status_code == 401, row


def test_camera_token_opens_no_user_route(client, platform, people):
    cam = register_cameras(platform, "CAM-M")["CAM-M"]
    for row in route_table(client.app):
        if row.access not in (PUBLIC, CAMERA):
            assert call(client, row, cam.headers).status_code == 401, row


def test_an_undeclared_route_stops_the_app_from_starting(platform):
    app = create_app(platform)
    app.add_api_route("/api/v1/forgotten", lambda: {"oops": True}, methods=["GET"])
    from veille.entrypoints.api.security import assert_every_route_declared

    with pytest.raises(RuntimeError, match="/api/v1/forgotten"):
        assert_every_route_declared(app)


def test_published_matrix_matches_the_code(client):
    assert DOCS.read_text(encoding="utf-8") == matrix_markdown(client.app), (
        "docs/permissions.md is stale: run `veille docs permissions > docs/permissions.md`"
    )
