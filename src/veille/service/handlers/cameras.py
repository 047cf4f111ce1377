"""Handlers of the cameras area's commands and queries (`service/commands/cameras.py`).

Cameras pass through whole (`Camera` as the repository answers it), so a field added to
the registry reaches every caller without a change here. Each change to a camera's phase
or credentials clears the platform's cache of verified camera tokens once committed.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

from veille.domain.cameras import Camera
from veille.service import cameras as camera_service
from veille.service.commands.cameras import (
    CameraById,
    CamerasPage,
    ChangeCameraPhase,
    ImportCameras,
    ReissueCameraToken,
    RetireCamera,
)
from veille.service.errors import Invalid, Problem
from veille.service.handlers.deps import Dependencies
from veille.service.messagebus import MessageBus, Raised

T = TypeVar("T")


def import_cameras(
    cmd: ImportCameras, raised: Raised, *, deps: Dependencies
) -> camera_service.ImportReport:
    report = camera_service.import_cameras(
        uow=deps.uow(),
        records=cmd.records,
        now=deps.clock(),
        actor=cmd.actor,
        issue_tokens=cmd.issue_tokens,
        protocols=deps.decoders().protocols,
    )
    deps.camera_cache().clear()  # phases and tokens changed: the next read sees them
    return report


def cameras_page(cmd: CamerasPage, raised: Raised, *, deps: Dependencies) -> list[Camera]:
    return camera_service.page_cameras(
        uow=deps.read_uow(),
        zone=cmd.zone,
        phase=cmd.phase.value if cmd.phase else None,
        after=cmd.after,
        limit=cmd.limit,
    )


def camera_by_id(cmd: CameraById, raised: Raised, *, deps: Dependencies) -> Camera:
    return camera_service.get_camera(uow=deps.read_uow(), camera_id=cmd.camera_id)


def change_phase(cmd: ChangeCameraPhase, raised: Raised, *, deps: Dependencies) -> Camera:
    return _changing_credentials(
        deps, camera_service.set_phase, camera_id=cmd.camera_id, phase=cmd.phase, actor=cmd.actor
    )


def retire_camera(cmd: RetireCamera, raised: Raised, *, deps: Dependencies) -> Camera:
    return _changing_credentials(
        deps, camera_service.retire_camera, camera_id=cmd.camera_id, actor=cmd.actor
    )


def reissue_token(cmd: ReissueCameraToken, raised: Raised, *, deps: Dependencies) -> str:
    if not cmd.camera_id.strip():  # never "every camera" by an empty name
        raise Invalid("name the camera", problems=[Problem("camera_id", "is required")])
    return _changing_credentials(
        deps, camera_service.rotate_token, camera_id=cmd.camera_id, actor=cmd.actor
    )


def _changing_credentials(deps: Dependencies, use_case: Callable[..., T], **params: Any) -> T:
    """Run a change of one camera; verified tokens are forgotten once it is committed."""
    result = use_case(uow=deps.uow(), now=deps.clock(), **params)
    deps.camera_cache().clear()
    return result


def register(bus: MessageBus, deps: Dependencies) -> None:
    """Register every handler of this area on `bus`, with `deps` bound."""
    for message, handler in (
        (ImportCameras, import_cameras),
        (CamerasPage, cameras_page),
        (CameraById, camera_by_id),
        (ChangeCameraPhase, change_phase),
        (RetireCamera, retire_camera),
        (ReissueCameraToken, reissue_token),
    ):
        bus.register(message, partial(handler, deps=deps))
