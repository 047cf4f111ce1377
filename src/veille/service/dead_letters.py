"""Dead letters: list rejected payloads, replay them through ingest, or discard them."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from veille.domain.audit import Actor, AuditEntry
from veille.domain.cameras import DEFAULT_PROTOCOL, Camera, Phase
from veille.domain.reads import ReadRules
from veille.domain.times import iso, iso_or_none
from veille.service.errors import Conflict, NotFound
from veille.service.ingest import ReadsRejected, StoredBatch
from veille.service.ports import (
    CameraDecoders,
    DeadLetter,
    DecodeContext,
    DecodedBatch,
    DeliveryRefused,
    UnitOfWork,
)


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


class DeadLetterNotFound(NotFound, LookupError):
    def __init__(self, dead_letter_id: int) -> None:
        super().__init__(f"no dead letter {dead_letter_id}")
        self.dead_letter_id = dead_letter_id


# Hands a dead letter's decoded reads to ingest as its camera (camera id, decoded batch,
# source) and answers once they are durable; all or nothing: refuses with
# `ReadsRejected` if any item is still refused, having stored nothing.
Ingest = Callable[[str, DecodedBatch, str], StoredBatch]


def replay(
    *,
    uow_factory: Callable[[], UnitOfWork],
    read_uow_factory: Callable[[], UnitOfWork],
    dead_letter_id: int,
    now: datetime,
    actor: Actor,
    rules: ReadRules,
    decoders: CameraDecoders,
    ingest: Ingest,
) -> ReplayOutcome:
    """Run a dead letter's payload through ingest again, as its camera, decoded by the
    decoder of the camera's protocol as it is now (a camera registered with the wrong
    protocol can be corrected, then its dead letters replayed).

    Useful once the cause is gone (a camera registered late, a clock fixed). If every
    read now passes it is marked replayed; otherwise it stays open with the new errors
    and nothing new is added to the dead-letter store. A refusal of the ingest itself
    (`Busy`: no room, no answer in time) leaves the letter open and unmarked: replaying it
    again is safe.
    """
    with read_uow_factory() as uow:
        dl = uow.dead_letters.get(dead_letter_id)
        camera = uow.cameras.get(dl.camera_id) if dl is not None and dl.camera_id else None
    if dl is None:
        raise DeadLetterNotFound(dead_letter_id)
    if dl.status != "open":
        return ReplayOutcome(dead_letter_id, "not_open")
    if dl.camera_id is None:  # a body refused before its camera was known
        return _still_rejected(uow_factory, dl, now, actor, (_NOT_A_READ,))
    if camera is None:  # a letter of no registered camera: read as every camera posted once
        camera = _unregistered(dl)
    try:
        decoded = decoders.decoder_for(camera.protocol).decode(
            dl.payload.encode(),
            "",  # a dead letter keeps the text of what came, not its content type
            camera,
            DecodeContext(received_at=now, rules=rules, max_items=sys.maxsize),
        )
    except DeliveryRefused as refused:
        return _still_rejected(uow_factory, dl, now, actor, (_still_refused(refused),))
    try:
        outcome = ingest(camera.camera_id, decoded, dl.source)
    except ReadsRejected as refused:
        errs = tuple(
            {"index": str(item.index), **e.as_dict()}
            for item in refused.rejected
            for e in item.errors
        )
        return _still_rejected(uow_factory, dl, now, actor, errs)
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


_NOT_A_READ = {"field": "(payload)", "reason": "still not a JSON read or list of reads"}


def _still_rejected(
    uow_factory: Callable[[], UnitOfWork],
    dl: DeadLetter,
    now: datetime,
    actor: Actor,
    errs: tuple[dict[str, str], ...],
) -> ReplayOutcome:
    _mark(uow_factory(), dl.id, "open", now, errs, actor)
    return ReplayOutcome(dl.id, "still_rejected", errors=errs)


def _still_refused(refused: DeliveryRefused) -> dict[str, str]:
    """Why a payload still cannot be decoded at all; in the words replays always used
    for one that is not a read."""
    if refused.code in ("malformed_json", "bad_shape", "empty_batch"):
        return _NOT_A_READ
    return refused.problem.as_dict()


def _unregistered(dl: DeadLetter) -> Camera:
    """A stand-in for the camera of a letter whose camera is not registered: its payload
    is decoded as native JSON, under its own camera id, as every camera posted before a
    camera's protocol chose its decoder."""
    assert dl.camera_id is not None
    return Camera(
        camera_id=dl.camera_id,
        name=dl.camera_id,
        lat=0.0,
        lon=0.0,
        heading=None,
        zone="",
        province="",
        vendor="unknown",
        phase=Phase.RETIRED,
        created_at=dl.received_at,
        protocol=DEFAULT_PROTOCOL,
    )


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
