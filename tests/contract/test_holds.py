"""Case holds: placing, reading back, releasing (the purge that weighs them: test_purge)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.contract.builders import NOW, Store, committed, seen
from veille.domain.retention import Hold

pytestmark = pytest.mark.integration

D = timedelta(days=1)


def add_hold(store: Store, case_ref: str = "PV-1", **fields: Any) -> int:
    hold: dict[str, Any] = {
        "plates": ["1ABC123", "2XYZ999", "1ABC123"],
        "camera_ids": [],
        "period_start": NOW - 30 * D,
        "period_end": NOW,
        "created_by": "alice",
        "created_at": NOW,
    }
    hold.update(fields)
    return int(committed(store, lambda uow: uow.holds.add(case_ref=case_ref, **hold)))


def test_a_hold_comes_back_as_placed(store: Store):
    hold_id = add_hold(store, camera_ids=["CAM-A"])
    assert seen(store, lambda uow: uow.holds.get(hold_id)) == Hold(
        hold_id=hold_id,
        case_ref="PV-1",
        plates=frozenset({"1ABC123", "2XYZ999"}),
        camera_ids=frozenset({"CAM-A"}),
        period_start=NOW - 30 * D,
        period_end=NOW,
        auth_id=None,
        created_by="alice",
        created_at=NOW,
    )
    assert seen(store, lambda uow: uow.holds.get(hold_id + 100)) is None


def test_a_released_hold_is_no_longer_active(store: Store):
    first, second = add_hold(store, "PV-1"), add_hold(store, "PV-2")
    assert committed(store, lambda uow: uow.holds.release(first, by="bob", at=NOW + D)) is True
    assert committed(store, lambda uow: uow.holds.release(first, by="bob", at=NOW)) is False
    assert committed(store, lambda uow: uow.holds.release(second + 100, by="bob", at=NOW)) is False
    with store.uow(write=False) as uow:
        released = uow.holds.get(first)
        assert (released.released_at, released.released_by, released.active) == (
            NOW + D,
            "bob",
            False,
        )
        assert [h.hold_id for h in uow.holds.active()] == [second]
        assert [h.hold_id for h in uow.holds.find()] == [second]
        assert [h.hold_id for h in uow.holds.find(include_released=True)] == [first, second]
