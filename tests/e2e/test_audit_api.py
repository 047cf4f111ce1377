"""The audit API end to end: only the auditor reads, exports and verifies the log."""

from __future__ import annotations

import csv
import io
import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from veille.bootstrap import Platform
from veille.domain.access import Role
from veille.entrypoints.api import audit
from veille.entrypoints.api.app import create_app
from veille.entrypoints.api.security import assert_every_route_declared, iter_api_routes
from veille.service import audit as audit_service
from veille.service import users as user_service

pytestmark = pytest.mark.e2e

USER_AGENT = "dpo-browser/1.0"


def audit_app(platform: Platform) -> FastAPI:
    """The full app once the lead has registered the audit router; until then, a small one."""
    app = create_app(platform)
    if any(path.startswith("/api/v1/audit") for path, _ in iter_api_routes(app.routes)):
        return app

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        platform.start()
        yield

    small = FastAPI(lifespan=lifespan)
    small.state.platform = platform
    small.include_router(audit.router)
    assert_every_route_declared(small)
    return small


@pytest.fixture
def api(platform: Platform) -> Iterator[TestClient]:
    with TestClient(audit_app(platform)) as client:
        yield client


@pytest.fixture
def auditor_token(platform: Platform, admin_token: str) -> str:
    dpo = user_service.create_user(
        uow=platform.uow(),
        username="dpo",
        password="a long password 123",
        role=Role.AUDITOR,
        org_id="federal",
        now=platform.clock(),
    )
    token, _ = user_service.issue_token(
        uow=platform.uow(), user_id=dpo.user_id, now=platform.clock()
    )
    return token


def whole_log(platform: Platform) -> list:
    with platform.read_uow() as uow:
        return list(uow.audit.iter_all())


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "User-Agent": USER_AGENT}


ROUTES = ["/api/v1/audit/records", "/api/v1/audit/export?format=csv", "/api/v1/audit/verify"]


@pytest.mark.parametrize("url", ROUTES)
def test_only_the_auditor_may_read_the_log(api, admin_token, auditor_token, url):
    assert api.get(url).status_code == 401
    assert api.get(url, headers=bearer("vu_not-a-token")).status_code == 401
    assert api.get(url, headers=bearer(admin_token)).status_code == 403
    assert api.get(url, headers=bearer(auditor_token)).status_code == 200


def test_records_are_filtered_and_the_search_is_audited(api, platform, auditor_token):
    user_service.sign_in(
        uow=platform.uow(),
        read_uow=platform.read_uow(),
        username="dpo",
        password="a long password 123",
        now=platform.clock(),
    )
    with pytest.raises(user_service.SignInRefused):
        user_service.sign_in(
            uow=platform.uow(),
            read_uow=platform.read_uow(),
            username="dpo",
            password="wrong",
            now=platform.clock(),
        )
    resp = api.get(
        "/api/v1/audit/records",
        params={"user": "dpo", "action": "auth.sign_in"},
        headers=bearer(auditor_token),
    )
    assert resp.status_code == 200
    rows = resp.json()
    assert [(r["actor_username"], r["outcome"]) for r in rows] == [
        ("dpo", "ok"),
        ("dpo", "refused"),
    ]
    assert rows[0]["actor_role"] == "auditor" and rows[0]["actor_org_id"] == "federal"
    with platform.read_uow() as uow:
        last = uow.audit.last()
    assert last.entry.action == "audit.search"
    assert last.entry.result_count == 2
    assert last.entry.params == {"user": "dpo", "action": "auth.sign_in", "limit": 100}
    assert last.entry.actor.username == "dpo" and last.entry.actor.role == "auditor"
    assert last.entry.actor.user_agent == USER_AGENT and last.entry.actor.ip == "testclient"
    assert (
        api.get("/api/v1/audit/records?limit=0", headers=bearer(auditor_token)).status_code == 422
    )


def test_csv_export_is_a_download_with_a_header(api, platform, auditor_token):
    user_service.sign_in(
        uow=platform.uow(),
        read_uow=platform.read_uow(),
        username="dpo",
        password="a long password 123",
        now=platform.clock(),
    )
    before = whole_log(platform)
    resp = api.get("/api/v1/audit/export", params={"format": "csv"}, headers=bearer(auditor_token))
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/csv")
    assert resp.headers["content-disposition"].startswith('attachment; filename="veille-audit-')
    rows = list(csv.DictReader(io.StringIO(resp.text)))
    assert resp.text.splitlines()[0] == ",".join(audit_service.EXPORT_COLUMNS)
    assert [(int(r["seq"]), r["action"], r["hash"]) for r in rows] == [
        (r.seq, r.entry.action, r.hash) for r in before
    ]
    assert (rows[-1]["action"], rows[-1]["actor_username"]) == ("auth.sign_in", "dpo")
    last = whole_log(platform)[-1]
    assert last.seq == len(before) + 1
    assert (last.entry.action, last.entry.result_count) == ("audit.export", len(before))
    assert last.entry.params == {"format": "csv"}

    as_json = api.get("/api/v1/audit/export?format=json", headers=bearer(auditor_token))
    assert as_json.headers["content-type"] == "application/json"
    assert [r["action"] for r in as_json.json()][-2:] == ["auth.sign_in", "audit.export"]
    bad = api.get("/api/v1/audit/export?format=xlsx", headers=bearer(auditor_token))
    assert bad.status_code == 422


def test_verify_reports_the_chain_and_the_checkpoints(api, platform, auditor_token):
    checkpoint = platform.checkpoints.write()
    resp = api.get("/api/v1/audit/verify", headers=bearer(auditor_token))
    assert resp.status_code == 200
    body = resp.json()
    assert body == {
        "ok": True,
        "records": checkpoint.seq,
        "head": {"seq": checkpoint.seq, "hash": checkpoint.hash},
        "anchors_checked": 1,
        "anchor_store": platform.anchors.location,
        "key_id": platform.audit_keys.key_id,
        "newest_checkpoint": {
            "seq": checkpoint.seq,
            "hash": checkpoint.hash,
            "at": checkpoint.at.isoformat(),
            "age_s": body["newest_checkpoint"]["age_s"],
        },
        "uncovered": 0,
        "problems": [],
    }
    with platform.read_uow() as uow:
        last = uow.audit.last()
    assert last.entry.action == "audit.verify" and last.entry.actor.username == "dpo"
    assert last.seq == checkpoint.seq + 1  # recorded after the answer was made


def test_verify_fails_without_an_anchor_store(api, platform, auditor_token):
    body = api.get("/api/v1/audit/verify", headers=bearer(auditor_token)).json()
    assert body["ok"] is False and body["anchors_checked"] == 0
    assert [p["kind"] for p in body["problems"]] == ["anchors"]
    assert "no anchor store at" in body["problems"][0]["detail"]


def test_verify_names_an_edited_record(api, platform, auditor_token):
    platform.checkpoints.write()
    first = whole_log(platform)[0]
    conn = sqlite3.connect(platform.settings.database, isolation_level=None)
    conn.execute("DROP TRIGGER audit_log_no_update")
    conn.execute("UPDATE audit_log SET actor_username = 'nobody' WHERE seq = ?", (first.seq,))
    conn.close()
    body = api.get("/api/v1/audit/verify", headers=bearer(auditor_token)).json()
    assert body["ok"] is False
    assert body["problems"][0]["seq"] == first.seq
    assert body["problems"][0]["kind"] == "edited"
    assert body["problems"][0]["message"].startswith(f"record {first.seq}: edited:")
