"""Handlers of the audit area's commands and queries (`service/commands/audit.py`)."""

from __future__ import annotations

from dataclasses import asdict
from functools import partial

from veille.domain.audit import AuditRecord
from veille.domain.checkpoints import Checkpoint
from veille.service import audit as audit_service
from veille.service.audit_checkpoints import anchor
from veille.service.commands.audit import (
    AnchorAuditHead,
    AuditRecordsPage,
    CheckpointAuditHead,
    ExportAuditLog,
    RecordAuditVerification,
    VerifyAuditLog,
)
from veille.service.handlers.deps import Dependencies
from veille.service.messagebus import MessageBus, Raised


def audit_records_page(
    query: AuditRecordsPage, raised: Raised, *, deps: Dependencies
) -> tuple[list[AuditRecord], int | None]:
    """Read from a snapshot, append the `audit.search` record, then answer."""
    return audit_service.search_page(
        uow=deps.uow(),
        read_uow=deps.read_uow(),
        actor=query.actor,
        now=deps.clock(),
        limit=query.limit,
        after_seq=query.after_seq,
        **asdict(query.filters),  # since, until, username, action, case_ref
    )


def export_audit_log(query: ExportAuditLog, raised: Raised, *, deps: Dependencies) -> str:
    """Read from a snapshot, append the `audit.export` record, then answer the text."""
    return audit_service.export(
        uow=deps.uow(),
        read_uow=deps.read_uow(),
        actor=query.actor,
        now=deps.clock(),
        fmt=query.fmt,
        **asdict(query.filters),
    )


def verify_audit_log(
    query: VerifyAuditLog, raised: Raised, *, deps: Dependencies
) -> audit_service.VerifyReport:
    """Writes nothing. No public key is `Busy` (`no_public_key`): nothing can be checked
    until one is installed."""
    verifier = deps.verifier(query.public_key)
    return audit_service.verify(
        read_uow=deps.read_uow(),
        anchors=deps.anchors(query.anchor_dir),
        verifier=verifier,
        now=deps.clock(),
        max_wait=deps.settings().checkpoint_max_wait(),
    )


def record_audit_verification(
    cmd: RecordAuditVerification, raised: Raised, *, deps: Dependencies
) -> AuditRecord:
    recorded = audit_service.record_verification(
        uow=deps.uow(), actor=cmd.actor, now=deps.clock(), report=cmd.report
    )
    if cmd.vouch:
        deps.checkpoints().write(force=True)
    return recorded


def checkpoint_audit_head(
    cmd: CheckpointAuditHead, raised: Raised, *, deps: Dependencies
) -> Checkpoint | None:
    return deps.checkpoints().write(force=True)


def anchor_audit_head(
    cmd: AnchorAuditHead, raised: Raised, *, deps: Dependencies
) -> Checkpoint | None:
    """A head the writer will not vouch for is a `Conflict` (`checkpoint_refused`)."""
    if cmd.dry_run:
        return None
    return anchor(
        writer=deps.checkpoints(), uow_factory=deps.uow, now=deps.clock(), actor=cmd.actor
    )


def register(bus: MessageBus, deps: Dependencies) -> None:
    """Register every handler of this area on `bus`, with `deps` bound."""
    for message, handler in (
        (AuditRecordsPage, audit_records_page),
        (ExportAuditLog, export_audit_log),
        (VerifyAuditLog, verify_audit_log),
        (RecordAuditVerification, record_audit_verification),
        (CheckpointAuditHead, checkpoint_audit_head),
        (AnchorAuditHead, anchor_audit_head),
    ):
        bus.register(message, partial(handler, deps=deps))
