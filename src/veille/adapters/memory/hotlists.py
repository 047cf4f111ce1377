"""In-memory hotlists, their entries, and the change counter the matchers follow."""

from __future__ import annotations

import builtins
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from veille.adapters.memory.store import ConstraintViolated
from veille.domain.hotlists import Hotlist, HotlistEntry
from veille.service.ports import HotlistChanges

if TYPE_CHECKING:
    from veille.adapters.memory.store import MemoryUnitOfWork

_CHANGES = "hotlist_changes"


@dataclass(frozen=True, slots=True)
class Change:
    list_id: str
    changed_at: datetime


class MemoryHotlistRepository:
    """Tables: `hotlists` (list_id → Hotlist), `hotlist_entries` ((list_id, entry_id) →
    HotlistEntry) and `hotlist_changes` (change id → Change)."""

    def __init__(self, uow: MemoryUnitOfWork):
        self.uow = uow

    # lists
    def lists(self) -> builtins.list[Hotlist]:
        return sorted(self.uow.table("hotlists").values(), key=lambda h: h.list_id)

    def get_list(self, list_id: str) -> Hotlist | None:
        found: Hotlist | None = self.uow.table("hotlists").get(list_id)
        return found

    def save_list(self, hotlist: Hotlist, now: datetime) -> None:
        self.uow.writable("hotlists")[hotlist.list_id] = hotlist

    def delete_list(self, list_id: str) -> int:
        if list_id not in self.uow.table("hotlists"):
            return 0
        doomed = [key for key in self.uow.table("hotlist_entries") if key[0] == list_id]
        if doomed:
            entries = self.uow.writable("hotlist_entries")
            for key in doomed:
                del entries[key]
        del self.uow.writable("hotlists")[list_id]
        return 1

    # entries
    def entries(self, list_id: str | None = None) -> builtins.list[HotlistEntry]:
        table = self.uow.table("hotlist_entries")
        return [table[key] for key in sorted(table) if list_id is None or key[0] == list_id]

    def page(
        self, list_id: str, *, after: str | None = None, limit: int | None = None
    ) -> builtins.list[HotlistEntry]:
        found = [e for e in self.entries(list_id) if after is None or e.entry_id > after]
        return found if limit is None else found[:limit]

    def get_entry(self, list_id: str, entry_id: str) -> HotlistEntry | None:
        found: HotlistEntry | None = self.uow.table("hotlist_entries").get((list_id, entry_id))
        return found

    def count_entries(self, list_id: str) -> int:
        return sum(1 for key in self.uow.table("hotlist_entries") if key[0] == list_id)

    def put_entries(self, entries: Iterable[HotlistEntry], now: datetime) -> None:
        batch = list(entries)
        if not batch:
            return
        lists = self.uow.table("hotlists")
        for entry in batch:  # all or nothing, as one SQL statement is
            if entry.list_id not in lists:
                raise ConstraintViolated(f"no hotlist {entry.list_id} for entry {entry.entry_id}")
        table = self.uow.writable("hotlist_entries")
        for entry in batch:
            table[(entry.list_id, entry.entry_id)] = entry

    def delete_entry(self, list_id: str, entry_id: str) -> int:
        if (list_id, entry_id) not in self.uow.table("hotlist_entries"):
            return 0
        del self.uow.writable("hotlist_entries")[(list_id, entry_id)]
        return 1

    def delete_entries(self, list_id: str, entry_ids: Iterable[str]) -> int:
        return sum(self.delete_entry(list_id, entry_id) for entry_id in set(entry_ids))

    def replace_entries(self, list_id: str, entries: Iterable[HotlistEntry], now: datetime) -> None:
        doomed = [key for key in self.uow.table("hotlist_entries") if key[0] == list_id]
        if doomed:
            table = self.uow.writable("hotlist_entries")
            for key in doomed:
                del table[key]
        self.put_entries(entries, now)

    # the change counter
    def note_change(self, list_id: str, now: datetime) -> int:
        change_id = self.uow.next_id(_CHANGES)
        self.uow.writable(_CHANGES)[change_id] = Change(list_id, now)
        return change_id

    def changes_since(self, change_id: int) -> HotlistChanges:
        later = {k: c for k, c in self.uow.table(_CHANGES).items() if k > change_id}
        if not later:
            return HotlistChanges(change_id, frozenset())
        return HotlistChanges(max(later), frozenset(c.list_id for c in later.values()))

    def latest_change(self, list_id: str | None = None) -> int:
        changes = self.uow.table(_CHANGES)
        return max(
            (k for k, c in changes.items() if list_id is None or c.list_id == list_id), default=0
        )
