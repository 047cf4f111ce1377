"""IngestReads: a decoded delivery made ready for the store, then stored durably with
per-item results."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from veille.domain.reads import FieldError, ImageUpload, ParsedRead, Read, ReadRejected
from veille.service.errors import Invalid, Problem
from veille.service.ports import (
    DecodedBatch,
    ImageLocation,
    ImageStore,
    ReadEncoder,
    Rejection,
    UnitOfWork,
)

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


RejectedItem = Rejection  # an item that did not become a read, kept as a dead letter


class ReadsRejected(Invalid):
    """Items of an all-or-nothing batch (a replay) were refused: nothing was stored."""

    def __init__(self, rejected: Sequence[RejectedItem]) -> None:
        super().__init__(
            f"{len(rejected)} of the reads are refused: nothing was stored",
            problems=[
                Problem(f"{item.index}.{e.field}", e.reason)
                for item in rejected
                for e in item.errors
            ],
            code="reads_rejected",
        )
        self.rejected = tuple(rejected)


@dataclass(slots=True)
class IngestBatch:
    """One request's reads after validation, waiting to be committed.

    `rows` holds the store's encoding of each accepted read, in the same order, when
    validation was given the store's encoder; empty, the writer encodes them itself.
    """

    camera_id: str
    received_at: datetime
    source: str
    size: int
    accepted: list[tuple[int, Read]] = field(default_factory=list)
    rejected: list[RejectedItem] = field(default_factory=list)
    rows: list[Any] = field(default_factory=list)
    read_ids: list[str] = field(default_factory=list)  # of accepted, as answers show them
    # the image bytes that came with accepted reads, by id() of the read, until the
    # writer appends them (only for the reads it stores: none of a duplicate)
    uploads: dict[int, tuple[ImageUpload, ...]] = field(default_factory=dict)


@dataclass(slots=True)
class StoredBatch:
    """What one group commit did with one batch: everything was committed by then.

    Only the positions (in `batch.accepted`) of reads acknowledged as duplicates are
    recorded; the per-item results are built from them by whoever waits for the batch,
    off the single writer thread.
    """

    batch: IngestBatch
    duplicates: frozenset[int] = frozenset()

    @property
    def stored(self) -> int:
        return len(self.batch.accepted) - len(self.duplicates)

    @property
    def duplicate(self) -> int:
        return len(self.duplicates)

    @property
    def rejected(self) -> int:
        return len(self.batch.rejected)

    def results(self) -> list[ItemResult]:
        """One result per item of the request, in request order."""
        results = [ItemResult(*accepted) for accepted in self._accepted()]
        if self.batch.rejected:
            results.extend(
                ItemResult(item.index, REJECTED, item.read_id, item.errors)
                for item in self.batch.rejected
            )
            results.sort(key=lambda r: r.index)
        return results

    def answers(self) -> list[dict[str, Any]]:
        """`results()` as the API answers them, built straight as dictionaries (the
        ingest path builds one per read)."""
        if self.batch.rejected:
            return [result.as_dict() for result in self.results()]
        return [
            {"index": index, "status": status, "read_id": read_id}
            for index, status, read_id in self._accepted()
        ]

    def _accepted(self) -> Iterator[tuple[int, str, str]]:
        """(index, stored or duplicate, read id) of each accepted item."""
        read_ids = self.batch.read_ids
        if len(read_ids) != len(self.batch.accepted):
            read_ids = [str(read.read_id) for _, read in self.batch.accepted]
        duplicates = self.duplicates
        for position, ((index, _), read_id) in enumerate(
            zip(self.batch.accepted, read_ids, strict=True)
        ):
            yield index, DUPLICATE if position in duplicates else STORED, read_id


def accept_batch(
    decoded: DecodedBatch,
    *,
    camera_id: str,
    received_at: datetime,
    images: ImageStore | None,
    source: str = "api",
    encode: ReadEncoder | None = None,
) -> IngestBatch:
    """Make a decoded delivery ready for the store: encode the rows of its reads and keep
    their image bytes for the writer; a read that fails is rejected (and kept), not its
    batch.

    The images are written by the group-commit writer, durable before the commit of
    their read (`store_batches`), so a committed read never points at a missing image.
    With the store's `encode`, good reads are encoded here, in the request's thread, so
    the single writer only inserts.
    """
    batch = IngestBatch(
        camera_id=camera_id,
        received_at=received_at,
        source=source,
        size=decoded.size,
        rejected=list(decoded.rejected),
    )
    late = False  # a read rejected here, after the decoder's rejections
    for index, parsed, raw in decoded.reads:
        try:
            if parsed.uploads and images is None:
                raise ReadRejected([FieldError("images", "this server keeps no image bytes")])
            # encoded here, inside the read's guard: a read the store cannot encode is
            # that read's rejection, not its whole batch's failure
            row = encode(parsed.read) if encode is not None else None
        except Exception as failure:  # one bad read must never sink its batch
            batch.rejected.append(_rejected(index, raw, parsed, failure, decoded, camera_id))
            late = True
            continue
        batch.accepted.append((index, parsed.read))
        batch.read_ids.append(parsed.read_id_text)
        if parsed.uploads:
            batch.uploads[id(parsed.read)] = parsed.uploads
        if row is not None:
            batch.rows.append(row)
    if late:  # dead letters and answers in delivery order
        batch.rejected.sort(key=lambda item: item.index)
    return batch


def _rejected(
    index: int,
    raw: Any,
    parsed: ParsedRead,
    failure: Exception,
    decoded: DecodedBatch,
    camera_id: str,
) -> Rejection:
    if isinstance(failure, ReadRejected):
        errors = tuple(failure.errors)
    else:
        log.exception("storing read %d from %s failed unexpectedly", index, camera_id)
        errors = (FieldError("(read)", "could not be validated; kept as a dead letter"),)
    return Rejection(
        index=index, payload=decoded.payload_of(raw), errors=errors, read_id=parsed.read_id_text
    )


def store_batches(
    uow: UnitOfWork,
    batches: Sequence[IngestBatch],
    *,
    in_transaction: Callable[[UnitOfWork, list[Read]], None] | None = None,
    images: ImageStore | None = None,
) -> tuple[list[StoredBatch], list[Read]]:
    """Store the accepted reads of several batches in one transaction (group commit).

    A read id already stored, or seen earlier in these batches, is acknowledged as a
    duplicate and not stored again. Rejected items go to the dead-letter store in the
    same transaction. Returns what happened to each batch and the reads newly stored.
    The image bytes of the reads stored are appended to `images` and synced once, before
    the commit (a failed commit leaves bytes no read refers to; the images of a duplicate
    are not written again). This runs on the single writer thread, so it does no per-read
    work it can leave to the waiting requests (encoding rows, building results).
    """
    uploads: dict[int, tuple[ImageUpload, ...]] = {}
    for batch in batches:
        uploads.update(batch.uploads)
    if uploads and images is None:
        raise ValueError("reads with image bytes, and no image store to write them to")

    def place(fresh: Sequence[Read]) -> dict[str, ImageLocation]:
        assert images is not None
        # the same bytes twice in one group (one image, two reads) are written once
        todo = list(
            {
                upload.ref.sha256: upload for read in fresh for upload in uploads.get(id(read), ())
            }.values()
        )
        located = images.append(todo)
        return {  # an image with no location is found by its sha256 alone
            upload.ref.sha256: at
            for upload, at in zip(todo, located, strict=True)
            if upload.ref.sha256 is not None and at is not None
        }

    with uow:
        reads: list[Read] = []
        rows: list[Any] | None = []
        for batch in batches:
            reads.extend(read for _, read in batch.accepted)
            if rows is not None and len(batch.rows) == len(batch.accepted):
                rows.extend(batch.rows)
            else:
                rows = None  # a batch came unencoded: the repository encodes them all
        fresh = uow.reads.add_new(reads, rows, place if uploads else None)
        if in_transaction is not None and fresh:
            try:
                with uow.savepoint("after_reads"):
                    in_transaction(uow, fresh)
            except Exception:  # matching must never cost a read: the reads still commit
                log.exception("in-transaction step after storing %d reads failed", len(fresh))
        if len(fresh) == len(reads):  # no duplicate at all
            outcomes = [StoredBatch(batch) for batch in batches]
        else:
            # stored only for the very object inserted; a repeat of its id is a duplicate
            stored_now = {id(read) for read in fresh}
            outcomes = [
                StoredBatch(
                    batch,
                    frozenset(
                        position
                        for position, (_, read) in enumerate(batch.accepted)
                        if id(read) not in stored_now
                    ),
                )
                for batch in batches
            ]
        for batch in batches:
            for item in batch.rejected:
                uow.dead_letters.add(
                    received_at=batch.received_at,
                    camera_id=batch.camera_id,
                    source=batch.source,
                    payload=item.payload,
                    errors=[e.as_dict() for e in item.errors],
                )
        if uploads:
            assert images is not None
            images.sync()  # the images are durable before the reads that refer to them
        uow.commit()
    return outcomes, fresh


def commit_batches(
    uow: UnitOfWork,
    batches: Sequence[IngestBatch],
    *,
    in_transaction: Callable[[UnitOfWork, list[Read]], None] | None = None,
    images: ImageStore | None = None,
) -> tuple[list[list[ItemResult]], list[Read]]:
    """`store_batches`, answered with the per-item results of each batch."""
    outcomes, fresh = store_batches(uow, batches, in_transaction=in_transaction, images=images)
    return [outcome.results() for outcome in outcomes], fresh


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
