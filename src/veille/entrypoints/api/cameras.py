"""Camera registry routes: list, show, create, import (CSV/GeoJSON/records), retire, token."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from veille.adapters.camera_import import ImportFormatError, decode, decode_records
from veille.domain.access import Permission, Principal
from veille.domain.cameras import CameraInvalid, Phase, camera_to_json
from veille.entrypoints.api.errors import refused_with_report
from veille.entrypoints.api.schemas.cameras import (
    CameraImportReport,
    CameraPage,
    CameraRead,
    CameraTokenRead,
)
from veille.entrypoints.api.schemas.common import Cursor, decode_cursor, errors, split_page
from veille.entrypoints.api.security import actor_of, error, json_response, platform_of, requires
from veille.service import cameras as camera_service

router = APIRouter(prefix="/api/v1/cameras", tags=["cameras"])


@router.get("", summary="List cameras", responses={200: {"model": CameraPage}})
def list_cameras(
    request: Request,
    zone: str | None = None,
    phase: Phase | None = None,
    cursor: Cursor = None,
    limit: int | None = Query(
        None, ge=1, le=10_000, description="Cameras per page; without it, every camera."
    ),
    _: Any = Depends(requires(Permission.CAMERAS_READ)),
) -> Response:
    """Registered cameras in id order, optionally of one police zone or phase, a page at
    a time when `limit` is given (`next_cursor`)."""
    platform = platform_of(request)
    cams, next_cursor = split_page(
        camera_service.page_cameras(
            uow=platform.read_uow(),
            zone=zone,
            phase=phase.value if phase else None,
            after=decode_cursor(cursor, str),
            limit=None if limit is None else limit + 1,
        ),
        limit,
        key=lambda c: c.camera_id,
    )
    return json_response(
        {
            "cameras": [camera_to_json(c) for c in cams],
            "count": len(cams),
            "next_cursor": next_cursor,
        }
    )


@router.get(
    "/{camera_id}", summary="Show one camera", response_model=CameraRead, responses=errors(404)
)
def show_camera(
    camera_id: str, request: Request, _: Any = Depends(requires(Permission.CAMERAS_READ))
) -> dict[str, Any]:
    try:
        cam = camera_service.get_camera(uow=platform_of(request).read_uow(), camera_id=camera_id)
    except camera_service.CameraNotFound:
        raise error(404, "not_found", f"no camera {camera_id}") from None
    return camera_to_json(cam)


async def _json_body(request: Request) -> Any:
    try:
        return orjson.loads(await request.body())
    except orjson.JSONDecodeError as exc:
        raise error(400, "malformed_json", f"body is not valid JSON: {exc}") from None


def _run_import(
    request: Request,
    records: list[tuple[str, dict[str, Any]]],
    issue_tokens: str,
    principal: Principal,
) -> Response:
    platform = platform_of(request)
    report = camera_service.import_cameras(
        uow=platform.uow(),
        records=records,
        now=platform.clock(),
        issue_tokens=issue_tokens,
        actor=actor_of(request, principal),
        protocols=platform.decoders.protocols,
    )
    platform.camera_cache.clear()
    if not report.applied:
        return refused_with_report(
            422, "import_refused", "nothing was applied: fix every problem", report.as_dict()
        )
    return json_response(report.as_dict())


@router.post(
    "", summary="Register one camera", response_model=CameraImportReport, responses=errors(400, 422)
)
async def create_camera(
    request: Request, principal: Principal = Depends(requires(Permission.CAMERAS_MANAGE))
) -> Response:
    """Register (or update) one camera; a new camera's ingest token is in `tokens`, once."""
    body = await _json_body(request)
    if not isinstance(body, dict):
        raise error(400, "bad_shape", "body must be one camera object")
    return await run_in_threadpool(_run_import, request, [("body", body)], "new", principal)


@router.post(
    "/import",
    summary="Import cameras from CSV, GeoJSON or JSON records",
    response_model=CameraImportReport,
    responses=errors(400, 422),
)
async def import_cameras(
    request: Request,
    issue_tokens: str = Query("new", pattern="^(new|all|none)$"),
    principal: Principal = Depends(requires(Permission.CAMERAS_MANAGE)),
) -> Response:
    """Create or update many cameras at once, all or nothing.

    Send `text/csv`, `application/geo+json`, or JSON `{"format": "records", "cameras": [...]}`.
    A file with any bad record applies nothing and answers 422 with every problem.
    """
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if ctype in ("text/csv", "application/csv"):
            records = decode((await request.body()).decode("utf-8"), "csv")
        elif ctype == "application/geo+json":
            records = decode((await request.body()).decode("utf-8"), "geojson")
        else:
            body = await _json_body(request)
            if isinstance(body, dict) and body.get("type") == "FeatureCollection":
                records = decode(orjson.dumps(body).decode(), "geojson")
            elif isinstance(body, dict) and isinstance(body.get("cameras"), list):
                records = decode_records(body["cameras"])
            else:
                raise error(400, "bad_shape", 'send CSV, GeoJSON or {"cameras": [...]}')
    except ImportFormatError as exc:
        raise error(422, "bad_import_file", str(exc), where=exc.where) from None
    except UnicodeDecodeError:
        raise error(400, "bad_encoding", "import files must be UTF-8") from None
    return await run_in_threadpool(_run_import, request, records, issue_tokens, principal)


def _change(
    request: Request, principal: Principal, camera_id: str, use_case: Any, **params: Any
) -> Any:
    """Run one camera change as the caller; unknown camera → 404, refused change → 409.
    Verified credentials are forgotten at once, so the change applies to the next read."""
    platform = platform_of(request)
    try:
        result = use_case(
            uow=platform.uow(),
            camera_id=camera_id,
            now=platform.clock(),
            actor=actor_of(request, principal),
            **params,
        )
    except camera_service.CameraNotFound:
        raise error(404, "not_found", f"no camera {camera_id}") from None
    except CameraInvalid as exc:
        raise error(409, "conflict", exc.reason) from None
    platform.camera_cache.clear()
    return result


@router.post(
    "/{camera_id}/retire",
    summary="Retire a camera",
    response_model=CameraRead,
    responses=errors(404, 409),
)
def retire_camera(
    camera_id: str,
    request: Request,
    principal: Principal = Depends(requires(Permission.CAMERAS_MANAGE)),
) -> dict[str, Any]:
    """The camera keeps its history, its credential is revoked and it can post no more."""
    cam = _change(request, principal, camera_id, camera_service.retire_camera)
    return camera_to_json(cam)


@router.post(
    "/{camera_id}/phase/{phase}",
    summary="Move a camera to another phase",
    response_model=CameraRead,
    responses=errors(404, 409),
)
def change_phase(
    camera_id: str,
    phase: Phase,
    request: Request,
    principal: Principal = Depends(requires(Permission.CAMERAS_MANAGE)),
) -> dict[str, Any]:
    cam = _change(request, principal, camera_id, camera_service.set_phase, phase=phase)
    return camera_to_json(cam)


@router.post(
    "/{camera_id}/token",
    summary="Issue a new ingest token",
    response_model=CameraTokenRead,
    responses=errors(404, 409),
)
def rotate_token(
    camera_id: str,
    request: Request,
    principal: Principal = Depends(requires(Permission.CAMERAS_MANAGE)),
) -> dict[str, Any]:
    """A fresh ingest token for the camera, shown once; the previous one stops working."""
    token = _change(request, principal, camera_id, camera_service.rotate_token)
    return {"camera_id": camera_id, "token": token}
