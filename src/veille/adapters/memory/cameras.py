"""In-memory cameras, their ingest credentials, and dead letters."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING

from veille.adapters.memory.store import ConstraintViolated
from veille.domain.cameras import Camera
from veille.service.ports import DeadLetter

if TYPE_CHECKING:
    from veille.adapters.memory.store import MemoryUnitOfWork

_VERSION = "camera_version"


@dataclass(frozen=True, slots=True)
class Credential:
    camera_id: str
    created_at: datetime
    revoked_at: datetime | None = None


class MemoryCameraRepository:
    def __init__(self, uow: MemoryUnitOfWork):
        self.uow = uow

    def get(self, camera_id: str) -> Camera | None:
        camera: Camera | None = self.uow.table("cameras").get(camera_id)
        return camera

    def add(self, camera: Camera) -> None:
        if camera.camera_id in self.uow.table("cameras"):
            raise ConstraintViolated(f"camera {camera.camera_id} exists already")
        self.uow.writable("cameras")[camera.camera_id] = camera
        self._bump()

    def update(self, camera: Camera) -> None:
        """Replace a stored camera; an unknown camera id changes nothing."""
        if camera.camera_id in self.uow.table("cameras"):
            self.uow.writable("cameras")[camera.camera_id] = camera
            self._bump()

    def find(self, *, zone: str | None = None, phase: str | None = None) -> list[Camera]:
        cameras: list[Camera] = sorted(
            self.uow.table("cameras").values(), key=lambda c: c.camera_id
        )
        return [
            c for c in cameras if (not zone or c.zone == zone) and (not phase or c.phase == phase)
        ]

    def page(
        self,
        *,
        zone: str | None = None,
        phase: str | None = None,
        after: str | None = None,
        limit: int | None = None,
    ) -> list[Camera]:
        found = [
            c for c in self.find(zone=zone, phase=phase) if after is None or c.camera_id > after
        ]
        return found if limit is None else found[:limit]

    def add_credential(self, camera_id: str, token_hash: str, now: datetime) -> None:
        if camera_id not in self.uow.table("cameras"):
            raise ConstraintViolated(f"no camera {camera_id} to give a credential")
        if token_hash in self.uow.table("camera_credentials"):
            raise ConstraintViolated("this token is issued already")
        self.uow.writable("camera_credentials")[token_hash] = Credential(camera_id, now)
        self._bump()

    def revoke_credentials(self, camera_id: str, now: datetime) -> int:
        live = [
            token
            for token, cred in self.uow.table("camera_credentials").items()
            if cred.camera_id == camera_id and cred.revoked_at is None
        ]
        if live:
            table = self.uow.writable("camera_credentials")
            for token in live:
                table[token] = replace(table[token], revoked_at=now)
            self._bump()
        return len(live)

    def version(self) -> int:
        """Bumped by every change to any camera or its credentials, in the changing
        transaction."""
        return int(self.uow.table("counters").get(_VERSION, 0))

    def _bump(self) -> None:
        self.uow.next_id(_VERSION)

    def camera_for_token(self, token_hash: str) -> Camera | None:
        cred: Credential | None = self.uow.table("camera_credentials").get(token_hash)
        if cred is None or cred.revoked_at is not None:
            return None
        return self.get(cred.camera_id)


class MemoryDeadLetterRepository:
    def __init__(self, uow: MemoryUnitOfWork):
        self.uow = uow

    def add(
        self,
        *,
        received_at: datetime,
        camera_id: str | None,
        source: str,
        payload: str,
        errors: list[dict[str, str]],
    ) -> int:
        dead_id = self.uow.next_id("dead_letters")
        self.uow.writable("dead_letters")[dead_id] = DeadLetter(
            id=dead_id,
            received_at=received_at,
            camera_id=camera_id,
            source=source,
            payload=payload,
            errors=[dict(e) for e in errors],  # the caller's list may change afterwards
            status="open",
        )
        return dead_id

    def _all(self) -> list[DeadLetter]:
        return sorted(self.uow.table("dead_letters").values(), key=lambda d: d.id)

    def find(self, *, status: str | None = "open", limit: int = 100) -> list[DeadLetter]:
        return [d for d in self._all() if not status or d.status == status][:limit]

    def page(
        self, *, status: str | None = "open", after: int | None = None, limit: int = 100
    ) -> list[DeadLetter]:
        return [
            d
            for d in self._all()
            if (not status or d.status == status) and (after is None or d.id > after)
        ][:limit]

    def get(self, dead_letter_id: int) -> DeadLetter | None:
        found: DeadLetter | None = self.uow.table("dead_letters").get(dead_letter_id)
        return found

    def mark(self, dead_letter_id: int, *, status: str, at: datetime, result: str) -> None:
        """Record what became of a dead letter; an unknown id changes nothing."""
        found = self.get(dead_letter_id)
        if found is not None:
            self.uow.writable("dead_letters")[dead_letter_id] = replace(
                found, status=status, replayed_at=at, replay_result=result
            )

    def count(self, *, status: str | None = None) -> int:
        return len([d for d in self._all() if not status or d.status == status])
