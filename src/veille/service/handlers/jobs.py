"""Handlers of the jobs area's commands and queries (`service/commands/jobs.py`): the
scheduled jobs (each idempotent and audited) and case holds."""

from __future__ import annotations

from datetime import timedelta
from functools import partial

from veille.domain.audit import system_actor
from veille.domain.retention import Hold, RetentionPolicy
from veille.service import retention
from veille.service.analyses import CloneSweepReport, run_clone_sweep
from veille.service.commands.jobs import (
    CaseHolds,
    PlaceHold,
    PurgeExpiredReads,
    ReleaseHold,
    SweepClones,
    SweepOrphanImages,
)
from veille.service.handlers.deps import Dependencies
from veille.service.jobs import (
    CLONE_SWEEP_LOOKBACK,
    ORPHAN_MIN_AGE,
    RETENTION_BATCH_SIZE,
    RETENTION_PAUSE_S,
)
from veille.service.messagebus import MessageBus, Raised


def purge_expired_reads(
    cmd: PurgeExpiredReads, raised: Raised, *, deps: Dependencies
) -> retention.RetentionReport:
    """The maximum retention of the settings (VEILLE_MAX_RETENTION_DAYS), holds weighed."""
    return retention.run_retention(
        uow_factory=deps.uow,
        read_uow_factory=deps.read_uow,
        images=deps.images(),
        now=deps.clock(),
        policy=RetentionPolicy(max_age=timedelta(days=deps.settings().max_retention_days)),
        batch_size=RETENTION_BATCH_SIZE,
        pause_s=RETENTION_PAUSE_S,
        dry_run=cmd.dry_run,
        should_stop=cmd.should_stop,
    )


def sweep_clones(cmd: SweepClones, raised: Raised, *, deps: Dependencies) -> CloneSweepReport:
    """Findings are kept as long as reads are (VEILLE_MAX_RETENTION_DAYS)."""
    settings = deps.settings()
    return run_clone_sweep(
        uow_factory=deps.uow,
        read_uow_factory=deps.read_uow,
        now=deps.clock(),
        lookback=CLONE_SWEEP_LOOKBACK,
        open_window=timedelta(days=settings.open_window_days),
        keep_findings=timedelta(days=settings.max_retention_days),
        dry_run=cmd.dry_run,
    )


def sweep_orphan_images(
    cmd: SweepOrphanImages, raised: Raised, *, deps: Dependencies
) -> retention.ImageSweepReport:
    return retention.sweep_orphan_images(
        uow_factory=deps.uow,
        read_uow_factory=deps.read_uow,
        images=deps.images(),
        now=deps.clock(),
        min_age=ORPHAN_MIN_AGE,
        dry_run=cmd.dry_run,
        should_stop=cmd.should_stop,
        actor=system_actor("job:image-sweep"),
    )


def place_hold(cmd: PlaceHold, raised: Raised, *, deps: Dependencies) -> Hold:
    """A hold the rules refuse (no plate nor camera, an unknown camera) is `Invalid`."""
    return retention.place_hold(
        uow=deps.uow(),
        case_ref=cmd.case_ref,
        plates=cmd.plates,
        camera_ids=cmd.camera_ids,
        start=cmd.start,
        end=cmd.end,
        actor=cmd.actor,
        now=deps.clock(),
    )


def release_hold(cmd: ReleaseHold, raised: Raised, *, deps: Dependencies) -> Hold:
    """No active hold of that id is `NotFound`."""
    return retention.release_hold(
        uow=deps.uow(), hold_id=cmd.hold_id, actor=cmd.actor, now=deps.clock()
    )


def case_holds(query: CaseHolds, raised: Raised, *, deps: Dependencies) -> list[Hold]:
    return retention.list_holds(
        uow=deps.uow(),
        read_uow=deps.read_uow(),
        actor=query.actor,
        now=deps.clock(),
        include_released=query.include_released,
    )


def register(bus: MessageBus, deps: Dependencies) -> None:
    """Register every handler of this area on `bus`, with `deps` bound."""
    for message, handler in (
        (PurgeExpiredReads, purge_expired_reads),
        (SweepClones, sweep_clones),
        (SweepOrphanImages, sweep_orphan_images),
        (PlaceHold, place_hold),
        (ReleaseHold, release_hold),
        (CaseHolds, case_holds),
    ):
        bus.register(message, partial(handler, deps=deps))
