"""Commands and queries of the audit area (handlers: `service/handlers/audit.py`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from veille.domain.audit import Actor, system_actor
from veille.service.audit import ExportFormat, VerifyReport
from veille.service.commands import Command, Query


@dataclass(frozen=True)
class AuditFilters:
    """Which records a search or an export of the log covers (every given one must hold).

    The fields are named as the audit service's keyword arguments, which take them as given."""

    since: datetime | None = None
    until: datetime | None = None  # excluded
    username: str | None = None
    action: str | None = None
    case_ref: str | None = None


@dataclass(frozen=True)
class AuditRecordsPage(Query):
    """Up to `limit` matching records after record `after_seq`, oldest first, and the seq
    to continue after (None on the last page). The search is audited before it answers."""

    actor: Actor
    filters: AuditFilters = AuditFilters()
    limit: int = 100
    after_seq: int | None = None


@dataclass(frozen=True)
class ExportAuditLog(Query):
    """Every matching record with every field, as CSV or JSON text; audited before it
    answers."""

    actor: Actor
    fmt: ExportFormat
    filters: AuditFilters = AuditFilters()


@dataclass(frozen=True)
class VerifyAuditLog(Query):
    """Check the chain against the signed checkpoints with the public key alone.

    Writes nothing: the caller answers first, then may record the check
    (`RecordAuditVerification`). `anchor_dir` and `public_key` replace the settings' own
    (a copy of the log checked elsewhere)."""

    anchor_dir: Path | None = None
    public_key: Path | None = None


@dataclass(frozen=True)
class RecordAuditVerification(Command):
    """Append the `audit.verify` record of a verification already answered; with `vouch`,
    sign a checkpoint covering that record at once (no server may be running to do it)."""

    report: VerifyReport
    actor: Actor
    vouch: bool = False


@dataclass(frozen=True)
class CheckpointAuditHead(Command):
    """Sign a checkpoint of the chain head now, unless one already covers it; answers the
    checkpoint (or a signed refusal) written, if any."""


@dataclass(frozen=True)
class AnchorAuditHead(Command):
    """Checkpoint the head, note that checkpoint in the log, checkpoint the note: the note
    lets verify tell a lost anchor store from a young one. The `audit-anchor` job; a dry
    run does nothing and answers None."""

    actor: Actor = field(default_factory=lambda: system_actor("job:audit-anchor"))
    dry_run: bool = False
    should_stop: Callable[[], bool] | None = field(default=None, compare=False)
