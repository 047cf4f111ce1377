"""Scheduled jobs: a schedule table of commands, handled on the bus by a scheduler or on demand."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from veille.service.commands import Command
from veille.service.commands.audit import AnchorAuditHead
from veille.service.commands.jobs import PurgeExpiredReads, SweepClones, SweepOrphanImages
from veille.service.errors import NotFound
from veille.service.messagebus import MessageBus

log = logging.getLogger(__name__)

# A 50 ms pause after each 2,000-read batch lets the ingest writer take the write lock
# between batches (SQLite's busy handler is not a fair queue): under saturated ingest it
# kept ~0.69 of the ingest rate instead of ~0.61, for a job ~30 % slower (docs/retention.md).
RETENTION_BATCH_SIZE = 2000
RETENTION_PAUSE_S = 0.05


# An image is written before its read commits; one younger than this may still be
# waiting for its read, so the sweep leaves it alone.
ORPHAN_MIN_AGE = timedelta(hours=1)
CLONE_SWEEP_LOOKBACK = timedelta(hours=2)  # run it hourly: each pass overlaps the last


@dataclass(frozen=True)
class Job:
    """A scheduled job: the command the bus handles every `every` (idempotent, audited).

    `command(dry_run=…, should_stop=…)` builds the job's command: the scheduler hands it
    the scheduler's stop signal, `veille jobs run <name> [--dry-run]` its dry-run flag.
    """

    name: str
    every: timedelta
    command: Callable[..., Command]
    description: str = ""


JOBS: dict[str, Job] = {
    "retention": Job(
        name="retention",
        every=timedelta(hours=24),
        command=PurgeExpiredReads,
        description="Delete reads and images past the maximum retention unless a case holds them.",
    ),
    "clone-sweep": Job(
        name="clone-sweep",
        every=timedelta(hours=1),
        command=SweepClones,
        description="Record plates seen too far apart too fast (last 2 h, within the window).",
    ),
    "image-sweep": Job(
        name="image-sweep",
        every=timedelta(hours=24),
        command=SweepOrphanImages,
        description="Delete image files no read refers to, and temporary files of killed"
        " writes (older than an hour).",
    ),
    "audit-anchor": Job(
        name="audit-anchor",
        every=timedelta(hours=1),
        command=AnchorAuditHead,
        description="Checkpoint the audit head and note it in the log (copy the store away).",
    ),
}


class UnknownJob(NotFound, KeyError):
    """No job of that name in the schedule table."""


def job_command(name: str, *, dry_run: bool = False) -> Command:
    """The command of one job of the table, to run it now whatever its schedule."""
    job = JOBS.get(name)
    if job is None:
        raise UnknownJob(f"no job {name!r}; jobs: {', '.join(JOBS)}")
    return job.command(dry_run=dry_run)


class JobScheduler:
    """Runs every job of the table when its time has come, in one daemon thread.

    The last run of each job is remembered in memory only: after a restart every job is
    due again, which is safe because jobs are idempotent.
    """

    def __init__(
        self,
        bus: MessageBus,
        *,
        clock: Callable[[], datetime],
        jobs: dict[str, Job] | None = None,
        poll_s: float = 60.0,
    ):
        self.bus = bus
        self.jobs = JOBS if jobs is None else jobs
        self.poll_s = poll_s
        self.clock = clock
        self.last_run: dict[str, datetime] = {}
        self.last_error: dict[str, str] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def due(self, now: datetime) -> list[str]:
        return [
            name
            for name, job in self.jobs.items()
            if name not in self.last_run or now - self.last_run[name] >= job.every
        ]

    def tick(self, now: datetime) -> dict[str, Any]:
        """Run every due job (one after the other); return their reports by name.

        A failed job counts as run (it is retried at its next period, not every poll)
        and its error is kept in `last_error`.
        """
        reports: dict[str, Any] = {}
        for name in self.due(now):
            self.last_run[name] = now
            try:
                command = self.jobs[name].command(should_stop=self._stop.is_set)
                reports[name] = self.bus.handle(command)
                self.last_error.pop(name, None)
            except Exception as exc:
                log.exception("job %s failed", name)
                self.last_error[name] = f"{type(exc).__name__}: {exc}"
        return reports

    def start(self) -> None:
        """Start the thread; the first check comes after one poll, not during start-up."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="veille-jobs", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 60.0) -> None:
        """Stop polling; a running job ends after its current batch (audited as interrupted)."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join(timeout)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.wait(self.poll_s):
            self.tick(self.clock())
