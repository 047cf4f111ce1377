"""In-memory reads: the repository of passages, with their image references."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson

from veille.adapters.memory.store import ConstraintViolated
from veille.domain.reads import Read
from veille.domain.retention import Hold, purgeable
from veille.domain.times import micros, utc
from veille.service.ports import ImageLocation, ImagePlacer, PurgeBatch, PurgeCursor

if TYPE_CHECKING:
    from veille.adapters.memory.store import MemoryUnitOfWork


@dataclass(frozen=True, slots=True)
class StoredRead:
    """A read as the table holds it; `row` orders reads stored at the same instant."""

    row: int
    read: Read


def _kept(read: Read) -> Read:
    """A copy the table can keep: its `extra` goes through JSON, as SQLite's column does,
    so a later change to the caller's dict does not reach the stored read."""
    extra = orjson.loads(orjson.dumps(read.extra)) if read.extra else {}
    return replace(read, extra=extra)


def _wanted(values: Iterable[str] | None) -> frozenset[str] | None:
    return None if values is None else frozenset(values)


class MemoryReadRepository:
    def __init__(self, uow: MemoryUnitOfWork):
        self.uow = uow

    def _rows(self) -> Iterable[StoredRead]:
        rows: Iterable[StoredRead] = self.uow.table("reads").values()
        return rows

    def add_many(self, reads: Sequence[Read]) -> None:
        """Store reads; a read id stored already (or twice here) refuses the whole call."""
        table = self.uow.table("reads")
        seen: set[uuid.UUID] = set()
        for read in reads:
            if read.read_id in table or read.read_id in seen:
                raise ConstraintViolated(f"read {read.read_id} is stored already")
            seen.add(read.read_id)
        self._insert(reads)

    def add_new(
        self,
        reads: Sequence[Read],
        rows: Sequence[Any] | None = None,
        located: ImagePlacer | None = None,
    ) -> list[Read]:
        """Store the reads whose id is not stored yet; return those very objects.

        Of reads sharing an id in `reads`, only the first is stored. `rows` are the reads
        encoded by `MemoryStore.encode_read` (the reads themselves), checked but unused.
        """
        if rows is not None and len(rows) != len(reads):
            raise ValueError(f"{len(rows)} encoded rows for {len(reads)} reads")
        table = self.uow.table("reads")
        fresh: list[Read] = []
        seen: set[uuid.UUID] = set()
        for read in reads:
            if read.read_id not in table and read.read_id not in seen:
                seen.add(read.read_id)
                fresh.append(read)
        self._insert(fresh)
        if located is not None and fresh:
            self._locate(fresh, located(fresh))
        return fresh

    def _locate(self, reads: Sequence[Read], locations: Mapping[str, ImageLocation]) -> None:
        if not locations:
            return
        table = self.uow.writable("image_locations")
        live = self.uow.writable("image_segments")
        for read in reads:
            for position, image in enumerate(read.images):
                at = locations.get(image.sha256) if image.sha256 else None
                if at is not None:
                    table[(read.read_id, position)] = at
                    live[at.segment] = live.get(at.segment, 0) + 1

    def image_locations(self, read_ids: Sequence[uuid.UUID]) -> dict[str, ImageLocation | None]:
        reads, locations = self.uow.table("reads"), self.uow.table("image_locations")
        found: dict[str, ImageLocation | None] = {}
        for read_id in read_ids:
            stored = reads.get(read_id)
            for position, image in enumerate(stored.read.images if stored else ()):
                if image.sha256 is None:
                    continue
                at = locations.get((read_id, position))
                if at is not None:
                    found[image.sha256] = at
                else:
                    found.setdefault(image.sha256, None)
        return found

    def segment_images(self, segments: Iterable[str]) -> dict[str, int]:
        live = self.uow.table("image_segments")
        return {name: live[name] for name in set(segments) if name in live}

    def forget_segments(self, segments: Iterable[str]) -> None:
        doomed = [name for name in set(segments) if self.uow.table("image_segments").get(name) == 0]
        if doomed:
            live = self.uow.writable("image_segments")
            for name in doomed:
                del live[name]

    def _insert(self, reads: Sequence[Read]) -> None:
        if not reads:
            return
        table = self.uow.writable("reads")
        for read in reads:
            table[read.read_id] = StoredRead(self.uow.next_id("reads"), _kept(read))

    def get(self, read_id: uuid.UUID) -> Read | None:
        stored = self.uow.table("reads").get(read_id)
        return stored.read if stored else None

    def _select(
        self,
        *,
        start: datetime,
        end: datetime,
        plates: Iterable[str] | None,
        camera_ids: Iterable[str] | None,
        canonical: str | None = None,
        prefix: str | None = None,
    ) -> list[Read]:
        """Reads in [start, end) meeting every criterion given, by capture time."""
        start, end = utc(start), utc(end)  # naive: refused
        wanted_plates, wanted_cameras = _wanted(plates), _wanted(camera_ids)
        found = [
            s
            for s in self._rows()
            if start <= s.read.captured_at < end
            and (wanted_plates is None or s.read.plate in wanted_plates)
            and (wanted_cameras is None or s.read.camera_id in wanted_cameras)
            and (canonical is None or s.read.plate_canonical == canonical)
            and (not prefix or s.read.plate.startswith(prefix))
        ]
        found.sort(key=lambda s: (s.read.captured_at, s.row))
        return [s.read for s in found]

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
        return self._select(
            start=start, end=end, plates=plates, camera_ids=camera_ids, canonical=canonical
        )[:limit]

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
        return self._select(
            start=start, end=end, plates=plates, camera_ids=camera_ids, prefix=prefix
        )[:limit]

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
    ) -> list[str]:
        cameras_of: dict[str, set[str]] = {}
        for read in self._select(
            start=start, end=end, plates=plates, camera_ids=camera_ids, prefix=prefix
        ):
            cameras_of.setdefault(read.plate, set()).add(read.camera_id)
        return sorted(p for p, cams in cameras_of.items() if len(cams) >= min_cameras)[:limit]

    def count(self) -> int:
        return len(self.uow.table("reads"))

    def image_hashes(self, read_ids: Sequence[uuid.UUID]) -> set[str]:
        table = self.uow.table("reads")
        return {
            image.sha256
            for read_id in read_ids
            if (stored := table.get(read_id)) is not None
            for image in stored.read.images
            if image.sha256 is not None
        }

    def delete(self, read_ids: Sequence[uuid.UUID]) -> int:
        doomed = set(read_ids) & self.uow.table("reads").keys()
        if doomed:
            reads = self.uow.table("reads")
            located = [
                key
                for read_id in doomed
                for key in ((read_id, p) for p in range(len(reads[read_id].read.images)))
                if key in self.uow.table("image_locations")
            ]
            if located:
                locations = self.uow.writable("image_locations")
                live = self.uow.writable("image_segments")
                for key in located:
                    live[locations.pop(key).segment] -= 1
            table = self.uow.writable("reads")
            for read_id in doomed:
                del table[read_id]
        return len(doomed)

    def _single_file_hashes(self, read_ids: Sequence[uuid.UUID]) -> set[str]:
        reads, locations = self.uow.table("reads"), self.uow.table("image_locations")
        return {
            image.sha256
            for read_id in read_ids
            if (stored := reads.get(read_id)) is not None
            for position, image in enumerate(stored.read.images)
            if image.sha256 is not None and (read_id, position) not in locations
        }

    def unreferenced(self, hashes: Iterable[str]) -> set[str]:
        wanted = set(hashes)
        wanted -= self._single_file_hashes([s.read.read_id for s in self._rows()])
        return wanted

    def purge_before(
        self,
        *,
        cutoff: datetime,
        holds: Sequence[Hold],
        limit: int,
        after: PurgeCursor | None = None,
    ) -> PurgeBatch:
        """One bounded step of the retention purge (see the port); never commits."""
        return self._purge_step(cutoff=cutoff, holds=holds, limit=limit, after=after, apply=True)

    def preview_purge_before(
        self,
        *,
        cutoff: datetime,
        holds: Sequence[Hold],
        limit: int,
        after: PurgeCursor | None = None,
    ) -> PurgeBatch:
        """What `purge_before` would do, changing nothing."""
        return self._purge_step(cutoff=cutoff, holds=holds, limit=limit, after=after, apply=False)

    def _purge_step(
        self,
        *,
        cutoff: datetime,
        holds: Sequence[Hold],
        limit: int,
        after: PurgeCursor | None,
        apply: bool,
    ) -> PurgeBatch:
        """Reads before the cutoff past the cursor, by (capture time, row), decided one by
        one with the domain rule."""
        if limit < 1:
            raise ValueError("limit must be at least 1")
        keyed = self._keyed_before(cutoff, after)
        page = keyed[:limit]
        doomed = [
            read
            for _, read in page
            if purgeable(
                captured_at=read.captured_at,
                plate=read.plate,
                camera_id=read.camera_id,
                cutoff=cutoff,
                holds=holds,
            )
        ]
        doomed_ids = [r.read_id for r in doomed]
        hashes = self._single_file_hashes(doomed_ids) if apply else self.image_hashes(doomed_ids)
        if apply:
            deleted = self.delete(doomed_ids)
            hashes = self.unreferenced(hashes) if hashes else set()
        else:
            deleted = len(doomed)
        return PurgeBatch(
            deleted=deleted,
            kept_by_holds=len(page) - len(doomed),
            orphaned_images=frozenset(hashes),
            done=len(keyed) <= limit,
            resume_after=page[-1][0] if page else after,
        )

    def _keyed_before(
        self, cutoff: datetime, after: PurgeCursor | None
    ) -> list[tuple[PurgeCursor, Read]]:
        cutoff = utc(cutoff)
        keyed = [
            ((micros(s.read.captured_at), s.row), s.read)
            for s in self._rows()
            if s.read.captured_at < cutoff
        ]
        keyed.sort(key=lambda pair: pair[0])
        return [pair for pair in keyed if after is None or pair[0] > after]
