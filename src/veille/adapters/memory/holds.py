"""In-memory case holds."""

from __future__ import annotations

import builtins
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from veille.domain.retention import Hold

if TYPE_CHECKING:
    from veille.adapters.memory.store import MemoryUnitOfWork


class MemoryHoldRepository:
    def __init__(self, uow: MemoryUnitOfWork):
        self.uow = uow

    def add(
        self,
        *,
        case_ref: str,
        plates: Iterable[str],
        camera_ids: Iterable[str],
        period_start: datetime,
        period_end: datetime,
        created_by: str,
        created_at: datetime,
        auth_id: int | None = None,
    ) -> int:
        hold_id = self.uow.next_id("case_holds")
        self.uow.writable("case_holds")[hold_id] = Hold(
            hold_id=hold_id,
            case_ref=case_ref,
            auth_id=auth_id,
            plates=frozenset(plates),
            camera_ids=frozenset(camera_ids),
            period_start=period_start,
            period_end=period_end,
            created_by=created_by,
            created_at=created_at,
        )
        return hold_id

    def get(self, hold_id: int) -> Hold | None:
        hold: Hold | None = self.uow.table("case_holds").get(hold_id)
        return hold

    def active(self) -> list[Hold]:
        return [h for h in self.find(include_released=True) if h.active]

    def find(self, *, include_released: bool = False) -> list[Hold]:
        holds: builtins.list[Hold] = sorted(
            self.uow.table("case_holds").values(), key=lambda h: h.hold_id
        )
        return holds if include_released else [h for h in holds if h.active]

    def release(self, hold_id: int, *, by: str, at: datetime) -> bool:
        """Release an active hold; False when there is no active hold with that id."""
        hold = self.get(hold_id)
        if hold is None or not hold.active:
            return False
        self.uow.writable("case_holds")[hold_id] = replace(hold, released_at=at, released_by=by)
        return True
