"""Search routes: every one goes through the query service (purpose, case, scope, audit)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field, field_validator
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from veille.domain.access import Permission, Principal
from veille.entrypoints.api.schemas.search import CameraSearchRead, PlateSearchRead
from veille.entrypoints.api.security import client_ip, error, json_response, platform_of, requires
from veille.service import analyses, queries

router = APIRouter(prefix="/api/v1/search", tags=["search"])
T = TypeVar("T")


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


def _limit_field() -> Any:
    return Field(
        queries.SEARCH_LIMIT,
        ge=1,
        le=queries.SEARCH_LIMIT,
        description="Passages at most (`truncated: true` when there were more).",
    )


class PlateSearch(Lawful):
    plate: str = Field(min_length=1, max_length=32)
    lookalike: bool = Field(False, description="Also every look-alike of the plate.")
    limit: int = _limit_field()


class CameraSearch(Lawful):
    camera_id: str = Field(min_length=1, max_length=64)
    limit: int = _limit_field()


async def run_lawful(
    request: Request,
    principal: Principal,
    body: Lawful,
    *,
    action: str,
    params: dict[str, Any],
    execute: Callable[[queries.ReadAccess], tuple[T, int]],
) -> T:
    """Run one analysis through the query service; refusals become 403 / 422."""
    platform = platform_of(request)
    ctx = queries.QueryContext(
        principal=principal,
        purpose=body.purpose,
        case_ref=body.case_ref,
        ip=client_ip(request),
        user_agent=request.headers.get("user-agent"),
    )
    if body.end <= body.start:
        raise error(422, "bad_period", "end must be after start")
    try:
        return await run_in_threadpool(
            queries.run_query,
            uow_factory=platform.uow,
            read_uow_factory=platform.read_uow,
            ctx=ctx,
            now=platform.clock(),
            policy=platform.legal_policy(),
            action=action,
            params={**params, "start": body.start.isoformat(), "end": body.end.isoformat()},
            execute=execute,
            cameras=platform.cameras,
        )
    except queries.QueryRefused as exc:
        request.state.refusal_audited = True  # the query service recorded it already
        status = 403 if exc.code == "forbidden" else 422
        raise error(status, exc.code, str(exc)) from None
    except analyses.AnalysisError as exc:  # the service checked the parameters, once
        extra = {"problems": [p.as_dict() for p in exc.problems]} if exc.problems else {}
        raise error(422, exc.code, str(exc), **extra) from None


@router.post(
    "/plate",
    summary="Alias of POST /api/v1/analyses/plate (modes exact and look-alike)",
    responses={200: {"model": PlateSearchRead}},
)
async def search_plate(
    body: PlateSearch,
    request: Request,
    principal: Principal = Depends(requires(Permission.READS_SEARCH)),
) -> Response:
    """The plate search of `POST /api/v1/analyses/plate`, kept for the clients of this
    route: `lookalike: true` is `mode: lookalike`, else `mode: exact`; the answer is the
    analysis result with `plate` (the normalised plate) and no export. Audited as
    `reads.search.plate`. Requires a purpose and a case reference; returns only what the
    caller may see: the open window in their scope, plus what their authorizations open."""
    mode = "lookalike" if body.lookalike else "exact"
    lookalikes = platform_of(request).read_rules.lookalikes
    found = await run_lawful(
        request,
        principal,
        body,
        action="reads.search.plate",
        params={"plate": body.plate, "lookalike": body.lookalike},
        execute=lambda access: analyses.plate_search(
            access,
            plate=body.plate,
            mode=mode,
            start=body.start,
            end=body.end,
            limit=body.limit,
            lookalikes=lookalikes,
        ),
    )
    return json_response({"plate": found["query"], **found})


@router.post(
    "/camera",
    summary="Passages at a camera in a period",
    responses={200: {"model": CameraSearchRead}},
)
async def search_camera(
    body: CameraSearch,
    request: Request,
    principal: Principal = Depends(requires(Permission.READS_SEARCH)),
) -> Response:
    found = await run_lawful(
        request,
        principal,
        body,
        action="reads.search.camera",
        params={"camera_id": body.camera_id},
        execute=lambda access: queries.camera_history(
            access=access,
            camera_id=body.camera_id,
            start=body.start,
            end=body.end,
            limit=body.limit,
        ),
    )
    return json_response({"camera_id": body.camera_id, "count": len(found["passages"]), **found})
