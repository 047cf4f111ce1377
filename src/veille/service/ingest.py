"""IngestReads: validate a batch, then store it durably with per-item results."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from veille.domain.reads import FieldError, ParsedRead, Read, ReadRejected, ReadRules, parse_read
from veille.service.ports import ImageStore, UnitOfWork

log = logging.getLogger(__name__)

STORED = "stored"
DUPLICATE = "duplicate"
REJECTED = "rejected"


@dataclass(slots=True)  # not frozen: one is built per ingested read (frozen costs ~3×)
class ItemResult:
    index: int
    status: str
    read_id: str | None = None
    errors: tuple[FieldError, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        if not self.errors and self.read_id:  # the common case, built in one step
            return {"index": self.index, "status": self.status, "read_id": self.read_id}
        out: dict[str, Any] = {"index": self.index, "status": self.status}
        if self.read_id:
            out["read_id"] = self.read_id
        if self.errors:
            out["errors"] = [e.as_dict() for e in self.errors]
        return out


@dataclass(frozen=True, slots=True)
class RejectedItem:
    index: int
    payload: str
    errors: tuple[FieldError, ...]
    read_id: str | None = None


@dataclass(slots=True)
class IngestBatch:
    """One request's reads after validation, waiting to be committed."""

    camera_id: str
    received_at: datetime
    source: str
    size: int
    accepted: list[tuple[int, Read]] = field(default_factory=list)
    rejected: list[RejectedItem] = field(default_factory=list)


def validate_batch(
    items: Sequence[Any],
    *,
    camera_id: str,
    now: datetime,
    rules: ReadRules,
    images: ImageStore | None,
    source: str = "api",
) -> IngestBatch:
    """Parse every item; store the images of good ones; collect field errors of bad ones.

    Images are written (content-addressed, durable) before their read is committed, so a
    committed read never points at a missing image.
    """
    batch = IngestBatch(camera_id=camera_id, received_at=now, source=source, size=len(items))
    for index, item in enumerate(items):
        try:
            parsed: ParsedRead = parse_read(item, camera_id=camera_id, now=now, rules=rules)
        except Exception as failure:  # one bad item must never sink its batch
            if isinstance(failure, ReadRejected):
                rejected = failure
            else:
                log.exception("validation of item %d from %s failed unexpectedly", index, camera_id)
                rejected = ReadRejected([FieldError("(read)", "could not be validated; kept")])
            rid = item.get("read_id") if isinstance(item, dict) else None
            batch.rejected.append(
                RejectedItem(
                    index=index,
                    payload=_dump(item),
                    errors=tuple(rejected.errors),
                    read_id=rid if isinstance(rid, str) else None,
                )
            )
            continue
        if parsed.uploads:
            if images is None:
                batch.rejected.append(
                    RejectedItem(
                        index,
                        _dump(item),
                        (FieldError("images", "this server keeps no image bytes"),),
                    )
                )
                continue
            for upload in parsed.uploads:
                assert upload.ref.sha256 is not None
                images.put(upload.ref.sha256, upload.data, upload.ref.content_type)
        batch.accepted.append((index, parsed.read))
    return batch


def _dump(item: Any) -> str:
    try:
        return orjson.dumps(item).decode()
    except TypeError:
        return repr(item)


def commit_batches(
    uow: UnitOfWork,
    batches: Sequence[IngestBatch],
    *,
    in_transaction: Callable[[UnitOfWork, list[Read]], None] | None = None,
) -> tuple[list[list[ItemResult]], list[Read]]:
    """Store the accepted reads of several batches in one transaction (group commit).

    A read id already stored, or seen earlier in these batches, is acknowledged as a
    duplicate and not stored again. Rejected items go to the dead-letter store in the
    same transaction. Returns the results per batch and the reads newly stored.
    """
    with uow:
        candidates: list[Read] = []
        seen_ids: set[uuid.UUID] = set()
        for batch in batches:
            for _, read in batch.accepted:
                if read.read_id not in seen_ids:
                    seen_ids.add(read.read_id)
                    candidates.append(read)
        fresh = uow.reads.add_new(candidates)
        if in_transaction is not None and fresh:
            try:
                with uow.savepoint("after_reads"):
                    in_transaction(uow, fresh)
            except Exception:  # matching must never cost a read: the reads still commit
                log.exception("in-transaction step after storing %d reads failed", len(fresh))
        stored_now = {id(read) for read in fresh}
        all_results: list[list[ItemResult]] = []
        for batch in batches:
            results: list[ItemResult] = []
            for index, read in batch.accepted:
                # stored only for the very object inserted; a repeat of its id is a duplicate
                status = STORED if id(read) in stored_now else DUPLICATE
                results.append(ItemResult(index, status, str(read.read_id)))
            for item in batch.rejected:
                results.append(ItemResult(item.index, REJECTED, item.read_id, item.errors))
                uow.dead_letters.add(
                    received_at=batch.received_at,
                    camera_id=batch.camera_id,
                    source=batch.source,
                    payload=item.payload,
                    errors=[e.as_dict() for e in item.errors],
                )
            if batch.rejected:
                results.sort(key=lambda r: r.index)
            all_results.append(results)
        uow.commit()
    return all_results, fresh


def record_rejected_request(
    uow: UnitOfWork,
    *,
    now: datetime,
    camera_id: str | None,
    source: str,
    payload: str,
    errors: list[FieldError],
) -> int:
    """Keep a request that could not be read at all (malformed JSON, too large, ...)."""
    with uow:
        dead_id = uow.dead_letters.add(
            received_at=now,
            camera_id=camera_id,
            source=source,
            payload=payload,
            errors=[e.as_dict() for e in errors],
        )
        uow.commit()
    return dead_id
