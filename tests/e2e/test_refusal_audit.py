"""Every 403 answered to a signed-in caller leaves one small audit record: who, what, why."""

from __future__ import annotations

import pytest

from tests.conftest import user_with_token
from veille.bootstrap import Platform
from veille.domain.access import Role
from veille.domain.audit import AuditRecord

pytestmark = pytest.mark.e2e

CASE = "BR.12.L3.004711/2026"
PURPOSE = "judicial: investigation of an offence"


def refusals(platform: Platform) -> list[AuditRecord]:
    with platform.read_uow() as uow:
        return [r for r in uow.audit.iter_all() if r.entry.action == "access.refused"]


def plate_search(client, headers):
    return client.post(
        "/api/v1/search/plate",
        headers=headers,
        json={
            "plate": "1-ABC-123",
            "start": "2026-01-01T00:00:00Z",
            "end": "2026-02-01T00:00:00Z",
            "purpose": PURPOSE,
            "case_ref": CASE,
        },
    )


@pytest.mark.parametrize(
    ("designated", "training_days", "reason"),
    [
        (True, -1, "training certificate missing or expired"),
        (True, None, "training certificate missing or expired"),
        (False, 365, "user is not designated for ANPR use"),
    ],
)
def test_a_refused_search_is_audited_with_who_what_and_why(
    client, platform, designated, training_days, reason
):
    user, headers = user_with_token(
        platform,
        "ines",
        Role.INVESTIGATOR,
        designated=designated,
        training_days=training_days,
    )
    resp = plate_search(client, headers)
    assert resp.status_code == 403
    [record] = refusals(platform)
    entry = record.entry
    assert entry.outcome == "refused"
    assert (entry.actor.username, entry.actor.user_id, entry.actor.role) == (
        "ines",
        user.user_id,
        "investigator",
    )
    assert entry.params["route"] == "POST /api/v1/search/plate"
    assert entry.params["permission"] == "reads:search"
    assert entry.params["reason"] == reason
    assert entry.params["plate"] == "1-ABC-123"
    assert (entry.purpose, entry.case_ref) == (PURPOSE, CASE)


def test_a_wrong_role_is_audited_with_the_path_ids_and_filters(client, platform):
    _, auditor = user_with_token(platform, "dora", Role.AUDITOR)
    _, operator = user_with_token(platform, "olga", Role.OPERATOR)
    assert client.get("/api/v1/alerts/42", headers=auditor).status_code == 403
    assert (
        client.get("/api/v1/audit/records?case=X-1&user=ines", headers=operator).status_code == 403
    )
    first, second = refusals(platform)
    assert first.entry.actor.username == "dora"
    assert first.entry.params["route"] == "GET /api/v1/alerts/{alert_id}"
    assert first.entry.params["alert_id"] == "42"
    assert "lacks permission alerts:view" in first.entry.params["reason"]
    assert second.entry.actor.username == "olga"
    assert second.entry.params["route"] == "GET /api/v1/audit/records"
    assert second.entry.params["user"] == "ines" and second.entry.case_ref == "X-1"


def test_a_refusal_never_records_a_password_and_stays_small(client, platform):
    _, investigator = user_with_token(platform, "ines", Role.INVESTIGATOR)
    secret = "Sup3r-Secret-Passw0rd!"
    resp = client.post(
        "/api/v1/users",
        headers=investigator,
        json={
            "username": "x" * 5000,
            "password": secret,
            "role": "investigator",
            "org_id": "federal",
            "justification": "y" * 100_000,
        },
    )
    assert resp.status_code == 403
    [record] = refusals(platform)
    assert secret not in str(record)
    assert "password" not in record.entry.params
    assert len(str(record.entry.params)) < 1000  # a flood of refusals stays a small trace


def test_unauthenticated_calls_are_not_audit_records(client, platform):
    user_with_token(platform, "ines", Role.INVESTIGATOR)
    with platform.read_uow() as uow:
        before = uow.audit.count()
    assert plate_search(client, {}).status_code == 401
    assert plate_search(client, {"Authorization": "Bearer vu_forged"}).status_code == 401
    with platform.read_uow() as uow:
        assert uow.audit.count() == before


def test_a_refused_search_is_recorded_once(client, platform):
    """The route refuses before the query service: one record, not two."""
    _, headers = user_with_token(platform, "ines", Role.INVESTIGATOR, training_days=-1)
    assert plate_search(client, headers).status_code == 403
    with platform.read_uow() as uow:
        refused = [r for r in uow.audit.iter_all() if r.entry.outcome == "refused"]
    assert [r.entry.action for r in refused] == ["access.refused"]
