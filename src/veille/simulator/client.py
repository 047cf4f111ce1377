"""Async HTTP client that registers simulated cameras and streams their reads in batches."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import httpx
import orjson

from veille.simulator.traffic import SimRead

IMPORT_PATH = "/api/v1/cameras/import"
READS_PATH = "/api/v1/reads"
RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
MAX_REJECTION_SAMPLES = 20
GENERATE_CHUNK = 256  # reads generated per hand-off from the generating thread


def _take(source: Iterator[SimRead], count: int) -> list[SimRead]:
    return list(itertools.islice(source, count))


class SimulatorError(RuntimeError):
    """The platform refused something the simulation cannot do without (e.g. camera import)."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with jitter; `max_attempts=None` retries until cancelled."""

    initial_s: float = 0.2
    max_s: float = 5.0
    multiplier: float = 2.0
    max_attempts: int | None = None

    def delay(self, attempt: int, *, retry_after: str | None, rng: random.Random) -> float:
        backoff = min(self.max_s, self.initial_s * self.multiplier ** (attempt - 1))
        if retry_after and retry_after.strip().isdigit():
            backoff = max(backoff, min(self.max_s, float(retry_after)))
        return backoff * rng.uniform(0.5, 1.0)


@dataclass(slots=True)
class ClientStats:
    """Counts of a stream; `pending` reads were generated but not acknowledged nor given up."""

    generated: int = 0
    stored: int = 0
    duplicate: int = 0
    duplicate_after_retry: int = 0  # part of `duplicate`: most likely stored by a lost attempt
    rejected: int = 0
    failed: int = 0  # given up: a non-retryable HTTP error, or retries exhausted
    auth_failed: int = 0  # part of `failed`: refused 401/403, the camera's token no longer works
    retries: int = 0
    requests: int = 0
    elapsed_s: float = 0.0
    finished: bool = False
    cancelled: bool = False
    rejections: list[dict[str, Any]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def acknowledged(self) -> int:
        return self.stored + self.duplicate + self.rejected

    @property
    def pending(self) -> int:
        return self.generated - self.acknowledged - self.failed

    @property
    def rate(self) -> float:
        """Acknowledged reads per second so far."""
        return self.acknowledged / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def snapshot(self) -> ClientStats:
        return replace(self, rejections=list(self.rejections), failures=list(self.failures))

    def as_dict(self) -> dict[str, Any]:
        return {
            "generated": self.generated,
            "stored": self.stored,
            "duplicate": self.duplicate,
            "duplicate_after_retry": self.duplicate_after_retry,
            "rejected": self.rejected,
            "failed": self.failed,
            "auth_failed": self.auth_failed,
            "pending": self.pending,
            "retries": self.retries,
            "requests": self.requests,
            "elapsed_s": round(self.elapsed_s, 3),
            "rate": round(self.rate, 1),
            "finished": self.finished,
            "cancelled": self.cancelled,
            "rejections": self.rejections,
            "failures": self.failures,
        }


ProgressCallback = Callable[[ClientStats], None]


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


async def register_cameras(
    http: httpx.AsyncClient,
    *,
    records: Sequence[Mapping[str, Any]],
    admin_token: str,
    chunk_size: int = 500,
    reissue_tokens: bool = False,
) -> dict[str, str]:
    """Import (upsert) the cameras; return camera_id -> ingest token.

    New cameras get a token. A camera that exists already keeps its token unless
    `reissue_tokens`: replacing it would cut off whatever posts with it now (a running
    `make run`), so without it such cameras stop the simulation with a clear error.
    """
    tokens: dict[str, str] = {}
    for offset in range(0, len(records), chunk_size):
        chunk = [dict(r) for r in records[offset : offset + chunk_size]]
        response = await http.post(
            IMPORT_PATH,
            params={"issue_tokens": "all" if reissue_tokens else "new"},
            content=orjson.dumps({"format": "records", "cameras": chunk}),
            headers=_bearer(admin_token),
        )
        if response.status_code != 200:
            raise SimulatorError(
                f"camera import failed: HTTP {response.status_code}: {response.text[:300]}"
            )
        tokens.update(orjson.loads(response.content).get("tokens") or {})
    missing = [r["camera_id"] for r in records if r["camera_id"] not in tokens]
    if missing:
        raise SimulatorError(
            f"{len(missing)} camera(s) are registered already (e.g. {missing[0]}) and keep"
            " their ingest tokens: another simulation may be posting with them (`make run`)."
            " Stop it, then run again with --reissue-tokens to take the cameras over."
        )
    return tokens


class ReadStreamer:
    """Groups reads per camera, posts batches over `concurrency` connections, retries.

    A batch is sent when it reaches `batch_size` or its oldest read has waited
    `flush_interval_s`. A retry re-sends the very same body (same read ids): the server
    de-duplicates, so nothing is lost and nothing is stored twice.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        tokens: Mapping[str, str],
        batch_size: int = 200,
        flush_interval_s: float = 0.5,
        concurrency: int = 8,
        retry: RetryPolicy = RetryPolicy(),
        progress: ProgressCallback | None = None,
        progress_interval_s: float = 1.0,
        drain_timeout_s: float = 10.0,
    ):
        if not 1 <= batch_size <= 1000:
            raise ValueError("batch_size must be 1 to 1000 (the API's limit per request)")
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.http = http
        self.tokens = tokens
        self.batch_size = batch_size
        self.flush_interval_s = flush_interval_s
        self.concurrency = concurrency
        self.retry = retry
        self.progress = progress
        self.progress_interval_s = progress_interval_s
        self.drain_timeout_s = drain_timeout_s
        self.stats = ClientStats()
        self._buffers: dict[str, list[dict[str, Any]]] = {}
        self._first_at: dict[str, float] = {}
        self._queue: asyncio.Queue[tuple[str, list[dict[str, Any]]]] = asyncio.Queue(
            maxsize=concurrency * 4
        )
        self._jitter = random.Random()
        self._started = 0.0

    async def run(
        self, reads: Iterable[SimRead], *, pace_from: datetime | None = None
    ) -> ClientStats:
        """Send every read; with `pace_from`, a read leaves when the wall clock has advanced
        as far past the start as its captured_at is past `pace_from` (real-time mode).

        On cancellation (or KeyboardInterrupt) buffered and in-flight batches are flushed for
        up to `drain_timeout_s`, then the cancellation propagates.
        """
        loop = asyncio.get_running_loop()
        self._started = loop.time()
        helpers = [asyncio.create_task(self._worker()) for _ in range(self.concurrency)]
        helpers.append(asyncio.create_task(self._flusher()))
        if self.progress is not None:
            helpers.append(asyncio.create_task(self._reporter()))
        try:
            await self._produce(reads, pace_from, loop)
            await self._drain()
            self.stats.finished = True
        except (asyncio.CancelledError, KeyboardInterrupt):
            self.stats.cancelled = True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._drain(), timeout=self.drain_timeout_s)
            raise
        finally:
            for task in helpers:
                task.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
            self.stats.elapsed_s = loop.time() - self._started
            if self.progress is not None:
                self.progress(self.stats.snapshot())
        return self.stats

    async def _produce(
        self, reads: Iterable[SimRead], pace_from: datetime | None, loop: asyncio.AbstractEventLoop
    ) -> None:
        source = iter(reads)
        while True:
            # Generating traffic is CPU work, and a network's warm-up can take a second
            # or more before the first read: it runs in a worker thread, chunk by chunk,
            # so the senders, the flusher and the progress reports keep running.
            chunk = await asyncio.to_thread(_take, source, GENERATE_CHUNK)
            if not chunk:
                return
            for read in chunk:
                if pace_from is not None:
                    due = self._started + (read.captured_at - pace_from).total_seconds()
                    wait = due - loop.time()
                    if wait > 0.002:
                        await asyncio.sleep(wait)
                buffer = self._buffers.setdefault(read.camera_id, [])
                if not buffer:
                    self._first_at[read.camera_id] = loop.time()
                buffer.append(read.payload)
                self.stats.generated += 1
                if len(buffer) >= self.batch_size:
                    await self._enqueue(read.camera_id)
            await asyncio.sleep(0)  # let the senders take what this chunk filled

    async def _enqueue(self, camera_id: str) -> None:
        batch = self._buffers.pop(camera_id, None)
        self._first_at.pop(camera_id, None)
        if batch:
            await self._queue.put((camera_id, batch))

    async def _drain(self) -> None:
        for camera_id in list(self._buffers):
            await self._enqueue(camera_id)
        await self._queue.join()

    async def _flusher(self) -> None:
        loop = asyncio.get_running_loop()
        tick = max(0.01, min(0.1, self.flush_interval_s / 4))
        while True:
            await asyncio.sleep(tick)
            deadline = loop.time() - self.flush_interval_s
            for camera_id in [c for c, t in self._first_at.items() if t <= deadline]:
                await self._enqueue(camera_id)

    async def _reporter(self) -> None:
        assert self.progress is not None
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.progress_interval_s)
            self.stats.elapsed_s = loop.time() - self._started
            self.progress(self.stats.snapshot())

    async def _worker(self) -> None:
        while True:
            camera_id, batch = await self._queue.get()
            try:
                await self._send(camera_id, batch)
            except Exception as exc:  # a bug must not silently stall the stream
                self._fail(len(batch), f"{camera_id}: {exc!r}")
            finally:
                self._queue.task_done()

    def _fail(self, count: int, reason: str) -> None:
        self.stats.failed += count
        if len(self.stats.failures) < MAX_REJECTION_SAMPLES:
            self.stats.failures.append(reason)

    async def _send(self, camera_id: str, batch: list[dict[str, Any]]) -> None:
        token = self.tokens.get(camera_id)
        if token is None:
            self._fail(len(batch), f"{camera_id}: no ingest token")
            return
        body = orjson.dumps({"reads": batch})
        attempt = 0
        while True:
            attempt += 1
            self.stats.requests += 1
            retry_after = None
            try:
                response = await self.http.post(READS_PATH, content=body, headers=_bearer(token))
            except httpx.TransportError as exc:
                reason = f"{camera_id}: {type(exc).__name__}"
            else:
                status = response.status_code
                if status == 200:
                    self._account(response, batch, retried=attempt > 1)
                    return
                if status == 413 and len(batch) > 1:
                    half = len(batch) // 2
                    await self._send(camera_id, batch[:half])
                    await self._send(camera_id, batch[half:])
                    return
                reason = f"{camera_id}: HTTP {status}: {response.text[:200]}"
                if status not in RETRYABLE_STATUS:
                    if status in (401, 403):  # its token was replaced, or the camera retired
                        self.stats.auth_failed += len(batch)
                    self._fail(len(batch), reason)
                    return
                retry_after = response.headers.get("retry-after")
            if self.retry.max_attempts is not None and attempt >= self.retry.max_attempts:
                self._fail(len(batch), f"{reason} (gave up after {attempt} attempts)")
                return
            self.stats.retries += 1
            delay = self.retry.delay(attempt, retry_after=retry_after, rng=self._jitter)
            await asyncio.sleep(delay)

    def _account(
        self, response: httpx.Response, batch: list[dict[str, Any]], *, retried: bool
    ) -> None:
        try:
            document = orjson.loads(response.content)
            results = document["results"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            self._fail(len(batch), "HTTP 200 without a results list")
            return
        stats = self.stats
        for item in results:
            status = item.get("status")
            if status == "stored":
                stats.stored += 1
            elif status == "duplicate":
                stats.duplicate += 1
                stats.duplicate_after_retry += retried
            elif status == "rejected":
                stats.rejected += 1
                if len(stats.rejections) < MAX_REJECTION_SAMPLES:
                    stats.rejections.append(
                        {"read_id": item.get("read_id"), "errors": item.get("errors", [])}
                    )
        unanswered = len(batch) - len(results)
        if unanswered > 0:
            self._fail(unanswered, f"server answered {len(results)} of {len(batch)} reads")


async def stream_reads(
    http: httpx.AsyncClient,
    reads: Iterable[SimRead],
    *,
    tokens: Mapping[str, str],
    pace_from: datetime | None = None,
    batch_size: int = 200,
    flush_interval_s: float = 0.5,
    concurrency: int = 8,
    retry: RetryPolicy = RetryPolicy(),
    progress: ProgressCallback | None = None,
    progress_interval_s: float = 1.0,
    drain_timeout_s: float = 10.0,
) -> ClientStats:
    """Post `reads` as their cameras would; see `ReadStreamer`."""
    streamer = ReadStreamer(
        http,
        tokens=tokens,
        batch_size=batch_size,
        flush_interval_s=flush_interval_s,
        concurrency=concurrency,
        retry=retry,
        progress=progress,
        progress_interval_s=progress_interval_s,
        drain_timeout_s=drain_timeout_s,
    )
    return await streamer.run(reads, pace_from=pace_from)
