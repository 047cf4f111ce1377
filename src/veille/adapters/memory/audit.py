"""In-memory audit log: chained records, appended inside the caller's transaction."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

import orjson

from veille.domain.audit import AuditEntry, AuditRecord, next_record
from veille.domain.times import utc

if TYPE_CHECKING:
    from veille.adapters.memory.store import MemoryUnitOfWork


class MemoryAuditRepository:
    def __init__(self, uow: MemoryUnitOfWork, *, seal: Callable[[str], str] | None = None):
        self.uow = uow
        self._seal = seal  # None: records are written unsealed (stores built without keys)

    def _records(self) -> list[AuditRecord]:
        return sorted(self.uow.table("audit_log").values(), key=lambda r: r.seq)

    def last(self) -> AuditRecord | None:
        table = self.uow.table("audit_log")
        return table[max(table)] if table else None

    def append(self, entry: AuditEntry) -> AuditRecord:
        """Chain and keep one record. Writing units of work hold the store's write lock,
        so no two records claim the same predecessor."""
        if not self.uow.in_transaction:
            raise RuntimeError("audit records are written inside the action's transaction")
        # The params are kept as their JSON, as SQLite's column keeps them: the stored
        # record is what the hash covered, whatever the caller does with its dict later.
        params = orjson.loads(orjson.dumps(entry.params, option=orjson.OPT_SORT_KEYS))
        record = next_record(self.last(), replace(entry, params=params))
        if self._seal is not None:
            record = replace(record, seal=self._seal(record.hash))
        self.uow.writable("audit_log")[record.seq] = record
        return record

    def get(self, seq: int) -> AuditRecord | None:
        record: AuditRecord | None = self.uow.table("audit_log").get(seq)
        return record

    def last_of(self, action: str) -> AuditRecord | None:
        """The newest record of one action."""
        return next((r for r in reversed(self._records()) if r.entry.action == action), None)

    def iter_all(self, *, batch: int = 5000, after: int = 0) -> Iterator[AuditRecord]:
        """Every record in sequence order (those after seq `after`)."""
        yield from (r for r in self._records() if r.seq > after)

    def search(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        username: str | None = None,
        action: str | None = None,
        case_ref: str | None = None,
        limit: int = 1000,
        after_seq: int | None = None,
    ) -> list[AuditRecord]:
        since, until = since and utc(since), until and utc(until)  # naive: refused
        found = [
            r
            for r in self._records()
            if (since is None or r.entry.at >= since)
            and (until is None or r.entry.at < until)
            and (username is None or r.entry.actor.username == username)
            and (action is None or r.entry.action == action)
            and (case_ref is None or r.entry.case_ref == case_ref)
            and (after_seq is None or r.seq > after_seq)
        ]
        return found[:limit]

    def count(self) -> int:
        return len(self.uow.table("audit_log"))
