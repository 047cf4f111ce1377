"""Group-commit writer: one thread owns the write transaction and batches concurrent requests.

Each ingest request hands its validated batch to the writer and waits. The writer takes
every batch queued since its last commit (up to a row budget), stores them in one
transaction, commits (fsync), then answers every waiting request. Many requests share
one fsync, and a request is answered only once its reads are durable.

The writer thread is the ingest bottleneck (one SQLite writer), so it does nothing per
read that a request thread can do: requests arrive with their reads already encoded and
build their own per-item answers once told which reads were duplicates.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from veille.domain.reads import Read
from veille.service.ingest import IngestBatch, StoredBatch, store_batches
from veille.service.ports import UnitOfWork

log = logging.getLogger(__name__)


@dataclass
class IngestCounters:
    """Running totals since start, for progress displays and health checks."""

    stored: int = 0
    duplicate: int = 0
    rejected: int = 0
    commits: int = 0
    requests: int = 0
    started: float = field(default_factory=time.monotonic)

    def add(self, outcome: StoredBatch) -> None:
        self.requests += 1
        self.stored += outcome.stored
        self.duplicate += outcome.duplicate
        self.rejected += outcome.rejected

    def as_dict(self) -> dict[str, float | int]:
        return {
            "stored": self.stored,
            "duplicate": self.duplicate,
            "rejected": self.rejected,
            "commits": self.commits,
            "requests": self.requests,
            "uptime_s": round(time.monotonic() - self.started, 3),
        }


_STOP = object()


class GroupCommitWriter:
    def __init__(
        self,
        uow_factory: Callable[[], UnitOfWork],
        *,
        max_rows: int = 8000,
        on_stored: list[Callable[[list[Read]], None]] | None = None,
    ):
        self._uow_factory = uow_factory
        self._max_rows = max_rows
        self._queue: queue.Queue[object] = queue.Queue()
        self._thread: threading.Thread | None = None
        self.on_stored = on_stored if on_stored is not None else []
        # Runs inside the ingest transaction on the newly stored reads (hotlist matching
        # writes its alerts there) and returns events to publish once committed.
        self.in_transaction: list[Callable[[UnitOfWork, list[Read]], list[Any]]] = []
        self.after_commit: list[Callable[[list[Any]], None]] = []
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

    def submit(self, batch: IngestBatch) -> Future[StoredBatch]:
        """Queue a validated batch; the future resolves once it is committed (durable)."""
        future: Future[StoredBatch] = Future()
        if self._thread is None:
            future.set_exception(RuntimeError("writer is not running"))
            return future
        self._queue.put((batch, future))
        return future

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is _STOP:
                break
            jobs = [first]
            rows = first[0].size  # type: ignore[index]
            while rows < self._max_rows:
                try:
                    job = self._queue.get_nowait()
                except queue.Empty:
                    break
                if job is _STOP:
                    stopping = True
                    break
                jobs.append(job)
                rows += job[0].size  # type: ignore[index]
            self._commit(jobs)  # type: ignore[arg-type]

    def _commit(self, jobs: list[tuple[IngestBatch, Future[StoredBatch]]]) -> None:
        batches = [batch for batch, _ in jobs]
        events: list[Any] = []

        def steps(uow: UnitOfWork, fresh: list[Read]) -> None:
            for step in self.in_transaction:
                events.extend(step(uow, fresh))

        try:
            outcomes, fresh = store_batches(
                self._uow_factory(), batches, in_transaction=steps if self.in_transaction else None
            )
        except Exception as exc:  # the store failed: nobody is acknowledged
            log.exception("group commit of %d batches failed", len(batches))
            for _, future in jobs:
                future.set_exception(exc)
            return
        self.counters.commits += 1
        for (_, future), outcome in zip(jobs, outcomes, strict=True):
            self.counters.add(outcome)
            future.set_result(outcome)
        if events:
            for publish in self.after_commit:
                try:
                    publish(events)
                except Exception:  # telling the world must never undo or block ingest
                    log.exception("after-commit publisher failed")
        if fresh:
            for listener in self.on_stored:
                try:
                    listener(fresh)
                except Exception:  # a listener must never undo or block ingest
                    log.exception("on_stored listener failed")
