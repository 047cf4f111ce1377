"""Storing batches of reads with what the bus runs when reads are stored.

One path for every ingest sink that stores: the group-commit writer (embedded) and the
JetStream workers (scale-out). The bus's in-transaction handlers of `ReadsStored` (hotlist
matching) run on the open unit of work, so reads and alerts commit together; what they
raised, and `ReadsStored` itself, are handed back to be published once committed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from veille.domain.reads import Read
from veille.service.events import Event, ReadsStored
from veille.service.ingest import IngestBatch, StoredBatch, store_batches
from veille.service.messagebus import MessageBus
from veille.service.ports import ImageStore, UnitOfWork


def store_and_match(
    uow: UnitOfWork,
    batches: Sequence[IngestBatch],
    *,
    bus: MessageBus | None,
    images: ImageStore | None,
) -> tuple[list[StoredBatch], list[Read], list[Event]]:
    """`store_batches` with the bus's in-transaction `ReadsStored` handlers; answers what
    happened to each batch, the reads newly stored and the events to publish after the
    commit (`bus.publish`), once whoever waits has been answered."""
    raised: list[Event] = []

    def stored(uow: UnitOfWork, fresh: list[Any]) -> None:
        assert bus is not None
        raised.extend(bus.handle_in_transaction(ReadsStored(fresh), uow))

    in_transaction: Callable[[UnitOfWork, list[Read]], None] | None = (
        stored if bus is not None and bus.has_transaction_handlers(ReadsStored) else None
    )
    outcomes, fresh = store_batches(uow, batches, in_transaction=in_transaction, images=images)
    if bus is not None and fresh and bus.has_subscribers(ReadsStored):
        raised.append(ReadsStored(fresh))
    return outcomes, fresh, raised
