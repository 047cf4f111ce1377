"""The JetStream ingest sink and its workers, on a real JetStream server.

The sink answers a batch once the stream acknowledged every read (`duplicate` within the
stream's window); a worker stores them through the writer's path, matches hotlists once,
keeps refused items as dead letters, and de-duplicates in the store a read re-sent after
the stream's duplicate window.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
import uuid
from collections.abc import Iterator
from typing import Any

import nats
import nats.errors
import pytest

from tests.scaleout.ingest_helpers import (
    JPEG,
    WorkerThread,
    batch_of,
    payload,
    wait_until,
    with_image,
)
from tests.scaleout.nats_servers import NatsCluster, free_port
from veille.adapters.jetstream.sink import JetStreamSink, SinkUnavailable
from veille.adapters.jetstream.stream import IngestStream
from veille.adapters.jetstream.worker import JetStreamWorker, WorkerOptions
from veille.bootstrap import Platform
from veille.domain.audit import system_actor
from veille.domain.hotlists import Category, Hotlist
from veille.service import hotlists as hotlist_service
from veille.service.ingest import DUPLICATE, STORED

pytestmark = pytest.mark.integration

ACTOR = system_actor("test")


def ingest_stream(server: NatsCluster, name: str, *, window_s: float = 120.0) -> IngestStream:
    return IngestStream(
        servers=tuple(server.urls),
        name=name,
        subject_prefix=f"test.{name.lower()}",
        replicas=len(server.nodes),
        duplicate_window_s=window_s,
    )


@pytest.fixture
def sink_of(nats_server: NatsCluster, stream_name: str) -> Iterator[JetStreamSink]:
    sink = JetStreamSink(ingest_stream(nats_server, stream_name), publish_timeout_s=10)
    sink.start()
    yield sink
    sink.stop()


def worker_for(platform: Platform, stream: IngestStream, **options: float) -> JetStreamWorker:
    return JetStreamWorker(
        stream,
        uow=platform.uow,
        bus=platform.bus,
        images=platform.images,
        options=WorkerOptions(**options),  # type: ignore[arg-type]
        clock=platform.clock,
    )


def db(platform: Platform) -> sqlite3.Connection:
    return sqlite3.connect(platform.settings.database)


def stored_reads(platform: Platform) -> int:
    with db(platform) as conn:
        return int(conn.execute("SELECT count(*) FROM reads").fetchone()[0])


def stream_messages(stream: IngestStream) -> int:
    async def count() -> int:
        nc = await nats.connect(servers=list(stream.servers))
        try:
            info = await nc.jetstream().stream_info(stream.name)
            return int(info.state.messages)
        finally:
            await nc.close()

    return asyncio.run(count())


def test_a_batch_is_answered_once_the_stream_holds_every_read(
    sink_of: JetStreamSink, platform: Platform
) -> None:
    now = platform.clock()
    items = [payload("CAM-A", now, n) for n in range(5)]
    batch = batch_of("CAM-A", items, now, images=platform.images)

    outcome = sink_of.submit(batch).result(30)

    assert outcome.stored == 5 and outcome.duplicate == 0
    assert [a["status"] for a in outcome.answers()] == [STORED] * 5
    assert stream_messages(sink_of.stream) == 5
    assert stored_reads(platform) == 0  # durable in the stream, not yet in the store
    assert sink_of.pending_reads == 0


def test_a_resend_inside_the_window_is_answered_duplicate(
    sink_of: JetStreamSink, platform: Platform
) -> None:
    now = platform.clock()
    items = [payload("CAM-A", now, n) for n in range(3)]
    sink_of.submit(batch_of("CAM-A", items, now)).result(30)
    fresh = payload("CAM-A", now, 9)

    again = sink_of.submit(batch_of("CAM-A", [*items, fresh], now)).result(30)

    assert [a["status"] for a in again.answers()] == [DUPLICATE] * 3 + [STORED]
    assert stream_messages(sink_of.stream) == 4


def test_a_worker_stores_matches_and_keeps_dead_letters(
    sink_of: JetStreamSink, platform: Platform
) -> None:
    hotlist_service.save_list(
        uow=platform.uow(),
        now=platform.clock(),
        actor=ACTOR,
        hotlist=Hotlist("stolen", "stolen", Category.STOLEN_VEHICLE, "federal"),
    )
    hotlist_service.import_list(
        uow=platform.uow(),
        snapshot=platform.read_uow,
        list_id="stolen",
        now=platform.clock(),
        actor=ACTOR,
        records=[("l1", {"plate": "9XYZ777"})],
    )
    platform.matcher.refresh(platform.read_uow)
    now = platform.clock()
    items = [payload("CAM-A", now, n) for n in range(10)]
    items[7] = with_image(payload("CAM-A", now, 7, plate="9-XYZ-777"))  # listed; an image
    outcome = sink_of.submit(
        batch_of("CAM-A", items, now, images=platform.images, refused=("{bad}",))
    ).result(30)
    assert (outcome.stored, outcome.rejected) == (10, 1)

    worker = worker_for(platform, sink_of.stream)
    with WorkerThread(worker):
        assert wait_until(
            lambda: worker.counters.stored == 10 and worker.counters.dead_letters == 1
        )
        assert wait_until(lambda: stream_messages(sink_of.stream) == 0)  # acknowledged
    with db(platform) as conn:
        assert conn.execute("SELECT count(*) FROM alerts").fetchone()[0] == 1
        assert conn.execute("SELECT count(*) FROM dead_letters").fetchone()[0] == 1
    with platform.read_uow() as uow:
        read = uow.reads.get(uuid.UUID(items[7]["read_id"]))
        assert read is not None and read.plate == "9XYZ777"
        (ref,) = read.images
        located = uow.reads.image_locations([read.read_id])
    assert platform.images.get(ref.sha256 or "", located[ref.sha256 or ""]) == JPEG


def test_a_resend_after_the_duplicate_window_is_stored_once(
    nats_server: NatsCluster, stream_name: str, platform: Platform
) -> None:
    stream = ingest_stream(nats_server, stream_name, window_s=1.0)
    sink = JetStreamSink(stream)
    sink.start()
    try:
        now = platform.clock()
        items = [payload("CAM-A", now, n) for n in range(4)]
        assert sink.submit(batch_of("CAM-A", items, now)).result(30).stored == 4
        worker = worker_for(platform, stream)
        with WorkerThread(worker):
            assert wait_until(lambda: worker.counters.stored == 4)

            # the camera sends the same reads again once the stream has forgotten them
            # (well past its window: the server forgets on a timer of its own): the
            # stream takes each as new, and the store knows them
            time.sleep(3 * stream.duplicate_window_s)
            taken_as_new: set[str] = set()

            def resent_as_new() -> bool:
                answer = sink.submit(batch_of("CAM-A", items, now)).result(30)
                taken_as_new.update(a["read_id"] for a in answer.answers() if a["status"] == STORED)
                return len(taken_as_new) == len(items)

            assert wait_until(resent_as_new, timeout=30)
            assert wait_until(lambda: worker.counters.duplicate >= 4)
            assert wait_until(lambda: stream_messages(stream) == 0)
        assert worker.counters.stored == 4
        assert stored_reads(platform) == 4
    finally:
        sink.stop()


def test_a_sink_not_started_or_unreachable_acknowledges_nothing(platform: Platform) -> None:
    sink = JetStreamSink(IngestStream(servers=(f"nats://127.0.0.1:{free_port()}",)))
    batch = batch_of("CAM-A", [payload("CAM-A", platform.clock())], platform.clock())
    assert isinstance(sink.submit(batch).exception(), RuntimeError)
    with pytest.raises(SinkUnavailable, match="VEILLE_NATS_URL"):
        sink.start(timeout=2)
    assert isinstance(sink.submit(batch).exception(), RuntimeError)


def test_a_message_the_worker_cannot_read_becomes_a_dead_letter(
    sink_of: JetStreamSink, platform: Platform
) -> None:
    stream = sink_of.stream

    async def publish_garbage() -> None:
        nc = await nats.connect(servers=list(stream.servers))
        try:
            await nc.jetstream().publish(stream.read_subject, b"\x00\x00\x00\x05not a read")
        finally:
            await nc.close()

    asyncio.run(publish_garbage())
    worker = worker_for(platform, stream)
    with WorkerThread(worker):
        assert wait_until(lambda: worker.counters.dead_letters == 1)
        assert wait_until(lambda: stream_messages(stream) == 0)  # taken off, once kept
    with platform.read_uow() as uow:
        (kept,) = uow.dead_letters.find()
    assert kept.source == "jetstream" and "not a read" in kept.payload


class RefusingStore:
    """The platform's real units of work, except that storing one given read fails, as a
    store refusing a row would: the fault the worker must not let block the stream."""

    def __init__(self, platform: Platform, poison: uuid.UUID) -> None:
        self._platform, self._poison = platform, poison

    def uow(self) -> Any:
        inner = self._platform.uow()
        add_new = inner.reads.add_new
        poison = self._poison

        def refusing(reads: Any, *args: Any, **kwargs: Any) -> Any:
            if any(read.read_id == poison for read in reads):
                raise RuntimeError("the store refuses this read")
            return add_new(reads, *args, **kwargs)

        inner.reads.add_new = refusing
        return inner


def test_a_read_the_store_keeps_refusing_becomes_a_dead_letter_and_the_rest_is_stored(
    sink_of: JetStreamSink, platform: Platform
) -> None:
    now = platform.clock()
    items = [payload("CAM-A", now, n) for n in range(6)]
    poison = uuid.UUID(items[2]["read_id"])
    assert sink_of.submit(batch_of("CAM-A", items, now)).result(30).stored == 6
    worker = JetStreamWorker(
        sink_of.stream,
        uow=RefusingStore(platform, poison).uow,
        bus=platform.bus,
        images=platform.images,
        options=WorkerOptions(retry_delay_s=0.1, dead_letter_after=3),
        clock=platform.clock,
    )
    with WorkerThread(worker):
        assert wait_until(lambda: worker.counters.stored == 5 and worker.counters.dead_letters == 1)
        assert wait_until(lambda: stream_messages(sink_of.stream) == 0)
    with platform.read_uow() as uow:
        assert uow.reads.get(poison) is None
        (kept,) = uow.dead_letters.find()
    assert kept.source == "jetstream" and str(poison) in kept.payload
    assert "refuses this read" in kept.errors[0]["reason"]
