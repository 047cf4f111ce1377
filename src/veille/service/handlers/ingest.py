"""Ingest handlers: `IngestReads` queues decoded reads for the writer,
`KeepRejectedDelivery` keeps what could not be decoded; `ReadsStored` is matched against
the hotlists inside the transaction that stored the reads."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from datetime import datetime

from veille.domain.alerts import AlertTiming
from veille.service import alerts as alert_service
from veille.service.commands import IngestReads, KeepRejectedDelivery
from veille.service.events import ReadsStored
from veille.service.ingest import (
    IngestBatch,
    ReadsRejected,
    StoredBatch,
    accept_batch,
    record_rejected_request,
)
from veille.service.messagebus import Raised
from veille.service.ports import ImageStore, ReadEncoder, UnitOfWork

Submit = Callable[[IngestBatch], "Future[StoredBatch]"]


def ingest_reads(
    cmd: IngestReads,
    raised: Raised,
    *,
    images: ImageStore | None,
    encode: ReadEncoder | None,
    submit: Submit,
) -> Future[StoredBatch]:
    """Make the decoded reads ready for the store (images stored, rows encoded, in the
    caller's thread), then queue the batch for the group-commit writer.

    Answers the writer's future, which resolves once the batch is durable (or fails with
    `WriterBusy`): the caller chooses how long to wait for it, and an asynchronous route
    awaits it without holding a thread. `ReadsStored` is raised by the writer, which is
    what commits the reads. An `all_or_nothing` command with a refused item is refused
    whole (`ReadsRejected`), before anything reaches the writer.
    """
    batch = accept_batch(
        cmd.decoded,
        camera_id=cmd.camera_id,
        received_at=cmd.received_at,
        images=images,
        source=cmd.source,
        encode=encode,
    )
    if cmd.all_or_nothing and batch.rejected:
        raise ReadsRejected(batch.rejected)
    return submit(batch)


def keep_rejected_delivery(
    cmd: KeepRejectedDelivery,
    raised: Raised,
    *,
    uow: Callable[[], UnitOfWork],
    payload_bytes: Callable[[], int],
) -> int:
    """Keep the first `payload_bytes` of a delivery no decoder could read as a dead letter
    (as text: bytes that are not UTF-8 are replaced); answers its id."""
    return record_rejected_request(
        uow(),
        now=cmd.received_at,
        camera_id=cmd.camera_id,
        source=cmd.source,
        payload=cmd.payload[: payload_bytes()].decode("utf-8", "replace"),
        errors=[cmd.problem],
    )


def match_stored_reads(
    event: ReadsStored,
    uow: UnitOfWork,
    raised: Raised,
    *,
    match: alert_service.Matcher,
    clock: Callable[[], datetime],
    timing: AlertTiming,
) -> None:
    """Match the reads just stored against the hotlists, in their ingest transaction:
    each hit opens or grows an alert there, and is raised as a `HotlistHit` that the
    writer publishes once the reads and alerts are committed together."""
    raised.extend(
        alert_service.record_hits(
            uow=uow,
            reads=event.reads,
            match=match,
            cameras=uow.cameras.get,
            now=clock(),
            timing=timing,
        )
    )
