"""Prosecutor authorizations: filing, reading back, deciding, finding and paging."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from tests.contract.builders import NOW, Store, committed, seen
from veille.domain.authorizations import (
    Area,
    Authorization,
    AuthorizationStatus,
    DistrictApproval,
)

pytestmark = pytest.mark.integration

D = timedelta(days=1)
PENDING, APPROVED, REFUSED = (
    AuthorizationStatus.PENDING,
    AuthorizationStatus.APPROVED,
    AuthorizationStatus.REFUSED,
)


def an_authorization(**overrides: Any) -> Authorization:
    fields: dict[str, Any] = {
        "auth_id": 0,
        "case_ref": "BR.12.34.567890/26",
        "purpose": "judicial_investigation",
        "justification": "stolen vehicle used in a burglary",
        "district": "Bruxelles",
        "requested_by": 1,
        "requested_by_name": "alice",
        "requested_at": NOW,
        "investigators": frozenset({1, 2}),
        "plates": frozenset({"1ABC123"}),
        "camera_ids": frozenset(),
        "area": None,
        "period_start": NOW - 90 * D,
        "period_end": NOW - 60 * D,
        "hold_requested": False,
        "status": PENDING,
        "districts": frozenset({"Bruxelles"}),
    }
    fields.update(overrides)
    return Authorization(**fields)


def add(store: Store, **overrides: Any) -> int:
    return int(committed(store, lambda uow: uow.authorizations.add(an_authorization(**overrides))))


def test_a_request_comes_back_as_filed_under_its_new_id(store: Store):
    filed = an_authorization(
        auth_id=999,  # ignored: the store numbers requests itself
        area=Area(lat=50.84, lon=4.35, radius_m=1500.0),
        camera_ids=frozenset({"CAM-A", "CAM-B"}),
        hold_requested=True,
    )
    first = committed(store, lambda uow: uow.authorizations.add(filed))
    second = add(store)
    assert second > first
    assert seen(store, lambda uow: uow.authorizations.get(first)) == replace(filed, auth_id=first)
    assert seen(store, lambda uow: uow.authorizations.get(second + 100)) is None


def test_a_decision_is_stored_whole(store: Store):
    auth_id = add(store, districts=frozenset({"Bruxelles", "Liège"}))
    stored = seen(store, lambda uow: uow.authorizations.get(auth_id))
    approval = DistrictApproval(
        district="Bruxelles",
        by=7,
        by_name="prosecutor-bxl",
        at=NOW + D,
        reasons="proportionate",
        conditions="plates only",
        expires_at=NOW + 30 * D,
    )
    decided = replace(
        stored,
        status=APPROVED,
        decided_by=7,
        decided_by_name="prosecutor-bxl",
        decided_at=NOW + D,
        decision_reasons="proportionate",
        conditions="plates only",
        expires_at=NOW + 30 * D,
        approvals=(approval,),
    )
    committed(store, lambda uow: uow.authorizations.update(decided))
    assert seen(store, lambda uow: uow.authorizations.get(auth_id)) == decided
    # an update of a request that does not exist changes nothing
    committed(store, lambda uow: uow.authorizations.update(replace(decided, auth_id=auth_id + 5)))
    assert seen(store, lambda uow: uow.authorizations.get(auth_id + 5)) is None


def test_a_request_filed_without_districts_comes_back_without(store: Store):
    auth_id = add(store, districts=frozenset())
    assert seen(store, lambda uow: uow.authorizations.get(auth_id)).districts == frozenset()


def test_an_uncommitted_request_is_not_kept(store: Store):
    with store.uow() as uow:
        uow.authorizations.add(an_authorization())  # no commit
    assert seen(store, lambda uow: uow.authorizations.find()) == []


def test_find_is_newest_first_and_filters_by_district_status_and_span(store: Store):
    bxl = add(store, districts=frozenset({"Bruxelles"}))
    both = add(store, districts=frozenset({"Bruxelles", "Liège"}), status=APPROVED)
    liege = add(store, districts=frozenset({"Liège"}), status=REFUSED)
    old = add(store, districts=frozenset())  # filed before districts were derived

    def ids(**criteria: Any) -> list[int]:
        found = seen(store, lambda uow: uow.authorizations.find(**criteria))
        return [a.auth_id for a in found]

    assert ids() == [old, liege, both, bxl]
    assert ids(districts=frozenset({"Bruxelles"})) == [both, bxl]
    assert ids(districts=frozenset({"Liège", "Gent"})) == [liege, both]
    assert ids(districts=frozenset()) == []  # no name: no request
    assert ids(spanning=True) == [both]
    assert ids(underived=True) == [old]
    assert ids(status="approved") == [both]
    assert ids(status="pending") == [old, bxl]
    assert ids(status="pending", districts=frozenset({"Bruxelles"})) == [bxl]
    assert ids(limit=2) == [old, liege]


def test_find_by_user_means_requested_by_or_naming_them(store: Store):
    mine = add(store, requested_by=5, investigators=frozenset({5}))
    naming_me = add(store, requested_by=1, investigators=frozenset({1, 5}))
    add(store, requested_by=1, investigators=frozenset({1, 2}))
    found = seen(store, lambda uow: uow.authorizations.find(involving_user=5))
    assert [a.auth_id for a in found] == [naming_me, mine]


def test_the_user_filter_applies_before_the_limit(store: Store):
    # the SQLite `find` filtered the user after its LIMIT until page() came
    mine = add(store, requested_by=5, investigators=frozenset({5}))
    for _ in range(3):
        add(store, requested_by=1, investigators=frozenset({1}))
    found = seen(store, lambda uow: uow.authorizations.find(involving_user=5, limit=2))
    assert [a.auth_id for a in found] == [mine]


def test_pages_walk_every_matching_request_once_newest_first(store: Store):
    approved = [add(store, status=APPROVED) for _ in range(5)]
    add(store, status=PENDING)
    walked: list[int] = []
    before: int | None = None
    while True:
        page = seen(
            store,
            lambda uow, below=before: uow.authorizations.page(
                status="approved", before=below, limit=2
            ),
        )
        walked += [a.auth_id for a in page]
        if len(page) < 2:
            break
        before = page[-1].auth_id
    assert walked == sorted(approved, reverse=True)
    every = seen(store, lambda uow: uow.authorizations.page(status="approved"))
    assert [a.auth_id for a in every] == walked


def test_approved_for_names_the_approved_requests_of_an_investigator(store: Store):
    approved = add(store, status=APPROVED, investigators=frozenset({3, 4}))
    add(store, status=PENDING, investigators=frozenset({3}))
    add(store, status=APPROVED, investigators=frozenset({4}))
    later = add(store, status=APPROVED, investigators=frozenset({3}))
    found = seen(store, lambda uow: uow.authorizations.approved_for(3))
    assert sorted(a.auth_id for a in found) == [approved, later]
    assert seen(store, lambda uow: uow.authorizations.approved_for(9)) == []
