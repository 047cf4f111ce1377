"""At server start: checkpoint, then verify the audit chain, and warn loudly if it fails.

It runs in a thread of its own so that a long log does not delay the first request; the
warning goes to standard error (the operator's terminal, or server.log under `make run`).
"""

from __future__ import annotations

import logging
import sys
import threading
from typing import TYPE_CHECKING, TextIO

from veille.adapters.keys import PublicKeyError
from veille.service import audit as audit_service
from veille.service.commands.audit import CheckpointAuditHead, VerifyAuditLog

if TYPE_CHECKING:
    from veille.bootstrap import Platform

log = logging.getLogger(__name__)


def check_audit_log(
    platform: Platform, *, out: TextIO | None = None
) -> audit_service.VerifyReport | None:
    """Cover what was written while the server was down, verify, print a warning on failure."""
    out = out or sys.stderr
    try:
        platform.bus.handle(CheckpointAuditHead())
        report: audit_service.VerifyReport = platform.bus.handle(VerifyAuditLog())
    except PublicKeyError as exc:
        out.write(f"WARNING: the audit log cannot be verified: {exc}\n")
        return None
    if report.ok:
        log.info("audit log intact: %s records", report.records)
        return report
    lines = [f"  {p}" for p in report.problems[:20]]
    more = len(report.problems) - len(lines)
    if more > 0:
        lines.append(f"  … and {more} more")
    text = (
        f"WARNING: the audit log FAILS verification ({len(report.problems)} problems in"
        f" {report.records} records; run `veille audit verify` for the full report):\n"
        + "\n".join(lines)
        + "\n"
    )
    out.write(text)
    out.flush()
    log.warning("audit log fails verification: %s problems", len(report.problems))
    return report


def _check_quietly(platform: Platform) -> None:
    try:
        check_audit_log(platform)
    except Exception:  # the server may be stopping under it; never crash a daemon thread
        log.exception("the start-up audit check failed")


def start_audit_check(platform: Platform) -> threading.Thread:
    thread = threading.Thread(
        target=_check_quietly, args=(platform,), name="veille-audit-check", daemon=True
    )
    thread.start()
    return thread
