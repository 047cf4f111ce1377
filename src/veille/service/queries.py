"""The query service: the one way to read stored reads — purpose, case, scope, window, audit.

Every analysis (plate history, camera over time, and the investigation toolbox) runs
through `run_query`. It checks the caller's permission, training and designation, the
purpose and case reference, works out which slices of the store the caller may see (the
open window within their scope, plus what their approved authorizations cover — only
those of the case and purpose the search cites, and only at cameras of the districts that
approved them), runs the analysis against a `ReadAccess` limited to those slices,
reading from a snapshot that never holds the ingest writer, then appends the audit record
in one short write transaction. Nothing is returned before that record is committed.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from veille.domain.access import Permission, Principal, Scope, ScopeKind, decide
from veille.domain.audit import Actor, AuditEntry
from veille.domain.authorizations import (
    Area,
    Slice,
    WindowPolicy,
    period_clip,
    visible_slices,
    with_resolved_districts,
)
from veille.domain.cameras import Camera
from veille.domain.districts import DistrictMap, belgian_district_map
from veille.domain.reads import Read
from veille.domain.times import iso
from veille.service.errors import Forbidden, Invalid, VeilleError
from veille.service.ports import CameraCatalog, UnitOfWork

if TYPE_CHECKING:
    from veille.settings import Settings

T = TypeVar("T")
SEARCH_LIMIT = 5000  # passages a plate or camera search returns at most
# a period cut by less than this is not reported as clipped (clock skew of a "-30d" start)
CLIP_TOLERANCE = timedelta(minutes=1)


@dataclass(frozen=True)
class LegalPolicy:
    """The configurable legal frame of every query."""

    purposes: frozenset[str]
    case_ref_pattern: re.Pattern[str]
    window: WindowPolicy
    # the purposes an authorization may open older reads to (judicial missions only)
    authorization_purposes: frozenset[str] = frozenset()
    districts: DistrictMap = field(default_factory=belgian_district_map)

    @classmethod
    def from_settings(cls, settings: Settings, districts: DistrictMap) -> LegalPolicy:
        """The legal frame the settings configure, over the platform's district map."""
        return cls(
            purposes=frozenset(settings.search_purposes),
            case_ref_pattern=re.compile(settings.case_ref_pattern),
            window=settings.window_policy(),
            authorization_purposes=frozenset(settings.authorization_purposes),
            districts=districts,
        )

    def check(self, *, purpose: str | None, case_ref: str | None) -> str | None:
        """None when purpose and case are acceptable, else why not."""
        if not purpose or purpose not in self.purposes:
            return "a purpose from the configured list is required"
        if not case_ref or not self.case_ref_pattern.fullmatch(case_ref):
            return "a case reference is required (e.g. a notice or file number)"
        return None


@dataclass(frozen=True)
class QueryContext:
    """Who asks, why, and from where."""

    principal: Principal
    purpose: str | None
    case_ref: str | None
    ip: str | None = None
    user_agent: str | None = None

    def actor(self) -> Actor:
        p = self.principal
        return Actor(
            username=p.username,
            role=p.role.value,
            user_id=p.user_id,
            org_id=p.org_id,
            ip=self.ip,
            user_agent=self.user_agent,
        )


class QueryRefused(VeilleError):
    """The query was not run, and its refusal is already audited (under the query's own
    action): `code` is machine-readable, the message says why."""

    audited = True


class AccessRefused(QueryRefused, Forbidden):
    """Not designated, not trained, or a role without the permission (403)."""


class PurposeAndCaseRequired(QueryRefused, Invalid):
    """No purpose from the configured list, or no valid case reference (422)."""

    code = "purpose_and_case_required"


class ReadAccess:
    """The reads a query may touch: every method returns only reads inside the slices.

    A slice's area is turned into the cameras standing inside it (intersected with the
    slice's own cameras) before the store is asked, so every SQL limit counts only reads
    the caller may really see: a limit of 10 returns 10 visible reads whenever 10 exist.
    Ask for `limit + 1` to learn honestly whether a result was capped.
    """

    def __init__(self, uow: UnitOfWork, slices: list[Slice], cameras: dict[str, Camera]):
        self._uow = uow
        self.slices = slices
        self.cameras = cameras
        self._area_cameras: dict[Area, frozenset[str]] = {}

    def find(
        self,
        *,
        start: datetime,
        end: datetime,
        plates: Iterable[str] | None = None,
        canonical: str | None = None,
        camera_ids: Iterable[str] | None = None,
        limit: int = 10_000,
    ) -> list[Read]:
        """The first `limit` reads in [start, end) matching the criteria, in time order,
        within the visible slices."""
        found: dict[Any, Read] = {}
        for lo, hi, s_plates, s_cameras in self._parts(start, end, plates, camera_ids):
            # each part gives its own first `limit`; the first `limit` of their union is
            # then the first `limit` overall
            for read in self._uow.reads.find(
                start=lo,
                end=hi,
                plates=s_plates,
                canonical=canonical,
                camera_ids=s_cameras,
                limit=limit,
            ):
                found[read.read_id] = read
        return sorted(found.values(), key=lambda r: (r.captured_at, str(r.read_id)))[:limit]

    def find_prefix(
        self,
        *,
        start: datetime,
        end: datetime,
        prefix: str,
        plates: Iterable[str] | None = None,
        camera_ids: Iterable[str] | None = None,
        limit: int = 10_000,
    ) -> list[Read]:
        """Reads in [start, end) whose plate starts with `prefix`, within the visible slices."""
        found: dict[Any, Read] = {}
        for lo, hi, s_plates, s_cameras in self._parts(start, end, plates, camera_ids):
            for read in self._uow.reads.find_prefix(
                start=lo, end=hi, prefix=prefix, plates=s_plates, camera_ids=s_cameras, limit=limit
            ):
                found[read.read_id] = read
        return sorted(found.values(), key=lambda r: (r.captured_at, str(r.read_id)))[:limit]

    def distinct_plates(
        self,
        *,
        start: datetime,
        end: datetime,
        plates: Iterable[str] | None = None,
        camera_ids: Iterable[str] | None = None,
        prefix: str | None = None,
        min_cameras: int = 1,
    ) -> list[str]:
        """Distinct plates of the visible reads in [start, end) (sorted).

        `min_cameras` is exact with one slice; across several slices a plate's cameras may
        be split between them, so the bound is then left to the caller.
        """
        parts = list(self._parts(start, end, plates, camera_ids))
        bound = min_cameras if len(parts) == 1 else 1
        found: set[str] = set()
        for lo, hi, s_plates, s_cameras in parts:
            found.update(
                self._uow.reads.distinct_plates(
                    start=lo,
                    end=hi,
                    plates=s_plates,
                    camera_ids=s_cameras,
                    prefix=prefix,
                    min_cameras=bound,
                )
            )
        return sorted(found)

    def period_clipped(self, start: datetime, end: datetime) -> dict[str, Any] | None:
        """How [start, end) was cut to what the caller may see (None when it was not):
        about the caller's access only, never about the reads that lie beyond it."""
        clip = period_clip(self.slices, start=start, end=end, tolerance=CLIP_TOLERANCE)
        if clip is None:
            return None
        return {
            "requested_start": iso(clip.requested_start),
            "requested_end": iso(clip.requested_end),
            "visible_from": iso(clip.visible_from) if clip.visible_from else None,
            "not_open": [{"start": iso(lo), "end": iso(hi)} for lo, hi in clip.not_open],
        }

    def _inside(self, area: Area) -> frozenset[str]:
        """The cameras standing inside an area (worked out once per query)."""
        inside = self._area_cameras.get(area)
        if inside is None:
            inside = frozenset(
                c.camera_id for c in self.cameras.values() if area.contains(c.lat, c.lon)
            )
            self._area_cameras[area] = inside
        return inside

    def _parts(
        self,
        start: datetime,
        end: datetime,
        plates: Iterable[str] | None,
        camera_ids: Iterable[str] | None,
    ) -> Iterator[tuple[datetime, datetime, frozenset[str] | None, frozenset[str] | None]]:
        """Each visible slice cut to the period and criteria, its area as a camera list."""
        wanted_plates = frozenset(plates) if plates is not None else None
        wanted_cameras = frozenset(camera_ids) if camera_ids is not None else None
        for s in self.slices:
            lo, hi = max(start, s.start), min(end, s.end)
            if hi <= lo:
                continue
            s_plates = _meet(wanted_plates, s.plates)
            s_cameras = _meet(wanted_cameras, s.camera_ids)
            if s.area is not None:
                s_cameras = _meet(s_cameras, self._inside(s.area))
            if (s_plates is not None and not s_plates) or (s_cameras is not None and not s_cameras):
                continue
            yield lo, hi, s_plates, s_cameras

    def visible(self, read: Read) -> bool:
        cam = self.cameras.get(read.camera_id)
        lat, lon = (cam.lat, cam.lon) if cam else (float("nan"), float("nan"))
        return any(
            s.contains(
                plate=read.plate,
                camera_id=read.camera_id,
                lat=lat,
                lon=lon,
                captured_at=read.captured_at,
            )
            for s in self.slices
        )


def _meet(a: frozenset[str] | None, b: frozenset[str] | None) -> frozenset[str] | None:
    if a is None:
        return b
    if b is None:
        return a
    return a & b


# the camera list and mapping a district index was built from, and the index
_DistrictCache = tuple[dict[str, Camera], DistrictMap, dict[str, frozenset[str]]]
# the camera list scopes were worked out on, and each scope's cameras
_ScopeCache = tuple[dict[str, Camera], dict[Scope, frozenset[str]]]


class CameraDirectory:
    """Every camera, kept in memory and reloaded only when the cameras table changed.

    Loading 10,000 cameras costs ~60 ms, which every query would otherwise pay; checking
    the change counter costs one tiny indexed read in the query's own transaction. What
    is worked out from the cameras (each district's, each zone's or province's cameras) is
    kept with the camera list it came from, so a camera change renews it too.
    """

    def __init__(self) -> None:
        self._version = -1
        self._cameras: dict[str, Camera] = {}
        self._by_district: _DistrictCache | None = None
        self._by_scope: _ScopeCache | None = None
        self._lock = threading.Lock()

    def current(self, uow: UnitOfWork) -> dict[str, Camera]:
        version = uow.cameras.version()
        if version != self._version:
            cameras = {c.camera_id: c for c in uow.cameras.find()}
            with self._lock:
                self._cameras, self._version = cameras, version
        return self._cameras

    def by_district(
        self, cameras: dict[str, Camera], districts: DistrictMap
    ) -> dict[str, frozenset[str]]:
        """District → its cameras, worked out once per camera list (as `current` returned)."""
        cached = self._by_district
        if cached is not None and cached[0] is cameras and cached[1] is districts:
            return cached[2]
        found = districts.cameras_by_district(cameras.values())
        with self._lock:
            self._by_district = (cameras, districts, found)
        return found

    def in_scope(self, cameras: dict[str, Camera], scope: Scope) -> frozenset[str] | None:
        """The cameras inside a zone or province (None for national: all of them), worked
        out once per scope and camera list (as `current` returned it; a new list comes with
        each new camera version). Going over 10,000 cameras took ~5 ms a query."""
        if scope.kind is ScopeKind.NATIONAL:
            return None
        with self._lock:
            cached = self._by_scope
            if cached is None or cached[0] is not cameras:
                cached = (cameras, {})
                self._by_scope = cached
            found = cached[1].get(scope)
        if found is None:
            found = frozenset(
                c.camera_id
                for c in cameras.values()
                if scope.covers(zone=c.zone, province=c.province)
            )
            with self._lock:
                cached[1][scope] = found
        return found


def run_query(
    *,
    uow_factory: Callable[[], UnitOfWork],
    read_uow_factory: Callable[[], UnitOfWork],
    ctx: QueryContext,
    now: datetime,
    policy: LegalPolicy,
    action: str,
    params: dict[str, Any],
    execute: Callable[[ReadAccess], tuple[T, int]],
    permission: Permission = Permission.READS_SEARCH,
    cameras: CameraCatalog | None = None,
) -> T:
    """Run one analysis lawfully; refusals are audited too, then raised as a
    `QueryRefused` (`AccessRefused`, a Forbidden; `PurposeAndCaseRequired`, an Invalid).

    The analysis reads through `read_uow_factory` (a snapshot: in WAL mode it never blocks
    the ingest writer, however long it runs). Its audit record is then appended through
    `uow_factory` in a transaction of its own, and only once that has committed does the
    result leave this function: if the append fails, the caller gets the error, not data.
    """
    refusal = decide(ctx.principal, permission, now)
    refused: type[QueryRefused] = AccessRefused
    if refusal is None:
        refusal = policy.check(purpose=ctx.purpose, case_ref=ctx.case_ref)
        refused = PurposeAndCaseRequired
    if refusal is not None:
        with uow_factory() as uow:
            uow.audit.append(
                AuditEntry(
                    at=now,
                    actor=ctx.actor(),
                    action=action,
                    outcome="refused",
                    params={**params, "refusal": refusal},
                    purpose=ctx.purpose,
                    case_ref=ctx.case_ref,
                )
            )
            uow.commit()
        raise refused(refusal)
    with read_uow_factory() as uow:  # a snapshot: the analysis never holds the writer
        cameras = cameras or CameraDirectory()
        directory = cameras.current(uow)
        slices = visible_slices(
            user_id=ctx.principal.user_id,
            now=now,
            policy=policy.window,
            scope_cameras=cameras.in_scope(directory, ctx.principal.scope),
            authorizations=[
                with_resolved_districts(a, policy.districts)
                for a in uow.authorizations.approved_for(ctx.principal.user_id)
            ],
            case_ref=ctx.case_ref,
            purpose=ctx.purpose,
            authorization_purposes=policy.authorization_purposes,
            district_cameras=cameras.by_district(directory, policy.districts),
        )
        result, count = execute(ReadAccess(uow, slices, directory))
    used = sorted({s.auth_id for s in slices if s.auth_id is not None})
    with uow_factory() as uow:  # one short append; nothing leaves before it commits
        uow.audit.append(
            AuditEntry(
                at=now,
                actor=ctx.actor(),
                action=action,
                params={**params, "authorizations": used},
                result_count=count,
                purpose=ctx.purpose,
                case_ref=ctx.case_ref,
            )
        )
        uow.commit()
    return result


def passage_json(read: Read, cameras: dict[str, Camera]) -> dict[str, Any]:
    """One passage as investigators see it: camera, place, time, plate, confidence, images."""
    cam = cameras.get(read.camera_id)
    return {
        "read_id": str(read.read_id),
        "plate": read.plate,
        "plate_raw": read.plate_raw,
        "country": read.country,
        "captured_at": iso(read.captured_at),
        "camera_id": read.camera_id,
        "camera_name": cam.name if cam else None,
        "zone": cam.zone if cam else None,
        "lat": cam.lat if cam else None,
        "lon": cam.lon if cam else None,
        "confidence": read.confidence,
        "direction": read.direction,
        "images": [
            {"kind": i.kind, "sha256": i.sha256, "uri": i.uri, "content_type": i.content_type}
            for i in read.images
        ],
    }


def _history(
    access: ReadAccess, reads: list[Read], *, limit: int, start: datetime, end: datetime
) -> tuple[dict[str, Any], int]:
    """Passages as a search answers them: at most `limit` of the `limit + 1` asked for,
    whether more were left out, and whether the period was clipped to what is open."""
    kept = reads[:limit]
    result = {
        "truncated": len(reads) > limit,
        "period_clipped": access.period_clipped(start, end),
        "passages": [passage_json(r, access.cameras) for r in kept],
    }
    return result, len(kept)


def plate_history(
    *,
    access: ReadAccess,
    plate: str,
    start: datetime,
    end: datetime,
    lookalike: bool,
    canonical: str,
    limit: int = SEARCH_LIMIT,
) -> tuple[dict[str, Any], int]:
    """Passages of a plate (exact, or every look-alike of it) in a time range."""
    if lookalike:
        reads = access.find(start=start, end=end, canonical=canonical, limit=limit + 1)
    else:
        reads = access.find(start=start, end=end, plates=[plate], limit=limit + 1)
    return _history(access, reads, limit=limit, start=start, end=end)


def camera_history(
    *, access: ReadAccess, camera_id: str, start: datetime, end: datetime, limit: int = SEARCH_LIMIT
) -> tuple[dict[str, Any], int]:
    """Passages at one camera in a time range."""
    reads = access.find(start=start, end=end, camera_ids=[camera_id], limit=limit + 1)
    return _history(access, reads, limit=limit, start=start, end=end)
