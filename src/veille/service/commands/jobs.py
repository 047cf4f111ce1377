"""Commands and queries of the jobs area (handlers: `service/handlers/jobs.py`).

Each scheduled job is a command (`service/jobs.py` names them in its schedule table):
`dry_run` reports what it would do and changes nothing but its audit record;
`should_stop` is polled between batches, so a stopping server ends a job early (and the
job audits itself as interrupted). Case holds, which the retention job weighs, are here too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from veille.domain.audit import Actor
from veille.service.commands import Command, Query


@dataclass(frozen=True)
class PurgeExpiredReads(Command):
    """The retention job: delete reads and images past the maximum retention unless a
    case holds them, in short batches."""

    dry_run: bool = False
    should_stop: Callable[[], bool] | None = field(default=None, compare=False)


@dataclass(frozen=True)
class SweepClones(Command):
    """The clone sweep: record plates seen too far apart too fast (last 2 h, within the
    open window)."""

    dry_run: bool = False
    should_stop: Callable[[], bool] | None = field(default=None, compare=False)


@dataclass(frozen=True)
class SweepOrphanImages(Command):
    """Delete image files no read refers to, and temporary files of killed writes."""

    dry_run: bool = False
    should_stop: Callable[[], bool] | None = field(default=None, compare=False)


@dataclass(frozen=True)
class PlaceHold(Command):
    """Keep the reads of these plates and/or cameras in [start, end) past the maximum
    retention, for a case."""

    case_ref: str
    start: datetime
    end: datetime
    actor: Actor
    plates: Sequence[str] = ()
    camera_ids: Sequence[str] = ()


@dataclass(frozen=True)
class ReleaseHold(Command):
    """Release an active hold: its reads fall under the normal retention again."""

    hold_id: int
    actor: Actor


@dataclass(frozen=True)
class CaseHolds(Query):
    """The case holds (active only, unless `include_released`); audited, as they name
    plates under investigation."""

    actor: Actor
    include_released: bool = False
