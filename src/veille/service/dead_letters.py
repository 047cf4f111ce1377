"""Dead letters: list rejected payloads, replay them through ingest, or discard them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from veille.domain.audit import Actor, AuditEntry
from veille.domain.times import iso, iso_or_none
from veille.service.errors import Conflict, NotFound
from veille.service.ingest import (
    ReadsRejected,
    StoredBatch,
)
from veille.service.ports import DeadLetter, UnitOfWork


@dataclass(frozen=True)
class ReplayOutcome:
    dead_letter_id: int
    status: str  # replayed | still_rejected | not_open (an unknown id is refused NotFound)
    stored: int = 0
    duplicate: int = 0
    errors: tuple[dict[str, str], ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "dead_letter_id": self.dead_letter_id,
            "status": self.status,
            "stored": self.stored,
            "duplicate": self.duplicate,
            "errors": list(self.errors),
        }


def list_dead_letters(
    *, uow: UnitOfWork, status: str | None = "open", limit: int = 100
) -> list[DeadLetter]:
    with uow:
        return uow.dead_letters.find(status=status, limit=limit)


def page_dead_letters(
    *, uow: UnitOfWork, status: str | None = "open", after: int | None = None, limit: int = 100
) -> list[DeadLetter]:
    """Dead letters in id order after the id `after`, at most `limit`."""
    with uow:
        return uow.dead_letters.page(status=status, after=after, limit=limit)


def dead_letter_to_json(dl: DeadLetter) -> dict[str, Any]:
    return {
        "id": dl.id,
        "received_at": iso(dl.received_at),
        "camera_id": dl.camera_id,
        "source": dl.source,
        "status": dl.status,
        "errors": dl.errors,
        "payload": dl.payload,
        "replayed_at": iso_or_none(dl.replayed_at),
        "replay_result": dl.replay_result,
    }


def _items_of(payload: str) -> list[Any] | None:
    try:
        document = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    if isinstance(document, list):
        return document
    if isinstance(document, dict):
        reads = document.get("reads")
        return reads if isinstance(reads, list) and len(document) == 1 else [document]
    return None


class DeadLetterNotFound(NotFound, LookupError):
    def __init__(self, dead_letter_id: int) -> None:
        super().__init__(f"no dead letter {dead_letter_id}")
        self.dead_letter_id = dead_letter_id


# Hands a dead letter's items to ingest as its camera (camera id, items, source) and
# answers once they are durable; all or nothing: refuses with `ReadsRejected` if any
# item is still refused, having stored nothing.
Ingest = Callable[[str, list[Any], str], StoredBatch]


def replay(
    *,
    uow_factory: Callable[[], UnitOfWork],
    read_uow_factory: Callable[[], UnitOfWork],
    dead_letter_id: int,
    now: datetime,
    actor: Actor,
    ingest: Ingest,
) -> ReplayOutcome:
    """Run a dead letter's payload through ingest again, as its camera.

    Useful once the cause is gone (a camera registered late, a clock fixed). If every
    read now passes it is marked replayed; otherwise it stays open with the new errors
    and nothing new is added to the dead-letter store. A refusal of the ingest itself
    (`Busy`: no room, no answer in time) leaves the letter open and unmarked: replaying it
    again is safe.
    """
    with read_uow_factory() as uow:
        dl = uow.dead_letters.get(dead_letter_id)
    if dl is None:
        raise DeadLetterNotFound(dead_letter_id)
    if dl.status != "open":
        return ReplayOutcome(dead_letter_id, "not_open")
    items = _items_of(dl.payload)
    if items is None or dl.camera_id is None:
        errs: tuple[dict[str, str], ...] = (
            {"field": "(payload)", "reason": "still not a JSON read or list of reads"},
        )
        _mark(uow_factory(), dl.id, "open", now, errs, actor)
        return ReplayOutcome(dead_letter_id, "still_rejected", errors=errs)
    try:
        outcome = ingest(dl.camera_id, items, dl.source)
    except ReadsRejected as refused:
        errs = tuple(
            {"index": str(item.index), **e.as_dict()}
            for item in refused.rejected
            for e in item.errors
        )
        _mark(uow_factory(), dl.id, "open", now, errs, actor)
        return ReplayOutcome(dead_letter_id, "still_rejected", errors=errs)
    stored, duplicate = outcome.stored, outcome.duplicate
    _mark(
        uow_factory(),
        dl.id,
        "replayed",
        now,
        ({"stored": str(stored), "duplicate": str(duplicate)},),
        actor,
    )
    return ReplayOutcome(dead_letter_id, "replayed", stored=stored, duplicate=duplicate)


class DeadLetterNotOpen(Conflict):
    code = "not_open"


def discard(
    *, uow: UnitOfWork, dead_letter_id: int, now: datetime, reason: str, actor: Actor
) -> None:
    """Mark an open dead letter discarded, with the reason (audited)."""
    with uow:
        dl = uow.dead_letters.get(dead_letter_id)
        if dl is None or dl.status != "open":
            raise DeadLetterNotOpen("no open dead letter with that id")
        uow.dead_letters.mark(dead_letter_id, status="discarded", at=now, result=reason)
        uow.audit.append(
            AuditEntry(
                at=now,
                actor=actor,
                action="dead_letter.discard",
                target=str(dead_letter_id),
                params={"reason": reason},
            )
        )
        uow.commit()


def _mark(
    uow: UnitOfWork,
    dead_letter_id: int,
    status: str,
    now: datetime,
    result: tuple[Any, ...],
    actor: Actor,
) -> None:
    with uow:
        uow.dead_letters.mark(
            dead_letter_id, status=status, at=now, result=orjson.dumps(list(result)).decode()
        )
        uow.audit.append(
            AuditEntry(
                at=now,
                actor=actor,
                action="dead_letter.replay",
                target=str(dead_letter_id),
                outcome="ok" if status == "replayed" else "failed",
                params={"result": list(result)},
            )
        )
        uow.commit()
