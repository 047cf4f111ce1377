"""Separation of duties: nobody changes their own access, and a grant of data access
(role or designation) takes effect only once a second administrator approves it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.conftest import USER_PASSWORD, user_with_token
from veille.bootstrap import Platform
from veille.domain.access import Role

pytestmark = pytest.mark.e2e

PLATE_SEARCH = {
    "plate": "1-ABC-123",
    "start": "2026-01-01T00:00:00Z",
    "end": "2100-01-01T00:00:00Z",
    "purpose": "judicial: investigation of an offence",
    "case_ref": "BR.12.L3.004711/2026",
}


@pytest.fixture
def admins(platform: Platform) -> tuple[dict[str, str], dict[str, str], int, int]:
    """Two administrators: (alice's headers, bob's headers, alice's id, bob's id)."""
    alice, a = user_with_token(platform, "alice", Role.ADMINISTRATOR, designated=False)
    bob, b = user_with_token(platform, "bob", Role.ADMINISTRATOR, designated=False)
    return a, b, alice.user_id, bob.user_id


def user_row(platform: Platform, username: str):
    with platform.read_uow() as uow:
        return uow.users.by_username(username)


def sign_in(client, username: str, password: str = USER_PASSWORD):
    return client.post("/api/v1/auth/token", json={"username": username, "password": password})


@pytest.mark.parametrize(
    "change",
    [
        {"role": "investigator"},
        {"designated": True},
        {"training_expires": "2099-01-01T00:00:00+00:00"},
        {"clear_training": True},
        {"org_id": "federal"},
    ],
)
def test_nobody_changes_their_own_access(client, platform, admins, change):
    alice, _, alice_id, _ = admins
    before = user_row(platform, "alice")
    resp = client.patch(f"/api/v1/users/{alice_id}", headers=alice, json=change)
    assert resp.status_code == 403, resp.text
    assert resp.json()["error"]["code"] == "separation_of_duties"
    assert user_row(platform, "alice") == before


def test_an_administrator_cannot_promote_themselves_and_search(client, platform, admins):
    """The black-box test: self-promotion to a designated investigator, then a search."""
    alice, _, alice_id, _ = admins
    promote = {
        "role": "investigator",
        "designated": True,
        "training_expires": "2099-01-01T00:00:00+00:00",
    }
    assert client.patch(f"/api/v1/users/{alice_id}", headers=alice, json=promote).status_code == 403
    assert client.post("/api/v1/search/plate", headers=alice, json=PLATE_SEARCH).status_code == 403
    assert user_row(platform, "alice").role is Role.ADMINISTRATOR


def test_own_name_and_password_stay_changeable(client, platform, admins):
    alice, _, alice_id, _ = admins
    resp = client.patch(
        f"/api/v1/users/{alice_id}", headers=alice, json={"display_name": "Alice A."}
    )
    assert resp.status_code == 200 and resp.json()["display_name"] == "Alice A."


def test_a_prosecutor_account_waits_for_a_second_administrator(client, platform, admins):
    alice, bob, _, _ = admins
    body = {
        "username": "pauline",
        "password": "prosecute with care 2026",
        "role": "prosecutor",
        "org_id": "federal",
    }
    resp = client.post("/api/v1/users", headers=alice, json=body)
    assert resp.status_code == 202, resp.text
    grant = resp.json()["grant"]
    assert grant["status"] == "pending" and grant["kind"] == "create"
    assert grant["changes"]["role"] == "prosecutor"
    assert grant["requested_by"]["username"] == "alice"
    assert "password" not in str(resp.json())
    # nothing exists yet: no account, no sign-in
    assert user_row(platform, "pauline") is None
    assert sign_in(client, "pauline", body["password"]).status_code == 401
    # the same name cannot be requested twice while it waits
    assert client.post("/api/v1/users", headers=bob, json=body).status_code == 409
    pending = client.get("/api/v1/user-grants?status=pending", headers=bob).json()
    assert [g["grant_id"] for g in pending["grants"]] == [grant["grant_id"]]
    # the requester cannot approve their own request
    own = client.post(f"/api/v1/user-grants/{grant['grant_id']}/approve", headers=alice, json={})
    assert own.status_code == 403 and own.json()["error"]["code"] == "separation_of_duties"
    assert user_row(platform, "pauline") is None
    approved = client.post(
        f"/api/v1/user-grants/{grant['grant_id']}/approve",
        headers=bob,
        json={"reason": "Appointed substitute prosecutor, order 2026/17."},
    )
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved"
    assert approved.json()["decided_by"]["username"] == "bob"
    pauline = user_row(platform, "pauline")
    assert pauline is not None and pauline.role is Role.PROSECUTOR
    assert approved.json()["user_id"] == pauline.user_id
    assert sign_in(client, "pauline", body["password"]).status_code == 200
    again = client.post(f"/api/v1/user-grants/{grant['grant_id']}/approve", headers=bob, json={})
    assert again.status_code == 409


def test_a_role_or_designation_change_waits_and_can_be_refused(client, platform, admins):
    alice, bob, _, _ = admins
    hugo, _ = user_with_token(platform, "hugo", Role.HOTLIST_MANAGER, designated=False)
    resp = client.patch(
        f"/api/v1/users/{hugo.user_id}",
        headers=alice,
        json={"role": "investigator", "designated": True, "display_name": "Hugo H."},
    )
    assert resp.status_code == 202, resp.text
    grant = resp.json()["grant"]
    assert grant["changes"] == {"role": "investigator", "designated": True}
    # the rest of the change applies at once; the access waits
    assert resp.json()["user"]["display_name"] == "Hugo H."
    assert user_row(platform, "hugo").role is Role.HOTLIST_MANAGER
    assert not user_row(platform, "hugo").designated
    no_reason = client.post(f"/api/v1/user-grants/{grant['grant_id']}/refuse", headers=bob, json={})
    assert no_reason.status_code == 422
    refused = client.post(
        f"/api/v1/user-grants/{grant['grant_id']}/refuse",
        headers=bob,
        json={"reason": "No request from his chief."},
    )
    assert refused.status_code == 200 and refused.json()["status"] == "refused"
    assert user_row(platform, "hugo").role is Role.HOTLIST_MANAGER
    approve_late = client.post(
        f"/api/v1/user-grants/{grant['grant_id']}/approve", headers=alice, json={}
    )
    assert approve_late.status_code == 409


def test_the_subject_of_a_grant_cannot_approve_it(client, platform, admins):
    alice, bob, _, bob_id = admins
    resp = client.patch(f"/api/v1/users/{bob_id}", headers=alice, json={"designated": True})
    assert resp.status_code == 202
    grant_id = resp.json()["grant"]["grant_id"]
    mine = client.post(f"/api/v1/user-grants/{grant_id}/approve", headers=bob, json={})
    assert mine.status_code == 403 and mine.json()["error"]["code"] == "separation_of_duties"
    assert not user_row(platform, "bob").designated


def test_an_administrator_account_needs_a_second_administrator_too(client, platform, admins):
    """Else one administrator could create a second one and approve their own grants."""
    alice, _, _, _ = admins
    body = {"username": "mallory", "password": "a puppet administrator", "org_id": "federal"}
    resp = client.post("/api/v1/users", headers=alice, json={**body, "role": "administrator"})
    assert resp.status_code == 202 and user_row(platform, "mallory") is None


def test_access_that_narrows_or_carries_no_data_applies_at_once(client, platform, admins):
    alice, _, _, _ = admins
    created = client.post(
        "/api/v1/users",
        headers=alice,
        json={
            "username": "harry",
            "password": "manage the lists well",
            "role": "hotlist_manager",
            "org_id": "federal",
        },
    )
    assert created.status_code == 201 and created.json()["role"] == "hotlist_manager"
    ines, _ = user_with_token(platform, "ines", Role.INVESTIGATOR)
    withdrawn = client.patch(
        f"/api/v1/users/{ines.user_id}", headers=alice, json={"designated": False}
    )
    assert withdrawn.status_code == 200 and withdrawn.json()["designated"] is False
    renewed = client.patch(
        f"/api/v1/users/{ines.user_id}",
        headers=alice,
        json={"training_expires": (platform.clock() + timedelta(days=30)).isoformat()},
    )
    assert renewed.status_code == 200


def test_the_dpo_report_shows_every_grant_with_who_and_when(client, platform, admins):
    alice, bob, _, _ = admins
    _, dpo = user_with_token(platform, "dora", Role.AUDITOR)
    hugo, _ = user_with_token(platform, "hugo", Role.HOTLIST_MANAGER, designated=False)
    first = client.post(
        "/api/v1/users",
        headers=alice,
        json={
            "username": "otto",
            "password": "operate the console",
            "role": "operator",
            "org_id": "federal",
        },
    ).json()["grant"]
    second = client.patch(
        f"/api/v1/users/{hugo.user_id}", headers=bob, json={"role": "supervisor"}
    ).json()["grant"]
    client.post(f"/api/v1/user-grants/{first['grant_id']}/approve", headers=bob, json={})
    client.post(
        f"/api/v1/user-grants/{second['grant_id']}/refuse",
        headers=alice,
        json={"reason": "not his job"},
    )
    third = client.patch(
        f"/api/v1/users/{hugo.user_id}", headers=alice, json={"designated": True}
    ).json()["grant"]

    assert client.get("/api/v1/user-grants/report", headers=alice).status_code == 403
    report = client.get("/api/v1/user-grants/report", headers=dpo)
    assert report.status_code == 200, report.text
    rows = {g["grant_id"]: g for g in report.json()["grants"]}
    assert rows[first["grant_id"]]["status"] == "approved"
    assert rows[first["grant_id"]]["requested_by"]["username"] == "alice"
    assert rows[first["grant_id"]]["decided_by"]["username"] == "bob"
    assert rows[first["grant_id"]]["decided_at"] is not None
    assert rows[second["grant_id"]]["status"] == "refused"
    assert rows[second["grant_id"]]["decision_reason"] == "not his job"
    assert rows[third["grant_id"]]["status"] == "pending"
    # the accounts set up through the privileged server-side path are listed as such
    assert {g["username"] for g in rows.values() if g["status"] == "bootstrap"} >= {
        "alice",
        "bob",
        "dora",
    }
    assert "password" not in report.text
    with platform.read_uow() as uow:
        actions = [(r.entry.action, r.entry.actor.username) for r in uow.audit.iter_all()]
    assert ("user_grant.request", "alice") in actions
    assert ("user_grant.approve", "bob") in actions
    assert ("user_grant.refuse", "alice") in actions
    assert ("user_grant.report", "dora") in actions
    assert ("user_grant.bootstrap", "test") in actions  # user_with_token's privileged path
