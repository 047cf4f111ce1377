"""Audit log routes for the data-protection officer: search, export, verify."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from veille.domain.access import Permission, Principal
from veille.domain.audit import Actor
from veille.entrypoints.api.schemas.audit import AuditRecordList, AuditVerifyReport
from veille.entrypoints.api.schemas.common import (
    NEXT_CURSOR_HEADER,
    Cursor,
    decode_cursor,
    encode_cursor,
    errors,
)
from veille.entrypoints.api.security import json_response, platform_of, requires
from veille.service import audit as audit_service
from veille.service.commands.audit import (
    AuditFilters,
    AuditRecordsPage,
    ExportAuditLog,
    RecordAuditVerification,
    VerifyAuditLog,
)

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


def _actor(principal: Principal, request: Request) -> Actor:
    return Actor(
        username=principal.username,
        role=principal.role.value,
        user_id=principal.user_id,
        org_id=principal.org_id,
        ip=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent"),
    )


def audit_filters(
    since: datetime | None = Query(None, description="From this time (ISO 8601)."),
    until: datetime | None = Query(None, description="Before this time (ISO 8601)."),
    user: str | None = Query(None, description="Only this username."),
    action: str | None = Query(None, description="Only this action, e.g. reads.search."),
    case: str | None = Query(None, description="Only this case reference."),
) -> AuditFilters:
    """The filters a search and an export of the log share, from the query string."""
    return AuditFilters(since=since, until=until, username=user, action=action, case_ref=case)


@router.get(
    "/records",
    summary="Search the audit log",
    responses={
        200: {
            "model": AuditRecordList,
            "description": "Matching records, oldest first",
            "headers": {
                NEXT_CURSOR_HEADER: {
                    "description": "The `cursor` of the next page; absent on the last page.",
                    "schema": {"type": "string"},
                }
            },
        }
    },
)
def records(
    request: Request,
    filters: AuditFilters = Depends(audit_filters),
    limit: int = Query(100, ge=1, le=10_000),
    cursor: Cursor = None,
    principal: Principal = Depends(requires(Permission.AUDIT_READ)),
) -> Response:
    """Matching records, oldest first, every field; the search is itself audited.

    At most `limit` records; when more match, the `X-Next-Cursor` header holds the
    `cursor` of the next page (the body stays a plain list)."""
    found, last = platform_of(request).bus.handle(
        AuditRecordsPage(
            actor=_actor(principal, request),
            filters=filters,
            limit=limit,
            after_seq=decode_cursor(cursor, int),
        )
    )
    return json_response(
        [audit_service.record_to_json(r) for r in found],
        headers=None if last is None else {NEXT_CURSOR_HEADER: encode_cursor(last)},
    )


@router.get(
    "/export",
    summary="Export the audit log as CSV or JSON",
    responses={
        200: {
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                "application/json": {"schema": AuditRecordList.model_json_schema()},
            },
            "description": "The records as a download",
        }
    },
)
def export(
    request: Request,
    fmt: str = Query("csv", alias="format", pattern="^(csv|json)$"),
    filters: AuditFilters = Depends(audit_filters),
    principal: Principal = Depends(requires(Permission.AUDIT_READ)),
) -> Response:
    """Every matching record with every field, as a download; the export is audited."""
    platform = platform_of(request)
    now = platform.clock()
    text: str = platform.bus.handle(
        ExportAuditLog(
            actor=_actor(principal, request),
            fmt="csv" if fmt == "csv" else "json",
            filters=filters,
        )
    )
    media = "text/csv; charset=utf-8" if fmt == "csv" else "application/json"
    name = f"veille-audit-{now:%Y%m%dT%H%M%SZ}.{fmt}"
    return Response(
        content=text.encode("utf-8"),
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get(
    "/verify",
    summary="Verify the audit log against its signed checkpoints",
    response_model=AuditVerifyReport,
    responses=errors(503),
)
def verify(
    request: Request,
    principal: Principal = Depends(requires(Permission.AUDIT_READ)),
) -> dict[str, Any]:
    """Check every record and the signed checkpoints of the anchor store with the public key.

    `ok` is false on any break, when the anchor store is missing or empty or lacks a
    checkpoint the log names, and when records have waited too long for a checkpoint;
    `uncovered` counts the records no checkpoint vouches for yet. The check is recorded
    after it was made, so the report describes the log without its own record. Without
    the public key, 503 `no_public_key`.
    """
    bus = platform_of(request).bus
    report: audit_service.VerifyReport = bus.handle(VerifyAuditLog())
    bus.handle(RecordAuditVerification(report=report, actor=_actor(principal, request)))
    return report.as_dict()
