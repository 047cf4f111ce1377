"""Commands and queries of the cameras area (handlers: `service/handlers/cameras.py`).

Every change to a camera's registration or credential also makes the platform forget the
camera tokens it had verified, so the change applies to the very next read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from veille.domain.audit import Actor
from veille.domain.cameras import Phase
from veille.service.commands import Command, Query


@dataclass(frozen=True)
class ImportCameras(Command):
    """Create or update cameras from decoded records (`where`, record), all or nothing.

    `issue_tokens`: `new` gives an ingest token to each created camera, `all` to every
    imported camera (revoking its previous one), `none` to no camera. Answers the
    `ImportReport`; one with problems applied nothing.
    """

    records: Sequence[tuple[str, dict[str, Any]]]
    actor: Actor
    issue_tokens: str = "new"


@dataclass(frozen=True)
class CamerasPage(Query):
    """Registered cameras in id order after the camera id `after`, at most `limit` (None:
    every one), optionally of one police zone or phase."""

    zone: str | None = None
    phase: Phase | None = None
    after: str | None = None
    limit: int | None = None


@dataclass(frozen=True)
class CameraById(Query):
    """One registered camera (refused `NotFound` when there is none)."""

    camera_id: str


@dataclass(frozen=True)
class ChangeCameraPhase(Command):
    """Move a camera to another connection phase; `retired` retires it."""

    camera_id: str
    phase: Phase
    actor: Actor


@dataclass(frozen=True)
class RetireCamera(Command):
    """Retire a camera: it keeps its history, its credential is revoked."""

    camera_id: str
    actor: Actor


@dataclass(frozen=True)
class ReissueCameraToken(Command):
    """Issue a new ingest token to one camera (its previous one stops working); answers the
    token, to be shown once. One camera at a time: an import with `issue_tokens=all` is
    the only way to reissue many, and it names every camera it touches."""

    camera_id: str
    actor: Actor
