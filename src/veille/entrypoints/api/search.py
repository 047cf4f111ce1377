"""Search routes: each builds a query for the bus, which runs it through the query service
(purpose, case, scope, window, audit)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field, field_validator
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from veille.domain.access import Permission, Principal
from veille.entrypoints.api.admission import AnalysisGate
from veille.entrypoints.api.schemas.search import CameraSearchRead, PlateSearchRead
from veille.entrypoints.api.security import client_ip, json_response, platform_of, requires
from veille.service.analyses import MAX_PLATE_LIMIT
from veille.service.commands import Query
from veille.service.commands.investigation import CameraPassages, PlateSearch
from veille.service.queries import SEARCH_LIMIT, QueryContext

router = APIRouter(prefix="/api/v1/search", tags=["search"])


class Lawful(BaseModel):
    """What every search must say: why (purpose) and for which case."""

    purpose: str | None = Field(None, description="One of the configured purposes.")
    case_ref: str | None = Field(None, description="The case or notice reference.")
    start: datetime
    end: datetime

    @field_validator("start", "end")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("needs a time zone (Z or an offset)")
        return value


def _limit_field(maximum: int) -> Any:
    return Field(
        SEARCH_LIMIT,
        description=f"Passages at most, 1–{maximum} (`truncated: true` when there were more).",
    )


class PlateSearchIn(Lawful):
    plate: str = Field(max_length=32)
    lookalike: bool = Field(False, description="Also every look-alike of the plate.")
    limit: int = _limit_field(MAX_PLATE_LIMIT)


class CameraSearchIn(Lawful):
    camera_id: str = Field(min_length=1, max_length=64)
    limit: int = _limit_field(SEARCH_LIMIT)


def lawful(request: Request, principal: Principal, body: Lawful) -> dict[str, Any]:
    """The fields every search and analysis query carries: who asks, why, from where,
    and the period (the query service checks the purpose, the case and the period)."""
    ctx = QueryContext(
        principal=principal,
        purpose=body.purpose,
        case_ref=body.case_ref,
        ip=client_ip(request),
        user_agent=request.headers.get("user-agent"),
    )
    return {"ctx": ctx, "start": body.start, "end": body.end}


async def ask(request: Request, query: Query) -> Any:
    """Hand a query to the bus on a worker thread, once the admission gate lets it in
    (`admission.py`): the handler reads from a snapshot and appends its audit record
    before it answers; refusals reach `api/errors.py`."""
    gate: AnalysisGate = request.app.state.analysis_gate
    async with gate.turn():
        return await run_in_threadpool(platform_of(request).bus.handle, query)


@router.post(
    "/plate",
    summary="Alias of POST /api/v1/analyses/plate (modes exact and look-alike)",
    responses={200: {"model": PlateSearchRead}},
)
async def search_plate(
    body: PlateSearchIn,
    request: Request,
    principal: Principal = Depends(requires(Permission.READS_SEARCH)),
) -> Response:
    """The plate search of `POST /api/v1/analyses/plate`, kept for the clients of this
    route: `lookalike: true` is `mode: lookalike`, else `mode: exact`; the answer is the
    analysis result with `plate` (the normalised plate) and no export. Audited as
    `reads.search.plate`. Requires a purpose and a case reference; returns only what the
    caller may see: the open window in their scope, plus what their authorizations open."""
    found = await ask(
        request,
        PlateSearch(
            **lawful(request, principal, body),
            plate=body.plate,
            mode="lookalike" if body.lookalike else "exact",
            limit=body.limit,
        ),
    )
    return json_response({"plate": found.result["query"], **found.result})


@router.post(
    "/camera",
    summary="Passages at a camera in a period",
    responses={200: {"model": CameraSearchRead}},
)
async def search_camera(
    body: CameraSearchIn,
    request: Request,
    principal: Principal = Depends(requires(Permission.READS_SEARCH)),
) -> Response:
    found = await ask(
        request,
        CameraPassages(
            **lawful(request, principal, body), camera_id=body.camera_id, limit=body.limit
        ),
    )
    passages = found.result["passages"]
    return json_response({"camera_id": body.camera_id, "count": len(passages), **found.result})
