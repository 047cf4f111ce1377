"""JetStreamWorker: takes reads from the ingest stream and stores them, in batches.

A durable pull consumer shared by every worker process: each fetch takes up to a batch
of messages, stores them in one unit of work through the same path as the embedded
writer (`store_and_match`: de-duplicated by read id in the store, hotlists matched in the
same transaction), and acknowledges the messages only once that has committed. A worker
killed between its commit and its acknowledgements leaves messages that come back after
`ack_wait`: the store answers them as duplicates, so no read is stored twice and none is
lost. The nats-py pitfalls each have their guard here (decision 0016).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

import nats.errors
from nats.aio.msg import Msg

from veille.adapters.jetstream.codec import (
    KIND_HEADER,
    REJECTED,
    CorruptMessage,
    decode_read,
    decode_rejection,
)
from veille.adapters.jetstream.stream import IngestStream, connect, ensure_consumer, ensure_stream
from veille.domain.reads import FieldError
from veille.service.ingest import IngestBatch, record_rejected_request
from veille.service.messagebus import MessageBus
from veille.service.ports import ImageStore, UnitOfWork
from veille.service.stored_reads import store_and_match

log = logging.getLogger(__name__)


@dataclass
class WorkerCounters:
    """What a worker did since it started."""

    fetched: int = 0  # messages taken from the stream (redeliveries counted again)
    stored: int = 0  # reads newly stored
    duplicate: int = 0  # reads the store already had (a resend, or a redelivery)
    dead_letters: int = 0  # refused items and messages that could not be stored
    commits: int = 0
    failed_commits: int = 0
    redelivered: int = 0  # messages taken more than once

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class WorkerOptions:
    batch: int = 1000  # most messages one fetch takes, and one commit stores
    fetch_timeout_s: float = 1.0  # a fetch answers after this long even with nothing
    ack_wait_s: float = 30.0  # unacknowledged this long, a message goes to another worker
    max_ack_pending: int = 20_000  # across every worker of the consumer
    retry_delay_s: float = 1.0  # a batch that failed to store is offered again after this
    dead_letter_after: int = 5  # deliveries of a message that fails alone before it is kept
    # as a dead letter instead (a read the store refuses must not block the stream)


@dataclass
class _Taken:
    """The messages of one fetch, decoded, and what could not be decoded."""

    batches: list[tuple[Msg, IngestBatch]] = field(default_factory=list)
    corrupt: list[tuple[Msg, str]] = field(default_factory=list)


class JetStreamWorker:
    """Stores what the ingest stream holds (see the module docstring)."""

    def __init__(
        self,
        stream: IngestStream,
        *,
        uow: Callable[[], UnitOfWork],
        bus: MessageBus | None,
        images: ImageStore | None,
        options: WorkerOptions = WorkerOptions(),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if options.batch > options.max_ack_pending:
            raise ValueError("a fetch batch larger than max_ack_pending would stall the consumer")
        self.stream = stream
        self.options = options
        self.counters = WorkerCounters()
        self._uow = uow
        self._bus = bus
        self._images = images
        self._clock = clock
        # one thread does every store call: a store's connection stays on its thread
        self._store_thread = ThreadPoolExecutor(1, thread_name_prefix="veille-worker-store")
        self.ready = threading.Event()  # set once the consumer is bound

    async def run(self, stop: asyncio.Event) -> None:
        """Fetch, store and acknowledge until `stop` is set."""
        nc = await connect(self.stream, name="veille-ingest-worker")
        try:
            js = nc.jetstream()
            await ensure_stream(js, self.stream)
            options = self.options
            await ensure_consumer(
                js,
                self.stream,
                ack_wait_s=options.ack_wait_s,
                max_ack_pending=options.max_ack_pending,
            )
            sub = await js.pull_subscribe_bind(self.stream.durable, stream=self.stream.name)
            self.ready.set()
            log.info("ingest worker bound to %s/%s", self.stream.name, self.stream.durable)
            while not stop.is_set():
                try:
                    # our own bound on top of fetch's: nats-py's fetch has hung past its
                    # timeout on an orphaned pull request (nats.py #933, #986)
                    messages = await asyncio.wait_for(
                        sub.fetch(options.batch, timeout=options.fetch_timeout_s),
                        timeout=options.fetch_timeout_s + 5.0,
                    )
                except (nats.errors.TimeoutError, TimeoutError):
                    continue  # nothing to take (fetch raises rather than answer [])
                except nats.errors.ConnectionClosedError:
                    raise
                except nats.errors.Error as failure:  # a node went away: fetch again
                    log.warning("fetch failed: %s", failure)
                    await asyncio.sleep(options.retry_delay_s)
                    continue
                try:
                    await self._handle(messages)
                    await nc.flush()  # the acknowledgements reach the server now
                except nats.errors.ConnectionClosedError:
                    raise
                except nats.errors.Error as failure:
                    # a node went away while acknowledging (a flush times out during the
                    # reconnect): what was stored and not acknowledged comes back after
                    # ack_wait, and the store answers it as a duplicate
                    log.warning("acknowledging failed: %s", failure)
        finally:
            self._store_thread.shutdown(wait=True)
            await nc.close()

    async def _handle(self, messages: list[Msg]) -> None:
        self.counters.fetched += len(messages)
        taken = _Taken()
        for message in messages:
            if message.metadata.num_delivered > 1:
                self.counters.redelivered += 1
            try:
                taken.batches.append((message, _batch_of(message)))
            except CorruptMessage as bad:
                taken.corrupt.append((message, str(bad)))
        loop = asyncio.get_running_loop()
        if taken.batches:
            batches = [batch for _, batch in taken.batches]
            try:
                await loop.run_in_executor(self._store_thread, self._store, batches)
            except Exception:
                self.counters.failed_commits += 1
                log.exception("storing %d messages failed; each is tried alone", len(batches))
                await self._one_by_one(taken.batches)
            else:
                await asyncio.gather(*(message.ack() for message, _ in taken.batches))
        for message, reason in taken.corrupt:
            await self._keep_as_dead_letter(message, reason)

    def _store(self, batches: list[IngestBatch]) -> None:
        outcomes, fresh, raised = store_and_match(
            self._uow(), batches, bus=self._bus, images=self._images
        )
        self.counters.commits += 1
        self.counters.stored += len(fresh)
        self.counters.duplicate += sum(outcome.duplicate for outcome in outcomes)
        self.counters.dead_letters += sum(outcome.rejected for outcome in outcomes)
        if raised and self._bus is not None:
            self._bus.publish(raised)  # after the commit; a failing handler is skipped

    async def _one_by_one(self, taken: list[tuple[Msg, IngestBatch]]) -> None:
        """After a failed batch: store each message alone, so that one the store refuses
        does not hold the others back; one that keeps failing becomes a dead letter."""
        loop = asyncio.get_running_loop()
        for message, batch in taken:
            try:
                await loop.run_in_executor(self._store_thread, self._store, [batch])
            except Exception as failure:
                if message.metadata.num_delivered >= self.options.dead_letter_after:
                    await self._keep_as_dead_letter(message, f"could not be stored: {failure!r}")
                else:
                    await message.nak(delay=self.options.retry_delay_s)
            else:
                await message.ack()

    async def _keep_as_dead_letter(self, message: Msg, reason: str) -> None:
        """Keep a message as a dead letter, then take it off the stream (never dropped:
        while the dead letter cannot be written, the message stays)."""
        payload = message.data.decode("utf-8", "replace")
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(
                self._store_thread,
                lambda: record_rejected_request(
                    self._uow(),
                    now=self._clock(),
                    camera_id=None,
                    source="jetstream",
                    payload=payload,
                    errors=[FieldError("(message)", reason)],
                ),
            )
        except Exception:
            log.exception("keeping a stream message as a dead letter failed")
            await message.nak(delay=self.options.retry_delay_s)
            return
        self.counters.dead_letters += 1
        await message.term()


def _batch_of(message: Msg) -> IngestBatch:
    """The one-item batch a stream message stands for."""
    kind = (message.headers or {}).get(KIND_HEADER)
    if kind == REJECTED:
        item = decode_rejection(message.data)
        return IngestBatch(
            camera_id=item.camera_id,
            received_at=item.received_at,
            source=item.source,
            size=1,
            rejected=[item.rejection],
        )
    streamed = decode_read(message.data)
    read = streamed.read
    batch = IngestBatch(
        camera_id=read.camera_id,
        received_at=read.received_at,
        source=streamed.source,
        size=1,
        accepted=[(0, read)],
        read_ids=[streamed.read_id_text],
    )
    if streamed.uploads:
        batch.uploads[id(read)] = streamed.uploads
    return batch
