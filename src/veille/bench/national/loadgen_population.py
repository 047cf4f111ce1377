"""The simulated cameras of one load-generator process: schedule, send, resend, account.

Reads fall due as a Poisson process at the segment's rate (the superposition of one
Poisson process per camera, a camera drawn at random for each read), open loop: a read is
due whatever the server answers. Each camera sends its queue in order over its own
keep-alive connection, one read per request; the reads that fell due while its network
was down go in batches of up to `max_batch` once it is back. A request that times out or
gets a 503 is re-sent with the same body (same read ids) after an exponential backoff
with jitter that honours Retry-After.

Latency is taken from the read's due time, so a slow server cannot hide its delay by
slowing the generator (no coordinated omission). The generator's own lag is the delay
between the moment a read could leave (due, and its camera idle) and the moment its bytes
were written: if that is large, the generator, not the server, was the limit.
"""

from __future__ import annotations

import asyncio
import math
import os
import random
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from veille.bench.national.contract import AckRecord, CameraCredential, dumps_line
from veille.bench.national.loadgen_http import Connection, ConnectionLost, Endpoint, request_head
from veille.bench.national.loadgen_images import ImagePool, sha256_hex
from veille.bench.national.loadgen_traffic import ReadFactory
from veille.simulator.client import RetryPolicy

READS_PATH = "/api/v1/reads"
RETRYABLE = frozenset({408, 425, 429, 500, 502, 503, 504})
ACK_FLUSH_BYTES = 256 * 1024


@dataclass(slots=True, eq=False)
class PendingRead:
    read_id: str
    camera_id: str
    plate: str
    due: float  # loop time
    item: bytes  # the read as JSON
    images: tuple[str, ...]
    segment: Segment
    held: bool  # fell due while its camera's network was down
    first_sent: float | None = None  # loop time of the first attempt


@dataclass(slots=True, eq=False)
class Camera:
    camera_id: str
    head: bytes
    connection: Connection
    queue: deque[PendingRead] = field(default_factory=deque)
    busy: bool = False
    freed_at: float = 0.0  # loop time its last request ended
    outage_start: float = float("inf")
    outage_end: float = float("-inf")

    def down(self, now: float) -> bool:
        return self.outage_start <= now < self.outage_end


@dataclass(slots=True, eq=False)
class Segment:
    """The reads due during one load segment (a step, or one tried rate of a search)."""

    name: str
    rate: float
    started: float
    ends: float
    offered: int = 0
    acknowledged: int = 0
    stored: int = 0
    duplicate: int = 0
    rejected: int = 0
    failed: int = 0
    status_503: int = 0
    timeouts: int = 0
    connection_errors: int = 0
    resends: int = 0
    reconnects: int = 0
    requests: int = 0
    batched_after_outage: int = 0
    late_acknowledged: int = 0  # acknowledged after the segment's report
    acks_at_start: int = 0  # the population's acknowledgements so far, when it started
    latencies_ms: list[float] = field(default_factory=list)
    held_latencies_ms: list[float] = field(default_factory=list)
    lags_ms: list[float] = field(default_factory=list)
    unresolved: set[PendingRead] = field(default_factory=set)
    finished: bool = False


class AckWriter:
    """Appends AckRecord lines to a file shared by the worker processes (O_APPEND, whole
    lines per write, so the lines of two processes never interleave)."""

    def __init__(self, path: str):
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._buffer: list[bytes] = []
        self._size = 0

    def add(self, line: bytes) -> None:
        self._buffer.append(line)
        self._size += len(line)
        if self._size >= ACK_FLUSH_BYTES:
            self.flush()

    def flush(self) -> None:
        if self._buffer:
            data = b"".join(self._buffer)
            self._buffer.clear()
            self._size = 0
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view) :]

    def close(self) -> None:
        self.flush()
        os.close(self._fd)


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile of already sorted values (None when empty)."""
    if not sorted_values:
        return None
    rank = max(1, min(len(sorted_values), math.ceil(q / 100 * len(sorted_values))))
    return sorted_values[rank - 1]


class Population:
    """The cameras of one process and the segments of load they send."""

    def __init__(
        self,
        *,
        cameras: Sequence[CameraCredential],
        base_url: str,
        factory: ReadFactory,
        images: ImagePool,
        acks_path: str,
        inline_image_share: float,
        outage_share: float,
        outage_s: float,
        request_timeout_s: float,
        seed: int,
        worker: int = 0,
        max_batch: int = 50,
        retry: RetryPolicy = RetryPolicy(initial_s=0.25, max_s=8.0),
    ):
        if not cameras:
            raise ValueError("a load generator process needs at least one camera")
        endpoint = Endpoint.from_url(base_url)
        self.cameras = [
            Camera(c.camera_id, request_head(endpoint, READS_PATH, c.token), Connection(endpoint))
            for c in cameras
        ]
        self.factory = factory
        self.images = images
        self.acks = AckWriter(acks_path)
        self.inline_image_share = inline_image_share
        self.outage_share = outage_share
        self.outage_s = outage_s
        self.request_timeout_s = request_timeout_s
        self.max_batch = max_batch
        self.retry = retry
        self.worker = worker
        self._rng = random.Random(f"veille-loadgen-schedule:{seed}:{worker}")
        self._serial = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = asyncio.Event()
        self.loop = asyncio.get_running_loop()
        self.epoch_offset = time.time() - self.loop.time()
        self.segment: Segment | None = None
        self.segments: list[Segment] = []
        self.in_flight = 0
        self.backlog = 0
        self.held = 0
        self.acks_total = 0
        self._lag_window: list[float] = []

    # ---- the schedule -------------------------------------------------------------------

    def stop(self) -> None:
        """End the segment in progress now (SIGTERM/SIGINT): no new reads fall due."""
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    async def run_segment(self, *, name: str, rate: float, duration_s: float) -> dict[str, Any]:
        """Offer `rate` reads/s for `duration_s`; return the segment's raw report."""
        loop = self.loop
        started = loop.time()
        segment = Segment(name=name, rate=rate, started=started, ends=started + duration_s)
        segment.acks_at_start = self.acks_total
        self.segment = segment
        self.segments.append(segment)
        self._plan_outages(started, duration_s)
        rng = self._rng
        cameras = self.cameras
        next_due = started + rng.expovariate(rate) if rate > 0 else segment.ends
        while next_due < segment.ends and not self.stopping:
            now = loop.time()
            if next_due > now:
                # a plain sleep: a wait_for on the stop event costs a task per wake-up
                await asyncio.sleep(min(next_due - now, 0.25))
                continue
            while next_due <= now and next_due < segment.ends:
                self._fall_due(cameras[rng.randrange(len(cameras))], next_due, segment)
                next_due += rng.expovariate(rate)
            await asyncio.sleep(0)  # let the cameras write what just fell due
        while not self.stopping and loop.time() < segment.ends:
            await asyncio.sleep(min(0.25, segment.ends - loop.time()))
        return self._finish(segment)

    def _plan_outages(self, started: float, duration_s: float) -> None:
        for camera in self.cameras:
            camera.outage_start, camera.outage_end = float("inf"), float("-inf")
        count = round(self.outage_share * len(self.cameras))
        if count <= 0 or self.outage_s <= 0:
            return
        latest = max(0.0, duration_s - self.outage_s)
        for camera in self._rng.sample(self.cameras, min(count, len(self.cameras))):
            camera.outage_start = started + self._rng.uniform(0.0, latest)
            camera.outage_end = camera.outage_start + self.outage_s

    def _fall_due(self, camera: Camera, due: float, segment: Segment) -> None:
        self._serial += 1
        captured_at = datetime.fromtimestamp(self.epoch_offset + due, UTC)
        payload = self.factory.read(camera_id=camera.camera_id, captured_at=captured_at)
        read_id = payload["read_id"]
        (plate_jpeg, plate_b64), (overview_jpeg, overview_b64) = self.images.images_for(
            self._serial
        )
        if self._rng.random() < self.inline_image_share:
            images_json = (
                b',"images":[{"kind":"plate","content_type":"image/jpeg","data":"' + plate_b64
                + b'"},{"kind":"overview","content_type":"image/jpeg","data":"' + overview_b64
                + b'"}]}'
            )  # fmt: skip
            images = (sha256_hex(plate_jpeg), sha256_hex(overview_jpeg))
        else:
            base = f"https://nvr.{camera.camera_id.lower()}.local/reads/{read_id}"
            uris = (f"{base}/plate.jpg", f"{base}/overview.jpg")
            images_json = (
                b',"images":[{"kind":"plate","content_type":"image/jpeg","uri":"'
                + uris[0].encode()
                + b'"},{"kind":"overview","content_type":"image/jpeg","uri":"'
                + uris[1].encode()
                + b'"}]}'
            )
            images = ("uri:" + uris[0], "uri:" + uris[1])
        item = orjson.dumps(payload)[:-1] + images_json
        read = PendingRead(
            read_id=read_id,
            camera_id=camera.camera_id,
            plate=payload["plate"],
            due=due,
            item=item,
            images=images,
            segment=segment,
            held=camera.down(due),
        )
        segment.offered += 1
        segment.unresolved.add(read)
        self.backlog += 1
        if read.held:
            self.held += 1
        camera.queue.append(read)
        if not camera.busy:
            camera.busy = True
            task = self.loop.create_task(self._camera_sends(camera))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    # ---- a camera ------------------------------------------------------------------------

    async def _camera_sends(self, camera: Camera) -> None:
        try:
            queue = camera.queue
            while queue:
                now = self.loop.time()
                if camera.down(now):
                    camera.connection.close()  # the network is gone, and its sockets with it
                    await asyncio.sleep(camera.outage_end - now)
                    continue
                if queue[0].held:
                    batch = [queue.popleft()]
                    while queue and queue[0].held and len(batch) < self.max_batch:
                        batch.append(queue.popleft())
                else:
                    batch = [queue.popleft()]
                await self._deliver(camera, batch)
                camera.freed_at = self.loop.time()
        finally:
            camera.busy = False

    async def _deliver(self, camera: Camera, batch: list[PendingRead]) -> None:
        loop = self.loop
        if len(batch) == 1 and not batch[0].held:
            body = batch[0].item
        else:
            body = b'{"reads":[' + b",".join(r.item for r in batch) + b"]}"
            for read in batch:
                read.segment.batched_after_outage += 1
        accounting = batch[0].segment  # request-level counts go to the oldest read's segment
        attempt = 0
        while True:
            now = loop.time()
            if camera.down(now):
                camera.connection.close()
                await asyncio.sleep(camera.outage_end - now)
                continue
            attempt += 1
            if attempt == 1:
                for read in batch:
                    read.first_sent = now
                    if not read.held:
                        lag = (now - max(read.due, camera.freed_at)) * 1000.0
                        read.segment.lags_ms.append(lag)
                        self._lag_window.append(lag)
            else:
                accounting.resends += 1
            accounting.requests += 1
            retry_after: str | None = None
            reused = camera.connection.is_open and camera.connection.requests > 0
            self.in_flight += len(batch)
            try:
                async with asyncio.timeout(self.request_timeout_s):
                    answer = await camera.connection.post(camera.head, body)
            except TimeoutError:
                camera.connection.close()
                accounting.timeouts += 1
            except ConnectionLost as lost:
                if lost.answered_nothing and reused:
                    # the server closed the idle keep-alive connection as we wrote: re-send
                    # on a new one at once, as any HTTP client does
                    accounting.reconnects += 1
                    attempt -= 1
                    accounting.requests -= 1
                    continue
                accounting.connection_errors += 1
            except OSError:
                camera.connection.close()
                accounting.connection_errors += 1
            else:
                if answer.status == 200:
                    self._account(batch, answer.body)
                    return
                if answer.status not in RETRYABLE:
                    self._resolve_failed(batch, accounting, answer.status)
                    return
                if answer.status == 503:
                    accounting.status_503 += 1
                retry_after = answer.retry_after
            finally:
                self.in_flight -= len(batch)
            delay = self.retry.delay(attempt, retry_after=retry_after, rng=self._rng)
            await asyncio.sleep(delay)

    # ---- accounting ----------------------------------------------------------------------

    def _account(self, batch: list[PendingRead], body: bytes) -> None:
        try:
            results = orjson.loads(body)["results"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            results = []
        now = self.loop.time()
        acked_at = self.epoch_offset + now
        for index, read in enumerate(batch):
            status = results[index].get("status") if index < len(results) else None
            segment = read.segment
            if status in ("stored", "duplicate"):
                self.acks_total += 1
                if status == "stored":
                    segment.stored += 1
                else:
                    segment.duplicate += 1
                if segment.finished:
                    segment.late_acknowledged += 1
                else:
                    segment.acknowledged += 1
                    latency = (now - read.due) * 1000.0
                    (segment.held_latencies_ms if read.held else segment.latencies_ms).append(
                        latency
                    )
                assert read.first_sent is not None
                record = AckRecord(
                    read_id=read.read_id,
                    camera_id=read.camera_id,
                    plate=read.plate,
                    first_sent_at=self.epoch_offset + read.first_sent,
                    acked_at=acked_at,
                    status=status,
                    images=read.images,
                    step=segment.name,
                    due_at=self.epoch_offset + read.due,
                )
                self.acks.add(dumps_line(record))
            elif status == "rejected":
                segment.rejected += 1
            else:
                segment.failed += 1
            self._resolve(read)

    def _resolve_failed(self, batch: list[PendingRead], accounting: Segment, status: int) -> None:
        for read in batch:
            read.segment.failed += 1
            self._resolve(read)

    def _resolve(self, read: PendingRead) -> None:
        self.backlog -= 1
        if read.held:
            self.held -= 1
        read.segment.unresolved.discard(read)

    def _finish(self, segment: Segment) -> dict[str, Any]:
        """The segment's raw report; reads still unacknowledged count with their age now."""
        now = self.loop.time()
        segment.finished = True
        censored = [(now - r.due) * 1000.0 for r in segment.unresolved if not r.held]
        held_censored = [(now - r.due) * 1000.0 for r in segment.unresolved if r.held]
        self.acks.flush()
        report = {
            "name": segment.name,
            "rate": segment.rate,
            "started_at": self.epoch_offset + segment.started,
            "ended_at": self.epoch_offset + now,
            "offered": segment.offered,
            "acknowledged": segment.acknowledged,
            "acknowledged_in_window": self.acks_total - segment.acks_at_start,
            "stored": segment.stored,
            "duplicate": segment.duplicate,
            "rejected": segment.rejected,
            "failed": segment.failed,
            "status_503": segment.status_503,
            "timeouts": segment.timeouts,
            "connection_errors": segment.connection_errors,
            "resends": segment.resends,
            "reconnects": segment.reconnects,
            "requests": segment.requests,
            "batched_after_outage": segment.batched_after_outage,
            "unacknowledged_at_end": len(segment.unresolved),
            "latencies_ms": segment.latencies_ms + censored,
            "held_latencies_ms": segment.held_latencies_ms + held_censored,
            "lags_ms": segment.lags_ms,
        }
        # the samples now belong to the report: a long run keeps only its segments' counts
        segment.latencies_ms, segment.held_latencies_ms, segment.lags_ms = [], [], []
        return report

    def snapshot(self) -> dict[str, Any]:
        """Counters for the once-a-second progress line; resets the lag window, flushes."""
        lags = sorted(self._lag_window)
        self._lag_window = []
        self.acks.flush()  # acks.jsonl at most a second behind
        segment = self.segment
        return {
            "step": segment.name if segment else "",
            "offered": segment.offered if segment else 0,
            "acknowledged": segment.acknowledged if segment else 0,
            "in_flight": self.in_flight,
            "backlog": self.backlog,
            "held": self.held,
            "send_lag_ms": percentile(lags, 99) or 0.0,
            "lag_samples": len(lags),
        }

    async def drain(self, timeout_s: float) -> dict[str, Any]:
        """Wait until every read is resolved or `timeout_s`; then stop the cameras."""
        deadline = self.loop.time() + timeout_s
        while self.backlog > 0 and self.loop.time() < deadline:
            await asyncio.sleep(0.05)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        unacknowledged = [
            {
                "read_id": r.read_id,
                "camera_id": r.camera_id,
                "step": s.name,
                "first_sent_at": None if r.first_sent is None else self.epoch_offset + r.first_sent,
            }
            for s in self.segments
            for r in s.unresolved
        ]
        for camera in self.cameras:
            camera.connection.close()
        self.acks.close()
        late: dict[str, int] = {}
        for segment in self.segments:
            late[segment.name] = late.get(segment.name, 0) + segment.late_acknowledged
        return {
            "late_acknowledged": late,
            "unacknowledged": unacknowledged,
            "hits": self.factory.hits,
            "connections_opened": sum(c.connection.opened for c in self.cameras),
        }
