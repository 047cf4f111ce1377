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
from veille.service.ingest import REJECTED, IngestBatch, accept_batch, commit_batches
from veille.service.ports import (
    CameraDecoders,
    DeadLetter,
    DecodeContext,
    DeliveryRefused,
    ImageStore,
    UnitOfWork,
)


@dataclass(frozen=True)
class ReplayOutcome:
    dead_letter_id: int
    status: str  # replayed | still_rejected | not_found | not_open
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
        "received_at": dl.received_at.isoformat(),
        "camera_id": dl.camera_id,
        "source": dl.source,
        "status": dl.status,
        "errors": dl.errors,
        "payload": dl.payload,
        "replayed_at": dl.replayed_at.isoformat() if dl.replayed_at else None,
        "replay_result": dl.replay_result,
    }


def replay(
    *,
    uow_factory: Callable[[], UnitOfWork],
    dead_letter_id: int,
    now: datetime,
    rules: ReadRules,
    images: ImageStore | None,
    actor: Actor,
    decoders: CameraDecoders,
    commit: Callable[[IngestBatch], list[Any]] | None = None,
) -> ReplayOutcome:
    """Run a dead letter's payload through ingest again, as its camera, decoded by the
    decoder of the camera's protocol (as it is now: a camera registered with the wrong
    protocol can be corrected, then its dead letters replayed).

    Useful once the cause is gone (a camera registered late, a clock fixed). If every
    read now passes it is marked replayed; otherwise it stays open with the new errors
    and nothing new is added to the dead-letter store. `commit` lets a running server
    pass its group-commit writer; by default the batch is committed directly.
    """
    with uow_factory() as uow:
        dl = uow.dead_letters.get(dead_letter_id)
        camera = uow.cameras.get(dl.camera_id) if dl is not None and dl.camera_id else None
    if dl is None:
        return ReplayOutcome(dead_letter_id, "not_found")
    if dl.status != "open":
        return ReplayOutcome(dead_letter_id, "not_open")
    if dl.camera_id is None:  # a body refused before its camera was known
        errs: tuple[dict[str, str], ...] = (_NOT_A_READ,)
        _mark(uow_factory(), dl.id, "open", now, errs, actor)
        return ReplayOutcome(dead_letter_id, "still_rejected", errors=errs)
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
        errs = (_still_refused(refused),)
        _mark(uow_factory(), dl.id, "open", now, errs, actor)
        return ReplayOutcome(dead_letter_id, "still_rejected", errors=errs)
    batch = accept_batch(decoded, camera_id=camera.camera_id, received_at=now, images=images)
    if batch.rejected:
        errs = tuple(
            {"index": str(item.index), **e.as_dict()}
            for item in batch.rejected
            for e in item.errors
        )
        _mark(uow_factory(), dl.id, "open", now, errs, actor)
        return ReplayOutcome(dead_letter_id, "still_rejected", errors=errs)
    if commit is not None:
        results = commit(batch)
    else:
        all_results, _ = commit_batches(uow_factory(), [batch])
        results = all_results[0]
    stored = sum(1 for r in results if r.status == "stored")
    duplicate = sum(1 for r in results if r.status == "duplicate")
    assert not any(r.status == REJECTED for r in results)
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


def discard(
    *, uow: UnitOfWork, dead_letter_id: int, now: datetime, reason: str, actor: Actor
) -> bool:
    with uow:
        dl = uow.dead_letters.get(dead_letter_id)
        if dl is None or dl.status != "open":
            return False
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
    return True


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
