"""JetStreamSink: the ingest sink that makes reads durable in a replicated JetStream stream.

Each accepted read of a batch is published to the ingest stream with `Nats-Msg-Id` = its
read id (its images inline), each refused item as a dead letter to keep; the batch's
future resolves once the stream has acknowledged every one of them (a stream replicated
R3 acknowledges once a quorum of its replicas has it), so the camera's `stored` means
durable (decision 0007). A read the stream reports a duplicate of, within its duplicate
window, is answered `duplicate`; past the window the store de-duplicates it (a worker
stores every read once, whatever the camera was told).

The sink runs its own event loop on a thread of its own: `submit` is called from any
thread (the API's event loop among them) and answers a `concurrent.futures.Future`.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from concurrent.futures import Future
from typing import Any

from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import PubAck
from nats.js.errors import TooManyStalledMsgsError

from veille.adapters.jetstream.codec import (
    KIND_HEADER,
    READ,
    REJECTED,
    encode_read,
    encode_rejection,
)
from veille.adapters.jetstream.stream import IngestStream, connect, ensure_stream
from veille.service.ingest import IngestBatch, StoredBatch
from veille.service.writer import WriterBusy

log = logging.getLogger(__name__)

MSG_ID = "Nats-Msg-Id"


class StreamBusy(WriterBusy):
    """More reads wait for the stream's acknowledgement than the sink lets wait: this
    batch is refused, not published (the camera sends it again). A `WriterBusy`, so that
    the ingest route answers it as it answers a busy writer: 503 `ingest_busy`."""


class SinkUnavailable(RuntimeError):
    """The sink could not connect to the NATS servers or make its stream at start."""


class StreamTimeout(RuntimeError):
    """The stream did not acknowledge every read of a batch in time: they may or may not
    be durable, and the camera sends them again (a resend is always safe)."""


class JetStreamSink:
    """An `IngestSink` over a replicated JetStream stream (see the module docstring)."""

    def __init__(
        self,
        stream: IngestStream,
        *,
        publish_timeout_s: float = 10.0,
        max_pending_reads: int | None = 64_000,
        max_payload: int | None = None,
    ) -> None:
        self.stream = stream
        self._publish_timeout_s = publish_timeout_s
        self._max_pending_reads = max_pending_reads
        self._max_payload = max_payload  # the largest message a read may need
        self._pending_reads = 0  # submitted, not yet acknowledged (or failed)
        self._pending_lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None

    # --- lifecycle -----------------------------------------------------------------

    def start(self, timeout: float = 30.0) -> None:
        """Connect, and create (or update) the stream; raises when that fails."""
        if self._thread is not None:
            return
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="veille-jetstream", daemon=True)
        thread.start()
        self._loop, self._thread = loop, thread
        try:
            asyncio.run_coroutine_threadsafe(self._connect(timeout), loop).result(timeout + 5)
        except Exception as failure:
            self.stop()
            raise SinkUnavailable(
                f"the JetStream ingest stream {self.stream.name} on"
                f" {', '.join(self.stream.servers)} is not ready within {timeout:g} s"
                f" ({failure!r}): check VEILLE_NATS_URL and the NATS servers"
            ) from failure
        except BaseException:
            self.stop()
            raise

    async def _connect(self, timeout: float) -> None:
        # bounded here: nats-py retries an unreachable first server for ever, and the
        # stream waits for a cluster that cannot place it yet
        nc = await asyncio.wait_for(connect(self.stream, name="veille-ingest-sink"), timeout)
        try:
            if self._max_payload is not None and nc.max_payload < self._max_payload:
                raise RuntimeError(
                    f"the NATS servers take messages of at most {nc.max_payload} bytes; a"
                    f" read with its images needs up to {self._max_payload}: raise max_payload"
                )
            js = nc.jetstream()
            await asyncio.wait_for(ensure_stream(js, self.stream), timeout)
        except BaseException:
            await nc.close()
            raise
        self._nc, self._js = nc, js

    def stop(self, timeout: float = 10.0) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if self._nc is not None:
            try:
                asyncio.run_coroutine_threadsafe(self._nc.close(), loop).result(timeout)
            except Exception:
                log.exception("closing the NATS connection failed")
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        loop.close()
        self._loop = self._thread = None
        self._nc = self._js = None

    # --- the IngestSink port -------------------------------------------------------

    @property
    def pending_reads(self) -> int:
        return self._pending_reads

    def has_room(self, rows: int) -> bool:
        limit = self._max_pending_reads
        pending = self._pending_reads
        return limit is None or pending == 0 or pending + rows <= limit

    def submit(self, batch: IngestBatch) -> Future[StoredBatch]:
        """Publish the batch; the future resolves once the stream acknowledged all of it."""
        loop = self._loop
        if loop is None or self._js is None:
            failed: Future[StoredBatch] = Future()
            failed.set_exception(RuntimeError("the JetStream sink is not running"))
            return failed
        rows = len(batch.accepted) + len(batch.rejected)
        with self._pending_lock:
            if not self.has_room(rows):
                refused: Future[StoredBatch] = Future()
                refused.set_exception(
                    StreamBusy(f"{self._pending_reads} reads already wait for the stream")
                )
                return refused
            self._pending_reads += rows
        future = asyncio.run_coroutine_threadsafe(self._publish(batch), loop)
        future.add_done_callback(lambda _: self._release(rows))
        return future

    def _release(self, rows: int) -> None:
        with self._pending_lock:
            self._pending_reads -= rows

    async def _publish(self, batch: IngestBatch) -> StoredBatch:
        js = self._js
        assert js is not None
        stream = self.stream
        read_ids = batch.read_ids
        if len(read_ids) != len(batch.accepted):
            read_ids = [str(read.read_id) for _, read in batch.accepted]
        acks: list[asyncio.Future[PubAck]] = []
        try:
            for (_, read), read_id in zip(batch.accepted, read_ids, strict=True):
                body = encode_read(read, read_id, batch.uploads.get(id(read), ()), batch.source)
                acks.append(
                    await self._send(
                        js, stream.read_subject, body, {MSG_ID: read_id, KIND_HEADER: READ}
                    )
                )
            for item in batch.rejected:
                body = encode_rejection(
                    item,
                    camera_id=batch.camera_id,
                    received_at=batch.received_at,
                    source=batch.source,
                )
                acks.append(
                    await self._send(js, stream.rejected_subject, body, {KIND_HEADER: REJECTED})
                )
            try:
                answers = await asyncio.wait_for(
                    asyncio.gather(*acks), timeout=self._publish_timeout_s
                )
            except TimeoutError:
                raise StreamTimeout(
                    f"the stream did not acknowledge {len(acks)} messages within"
                    f" {self._publish_timeout_s:g} s"
                ) from None
        finally:
            for ack in acks:  # nats-py never times an asynchronous publish out itself
                ack.cancel()
        duplicates = frozenset(
            position
            for position, answer in enumerate(answers[: len(batch.accepted)])
            if answer.duplicate
        )
        return StoredBatch(batch, duplicates)

    async def _send(
        self, js: JetStreamContext, subject: str, body: bytes, headers: dict[str, Any]
    ) -> asyncio.Future[PubAck]:
        try:
            return await js.publish_async(
                subject,
                body,
                wait_stall=self._publish_timeout_s,
                stream=self.stream.name,
                headers=headers,
            )
        except TooManyStalledMsgsError:
            raise StreamBusy("too many publishes wait for the stream's acknowledgement") from None
