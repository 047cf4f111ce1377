"""Retention policy: which reads are past the legal maximum and not kept by a case hold."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from veille.domain.errors import Invalid

DEFAULT_MAX_AGE = timedelta(days=365)  # Belgian Police Function Act: 12 months from capture


class HoldInvalid(Invalid, ValueError):
    """A case hold that could not be placed as asked."""


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """How long reads are kept from capture (configuration, not a constant)."""

    max_age: timedelta = DEFAULT_MAX_AGE

    def cutoff(self, now: datetime) -> datetime:
        """Reads captured strictly before this moment are past the maximum retention."""
        return now - self.max_age


@dataclass(frozen=True, slots=True)
class Hold:
    """A case hold: keeps the reads of a period, of some plates and/or some cameras.

    An empty `plates` (or `camera_ids`) means "any plate" ("any camera"). The period is
    half-open: [period_start, period_end).
    """

    hold_id: int
    case_ref: str
    plates: frozenset[str]
    camera_ids: frozenset[str]
    period_start: datetime
    period_end: datetime
    auth_id: int | None = None
    created_by: str | None = None
    created_at: datetime | None = None
    released_at: datetime | None = None
    released_by: str | None = None

    @property
    def active(self) -> bool:
        return self.released_at is None

    def keeps(self, *, plate: str, camera_id: str, captured_at: datetime) -> bool:
        return (
            self.period_start <= captured_at < self.period_end
            and (not self.plates or plate in self.plates)
            and (not self.camera_ids or camera_id in self.camera_ids)
        )


def check_hold(
    *,
    case_ref: str,
    plates: Iterable[str],
    camera_ids: Iterable[str],
    start: datetime,
    end: datetime,
) -> None:
    """Refuse a hold without a case, with an empty period, or with no plate and no camera.

    A hold restricted by neither plate nor camera would keep every read of its period,
    which suspends the retention law wholesale: that is not a case hold.
    """
    if not case_ref.strip():
        raise HoldInvalid("a hold needs a case reference")
    if start.tzinfo is None or end.tzinfo is None:
        raise HoldInvalid("the period needs time zones")
    if end <= start:
        raise HoldInvalid("the period ends before it starts")
    if not list(plates) and not list(camera_ids):
        raise HoldInvalid("a hold names at least one plate or one camera")


def kept_by(
    *, plate: str, camera_id: str, captured_at: datetime, holds: Iterable[Hold]
) -> Hold | None:
    """The first active hold that keeps this read, if any."""
    for hold in holds:
        if hold.active and hold.keeps(plate=plate, camera_id=camera_id, captured_at=captured_at):
            return hold
    return None


def must_delete(
    *,
    captured_at: datetime,
    plate: str,
    camera_id: str,
    now: datetime,
    policy: RetentionPolicy,
    holds: Iterable[Hold],
) -> bool:
    """True when the read is older than the policy allows and no active hold keeps it."""
    return purgeable(
        captured_at=captured_at,
        plate=plate,
        camera_id=camera_id,
        cutoff=policy.cutoff(now),
        holds=holds,
    )


def purgeable(
    *,
    captured_at: datetime,
    plate: str,
    camera_id: str,
    cutoff: datetime,
    holds: Iterable[Hold],
) -> bool:
    """True when the read was captured before the cutoff and no active hold keeps it.

    `must_delete` with its cutoff worked out: the rule every store's purge applies
    (`ReadRepository.purge_before`), whether it evaluates it row by row or in SQL.
    """
    if captured_at >= cutoff:
        return False
    return kept_by(plate=plate, camera_id=camera_id, captured_at=captured_at, holds=holds) is None
