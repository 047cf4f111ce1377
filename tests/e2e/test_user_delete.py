"""DELETE and PATCH /api/v1/users/{id}: an unknown or closed account is 404; a refused
deletion 409."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from veille.domain.access import Role
from veille.domain.audit import system_actor
from veille.domain.users import FEDERAL
from veille.service import users as user_service

pytestmark = pytest.mark.e2e


def test_deleting_an_unknown_user_is_404_and_the_last_administrator_409(
    client, platform, admin_token
):
    admin = {"Authorization": f"Bearer {admin_token}"}
    unknown = client.delete("/api/v1/users/999999", headers=admin)
    assert unknown.status_code == 404, unknown.text
    assert unknown.json()["error"]["code"] == "not_found"
    with platform.read_uow() as uow:
        me = uow.users.by_username("admin")
    last = client.delete(f"/api/v1/users/{me.user_id}", headers=admin)
    assert last.status_code == 409 and "last administrator" in last.json()["error"]["message"]


def test_deleting_a_user_twice_is_404_the_second_time(client, platform, admin_token):
    admin = {"Authorization": f"Bearer {admin_token}"}
    now = platform.clock()
    user_service.ensure_organisation(uow=platform.uow(), org=replace(FEDERAL, created_at=now))
    user = user_service.create_user(
        uow=platform.uow(),
        username="leaving",
        password="a long enough password",
        role=Role.OPERATOR,
        org_id=FEDERAL.org_id,
        now=now,
        designated=True,
        training_expires=now + timedelta(days=30),
        actor=system_actor("test"),
    )
    assert client.delete(f"/api/v1/users/{user.user_id}", headers=admin).status_code == 200
    again = client.delete(f"/api/v1/users/{user.user_id}", headers=admin)
    assert again.status_code == 404 and again.json()["error"]["code"] == "not_found"


def test_changing_an_unknown_or_closed_user_is_404(client, platform, admin_token):
    admin = {"Authorization": f"Bearer {admin_token}"}
    unknown = client.patch("/api/v1/users/999999", json={"display_name": "x"}, headers=admin)
    assert unknown.status_code == 404, unknown.text
    assert unknown.json()["error"] == {"code": "not_found", "message": "no user 999999"}
    enrol = client.post("/api/v1/users/999999/totp", headers=admin)
    assert enrol.status_code == 404 and enrol.json()["error"]["code"] == "not_found"
