"""Ports: the repository and unit-of-work interfaces the service layer depends on.

Adapters (SQLite now, PostgreSQL later) implement them; repositories never commit,
the unit of work owns the transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, Self

from veille.domain.access import Scope
from veille.domain.alerts import Alert, AlertCount, AlertHit, AlertStep, CameraMisreads
from veille.domain.analysis import CloneFinding
from veille.domain.audit import Actor, AuditEntry, AuditRecord
from veille.domain.authorizations import Authorization
from veille.domain.cameras import Camera
from veille.domain.checkpoints import Checkpoint
from veille.domain.districts import DistrictMap
from veille.domain.errors import Invalid, Problem
from veille.domain.grants import GrantStatus, UserGrant
from veille.domain.hotlists import Hotlist, HotlistEntry
from veille.domain.reads import FieldError, ImageUpload, ParsedRead, Read, ReadRules
from veille.domain.retention import Hold
from veille.domain.users import Organisation, User
from veille.domain.webhooks import Webhook, WebhookDelivery

if TYPE_CHECKING:  # the ingest service imports these ports: no cycle at run time
    from concurrent.futures import Future

    from veille.service.ingest import IngestBatch, StoredBatch


@dataclass(frozen=True)
class DeadLetter:
    id: int
    received_at: datetime
    camera_id: str | None
    source: str
    payload: str
    errors: list[dict[str, str]]
    status: str  # open | replayed | discarded
    replayed_at: datetime | None = None
    replay_result: str | None = None


# Where a purge stopped: (capture time in microseconds, the store's row id) of the last
# read it examined. The service passes it back as given and never looks inside.
PurgeCursor = tuple[int, int]


@dataclass(frozen=True)
class PurgeBatch:
    """What one bounded step of the retention purge did (or, previewed, would do).

    `deleted`: reads deleted; `kept_by_holds`: reads before the cutoff examined and kept
    because an active hold keeps them; `orphaned_images`: hashes of images the deleted
    reads referenced that no stored read references any more (in a preview: every image
    the doomed reads reference, an upper bound); `done`: no read captured before the
    cutoff lies past `resume_after`, the cursor to pass to the next step.
    """

    deleted: int
    kept_by_holds: int
    orphaned_images: frozenset[str]
    done: bool
    resume_after: PurgeCursor | None


# A store's encoding of a read into the form it inserts (SQLite: a table row). The
# request thread encodes, so the single writer thread only inserts.
ReadEncoder = Callable[[Read], Any]
# Given the reads about to be stored, writes their image bytes and answers where each
# went (by sha256): how the ingest writer puts images in the reads' transaction.
ImagePlacer = Callable[[Sequence[Read]], "Mapping[str, ImageLocation]"]


class ReadRepository(Protocol):
    def add_many(self, reads: Sequence[Read]) -> None: ...

    def add_new(
        self,
        reads: Sequence[Read],
        rows: Sequence[Any] | None = None,
        located: ImagePlacer | None = None,
    ) -> list[Read]:
        """Store the reads not stored yet; return them. `rows`: the same reads already
        encoded by the store's own encoder (see `ReadEncoder`), made off the writer thread.
        `located` is called once with the reads about to be stored (none of a duplicate)
        before their image references are, and answers where the bytes of their images
        went, by sha256 (an image it does not name has no location)."""
        ...

    def get(self, read_id: uuid.UUID) -> Read | None: ...

    def find(
        self,
        *,
        start: datetime,
        end: datetime,
        plates: Iterable[str] | None = None,
        canonical: str | None = None,
        camera_ids: Iterable[str] | None = None,
        limit: int = 10_000,
    ) -> list[Read]: ...

    def find_prefix(
        self,
        *,
        start: datetime,
        end: datetime,
        prefix: str,
        plates: Iterable[str] | None = None,
        camera_ids: Iterable[str] | None = None,
        limit: int = 10_000,
    ) -> list[Read]: ...

    def distinct_plates(
        self,
        *,
        start: datetime,
        end: datetime,
        plates: Iterable[str] | None = None,
        camera_ids: Iterable[str] | None = None,
        prefix: str | None = None,
        min_cameras: int = 1,
        limit: int = 1_000_000,
    ) -> list[str]: ...

    def count(self) -> int: ...

    def image_hashes(self, read_ids: Sequence[uuid.UUID]) -> set[str]: ...

    def image_locations(self, read_ids: Sequence[uuid.UUID]) -> dict[str, ImageLocation | None]:
        """The images of these reads by sha256, with where their bytes are (None: as a
        single file)."""
        ...

    def segment_images(self, segments: Iterable[str]) -> dict[str, int]:
        """How many image references point into each of these segments (a segment no
        committed read ever referred to is absent)."""
        ...

    def forget_segments(self, segments: Iterable[str]) -> None:
        """Drop the bookkeeping of segments deleted (none of them is referenced)."""
        ...

    def delete(self, read_ids: Sequence[uuid.UUID]) -> int: ...

    def unreferenced(self, hashes: Iterable[str]) -> set[str]:
        """Those of these single-file images (`ImageStore.put`) no read refers to."""
        ...

    def purge_before(
        self,
        *,
        cutoff: datetime,
        holds: Sequence[Hold],
        limit: int,
        after: PurgeCursor | None = None,
    ) -> PurgeBatch:
        """One bounded step of the retention purge, inside the caller's unit of work.

        Takes the next reads captured before `cutoff` past `after`, oldest first (capture
        time, then store order), at most `limit` of them; deletes, with their image
        references, those that `domain.retention.purgeable` dooms under `holds` (a store
        may evaluate the rule in SQL, but must agree with the domain function), and
        reports the images no read references any more. Held reads are stepped over: the
        next step from `resume_after` does not examine them again. A store that drops a
        whole partition (every read of it doomed, in constant time) may count it as one
        step, so `deleted` may then exceed `limit`; row by row, `deleted + kept_by_holds`
        never does. Nothing is committed here.
        """
        ...

    def preview_purge_before(
        self,
        *,
        cutoff: datetime,
        holds: Sequence[Hold],
        limit: int,
        after: PurgeCursor | None = None,
    ) -> PurgeBatch:
        """What `purge_before` would do, changing nothing (fit for a read-only unit of
        work); `orphaned_images` is every image the doomed reads reference."""
        ...


class CameraRepository(Protocol):
    def get(self, camera_id: str) -> Camera | None: ...

    def add(self, camera: Camera) -> None: ...

    def update(self, camera: Camera) -> None: ...

    def find(self, *, zone: str | None = None, phase: str | None = None) -> list[Camera]: ...

    def page(
        self,
        *,
        zone: str | None = None,
        phase: str | None = None,
        after: str | None = None,
        limit: int | None = None,
    ) -> list[Camera]: ...

    def add_credential(self, camera_id: str, token_hash: str, now: datetime) -> None: ...

    def revoke_credentials(self, camera_id: str, now: datetime) -> int: ...

    def version(self) -> int: ...

    def camera_for_token(self, token_hash: str) -> Camera | None: ...


class DeadLetterRepository(Protocol):
    def add(
        self,
        *,
        received_at: datetime,
        camera_id: str | None,
        source: str,
        payload: str,
        errors: list[dict[str, str]],
    ) -> int: ...

    def find(self, *, status: str | None = "open", limit: int = 100) -> list[DeadLetter]: ...

    def page(
        self, *, status: str | None = "open", after: int | None = None, limit: int = 100
    ) -> list[DeadLetter]: ...

    def get(self, dead_letter_id: int) -> DeadLetter | None: ...

    def mark(self, dead_letter_id: int, *, status: str, at: datetime, result: str) -> None: ...

    def count(self, *, status: str | None = None) -> int: ...


class UserRepository(Protocol):
    def get_org(self, org_id: str) -> Organisation | None: ...

    def add_org(self, org: Organisation) -> None: ...

    def list_orgs(self) -> list[Organisation]: ...

    def get(self, user_id: int) -> User | None: ...

    def by_username(self, username: str) -> User | None: ...

    def add(self, user: User) -> int: ...

    def update(self, user: User) -> None: ...

    def all(self) -> list[User]: ...

    def page(self, *, after: int | None = None, limit: int | None = None) -> list[User]: ...

    def count_admins(self) -> int: ...

    def add_token(
        self,
        *,
        token_hash: str,
        user_id: int,
        kind: str,
        name: str,
        created_at: datetime,
        expires_at: datetime | None,
        csrf_token: str | None = None,
    ) -> None: ...

    def token(
        self, token_hash: str
    ) -> tuple[int, str, datetime | None, datetime | None, str | None] | None: ...

    def revoke_token(self, token_hash: str, now: datetime) -> int: ...

    def revoke_user_tokens(self, user_id: int, now: datetime) -> int: ...

    def add_grant(self, grant: UserGrant) -> int: ...

    def update_grant(self, grant: UserGrant) -> None: ...

    def get_grant(self, grant_id: int) -> UserGrant | None: ...

    def list_grants(
        self,
        *,
        status: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 1000,
    ) -> list[UserGrant]: ...

    def grants_page(
        self,
        *,
        status: GrantStatus | None = None,
        after: int | None = None,
        limit: int | None = None,
    ) -> list[UserGrant]:
        """Grants in id (request) order after the id `after` (keyset paging), at most
        `limit` (None: all)."""
        ...

    def pending_grant_for(self, username: str) -> UserGrant | None: ...


class AuditRepository(Protocol):
    """The hash-chained audit log.

    **Appends are serialised by the backend, whatever the number of processes**: each
    record names the hash of the one before it, so two appends must never claim the same
    predecessor. SQLite gets this from its single write lock (an append runs inside a
    `BEGIN IMMEDIATE` unit of work); the memory store from its write lock; a PostgreSQL
    backend must lock the chain head (e.g. `SELECT … FOR UPDATE` on a one-row head table)
    in the appending transaction. The contract suite appends from several threads at once
    and verifies the chain (`tests/contract/test_unit_of_work.py`).
    """

    def last(self) -> AuditRecord | None: ...

    def append(self, entry: AuditEntry) -> AuditRecord:
        """Chain `entry` after the current head, inside the caller's write transaction."""
        ...

    def get(self, seq: int) -> AuditRecord | None: ...

    def last_of(self, action: str) -> AuditRecord | None: ...

    def iter_all(self, *, batch: int = 5000, after: int = 0) -> Iterator[AuditRecord]: ...

    def search(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        username: str | None = None,
        action: str | None = None,
        case_ref: str | None = None,
        limit: int = 1000,
        after_seq: int | None = None,
    ) -> list[AuditRecord]: ...

    def count(self) -> int: ...


class AuthorizationRepository(Protocol):
    def add(self, auth: Authorization) -> int: ...

    def update(self, auth: Authorization) -> None: ...

    def get(self, auth_id: int) -> Authorization | None: ...

    def find(
        self,
        *,
        districts: frozenset[str] | None = None,
        spanning: bool = False,
        underived: bool = False,
        status: str | None = None,
        involving_user: int | None = None,
        limit: int = 500,
    ) -> list[Authorization]: ...

    def page(
        self,
        *,
        districts: frozenset[str] | None = None,
        spanning: bool = False,
        underived: bool = False,
        status: str | None = None,
        involving_user: int | None = None,
        before: int | None = None,
        limit: int | None = None,
    ) -> list[Authorization]:
        """Newest first from just below `before` (keyset paging on `auth_id`), at most
        `limit` (None: all); every criterion applies before the limit, as in `find`
        (`involving_user`: requested by that user or naming them)."""
        ...

    def approved_for(self, user_id: int) -> list[Authorization]: ...


class HoldRepository(Protocol):
    """Case holds (the purge that weighs them is `ReadRepository.purge_before`)."""

    def add(
        self,
        *,
        case_ref: str,
        plates: Iterable[str],
        camera_ids: Iterable[str],
        period_start: datetime,
        period_end: datetime,
        created_by: str,
        created_at: datetime,
        auth_id: int | None = None,
    ) -> int: ...

    def get(self, hold_id: int) -> Hold | None: ...

    def active(self) -> list[Hold]: ...

    def find(self, *, include_released: bool = False) -> list[Hold]: ...

    def release(self, hold_id: int, *, by: str, at: datetime) -> bool: ...


class CloneFindingRepository(Protocol):
    """Clone suspicions recorded by the standing clone sweep."""

    def add_many(self, findings: Sequence[CloneFinding]) -> int: ...

    def find(
        self, *, plate: str | None = None, since: datetime | None = None, limit: int = 1000
    ) -> list[CloneFinding]: ...

    def purge(self, *, before: datetime) -> int: ...


@dataclass(frozen=True)
class HotlistChanges:
    """The hotlist changes recorded after a given change id: the latest change id (the
    one given, when nothing changed) and the ids of the lists that changed."""

    latest: int
    lists: frozenset[str]


class HotlistRepository(Protocol):
    """Hotlists, their entries, and the change counter every process's matcher follows.

    Lists come in `list_id` order, a list's entries in `entry_id` order (code-point order
    of the ids, as SQLite's binary collation orders them); every entry belongs to a stored
    list (storing one for an unknown list breaks a reference rule).
    """

    def lists(self) -> list[Hotlist]: ...

    def get_list(self, list_id: str) -> Hotlist | None: ...

    def save_list(self, hotlist: Hotlist, now: datetime) -> None:
        """Store a new list, or replace the definition of the list with its id."""
        ...

    def delete_list(self, list_id: str) -> int:
        """Delete a list and its entries; answer how many lists were deleted (0 or 1)."""
        ...

    def entries(self, list_id: str | None = None) -> list[HotlistEntry]:
        """The entries of one list, or of every list (by list, then entry id)."""
        ...

    def page(
        self, list_id: str, *, after: str | None = None, limit: int | None = None
    ) -> list[HotlistEntry]:
        """The entries of `list_id` whose id comes after `after` (keyset paging), at most
        `limit` of them (every one without a limit)."""
        ...

    def get_entry(self, list_id: str, entry_id: str) -> HotlistEntry | None: ...

    def count_entries(self, list_id: str) -> int: ...

    def put_entries(self, entries: Iterable[HotlistEntry], now: datetime) -> None:
        """Store each entry, replacing the one of its list with the same `entry_id`."""
        ...

    def delete_entry(self, list_id: str, entry_id: str) -> int:
        """Delete one entry; answer how many were deleted (0 or 1)."""
        ...

    def delete_entries(self, list_id: str, entry_ids: Iterable[str]) -> int:
        """Delete these entries of the list; answer how many were deleted."""
        ...

    def replace_entries(self, list_id: str, entries: Iterable[HotlistEntry], now: datetime) -> None:
        """Make `entries` the whole of the list's entries."""
        ...

    def note_change(self, list_id: str, now: datetime) -> int:
        """Record that `list_id` changed, in the caller's transaction; answer the change's
        id, greater than every id before it."""
        ...

    def changes_since(self, change_id: int) -> HotlistChanges:
        """The changes recorded after `change_id`."""
        ...

    def latest_change(self, list_id: str | None = None) -> int:
        """The id of the latest change, of any list or of `list_id` (0 before the first)."""
        ...


class AlertRepository(Protocol):
    """Alerts, their hits and history, webhooks and their delivery log.

    What a viewer may see is decided by the same three filters everywhere: `zone` and
    `province` (neither: national) and `viewer_org`, the only organisation whose covert
    alerts are included (None: no covert alert at all).
    """

    def add(self, alert: Alert) -> int:
        """Store a new alert (its `alert_id` is ignored); answer the id it got."""
        ...

    def update(self, alert: Alert) -> None:
        """Replace the stored alert of the same id; an unknown id changes nothing."""
        ...

    def get(self, alert_id: int) -> Alert | None: ...

    def open_for(self, entry_id: str, plate: str, *, zone: str, province: str) -> Alert | None:
        """The newest alert still open (open, acknowledged, confirmed) for this entry and
        plate in this zone and province, if any."""
        ...

    def add_hit(self, alert_id: int, hit: AlertHit) -> None:
        """Add a read to an existing alert; the same read twice is kept once."""
        ...

    def hits(self, alert_id: int) -> list[AlertHit]:
        """The alert's hits, oldest capture first."""
        ...

    def find(
        self,
        *,
        statuses: tuple[str, ...] | None = None,
        since: datetime | None = None,
        limit: int = 200,
        zone: str | None = None,
        province: str | None = None,
        viewer_org: str | None = None,
    ) -> list[Alert]:
        """Newest first (by alert id), opened at or after `since`, at most `limit`; only
        what the viewer may see."""
        ...

    def page(
        self,
        *,
        statuses: tuple[str, ...] | None = None,
        before: int | None = None,
        limit: int = 200,
        zone: str | None = None,
        province: str | None = None,
        viewer_org: str | None = None,
    ) -> list[Alert]:
        """Newest first from just below alert `before` (keyset paging), at most `limit`;
        only what the viewer may see."""
        ...

    def add_event(
        self,
        alert_id: int,
        *,
        at: datetime,
        actor: Actor,
        action: str,
        reason: str | None = None,
        outcome: str | None = None,
        note: str | None = None,
    ) -> None:
        """Append a step to an existing alert's history."""
        ...

    def events(self, alert_id: int) -> list[AlertStep]:
        """The alert's history, in the order the steps were added."""
        ...

    def report(
        self,
        *,
        since: datetime,
        until: datetime,
        zone: str | None = None,
        province: str | None = None,
        viewer_org: str | None = None,
    ) -> list[AlertCount]:
        """The alerts opened in [since, until) that the viewer may see, counted by list,
        zone, status, outcome and reason; ordered by those, absent values first."""
        ...

    def misreads_by_camera(
        self,
        *,
        since: datetime,
        until: datetime,
        zone: str | None = None,
        province: str | None = None,
        viewer_org: str | None = None,
    ) -> list[CameraMisreads]:
        """Per camera (by id), of the alerts opened in [since, until) that the viewer may
        see: how many were decided, how many rejected as misreads."""
        ...

    def add_webhook(
        self,
        *,
        name: str,
        url: str,
        secret: str,
        scope_kind: str,
        scope_value: str | None,
        now: datetime,
    ) -> int:
        """Register an active webhook; answer its id."""
        ...

    def webhooks(self) -> list[Webhook]:
        """Every webhook, active or not, by id."""
        ...

    def set_webhook_active(self, webhook_id: int, active: bool) -> int:
        """How many webhooks were found to change (0: no such webhook)."""
        ...

    def record_delivery(
        self,
        *,
        webhook_id: int,
        alert_id: int,
        event: str,
        attempts: int,
        status: str,
        http_status: int | None,
        error: str | None,
        now: datetime,
    ) -> None:
        """Log the final result of one delivery to an existing webhook."""
        ...

    def deliveries_page(
        self, *, status: str | None = None, before: int | None = None, limit: int = 200
    ) -> list[WebhookDelivery]:
        """Newest first from just below delivery `before` (keyset paging), at most `limit`."""
        ...

    def deliveries(self, *, status: str | None = None, limit: int = 200) -> list[WebhookDelivery]:
        """The newest `limit` deliveries (of `status`, if given)."""
        ...


class UnitOfWork(Protocol):
    """One transaction over every repository; leaving without commit rolls back.

    The repositories are read-only properties: an implementation may hold its own
    repository classes (`SqliteReadRepository`, `MemoryReadRepository`, …) as long as
    each satisfies its port.
    """

    @property
    def reads(self) -> ReadRepository: ...

    @property
    def cameras(self) -> CameraRepository: ...

    @property
    def dead_letters(self) -> DeadLetterRepository: ...

    @property
    def users(self) -> UserRepository: ...

    @property
    def audit(self) -> AuditRepository: ...

    @property
    def holds(self) -> HoldRepository: ...

    @property
    def authorizations(self) -> AuthorizationRepository: ...

    @property
    def clone_findings(self) -> CloneFindingRepository: ...

    @property
    def hotlists(self) -> HotlistRepository: ...

    @property
    def alerts(self) -> AlertRepository: ...

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc: Any) -> None: ...

    def commit(self) -> None: ...

    def rollback(self) -> None: ...

    def savepoint(self, name: str) -> AbstractContextManager[None]: ...


class Store(Protocol):
    """A store behind the ports: it hands out units of work over its repositories.

    The embedded SQLite store is the first implementation, the in-memory store of the
    unit tests the second; a PostgreSQL store joins by keeping this contract (and the
    repository contract suite, `tests/contract/`).
    """

    def uow(self, *, write: bool = True) -> UnitOfWork:
        """A unit of work; `write=False`: a read-only snapshot that never blocks a writer."""
        ...

    def initialise(self) -> list[int]:
        """Make the store ready (create it, apply pending migrations); the migrations
        applied now."""
        ...

    def schema_version(self) -> int:
        """The newest migration applied (0 for a store that needs none)."""
        ...

    def close(self) -> None:
        """Release every connection; the store may be opened again by `uow`."""
        ...


@dataclass(frozen=True, slots=True)
class ImageLocation:
    """Where `ImageStore.append` put an image: a segment of the image log, and the byte
    offset of the image's record in it. (An object store gives none: its images are
    found by their sha256 alone.)"""

    segment: str
    offset: int


class ImageStore(Protocol):
    """Content-addressed image bytes (named by their sha256).

    The ingest writer appends the images of each group of reads (`append`), makes them
    durable (`sync`) before the commit that refers to them, and records where each went
    with its read; `get` reads one back from there. Images written one at a time (`put`:
    the content-addressed folder of earlier versions) have no location, and are deleted
    one by one once no read refers to them; the appended ones are deleted a segment at a
    time, once no read refers into it (`sealed_segments`, `drop_segment`). A store that
    keeps every image by its sha256 alone (an S3 bucket: decision 0017) answers `append`
    with no location, so its images are deleted one by one like `put`'s, and has no
    segments.
    """

    def append(self, uploads: Sequence[ImageUpload]) -> Sequence[ImageLocation | None]:
        """Write these images (not yet durable); where each went, in the same order (None:
        found by its sha256 alone, as `put` stores it)."""
        ...

    def sync(self) -> None:
        """Every image appended so far is durable once this returns."""
        ...

    def get(self, sha256: str, at: ImageLocation | None = None) -> bytes | None:
        """The image's bytes from where `append` put it (or, without `at`, as `put`
        wrote it); None when they are not there or not intact."""
        ...

    def sealed_segments(self, now: float) -> Iterator[str]:
        """Segments no writer appends to any more at `now` (seconds since the epoch)."""
        ...

    def drop_segment(self, name: str) -> bool: ...

    def put(self, sha256: str, data: bytes, content_type: str) -> None:
        """Write one image on its own, durable before return (write once)."""
        ...

    def delete(self, sha256: str) -> bool: ...

    def delete_many(self, sha256s: Sequence[str]) -> int:
        """Delete these images (an object store: a thousand in one request); how many
        went (a store that cannot tell counts every one it was asked to delete)."""
        ...

    def exists(self, sha256: str) -> bool: ...

    def stored_before(self, moment: float) -> Iterator[str]: ...

    def remove_temporaries_before(self, moment: float, *, dry_run: bool = False) -> int: ...


class WebhookTargetCheck(Protocol):
    """Refuses a URL that alerts must not be sent to (raises `TargetRefused`); it may
    resolve the name, so it is never called inside a transaction."""

    def __call__(self, url: str, /) -> object: ...


class CameraCatalog(Protocol):
    """Every camera as a query sees it, which cameras each judicial district holds and
    which each zone or province holds (kept in memory between queries by
    `queries.CameraDirectory`)."""

    def current(self, uow: UnitOfWork) -> dict[str, Camera]: ...

    def by_district(
        self, cameras: dict[str, Camera], districts: DistrictMap
    ) -> dict[str, frozenset[str]]: ...

    def in_scope(self, cameras: dict[str, Camera], scope: Scope) -> frozenset[str] | None: ...


class AnchorStoreMissing(FileNotFoundError):
    """The anchor store holds nothing at all: no file, folder or bucket where it should be."""


@dataclass(frozen=True)
class StoredCheckpoints:
    checkpoints: tuple[Checkpoint, ...]  # in the order they were written
    damaged: tuple[str, ...] = ()  # where and why an entry could not be read


class AnchorStore(Protocol):
    """Where signed checkpoints of the audit chain are kept, outside the database.

    A folder of JSON lines by default; a write-once bucket or a remote service at scale.
    """

    @property
    def location(self) -> str: ...

    def append(self, checkpoint: Checkpoint) -> None: ...

    def read(self) -> StoredCheckpoints:
        """Every checkpoint kept; raises AnchorStoreMissing when there is no store at all."""
        ...


class IngestSink(Protocol):
    """Where validated reads go to become durable; the camera is answered from its future.

    The acknowledgement contract (docs/decisions/0007-the-ingest-acknowledgement-contract.md),
    kept by every sink, the embedded group-commit writer as much as a replicated stream:

    - the future resolves only once every accepted read of the batch is **durable**
      (embedded: committed with `synchronous=FULL`; a stream: acknowledged by a quorum of
      its replicas), so an answer of `stored` or `duplicate` lets the camera forget it;
    - `duplicate` is a hint, never a promise: a sink may answer `stored` for a read it has
      seen before (a stream past its duplicate window), and the store de-duplicates by read
      id, so every read is kept **exactly once** whatever the camera was told;
    - a failed or timed-out future says nothing about durability: the camera sends again,
      which is always safe;
    - `has_room` refuses work before it is validated (503 `ingest_busy`), so overload slows
      the cameras instead of queueing without bound.
    """

    def has_room(self, rows: int) -> bool: ...

    def submit(self, batch: IngestBatch) -> Future[StoredBatch]: ...


class CameraCredentialCache(Protocol):
    """Camera tokens the platform verified recently and trusts for a few seconds.

    Every change to a camera's phase or credentials clears it, so that the change applies
    to the very next read the camera posts.
    """

    def clear(self) -> None: ...


class SchemaMigrations(Protocol):
    """A store's schema, brought up to date by its backend's own migrations."""

    def initialise(self) -> list[int]:
        """Apply every pending migration; answer the versions applied now."""
        ...

    def schema_version(self) -> int:
        """The version of the last migration applied."""


class LiveStreams(Protocol):
    """The open live alert streams (`adapters/live.AlertBus`), told at once when an
    account loses access, so that no stream outlives a sign-out or a deletion."""

    def close_user(self, user_id: int, reason: str) -> int:
        """End every stream of this user; answers how many."""
        ...

    def close_credential(self, credential: str, reason: str) -> int:
        """End every stream opened with this token (its SHA-256)."""
        ...

    def recheck_user(self, user_id: int) -> int:
        """Make every stream of this user check its access again now."""


# --- Camera decoders ----------------------------------------------------------------------
# One decoder per camera protocol (native JSON, Hikvision ISAPI, Dahua ITS, Axis, …):
# each turns what its cameras send into canonical reads, holding every read to the
# domain's invariants (`domain/reads.py`), and keeps every item it refuses, so that nothing
# a camera sent is lost. Vendor quirks never leak past the decoder. See
# docs/decisions/0008-camera-decoder-port.md.

# (position in the delivery, the decoded read, the raw item it came from): the raw item
# is kept only for the dead-letter text of a read that fails later, on its way to the
# store (`DecodedBatch.payload_of` turns it into that text).
DecodedRead = tuple[int, ParsedRead, Any]


@dataclass(frozen=True, slots=True)
class Rejection:
    """One item of a delivery that did not become a read, kept whole as a dead letter.

    `payload` is the item as text that the camera's decoder reads back on a replay;
    `read_id` the id the camera gave it, when it gave one.
    """

    index: int
    payload: str
    errors: tuple[FieldError, ...]
    read_id: str | None = None


@dataclass(slots=True)
class DecodedBatch:
    """What a decoder made of one delivery: its reads, and the items it refused.

    A read may carry what the canonical read has no column for in `read.extra` (vendor
    fields, per-character confidences, plate boxes), its images inline (`uploads`, written
    to the image store before the read is committed) or by reference (`ImageRef.uri`), and
    a read id the decoder derived from the vendor's event identity
    (`domain.reads.derived_read_id`), so that a resend is a duplicate.
    """

    size: int  # items in the delivery: len(reads) + len(rejected)
    reads: list[DecodedRead] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    payload_of: Callable[[Any], str] = repr  # raw item → its dead-letter text

    @property
    def has_uploads(self) -> bool:
        """Some read carries image bytes (their writes are fsynced: keep them off an
        event loop)."""
        return any(parsed.uploads for _, parsed, _ in self.reads)


@dataclass(frozen=True, slots=True)
class DecodeContext:
    """What a decoder needs besides the delivery: when it arrived (every read's
    `received_at`, and the bound of its capture time), the rules a read must respect and
    how many items one delivery may hold."""

    received_at: datetime
    rules: ReadRules
    max_items: int


class DeliveryRefused(Invalid):
    """The delivery as a whole could not be decoded (not the camera's format, no items,
    too many): nothing is stored, and unless `keep` is false the body is kept as a dead
    letter with `problem`. `code` is what the camera is answered with."""

    def __init__(self, code: str, message: str, problem: FieldError, *, keep: bool = True):
        super().__init__(message, problems=[Problem(problem.field, problem.reason)], code=code)
        self.problem = problem
        self.keep = keep


class UnknownProtocol(DeliveryRefused):
    """No decoder speaks the camera's protocol on this server."""

    def __init__(self, protocol: str, known: Iterable[str]):
        reason = (
            f"no decoder for protocol {protocol!r} (this server decodes {', '.join(sorted(known))})"
        )
        super().__init__("unsupported_protocol", reason, FieldError("protocol", reason))
        self.protocol = protocol


class CameraDecoder(Protocol):
    """Turns the deliveries of one camera protocol into canonical reads and rejections.

    `decode` raises `DeliveryRefused` when the delivery as a whole cannot be read; it never
    raises for one bad item: that item becomes a `Rejection` and the good items beside it
    are decoded all the same. It is pure CPU (no I/O), so a route may run it where it likes.

    A dead-letter replay calls `decode` with an empty `content_type` and, as the body, a
    payload the decoder kept itself (a `Rejection.payload`, or a body it refused whole):
    a decoder must read its own dead-letter text back.
    """

    @property
    def protocol(self) -> str: ...

    def decode(
        self, body: bytes, content_type: str, camera: Camera, context: DecodeContext
    ) -> DecodedBatch: ...


class CameraDecoders(Protocol):
    """The decoders a server speaks, by protocol (`Camera.protocol` chooses one)."""

    @property
    def protocols(self) -> frozenset[str]: ...

    def decoder_for(self, protocol: str) -> CameraDecoder:
        """The protocol's decoder; `UnknownProtocol` when none speaks it."""
        ...
