"""Group-commit writer: one thread owns the write transaction and batches concurrent requests.

Each ingest request hands its validated batch to the writer and waits. The writer takes
every batch queued since its last commit (up to a row budget), stores them in one
transaction, commits (fsync), then answers every waiting request. Many requests share
one fsync, and a request is answered only once its reads are durable. The image bytes
of the group go the same way: appended to the image log, synced once, then committed.

The writer thread is the ingest bottleneck (one SQLite writer), so it does nothing per
read that a request thread can do: requests arrive with their reads already encoded and
build their own per-item answers once told which reads were duplicates.

What runs when reads are stored is the message bus's business, not the writer's: after
storing a group, the writer hands `ReadsStored` to the bus's in-transaction handlers on
its open unit of work (hotlist matching writes its alerts there), commits, and then
publishes the events they raised (`HotlistHit`) and `ReadsStored` to the after-commit
handlers (the live channel, webhooks, MQTT).
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass, field
from typing import Any

from veille.service.errors import Busy
from veille.service.ingest import IngestBatch, StoredBatch
from veille.service.messagebus import MessageBus
from veille.service.ports import ImageStore, UnitOfWork
from veille.service.stored_reads import store_and_match

log = logging.getLogger(__name__)


LOAD_WINDOW_S = 60.0
COMMIT_SIZE_BUCKETS = 24  # up to 2**23 reads a commit: far beyond any row budget
COMMIT_MS_BUCKETS = 18  # up to 2**17 ms (131 s) a commit: far beyond any stall


@dataclass
class IngestCounters:
    """Running totals since start, and the writer's load over the last minute.

    The writer is the one part of ingest that cannot be spread out, so its load is what
    tells an operator how close the store is to its limit: a busy share near 1 means
    batches queue up behind the commits and cameras wait longer for their answers.
    """

    stored: int = 0
    duplicate: int = 0
    rejected: int = 0
    commits: int = 0
    requests: int = 0
    refused: int = 0  # reads refused with WriterBusy (their cameras send them again)
    auth_failed: int = 0  # requests refused 401: no, unknown, rotated or revoked token
    not_posting: int = 0  # requests refused 403: the camera is planned or retired
    busy_s: float = 0.0
    started: float = field(default_factory=time.monotonic)
    # commits by reads stored, in power-of-two buckets: index i counts commits of up to
    # 2**i reads (index 0: at most 1), so a benchmark can take its yardstick at the
    # writer's real commit size
    _commit_sizes: list[int] = field(default_factory=lambda: [0] * COMMIT_SIZE_BUCKETS)
    # commits by how long they kept the writer, in power-of-two milliseconds: index i
    # counts commits of up to 2**i ms (index 0: at most 1 ms)
    _commit_ms: list[int] = field(default_factory=lambda: [0] * COMMIT_MS_BUCKETS)
    # (ended, seconds busy, reads stored) of each commit in the last LOAD_WINDOW_S
    _recent: deque[tuple[float, float, int]] = field(default_factory=deque, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, outcome: StoredBatch) -> None:
        self.requests += 1
        self.stored += outcome.stored
        self.duplicate += outcome.duplicate
        self.rejected += outcome.rejected

    def commit_took(self, *, ended: float, busy_s: float, stored: int) -> None:
        """Record one group commit (or failed attempt) that kept the writer `busy_s`."""
        with self._lock:
            self.commits += 1
            self.busy_s += busy_s
            bucket = min(max(stored - 1, 0).bit_length(), COMMIT_SIZE_BUCKETS - 1)
            self._commit_sizes[bucket] += 1
            took_ms = max(math.ceil(busy_s * 1000.0), 1) - 1  # 2**(i-1) < ms <= 2**i
            self._commit_ms[min(took_ms.bit_length(), COMMIT_MS_BUCKETS - 1)] += 1
            self._recent.append((ended, busy_s, stored))
            while self._recent and self._recent[0][0] <= ended - LOAD_WINDOW_S:
                self._recent.popleft()

    def recent_commits(self) -> list[tuple[float, float, int]]:
        """(ended, seconds busy, reads stored) of each commit of the last minute."""
        with self._lock:
            return list(self._recent)

    def as_dict(self, now: float | None = None) -> dict[str, float | int | dict[str, int]]:
        now = time.monotonic() if now is None else now
        uptime = max(now - self.started, 1e-9)
        window = min(LOAD_WINDOW_S, uptime)
        with self._lock:
            since = now - window
            recent = [(busy, stored) for ended, busy, stored in self._recent if ended > since]
            sizes = {str(1 << i): n for i, n in enumerate(self._commit_sizes) if n}
            took = {str(1 << i): n for i, n in enumerate(self._commit_ms) if n}
        return {
            "stored": self.stored,
            "duplicate": self.duplicate,
            "rejected": self.rejected,
            "commits": self.commits,
            "requests": self.requests,
            "refused_busy": self.refused,
            "refused_unauthenticated": self.auth_failed,
            "refused_not_posting": self.not_posting,
            "uptime_s": round(uptime, 3),
            "writer_busy_s": round(self.busy_s, 3),
            # share of the last minute the writer spent storing (1.0: saturated)
            "writer_busy_share_1m": round(min(1.0, sum(b for b, _ in recent) / window), 3),
            "stored_per_s_1m": round(sum(n for _, n in recent) / window, 1),
            # commits since start by reads stored: {"4096": 7} is 7 commits of 2049-4096
            "commit_reads_le": sizes,
            # commits since start by time taken: {"16": 5} is 5 commits of 8-16 ms
            "commit_ms_le": took,
        }


_STOP = object()


class WriterBusy(Busy, RuntimeError):
    """More reads wait for the writer than it takes: this batch is refused, not stored.

    The camera keeps its reads and sends them again later. Under overload, cameras are
    slowed down instead of the server queueing without bound until it runs out of memory
    (the way the previous national system collapsed and lost reads).
    """

    code = "ingest_busy"


@dataclass(frozen=True)
class WriterHealth:
    """Whether the writer thread runs and still makes progress (for `/health`)."""

    alive: bool
    last_commit_s_ago: float | None  # None: no commit since start
    waiting_jobs: int  # requests submitted and not yet answered
    stalled_s: float  # how long work has waited without a commit (0 when none waits)
    stuck_after_s: float

    @property
    def stuck(self) -> bool:
        return not self.alive or (self.waiting_jobs > 0 and self.stalled_s > self.stuck_after_s)

    def as_dict(self) -> dict[str, object]:
        return {
            "alive": self.alive,
            "stuck": self.stuck,
            "last_commit_s_ago": self.last_commit_s_ago,
            "waiting_requests": self.waiting_jobs,
            "stalled_s": round(self.stalled_s, 3),
        }


class GroupCommitWriter:
    def __init__(
        self,
        uow_factory: Callable[[], UnitOfWork],
        *,
        max_rows: int = 8000,
        max_queued_rows: int | None = None,
        bus: MessageBus | None = None,
        stuck_after_s: float = 60.0,
        images: ImageStore | None = None,
    ):
        self._uow_factory = uow_factory
        self._images = images  # where the image bytes of the reads go, synced per commit
        self._max_rows = max_rows
        self._max_queued_rows = max_queued_rows
        self._stuck_after_s = stuck_after_s
        self._queued_rows = 0  # reads submitted and not yet taken by the writer
        self._queued_lock = threading.Lock()
        # Progress, for /health: a writer whose thread died or that holds work without
        # committing for long must be seen, since every camera then waits on it.
        self._pending_jobs = 0  # submitted and not yet answered (queued or being stored)
        self._pending_since: float | None = None  # when work began to wait, since a commit
        self._last_commit: float | None = None
        # (batch, future) jobs, and _STOP
        self._queue: queue.Queue[Any] = queue.Queue()
        self._thread: threading.Thread | None = None
        # Whose handlers run when reads are stored (none: the writer only stores).
        self.bus = bus
        self.counters = IngestCounters()

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="veille-writer", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Finish every queued batch, then stop."""
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join(timeout)
            self._thread = None

    @property
    def queued_rows(self) -> int:
        """Reads submitted and not yet taken into a commit."""
        return self._queued_rows

    def has_room(self, rows: int) -> bool:
        """Would a batch of `rows` reads be taken now? (Checked again on submit.)"""
        limit = self._max_queued_rows
        queued = self._queued_rows
        return limit is None or queued == 0 or queued + rows <= limit

    def submit(self, batch: IngestBatch) -> Future[StoredBatch]:
        """Queue a validated batch; the future resolves once it is committed (durable).

        The future fails with WriterBusy, at once, when `max_queued_rows` reads already
        wait; a batch is always taken when nothing waits, however large.
        """
        future: Future[StoredBatch] = Future()
        if self._thread is None:
            future.set_exception(RuntimeError("writer is not running"))
            return future
        with self._queued_lock:
            if not self.has_room(batch.size):
                self.counters.refused += batch.size
                future.set_exception(
                    WriterBusy(f"{self._queued_rows} reads already wait for the writer")
                )
                return future
            self._queued_rows += batch.size
            if self._pending_jobs == 0:
                self._pending_since = time.monotonic()
            self._pending_jobs += 1
        self._queue.put((batch, future))
        return future

    def health(self, now: float | None = None) -> WriterHealth:
        now = time.monotonic() if now is None else now
        with self._queued_lock:
            pending, since, last = self._pending_jobs, self._pending_since, self._last_commit
        stalled = 0.0
        if pending and since is not None:  # waiting since it began to, or since the last commit
            stalled = now - max(since, last if last is not None else since)
        return WriterHealth(
            alive=self._thread is not None and self._thread.is_alive(),
            last_commit_s_ago=None if last is None else round(now - last, 3),
            waiting_jobs=pending,
            stalled_s=max(0.0, stalled),
            stuck_after_s=self._stuck_after_s,
        )

    def _answered(self, jobs: int) -> None:
        """`jobs` requests have their answer (or were dropped): they wait no more."""
        with self._queued_lock:
            self._pending_jobs -= jobs
            if not self._pending_jobs:
                self._pending_since = None

    def _take(self, job: Any) -> tuple[int, bool]:
        """(rows, wanted): a job whose request was cancelled while it waited is dropped.

        Once taken, its future runs and can no longer be cancelled, so its answer can
        always be set (setting it on a cancelled future raised and killed the writer).
        """
        size: int = job[0].size
        with self._queued_lock:
            self._queued_rows -= size
        wanted = job[1].set_running_or_notify_cancel()
        if not wanted:
            self._answered(1)
        return size, wanted

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is _STOP:
                break
            jobs: list[tuple[IngestBatch, Future[StoredBatch]]] = []
            rows, wanted = self._take(first)
            if wanted:
                jobs.append(first)
            while rows < self._max_rows:
                try:
                    job = self._queue.get_nowait()
                except queue.Empty:
                    break
                if job is _STOP:
                    stopping = True
                    break
                size, wanted = self._take(job)
                rows += size
                if wanted:
                    jobs.append(job)
            if not jobs:
                continue
            try:
                self._commit(jobs)
            except Exception as exc:  # one failed group must never stop the writer
                log.exception("group of %d batches failed outside the store", len(jobs))
                for _, future in jobs:
                    _fail(future, exc)
            finally:
                self._answered(len(jobs))

    def _commit(self, jobs: list[tuple[IngestBatch, Future[StoredBatch]]]) -> None:
        batches = [batch for batch, _ in jobs]
        began = time.monotonic()
        try:
            outcomes, fresh, raised = store_and_match(
                self._uow_factory(), batches, bus=self.bus, images=self._images
            )
        except Exception as exc:  # the store failed: nobody is acknowledged
            log.exception("group commit of %d batches failed", len(batches))
            ended = time.monotonic()
            self.counters.commit_took(ended=ended, busy_s=ended - began, stored=0)
            for _, future in jobs:
                _fail(future, exc)
            return
        ended = time.monotonic()
        with self._queued_lock:
            self._last_commit = ended
        self.counters.commit_took(ended=ended, busy_s=ended - began, stored=len(fresh))
        for (_, future), outcome in zip(jobs, outcomes, strict=True):
            self.counters.add(outcome)
            future.set_result(outcome)  # taken jobs run: no request can cancel them now
        if raised and self.bus is not None:
            # the bus logs and skips a failing handler: telling the world never undoes
            # or blocks ingest
            self.bus.publish(raised)


def _fail(future: Future[StoredBatch], exc: BaseException) -> None:
    """Fail a request's future unless it already has its answer."""
    try:
        if not future.done():
            future.set_exception(exc)
    except InvalidStateError:  # answered meanwhile: nothing left to tell it
        pass
