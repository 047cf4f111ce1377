"""Cursor paging: walking every page of a list gets each item exactly once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from tests.conftest import make_read, prosecutor_office, register_cameras, user_with_token
from veille.bootstrap import Platform
from veille.domain.access import Role

pytestmark = pytest.mark.e2e

MAX_PAGES = 50


def walk(
    client: TestClient,
    url: str,
    headers: dict[str, str],
    items_of: Callable[[dict[str, Any]], list[dict[str, Any]]],
) -> tuple[list[dict[str, Any]], int]:
    """Every item of every page, following `next_cursor` until it is null; and the pages."""
    found: list[dict[str, Any]] = []
    cursor: str | None = None
    for pages in range(1, MAX_PAGES + 1):
        sep = "&" if "?" in url else "?"
        answer = client.get(url + (f"{sep}cursor={cursor}" if cursor else ""), headers=headers)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        found.extend(items_of(body))
        cursor = body["next_cursor"]
        if cursor is None:
            return found, pages
    raise AssertionError("paging never ended")


def a_hotlist(client: TestClient, manager: dict[str, str], list_id: str, plates: list[str]) -> None:
    """A list of stolen vehicles holding `plates`, made over the API by its manager."""
    made = client.put(
        f"/api/v1/hotlists/{list_id}",
        json={"name": f"List {list_id}", "category": "stolen_vehicle"},
        headers=manager,
    )
    assert made.status_code == 201, made.text
    imported = client.put(
        f"/api/v1/hotlists/{list_id}/entries",
        content=("plate\n" + "".join(f"{p}\n" for p in plates)).encode(),
        headers={**manager, "Content-Type": "text/csv"},
    )
    assert imported.status_code == 200, imported.text


@pytest.fixture
def admin(platform: Platform) -> dict[str, str]:
    _, headers = user_with_token(platform, "pager", Role.ADMINISTRATOR, designated=False)
    return headers


def test_cameras_page_by_page(
    client: TestClient, platform: Platform, admin: dict[str, str]
) -> None:
    ids = [f"PAGE-{n:02d}" for n in range(7)]
    register_cameras(platform, *ids)
    found, pages = walk(client, "/api/v1/cameras?limit=3", admin, lambda b: b["cameras"])
    assert [c["camera_id"] for c in found] == ids
    assert pages == 3
    # without a limit, every camera at once as before
    everything = client.get("/api/v1/cameras", headers=admin).json()
    assert len(everything["cameras"]) == 7 and everything["next_cursor"] is None


def test_an_exact_last_page_ends_with_a_null_cursor(
    client: TestClient, platform: Platform, admin: dict[str, str]
) -> None:
    register_cameras(platform, "EXACT-1", "EXACT-2", "EXACT-3", "EXACT-4")
    found, pages = walk(client, "/api/v1/cameras?limit=2", admin, lambda b: b["cameras"])
    assert len(found) == 4 and pages == 2


def test_users_page_by_page(client: TestClient, platform: Platform, admin: dict[str, str]) -> None:
    for n in range(5):
        user_with_token(platform, f"paged-{n}", Role.HOTLIST_MANAGER, designated=False)
    found, _ = walk(client, "/api/v1/users?limit=2", admin, lambda b: b["users"])
    names = [u["username"] for u in found]
    assert sorted(names) == sorted({*names}) and len(names) == 6  # 5 + the pager
    ids = [u["user_id"] for u in found]
    assert ids == sorted(ids)


def test_dead_letters_page_by_page(
    client: TestClient, platform: Platform, admin: dict[str, str]
) -> None:
    cam = register_cameras(platform, "DL-CAM")["DL-CAM"]
    for n in range(5):
        bad = make_read("DL-CAM", plate="", read_id=f"not-a-uuid-{n}")
        answer = client.post("/api/v1/reads", content=orjson.dumps(bad), headers=cam.headers)
        assert answer.status_code == 200
    found, pages = walk(client, "/api/v1/dead-letters?limit=2", admin, lambda b: b["dead_letters"])
    ids = [d["id"] for d in found]
    assert len(ids) == 5 and len(set(ids)) == 5 and ids == sorted(ids)
    assert pages == 3


def test_alerts_page_by_page_newest_first(client: TestClient, platform: Platform) -> None:
    _, manager = user_with_token(platform, "lists", Role.HOTLIST_MANAGER, designated=False)
    _, operator = user_with_token(platform, "watch", Role.OPERATOR)
    cam = register_cameras(platform, "AL-CAM")["AL-CAM"]
    plates = [f"1PAG{n:03d}" for n in range(5)]
    a_hotlist(client, manager, "stolen", plates)
    platform.matcher.refresh(platform.read_uow)
    for plate in plates:
        posted = client.post(
            "/api/v1/reads",
            content=orjson.dumps(make_read("AL-CAM", plate=plate)),
            headers=cam.headers,
        )
        assert posted.status_code == 200
    found, pages = walk(client, "/api/v1/alerts?limit=2", operator, lambda b: b["alerts"])
    ids = [a["alert_id"] for a in found]
    assert len(ids) == 5 and ids == sorted(ids, reverse=True)
    assert pages == 3


def test_hotlist_entries_page_by_page_in_id_order(client: TestClient, platform: Platform) -> None:
    _, manager = user_with_token(platform, "lists", Role.HOTLIST_MANAGER, designated=False)
    plates = [f"1ENT{n:03d}" for n in range(7)]
    a_hotlist(client, manager, "paged", plates)
    url = "/api/v1/hotlists/paged/entries"
    found, pages = walk(client, f"{url}?limit=3", manager, lambda b: b["entries"])
    ids = [e["entry_id"] for e in found]
    assert sorted(e["plate"] for e in found) == plates
    assert ids == sorted(set(ids)) and pages == 3
    # without a limit, every entry at once as before
    everything = client.get(url, headers=manager).json()
    assert len(everything["entries"]) == 7 and everything["next_cursor"] is None
    forged = client.get(f"{url}?limit=3&cursor=%%%", headers=manager)
    assert forged.status_code == 422
    assert forged.json()["error"]["problems"][0]["field"] == "query.cursor"


def test_user_grants_page_by_page_oldest_first(
    client: TestClient, platform: Platform, admin: dict[str, str]
) -> None:
    for n in range(5):  # designated accounts wait for a second administrator: five grants
        asked = client.post(
            "/api/v1/users",
            json={
                "username": f"granted-{n}",
                "password": "a long enough password",
                "role": "operator",
                "org_id": "federal",
                "designated": True,
            },
            headers=admin,
        )
        assert asked.status_code == 202, asked.text
    found, pages = walk(
        client, "/api/v1/user-grants?status=pending&limit=2", admin, lambda b: b["grants"]
    )
    ids = [g["grant_id"] for g in found]
    assert len(ids) == 5 and ids == sorted(set(ids)) and pages == 3
    assert {g["username"] for g in found} == {f"granted-{n}" for n in range(5)}
    # without a limit, every grant at once (the pager's own bootstrap grant too)
    everything = client.get("/api/v1/user-grants", headers=admin).json()
    assert len(everything["grants"]) == 6 and everything["next_cursor"] is None
    forged = client.get("/api/v1/user-grants?limit=2&cursor=InRleHQi", headers=admin)
    assert forged.status_code == 422


def test_a_forged_cursor_is_a_422_naming_the_field(
    client: TestClient, admin: dict[str, str]
) -> None:
    for cursor in ("%%%", "bm90IGpzb24", "InRleHQi"):  # not base64, not JSON, not an id
        answer = client.get(f"/api/v1/users?limit=2&cursor={cursor}", headers=admin)
        assert answer.status_code == 422, (cursor, answer.text)
        assert answer.json()["error"]["problems"][0]["field"] == "query.cursor"


def test_audit_records_page_by_page_through_the_header(
    client: TestClient, platform: Platform
) -> None:
    for n in range(4):
        user_with_token(platform, f"audited-{n}", Role.HOTLIST_MANAGER, designated=False)
    _, auditor = user_with_token(platform, "dpo", Role.AUDITOR, designated=False)
    query = "/api/v1/audit/records?action=user.create&limit=2"
    found: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(MAX_PAGES):
        answer = client.get(query + (f"&cursor={cursor}" if cursor else ""), headers=auditor)
        assert answer.status_code == 200, answer.text
        found.extend(answer.json())
        cursor = answer.headers.get("x-next-cursor")
        if cursor is None:
            break
    seqs = [r["seq"] for r in found]
    assert seqs == sorted(set(seqs))
    assert len(seqs) == 5  # four accounts and the auditor's own
    # each page's look-up is audited with the limit asked for, not the one-more lookahead
    searches = client.get("/api/v1/audit/records?action=audit.search", headers=auditor).json()
    assert {r["params"]["limit"] for r in searches} == {2}


def test_webhook_deliveries_page_by_page_newest_first(
    client: TestClient, platform: Platform, admin: dict[str, str]
) -> None:
    now = platform.clock()
    with platform.uow() as uow:
        hook = uow.alerts.add_webhook(
            name="dispatch",
            url="https://dispatch.example",
            secret="s",
            scope_kind="national",
            scope_value=None,
            now=now,
        )
        for n in range(5):
            uow.alerts.record_delivery(
                webhook_id=hook,
                alert_id=n + 1,
                event="alert",
                attempts=1,
                status="failed" if n % 2 else "delivered",
                http_status=500 if n % 2 else 200,
                error=None,
                now=now,
            )
        uow.commit()
    found, pages = walk(
        client, "/api/v1/webhooks/deliveries?limit=2", admin, lambda b: b["deliveries"]
    )
    ids = [d["delivery_id"] for d in found]
    assert len(ids) == 5 and ids == sorted(set(ids), reverse=True) and pages == 3
    failed, _ = walk(
        client,
        "/api/v1/webhooks/deliveries?status=failed&limit=1",
        admin,
        lambda b: b["deliveries"],
    )
    assert [d["status"] for d in failed] == ["failed", "failed"]


def test_authorizations_page_by_page_newest_first(client: TestClient, platform: Platform) -> None:
    now = platform.clock()
    office = prosecutor_office(platform)
    register_cameras(platform, "AUTH-CAM")  # in the Brussels judicial district
    ines, investigator = user_with_token(platform, "ines", Role.INVESTIGATOR)
    _, colleague = user_with_token(platform, "marc", Role.INVESTIGATOR)
    _, prosecutor = user_with_token(
        platform, "pauline", Role.PROSECUTOR, org_id=office, designated=False
    )
    request = {
        "case_ref": "BR.12.L3.004711/2026",
        "purpose": "judicial: investigation of an offence",
        "justification": "Vehicle seen leaving the scene of the armed robbery of 3 August.",
        "camera_ids": ["AUTH-CAM"],
        "period_start": (now - timedelta(days=120)).isoformat(),
        "period_end": (now - timedelta(days=30)).isoformat(),
    }
    filed = []
    # ines files 3; marc files 4, naming her in one; his last two are the newest, so a
    # page cut before asking whose they are would come back short
    for n in range(7):
        headers = investigator if n in (0, 2, 4) else colleague
        named = [ines.user_id] if n == 3 else []
        answer = client.post(
            "/api/v1/authorizations", json={**request, "investigators": named}, headers=headers
        )
        assert answer.status_code == 201, answer.text
        filed.append(answer.json()["auth_id"])
    mine, pages = walk(
        client, "/api/v1/authorizations/mine?limit=2", investigator, lambda b: b["authorizations"]
    )
    # hers, and the one naming her; newest first; the criterion applied before the limit
    assert [a["auth_id"] for a in mine] == [filed[4], filed[3], filed[2], filed[0]]
    assert pages == 2
    district, pages = walk(
        client,
        "/api/v1/authorizations/district?status=pending&limit=2",
        prosecutor,
        lambda b: b["authorizations"],
    )
    assert [a["auth_id"] for a in district] == filed[::-1] and pages == 4
    everything = client.get("/api/v1/authorizations/district", headers=prosecutor).json()
    assert len(everything["authorizations"]) == 7 and everything["next_cursor"] is None
