"""System routes: health, ingest statistics, the OpenAPI document."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from veille.domain.access import Permission
from veille.entrypoints.api.schemas.common import errors
from veille.entrypoints.api.schemas.system import HealthRead, IngestStatsRead, OpenApiDocument
from veille.entrypoints.api.security import json_response, platform_of, public, requires

router = APIRouter(tags=["system"])


@router.get(
    "/health",
    summary="Liveness: is the server up and its writer making progress",
    response_model=HealthRead,
    responses=errors(503),
)
def health(request: Request, _: Any = Depends(public())) -> Response:
    """Says only whether the process and its writer run; no data, so open to all.

    Answers 503 `stuck` when the ingest writer's thread has died, or when work has waited
    for it longer than `VEILLE_WRITER_STUCK_S` without a commit: every camera waits then.
    """
    platform = platform_of(request)
    if not platform.started:
        return json_response({"status": "starting"})
    writer = platform.writer.health()
    status = "stuck" if writer.stuck else "ok"
    return json_response(
        {"status": status, "writer": writer.as_dict()}, status=503 if writer.stuck else 200
    )


@router.get(
    "/api/v1/ingest/stats",
    summary="Ingest counters and the writer's load",
    response_model=IngestStatsRead,
)
def ingest_stats(
    request: Request, _: Any = Depends(requires(Permission.INGEST_MONITOR))
) -> dict[str, Any]:
    platform = platform_of(request)
    writer = platform.writer
    return {
        **writer.counters.as_dict(),
        "writer_queued_reads": writer.queued_rows,
        **platform.alert_bus.stats(),
    }


@router.get(
    "/api/v1/openapi.json",
    summary="The OpenAPI document of this API",
    response_model=OpenApiDocument,
)
def openapi(request: Request, _: Any = Depends(requires(Permission.SELF))) -> Response:
    return json_response(request.app.openapi())
