"""PurgeExpiredReads: delete reads past the maximum retention, in short batches; case holds."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from veille.domain.audit import Actor, AuditEntry, system_actor
from veille.domain.plates import PlateRejected, normalise
from veille.domain.retention import Hold, HoldInvalid, RetentionPolicy, check_hold
from veille.domain.times import iso
from veille.service.audit import read_then_record
from veille.service.errors import NotFound
from veille.service.ports import ImageStore, PurgeCursor, UnitOfWork

log = logging.getLogger(__name__)

JOB_ACTOR = system_actor("job:retention")
PURGE = "retention.purge"
DRY_RUN = "retention.dry_run"


class HoldNotFound(NotFound, LookupError):
    """No hold with that id (or it is already released)."""


@dataclass(frozen=True)
class RetentionReport:
    """What one run did. In a dry run, counts are what a real run would delete, and
    `deleted_images` counts the distinct images those reads reference (an upper bound:
    an image shared with a read that stays is not deleted)."""

    cutoff: datetime
    deleted_reads: int
    deleted_images: int
    kept_by_holds: int
    batches: int
    seconds: float
    dry_run: bool = False
    holds: tuple[int, ...] = field(default=())
    interrupted: bool = False
    deleted_segments: int = 0  # image log segments deleted whole (no read refers into them)

    def as_dict(self) -> dict[str, Any]:
        return {
            "cutoff": iso(self.cutoff),
            "deleted_reads": self.deleted_reads,
            "deleted_images": self.deleted_images,
            "kept_by_holds": self.kept_by_holds,
            "batches": self.batches,
            "seconds": round(self.seconds, 3),
            "dry_run": self.dry_run,
            "holds": list(self.holds),
            "interrupted": self.interrupted,
            "deleted_segments": self.deleted_segments,
        }


@dataclass
class _Tally:
    deleted: int = 0
    images: int = 0  # images found unreferenced (deleted after commit), or referenced (dry run)
    files_deleted: int = 0
    kept: int = 0
    batches: int = 0
    holds: set[int] = field(default_factory=set)
    interrupted: bool = False

    def params(self, cutoff: datetime, batch_size: int) -> dict[str, Any]:
        extra = {"interrupted": True} if self.interrupted else {}
        return extra | {
            "cutoff": cutoff.isoformat(),
            "batch_size": batch_size,
            "holds": sorted(self.holds),
            "kept_by_holds": self.kept,
            "images": self.images,
            "batches": self.batches,
        }


def run_retention(
    *,
    uow_factory: Callable[[], UnitOfWork],
    images: ImageStore,
    now: datetime,
    policy: RetentionPolicy,
    actor: Actor = JOB_ACTOR,
    batch_size: int = 2000,
    pause_s: float = 0.0,
    dry_run: bool = False,
    read_uow_factory: Callable[[], UnitOfWork] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> RetentionReport:
    """Delete every read captured before the cutoff that no active case hold keeps.

    Each batch is one step of the store's purge port (`ReadRepository.purge_before`: up
    to `batch_size` reads examined, the domain's hold rule applied) in one short write
    transaction, so the ingest writer waits for at most one batch; holds are re-read in
    every batch, so a hold placed during the run protects what it covers from the next
    batch on. Image files are deleted after the commit that removed their last
    reference. One audit record per run, written in the last batch's transaction.
    Running it again deletes nothing.
    A dry run reads through `read_uow_factory` (if given) and deletes nothing.
    `should_stop` is asked between batches: when it answers True the run ends early,
    audited as interrupted (the next run carries on where it stopped).
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    cutoff = policy.cutoff(now)
    started = time.perf_counter()
    tally = _Tally()
    action = DRY_RUN if dry_run else PURGE
    scan_factory = (read_uow_factory or uow_factory) if dry_run else uow_factory
    cursor: PurgeCursor | None = None
    try:
        while True:
            with scan_factory() as uow:
                holds = uow.holds.active()
                tally.holds.update(h.hold_id for h in holds)
                step = (uow.reads.preview_purge_before if dry_run else uow.reads.purge_before)(
                    cutoff=cutoff, holds=holds, limit=batch_size, after=cursor
                )
                tally.deleted += step.deleted
                tally.kept += step.kept_by_holds
                tally.images += len(step.orphaned_images)
                tally.batches += bool(step.deleted or step.kept_by_holds)
                if not dry_run:
                    if step.done:
                        uow.audit.append(_entry(now, actor, action, tally, cutoff, batch_size))
                    uow.commit()
            if not dry_run:
                # after the commit: a file goes only once no committed read points at it
                orphans = sorted(step.orphaned_images)
                tally.files_deleted += images.delete_many(orphans)
            if step.done:
                break
            if should_stop is not None and should_stop():
                tally.interrupted = True
                break
            cursor = step.resume_after
            if pause_s:
                time.sleep(pause_s)
        if dry_run or tally.interrupted:
            with uow_factory() as uow:
                uow.audit.append(_entry(now, actor, action, tally, cutoff, batch_size))
                uow.commit()
        if not dry_run:
            segments = drop_unreferenced_segments(uow_factory=uow_factory, images=images, now=now)
    except Exception as exc:
        _record_failure(uow_factory, now, actor, action, tally, cutoff, batch_size, exc)
        raise
    return RetentionReport(
        cutoff=cutoff,
        deleted_reads=tally.deleted,
        deleted_images=tally.images if dry_run else tally.files_deleted,
        kept_by_holds=tally.kept,
        batches=tally.batches,
        seconds=time.perf_counter() - started,
        dry_run=dry_run,
        holds=tuple(sorted(tally.holds)),
        interrupted=tally.interrupted,
        deleted_segments=0 if dry_run else segments,
    )


def drop_unreferenced_segments(
    *, uow_factory: Callable[[], UnitOfWork], images: ImageStore, now: datetime
) -> int:
    """Delete the image log's segments that no writer appends to any more and no read
    refers into (their reads were purged, or their group's commit failed); answers how
    many. A segment one held read still refers into stays whole (decision 0010)."""
    sealed = list(images.sealed_segments(now.timestamp()))
    if not sealed:
        return 0
    with uow_factory() as uow:
        live = uow.reads.segment_images(sealed)
    dead = [name for name in sealed if live.get(name, 0) <= 0]
    for name in dead:  # the file first: a row left by a crash here is dropped next time
        images.drop_segment(name)
    if dead:
        with uow_factory() as uow:
            uow.reads.forget_segments(dead)
            uow.commit()
    return len(dead)


def _entry(
    now: datetime,
    actor: Actor,
    action: str,
    tally: _Tally,
    cutoff: datetime,
    batch_size: int,
    *,
    outcome: str = "ok",
    error: str | None = None,
) -> AuditEntry:
    params = tally.params(cutoff, batch_size)
    if error:
        params["error"] = error
    return AuditEntry(
        at=now,
        actor=actor,
        action=action,
        outcome=outcome,
        target="reads",
        params=params,
        result_count=tally.deleted,
    )


def _record_failure(
    uow_factory: Callable[[], UnitOfWork],
    now: datetime,
    actor: Actor,
    action: str,
    tally: _Tally,
    cutoff: datetime,
    batch_size: int,
    exc: Exception,
) -> None:
    """Batches committed before the failure stay deleted: the log must say so."""
    try:
        with uow_factory() as uow:
            uow.audit.append(
                _entry(
                    now,
                    actor,
                    action,
                    tally,
                    cutoff,
                    batch_size,
                    outcome="failed",
                    error=f"{type(exc).__name__}: {exc}"[:500],
                )
            )
            uow.commit()
    except Exception:
        log.exception("could not audit the failed retention run")


# ---- case holds ----------------------------------------------------------------------


def place_hold(
    *,
    uow: UnitOfWork,
    case_ref: str,
    plates: Iterable[str],
    camera_ids: Iterable[str],
    start: datetime,
    end: datetime,
    actor: Actor,
    now: datetime,
    auth_id: int | None = None,
) -> Hold:
    """Keep the reads of these plates and/or cameras in [start, end) past the maximum
    retention, for a case. Plates are normalised; every camera must be registered."""
    try:
        plate_set = frozenset(p for p in (normalise(raw) for raw in plates) if p)
    except PlateRejected as refused:
        raise HoldInvalid(refused.reason) from None
    camera_set = frozenset(c.strip() for c in camera_ids if c.strip())
    check_hold(case_ref=case_ref, plates=plate_set, camera_ids=camera_set, start=start, end=end)
    with uow:
        unknown = sorted(c for c in camera_set if uow.cameras.get(c) is None)
        if unknown:
            raise HoldInvalid(f"unknown camera(s): {', '.join(unknown)}")
        hold_id = uow.holds.add(
            case_ref=case_ref.strip(),
            plates=plate_set,
            camera_ids=camera_set,
            period_start=start,
            period_end=end,
            created_by=actor.username,
            created_at=now,
            auth_id=auth_id,
        )
        uow.audit.append(
            AuditEntry(
                at=now,
                actor=actor,
                action="hold.place",
                target=f"hold:{hold_id}",
                case_ref=case_ref.strip(),
                params={
                    "plates": sorted(plate_set),
                    "camera_ids": sorted(camera_set),
                    "period_start": start.isoformat(),
                    "period_end": end.isoformat(),
                    "auth_id": auth_id,
                },
            )
        )
        hold = uow.holds.get(hold_id)
        uow.commit()
    assert hold is not None
    return hold


def release_hold(*, uow: UnitOfWork, hold_id: int, actor: Actor, now: datetime) -> Hold:
    """Release an active hold: its reads fall under the normal retention again."""
    with uow:
        if not uow.holds.release(hold_id, by=actor.username, at=now):
            raise HoldNotFound(f"no active hold {hold_id}")
        hold = uow.holds.get(hold_id)
        assert hold is not None
        uow.audit.append(
            AuditEntry(
                at=now,
                actor=actor,
                action="hold.release",
                target=f"hold:{hold_id}",
                case_ref=hold.case_ref,
            )
        )
        uow.commit()
    return hold


def list_holds(
    *,
    uow: UnitOfWork,
    actor: Actor,
    now: datetime,
    include_released: bool = False,
    read_uow: UnitOfWork | None = None,
) -> list[Hold]:
    """The holds (active only by default). Audited: they name plates under investigation.

    With `read_uow` they are read from a snapshot and only the audit append writes."""
    return read_then_record(
        uow=uow,
        read_uow=read_uow,
        read=lambda u: u.holds.find(include_released=include_released),
        entry_for=lambda holds: AuditEntry(
            at=now,
            actor=actor,
            action="hold.list",
            target="holds",
            params={"include_released": include_released},
            result_count=len(holds),
        ),
    )


@dataclass(frozen=True)
class ImageSweepReport:
    checked: int
    deleted: int
    dry_run: bool
    temporary_removed: int = 0  # half-written files of killed writes

    def as_dict(self) -> dict[str, Any]:
        return {
            "checked": self.checked,
            "deleted": self.deleted,
            "dry_run": self.dry_run,
            "temporary_removed": self.temporary_removed,
        }


def sweep_orphan_images(
    *,
    uow_factory: Callable[[], UnitOfWork],
    read_uow_factory: Callable[[], UnitOfWork],
    images: ImageStore,
    now: datetime,
    min_age: timedelta,
    actor: Actor,
    dry_run: bool = False,
    should_stop: Callable[[], bool] | None = None,
    batch: int = 1000,
) -> ImageSweepReport:
    """Delete image files older than `min_age` that no read refers to, and temporary files
    of writes older than `min_age` that never completed (a killed process leaves them:
    no write takes anywhere near that long); audited once."""
    cutoff = (now - min_age).timestamp()
    checked = deleted = 0
    pending: list[str] = []

    def flush() -> int:
        with read_uow_factory() as uow:
            orphans = uow.reads.unreferenced(pending)
        if not dry_run:
            images.delete_many(sorted(orphans))
        return len(orphans)

    for sha256 in images.stored_before(cutoff):
        pending.append(sha256)
        checked += 1
        if len(pending) >= batch:
            deleted += flush()
            pending.clear()
            if should_stop is not None and should_stop():
                break
    if pending:
        deleted += flush()
    temporary = images.remove_temporaries_before(cutoff, dry_run=dry_run)
    with uow_factory() as uow:
        uow.audit.append(
            AuditEntry(
                at=now,
                actor=actor,
                action="images.sweep_dry_run" if dry_run else "images.sweep",
                params={
                    "checked": checked,
                    "min_age_s": int(min_age.total_seconds()),
                    "temporary_removed": temporary,
                },
                result_count=deleted,
            )
        )
        uow.commit()
    return ImageSweepReport(
        checked=checked, deleted=deleted, dry_run=dry_run, temporary_removed=temporary
    )
