"""Domain values and small steps the contract tests share, built through the domain."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

from veille.domain.access import Role, Scope, ScopeKind
from veille.domain.alerts import Alert, AlertHit, AlertStatus
from veille.domain.audit import Actor, AuditEntry
from veille.domain.cameras import Camera, camera_from_record
from veille.domain.grants import GrantKind, GrantStatus, UserGrant
from veille.domain.plates import canonical
from veille.domain.reads import ImageRef, Read
from veille.domain.users import Organisation, User

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
T = TypeVar("T")


class Store(Protocol):
    """What the suite needs of a store: units of work, writing or read-only."""

    def uow(self, *, write: bool = True) -> Any: ...


# --- domain values the tests store -------------------------------------------------------


def a_read(
    plate: str = "1ABC123",
    *,
    camera_id: str = "CAM-A",
    at: datetime = NOW,
    images: tuple[ImageRef, ...] = (),
    read_id: uuid.UUID | None = None,
    **extra_fields: Any,
) -> Read:
    return Read(
        read_id=read_id or uuid.uuid4(),
        camera_id=camera_id,
        captured_at=at,
        plate_raw=plate,
        plate=plate,
        plate_canonical=canonical(plate),
        country="BE",
        confidence=0.9,
        received_at=at + timedelta(seconds=1),
        images=images,
        **extra_fields,
    )


def an_image(sha256: str, kind: str = "plate") -> ImageRef:
    return ImageRef(kind=kind, content_type="image/jpeg", sha256=sha256, size=1234)


def a_camera(camera_id: str = "CAM-A", **overrides: Any) -> Camera:
    record: dict[str, Any] = {
        "camera_id": camera_id,
        "name": f"Camera {camera_id}",
        "lat": 50.836,
        "lon": 4.308,
        "heading": 180,
        "zone": "Midi",
        "province": "Bruxelles-Capitale",
        "vendor": "Dahua",
        "protocol": "veille-json",
        "phase": "live",
    }
    record.update(overrides)
    return camera_from_record(record, now=NOW)


def an_org(org_id: str = "zone-midi", scope: Scope = Scope(ScopeKind.ZONE, "Midi")) -> Organisation:
    return Organisation(
        org_id=org_id, name=f"Org {org_id}", kind="local_zone", scope=scope, created_at=NOW
    )


def a_user(username: str = "alice", *, org_id: str = "zone-midi", **overrides: Any) -> User:
    fields: dict[str, Any] = {
        "user_id": 0,
        "username": username,
        "display_name": username.title(),
        "password_hash": "$argon2id$not-a-real-hash",
        "role": Role.INVESTIGATOR,
        "org_id": org_id,
        "designated": True,
        "training_expires": NOW + timedelta(days=300),
        "totp_secret": None,
        "failed_logins": 0,
        "locked_until": None,
        "created_at": NOW,
    }
    fields.update(overrides)
    return User(**fields)


def an_entry(
    action: str = "reads.search",
    *,
    at: datetime = NOW,
    username: str = "alice",
    case_ref: str | None = None,
    **overrides: Any,
) -> AuditEntry:
    return AuditEntry(
        at=at,
        actor=Actor(username=username, role="investigator", user_id=1, org_id="zone-midi"),
        action=action,
        case_ref=case_ref,
        **overrides,
    )


def an_alert(plate: str = "1ABC123", *, opened_at: datetime = NOW, **overrides: Any) -> Alert:
    """An open alert of a Midi camera for entry e1 of list `stolen` (id left to the store)."""
    fields: dict[str, Any] = {
        "alert_id": 0,
        "opened_at": opened_at,
        "last_hit_at": opened_at - timedelta(seconds=2),
        "status": AlertStatus.OPEN,
        "read_id": uuid.uuid4(),
        "camera_id": "CAM-A",
        "zone": "Midi",
        "province": "Bruxelles-Capitale",
        "plate": plate,
        "country": "BE",
        "list_id": "stolen",
        "entry_id": "e1",
        "category": "stolen_vehicle",
        "priority": 1,
        "match_kind": "exact",
        "distance": 0,
        "covert": False,
        "owner_org": "federal",
        "hit_count": 1,
        "entry": {"plate": plate, "instructions": "do not stop alone", "valid_until": None},
    }
    fields.update(overrides)
    return Alert(**fields)


def a_hit(alert: Alert, *, at: datetime | None = None, **overrides: Any) -> AlertHit:
    """A hit of a read of `alert`'s camera, in its zone."""
    fields: dict[str, Any] = {
        "read_id": uuid.uuid4(),
        "camera_id": alert.camera_id,
        "captured_at": at or alert.last_hit_at,
        "match_kind": alert.match_kind,
        "zone": alert.zone,
        "province": alert.province,
    }
    fields.update(overrides)
    return AlertHit(**fields)


def a_grant(username: str, **fields: Any) -> UserGrant:
    base: dict[str, Any] = dict(
        grant_id=0,
        kind=GrantKind.CREATE,
        username=username,
        user_id=None,
        changes={"role": "investigator", "org_id": "zone-midi", "designated": True},
        status=GrantStatus.PENDING,
        requested_by=Actor(username="alice", role="administrator", user_id=1),
        requested_at=NOW,
        request_reason="new investigator of the zone",
        password_hash="$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
    )
    base.update(fields)
    return UserGrant(**base)


def committed(store: Store, write: Callable[[Any], T]) -> T:
    """Run `write` in a unit of work and commit it; return what it returned."""
    with store.uow() as uow:
        result = write(uow)
        uow.commit()
    return result


def seen(store: Store, look: Callable[[Any], T]) -> T:
    """What a read-only unit of work sees."""
    with store.uow(write=False) as uow:
        return look(uow)
