"""Scheduled jobs: a schedule table of plain functions, run on demand or by a scheduler."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from veille.domain.audit import system_actor
from veille.domain.retention import RetentionPolicy
from veille.service.analyses import clone_sweep_job
from veille.service.audit_checkpoints import anchor
from veille.service.retention import (
    ImageSweepReport,
    RetentionReport,
    run_retention,
    sweep_orphan_images,
)

if TYPE_CHECKING:
    from veille.bootstrap import Platform

log = logging.getLogger(__name__)

# A 50 ms pause after each 2,000-read batch lets the ingest writer take the write lock
# between batches (SQLite's busy handler is not a fair queue): under saturated ingest it
# kept ~0.69 of the ingest rate instead of ~0.61, for a job ~30 % slower (docs/retention.md).
RETENTION_BATCH_SIZE = 2000
RETENTION_PAUSE_S = 0.05


@dataclass(frozen=True)
class Job:
    """A job: a plain function of the platform, idempotent and audited, run `every` so often."""

    name: str
    every: timedelta
    run: Callable[..., Any]  # run(platform, *, dry_run=False, should_stop=None) -> report
    description: str = ""


def retention_policy(platform: Platform) -> RetentionPolicy:
    """The maximum retention of the settings (VEILLE_MAX_RETENTION_DAYS)."""
    return RetentionPolicy(max_age=timedelta(days=platform.settings.max_retention_days))


def retention_job(
    platform: Platform,
    *,
    dry_run: bool = False,
    should_stop: Callable[[], bool] | None = None,
) -> RetentionReport:
    return run_retention(
        uow_factory=platform.uow,
        read_uow_factory=platform.read_uow,
        images=platform.images,
        now=platform.clock(),
        policy=retention_policy(platform),
        batch_size=RETENTION_BATCH_SIZE,
        pause_s=RETENTION_PAUSE_S,
        dry_run=dry_run,
        should_stop=should_stop,
    )


def audit_anchor_job(
    platform: Platform,
    *,
    dry_run: bool = False,
    should_stop: Callable[[], bool] | None = None,
) -> Any:
    """Checkpoint the audit head and note it in the log, so a lost anchor store shows.

    The checkpoint writer signs far more often (every minute); this hourly note is what
    lets verify tell a replaced or emptied anchor store from a young one.
    """
    if dry_run:
        return None
    return anchor(
        writer=platform.checkpoints,
        uow_factory=platform.uow,
        now=platform.clock(),
        actor=system_actor("job:audit-anchor"),
    )


# An image is written before its read commits; one younger than this may still be
# waiting for its read, so the sweep leaves it alone.
ORPHAN_MIN_AGE = timedelta(hours=1)


def image_sweep_job(
    platform: Platform,
    *,
    dry_run: bool = False,
    should_stop: Callable[[], bool] | None = None,
) -> ImageSweepReport:
    """Delete image files no read refers to (left by a crash between a purge's commit and
    its file deletions, or by a write whose read never committed)."""
    return sweep_orphan_images(
        uow_factory=platform.uow,
        read_uow_factory=platform.read_uow,
        images=platform.images,
        now=platform.clock(),
        min_age=ORPHAN_MIN_AGE,
        dry_run=dry_run,
        should_stop=should_stop,
        actor=system_actor("job:image-sweep"),
    )


JOBS: dict[str, Job] = {
    "retention": Job(
        name="retention",
        every=timedelta(hours=24),
        run=retention_job,
        description="Delete reads and images past the maximum retention unless a case holds them.",
    ),
    "clone-sweep": Job(
        name="clone-sweep",
        every=timedelta(hours=1),
        run=clone_sweep_job,
        description="Record plates seen too far apart too fast (last 2 h, within the window).",
    ),
    "image-sweep": Job(
        name="image-sweep",
        every=timedelta(hours=24),
        run=image_sweep_job,
        description="Delete image files no read refers to, and temporary files of killed"
        " writes (older than an hour).",
    ),
    "audit-anchor": Job(
        name="audit-anchor",
        every=timedelta(hours=1),
        run=audit_anchor_job,
        description="Checkpoint the audit head and note it in the log (copy the store away).",
    ),
}


class UnknownJob(KeyError):
    """No job of that name in the schedule table."""


def run_job(name: str, platform: Platform, *, dry_run: bool = False) -> Any:
    """Run one job of the table now, whatever its schedule."""
    job = JOBS.get(name)
    if job is None:
        raise UnknownJob(name)
    return job.run(platform, dry_run=dry_run)


class JobScheduler:
    """Runs every job of the table when its time has come, in one daemon thread.

    The last run of each job is remembered in memory only: after a restart every job is
    due again, which is safe because jobs are idempotent.
    """

    def __init__(
        self,
        platform: Platform,
        *,
        jobs: dict[str, Job] | None = None,
        poll_s: float = 60.0,
        clock: Callable[[], datetime] | None = None,
    ):
        self.platform = platform
        self.jobs = JOBS if jobs is None else jobs
        self.poll_s = poll_s
        self.clock = clock or platform.clock
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
                reports[name] = self.jobs[name].run(self.platform, should_stop=self._stop.is_set)
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
