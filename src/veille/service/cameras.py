"""Camera registry use cases: import, list, show, retire, and per-camera ingest credentials."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from veille.domain.audit import Actor, AuditEntry
from veille.domain.cameras import (
    DEFAULT_PROTOCOL,
    Camera,
    CameraInvalid,
    Phase,
    camera_from_record,
)
from veille.service.errors import Conflict, Invalid, NotFound, Problem
from veille.service.ports import UnitOfWork

TOKEN_PREFIX = "vc_"


def new_camera_token() -> str:
    """A fresh ingest token: 256 random bits, shown once, stored only as its SHA-256."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    # Tokens are high-entropy random strings, so a fast hash is safe and keeps every
    # ingest request cheap; passwords, which are not, use argon2id.
    return hashlib.sha256(token.encode()).hexdigest()


class CameraNotFound(NotFound, LookupError):
    def __init__(self, camera_id: str) -> None:
        super().__init__(f"no camera {camera_id}")
        self.camera_id = camera_id


class CameraRetired(Conflict, ValueError):
    """The camera is retired: it stays so, and gets no credential."""


@dataclass(frozen=True)
class ImportProblem:
    where: str
    field: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"where": self.where, "field": self.field, "reason": self.reason}


@dataclass
class ImportReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    problems: list[ImportProblem] = field(default_factory=list)
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def applied(self) -> bool:
        return not self.problems

    def as_dict(self, *, with_tokens: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "applied": self.applied,
            "created": len(self.created),
            "updated": len(self.updated),
            "unchanged": len(self.unchanged),
            "problems": [p.as_dict() for p in self.problems],
        }
        if with_tokens:
            out["tokens"] = self.tokens
        return out


def _same_definition(a: Camera, b: Camera) -> bool:
    return replace(a, created_at=b.created_at, retired_at=b.retired_at) == b


def import_cameras(
    *,
    uow: UnitOfWork,
    records: Sequence[tuple[str, dict[str, Any]]],
    now: datetime,
    actor: Actor,
    issue_tokens: str = "new",
    protocols: Collection[str] = (DEFAULT_PROTOCOL,),
) -> ImportReport:
    """Create or update cameras from decoded records, all or nothing.

    Every record is validated first; if any is wrong nothing is applied and every
    problem is reported with where it is. A camera's protocol must be one of
    `protocols`, those the server has a decoder for (`CameraDecoders.protocols`).
    `issue_tokens`: "new" gives a token to created cameras only, "all" to every imported
    camera (revoking its previous token), "none".
    """
    if issue_tokens not in ("new", "all", "none"):
        raise Invalid(
            "issue_tokens must be new, all or none",
            problems=[Problem("issue_tokens", "must be new, all or none")],
        )
    report = ImportReport()
    cameras: list[Camera] = []
    seen: dict[str, str] = {}
    for where, record in records:
        try:
            camera = camera_from_record(record, now=now, protocols=protocols)
        except CameraInvalid as exc:
            report.problems.append(ImportProblem(where, exc.field, exc.reason))
            continue
        if camera.camera_id in seen:
            report.problems.append(
                ImportProblem(where, "camera_id", f"also at {seen[camera.camera_id]}")
            )
            continue
        seen[camera.camera_id] = where
        cameras.append(camera)
    if report.problems:
        return report
    with uow:
        for camera in cameras:
            existing = uow.cameras.get(camera.camera_id)
            if existing is None:
                uow.cameras.add(camera)
                report.created.append(camera.camera_id)
                if issue_tokens in ("new", "all") and camera.phase is not Phase.RETIRED:
                    report.tokens[camera.camera_id] = _issue(uow, camera.camera_id, now)
                continue
            if existing.phase is Phase.RETIRED and camera.phase is not Phase.RETIRED:
                report.problems.append(
                    ImportProblem(
                        seen[camera.camera_id],
                        "phase",
                        "a retired camera stays retired; register it under a new id",
                    )
                )
                continue
            kept = replace(
                camera,
                created_at=existing.created_at,
                retired_at=existing.retired_at if camera.phase is Phase.RETIRED else None,
            )
            if camera.phase is Phase.RETIRED and existing.phase is not Phase.RETIRED:
                kept = replace(kept, retired_at=now)
                uow.cameras.revoke_credentials(camera.camera_id, now)
            if _same_definition(existing, kept):
                report.unchanged.append(camera.camera_id)
            else:
                uow.cameras.update(kept)
                report.updated.append(camera.camera_id)
            if issue_tokens == "all" and kept.phase is not Phase.RETIRED:
                report.tokens[camera.camera_id] = _issue(uow, camera.camera_id, now)
        if report.problems:  # all or nothing: roll back what this import changed
            report.created.clear()
            report.updated.clear()
            report.unchanged.clear()
            report.tokens.clear()
            return report
        uow.audit.append(
            AuditEntry(
                at=now,
                actor=actor,
                action="camera.import",
                params={
                    "created": report.created,
                    "updated": report.updated,
                    "unchanged": len(report.unchanged),
                    "tokens_issued": sorted(report.tokens),
                },
                result_count=len(cameras),
            )
        )
        uow.commit()
    return report


def _issue(uow: UnitOfWork, camera_id: str, now: datetime) -> str:
    uow.cameras.revoke_credentials(camera_id, now)
    token = new_camera_token()
    uow.cameras.add_credential(camera_id, hash_token(token), now)
    return token


def rotate_token(*, uow: UnitOfWork, camera_id: str, now: datetime, actor: Actor) -> str:
    """Issue a new ingest token for a camera; its previous token stops working at once."""
    with uow:
        camera = uow.cameras.get(camera_id)
        if camera is None:
            raise CameraNotFound(camera_id)
        if camera.phase is Phase.RETIRED:
            raise CameraRetired("a retired camera gets no credential")
        token = _issue(uow, camera_id, now)
        uow.audit.append(AuditEntry(at=now, actor=actor, action="camera.token", target=camera_id))
        uow.commit()
    return token


def retire_camera(*, uow: UnitOfWork, camera_id: str, now: datetime, actor: Actor) -> Camera:
    """Retire a camera: it keeps its history but can no longer post reads."""
    with uow:
        camera = uow.cameras.get(camera_id)
        if camera is None:
            raise CameraNotFound(camera_id)
        if camera.phase is not Phase.RETIRED:
            camera = camera.retire(now)
            uow.cameras.update(camera)
        uow.cameras.revoke_credentials(camera_id, now)
        uow.audit.append(AuditEntry(at=now, actor=actor, action="camera.retire", target=camera_id))
        uow.commit()
    return camera


def set_phase(
    *, uow: UnitOfWork, camera_id: str, phase: Phase, now: datetime, actor: Actor
) -> Camera:
    if phase is Phase.RETIRED:
        return retire_camera(uow=uow, camera_id=camera_id, now=now, actor=actor)
    with uow:
        camera = uow.cameras.get(camera_id)
        if camera is None:
            raise CameraNotFound(camera_id)
        if camera.phase is Phase.RETIRED:
            raise CameraRetired("a retired camera stays retired; register a new id")
        camera = replace(camera, phase=phase)
        uow.cameras.update(camera)
        uow.audit.append(
            AuditEntry(
                at=now,
                actor=actor,
                action="camera.phase",
                target=camera_id,
                params={"phase": phase.value},
            )
        )
        uow.commit()
    return camera


def get_camera(*, uow: UnitOfWork, camera_id: str) -> Camera:
    with uow:
        camera = uow.cameras.get(camera_id)
    if camera is None:
        raise CameraNotFound(camera_id)
    return camera


def list_cameras(
    *, uow: UnitOfWork, zone: str | None = None, phase: str | None = None
) -> list[Camera]:
    with uow:
        return uow.cameras.find(zone=zone, phase=phase)


def page_cameras(
    *,
    uow: UnitOfWork,
    zone: str | None = None,
    phase: str | None = None,
    after: str | None = None,
    limit: int | None = None,
) -> list[Camera]:
    """Cameras in id order after the camera id `after`, at most `limit` (None: all)."""
    with uow:
        return uow.cameras.page(zone=zone, phase=phase, after=after, limit=limit)


def camera_version(read_uow: Callable[[], UnitOfWork]) -> int:
    """The store's camera version now (moves with every camera or credential change)."""
    with read_uow() as uow:
        return uow.cameras.version()


def authenticate_camera(*, uow: UnitOfWork, token: str, any_phase: bool = False) -> Camera | None:
    """The camera a current token belongs to; unless `any_phase`, only if it may post."""
    with uow:
        camera = uow.cameras.camera_for_token(hash_token(token))
    if camera is None or not (any_phase or camera.may_post):
        return None
    return camera
