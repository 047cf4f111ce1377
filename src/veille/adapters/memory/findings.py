"""In-memory clone findings recorded by the clone sweep."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from veille.domain.analysis import CloneFinding
from veille.domain.times import utc

if TYPE_CHECKING:
    from veille.adapters.memory.store import MemoryUnitOfWork


class MemoryCloneFindingRepository:
    def __init__(self, uow: MemoryUnitOfWork):
        self.uow = uow

    def add_many(self, findings: Sequence[CloneFinding]) -> int:
        """Record the findings not recorded yet (a pair of reads once); return how many."""
        table = self.uow.table("clone_findings")
        pairs = {(f.first_read_id, f.second_read_id) for f in table.values()}
        added = 0
        for finding in findings:
            first = str(uuid.UUID(finding.first_read_id))
            second = str(uuid.UUID(finding.second_read_id))
            if (first, second) in pairs:
                continue
            pairs.add((first, second))
            finding_id = self.uow.next_id("clone_findings")
            self.uow.writable("clone_findings")[finding_id] = replace(
                finding, finding_id=finding_id, first_read_id=first, second_read_id=second
            )
            added += 1
        return added

    def find(
        self, *, plate: str | None = None, since: datetime | None = None, limit: int = 1000
    ) -> list[CloneFinding]:
        """Findings, newest second passage first, optionally of one plate or since a moment."""
        since = since and utc(since)  # naive: refused
        found = [
            f
            for f in self.uow.table("clone_findings").values()
            if (plate is None or f.plate == plate) and (since is None or f.second_at >= since)
        ]
        found.sort(key=lambda f: f.finding_id or 0)
        found.sort(key=lambda f: f.second_at, reverse=True)  # stable: ids stay ascending
        return found[:limit]

    def purge(self, *, before: datetime) -> int:
        """Delete findings whose later read was captured before `before` (retention)."""
        before = utc(before)
        doomed = [i for i, f in self.uow.table("clone_findings").items() if f.second_at < before]
        if doomed:
            table = self.uow.writable("clone_findings")
            for finding_id in doomed:
                del table[finding_id]
        return len(doomed)
