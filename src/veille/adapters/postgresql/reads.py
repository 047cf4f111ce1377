"""PostgreSQL reads: COPY into day partitions, de-duplication through `read_ids`, and a
retention purge that drops whole days. It never commits.

Every query on `reads` or `read_images` is bounded by capture time, so the planner
prunes it to the days it needs: searches by their period, a read looked up by id by the
capture time `read_ids` keeps for it (decision 0015).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from veille.adapters.postgresql.partitions import (
    AHEAD_DAYS,
    DayPartitions,
    all_days,
    day_bounds,
    day_of,
    drop_day,
)
from veille.adapters.postgresql.portable import PortableConnection
from veille.adapters.sqlite.repositories import READ_COLUMNS, read_from_row, read_row
from veille.adapters.sqlite.times import decode, encode
from veille.domain.reads import ImageRef, Read
from veille.domain.retention import Hold, purgeable
from veille.service.ports import ImageLocation, ImagePlacer, PurgeBatch, PurgeCursor

Conn = psycopg.Connection[tuple[Any, ...]]
_BEFORE_ALL: PurgeCursor = (-(2**63), 0)
_LAST_ID = 2**63 - 1  # a cursor past every row of its instant
_READ_TYPES = [
    "bytea",
    "text",
    "int8",
    "int8",
    "text",
    "text",
    "text",
    "text",
    "float8",
    "text",
    "int4",
    "text",
    "text",
    "text",
    "text",
]
_IMAGE_COLUMNS = (
    "read_id, captured_at, position, kind, content_type, sha256, size, uri, segment, byte_offset"
)
_IMAGE_TYPES = ["bytea", "int8", "int4", "text", "text", "text", "int8", "text", "int8", "int8"]


@dataclass(frozen=True, slots=True)
class Where:
    """Where a stored read is: its key and the capture time that names its partition."""

    key: bytes
    captured_us: int


# The batch's ids with their capture times, in one statement (arrays, not a row each).
_TAKE_IDS = (
    "INSERT INTO read_ids (read_id, captured_at) SELECT * FROM unnest(%s::bytea[], %s::int8[])"
)


def _ids_of(rows: Sequence[tuple[Any, ...]]) -> tuple[list[bytes], list[int]]:
    return [r[0] for r in rows], [r[2] for r in rows]


def copy_read_rows(conn: Conn, rows: Sequence[tuple[Any, ...]]) -> None:
    """COPY rows of the reads table (`read_row`) in binary into `reads`, which routes each
    to its day partition (the partitions must exist). Also the COPY benchmark's yardstick."""
    with (
        conn.cursor() as cur,
        cur.copy(f"COPY reads ({READ_COLUMNS}) FROM STDIN (FORMAT BINARY)") as copy,
    ):
        copy.set_types(_READ_TYPES)
        for row in rows:
            # the confidence a float, as binary float8 wants it, even if given as 1
            copy.write_row((*row[:8], float(row[8]), *row[9:]))


class PostgresReadRepository:
    def __init__(self, conn: PortableConnection, partitions: DayPartitions, made: set[int]):
        self._portable = conn
        self._partitions = partitions
        self._made = made  # days whose partitions this transaction made (kept on commit)

    @property
    def conn(self) -> Conn:
        """The unit of work's connection (raises when it is not open)."""
        return self._portable.pg

    # --- writing ------------------------------------------------------------------------
    def add_many(self, reads: Sequence[Read]) -> None:
        """Store reads; a read id stored already (or twice here) refuses the whole call."""
        rows = [read_row(r) for r in reads]
        self._ensure_days(rows)
        self.conn.execute(_TAKE_IDS, _ids_of(rows))
        self._copy_reads(rows)
        self._add_images(reads)

    def add_new(
        self,
        reads: Sequence[Read],
        rows: Sequence[tuple[Any, ...]] | None = None,
        located: ImagePlacer | None = None,
    ) -> list[Read]:
        """Store the reads whose id is not stored yet; return those inserted.

        `read_ids` decides, whatever the process: the ids it takes (ON CONFLICT DO
        NOTHING, so a concurrent writer of the same id waits for the other's commit) are
        the fresh reads, copied in one COPY; of reads sharing an id here, the first.
        """
        if not reads:
            return []
        if rows is None:
            rows = [read_row(r) for r in reads]
        elif len(rows) != len(reads):
            raise ValueError(f"{len(rows)} encoded rows for {len(reads)} reads")
        self._ensure_days(rows)
        taken = {
            bytes(found[0])
            for found in self.conn.execute(
                _TAKE_IDS + " ON CONFLICT DO NOTHING RETURNING read_id", _ids_of(rows)
            )
        }
        fresh: list[Read] = []
        fresh_rows: list[tuple[Any, ...]] = []
        for read, row in zip(reads, rows, strict=True):
            if row[0] in taken:  # the first of a repeated id is the one taken
                taken.discard(row[0])
                fresh.append(read)
                fresh_rows.append(row)
        self._copy_reads(fresh_rows)
        self._add_images(fresh, located(fresh) if located is not None and fresh else None)
        return fresh

    def _ensure_days(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """The partitions of the batch's days, and of the days just ahead of its newest
        receipt, so the first reads of tomorrow find theirs made."""
        if not rows:
            return
        days = {day_of(r[2]) for r in rows}
        newest = day_of(max(r[3] for r in rows))
        days.update(range(newest, newest + AHEAD_DAYS + 1))
        self._made.update(self._partitions.ensure_days(self.conn, days))

    def _copy_reads(self, rows: Sequence[tuple[Any, ...]]) -> None:
        if not rows:
            return
        try:
            copy_read_rows(self.conn, rows)
        except psycopg.errors.CheckViolation:
            # no partition for a row: another process's purge dropped a day this one
            # knew; this batch fails (its cameras send again) and the next asks again
            self._partitions.forget()
            raise

    def _add_images(
        self, reads: Sequence[Read], locations: Mapping[str, ImageLocation] | None = None
    ) -> None:
        """The image rows of these reads (COPY), each with where its bytes are, and the
        segments' reference counts."""
        segment_ids = self._segment_ids(locations) if locations else {}
        rows: list[tuple[Any, ...]] = []
        counts: dict[int, int] = {}
        for read in reads:
            captured = encode(read.captured_at) if read.images else 0
            for i, img in enumerate(read.images):
                at = locations.get(img.sha256) if locations and img.sha256 else None
                segment = None
                if at is not None:
                    segment = segment_ids[at.segment]
                    counts[segment] = counts.get(segment, 0) + 1
                rows.append(
                    (
                        read.read_id.bytes,
                        captured,
                        i,
                        img.kind,
                        img.content_type,
                        img.sha256,
                        img.size,
                        img.uri,
                        segment,
                        None if at is None else at.offset,
                    )
                )
        if rows:
            with (
                self.conn.cursor() as cur,
                cur.copy(f"COPY read_images ({_IMAGE_COLUMNS}) FROM STDIN (FORMAT BINARY)") as copy,
            ):
                copy.set_types(_IMAGE_TYPES)
                for image_row in rows:
                    copy.write_row(image_row)
        for segment, count in sorted(counts.items()):  # one order: no deadlock between writers
            self.conn.execute(
                "UPDATE image_segments SET live = live + %s WHERE id = %s", (count, segment)
            )

    def _segment_ids(self, locations: Mapping[str, ImageLocation]) -> dict[str, int]:
        found: dict[str, int] = {}
        for name in sorted({at.segment for at in locations.values()}):
            row = self.conn.execute(
                "INSERT INTO image_segments (name) VALUES (%s)"
                " ON CONFLICT (name) DO UPDATE SET name = excluded.name RETURNING id",
                (name,),
            ).fetchone()
            assert row is not None
            found[name] = int(row[0])
        return found

    # --- where reads are ----------------------------------------------------------------
    def _where(self, read_ids: Iterable[uuid.UUID | bytes]) -> list[Where]:
        keys = [r.bytes if isinstance(r, uuid.UUID) else r for r in read_ids]
        if not keys:
            return []
        return [
            Where(bytes(key), int(at))
            for key, at in self.conn.execute(
                "SELECT read_id, captured_at FROM read_ids WHERE read_id = ANY(%s)", (keys,)
            )
        ]

    @staticmethod
    def _span(found: Sequence[Where]) -> tuple[list[bytes], int, int]:
        """The keys, and the capture period that holds them all (what prunes)."""
        times = [w.captured_us for w in found]
        return [w.key for w in found], min(times), max(times)

    def _images_for(self, found: Sequence[Where]) -> dict[bytes, list[ImageRef]]:
        out: dict[bytes, list[ImageRef]] = {}
        if not found:
            return out
        keys, first, last = self._span(found)
        for rid, kind, ctype, sha, size, uri in self.conn.execute(
            "SELECT read_id, kind, content_type, sha256, size, uri FROM read_images"
            " WHERE read_id = ANY(%s) AND captured_at BETWEEN %s AND %s"
            " ORDER BY read_id, position",
            (keys, first, last),
        ):
            out.setdefault(bytes(rid), []).append(
                ImageRef(kind=kind, content_type=ctype, sha256=sha, size=size, uri=uri)
            )
        return out

    def _hydrate(self, rows: list[tuple[Any, ...]]) -> list[Read]:
        images = self._images_for([Where(bytes(r[0]), r[2]) for r in rows])
        return [read_from_row(row, images.get(bytes(row[0]), ())) for row in rows]

    # --- reading ------------------------------------------------------------------------
    def get(self, read_id: uuid.UUID) -> Read | None:
        found = self._where([read_id])
        if not found:
            return None
        rows = self.conn.execute(
            f"SELECT {READ_COLUMNS} FROM reads WHERE captured_at = %s AND read_id = %s",
            (found[0].captured_us, found[0].key),
        ).fetchall()
        hydrated = self._hydrate(rows)
        return hydrated[0] if hydrated else None

    def _search(
        self,
        *,
        start: datetime,
        end: datetime,
        plates: Iterable[str] | None,
        camera_ids: Iterable[str] | None,
        more: Sequence[tuple[str, Any]] = (),
    ) -> tuple[list[str], list[Any]] | None:
        """The WHERE clauses of a search over [start, end) (None: it cannot match)."""
        clauses = ["captured_at >= %s", "captured_at < %s"]
        params: list[Any] = [encode(start), encode(end)]
        for column, values in (("plate", plates), ("camera_id", camera_ids)):
            if values is not None:
                wanted = sorted(set(values))
                if not wanted:
                    return None
                clauses.append(f"{column} = ANY(%s)")
                params.append(wanted)
        for clause, value in more:
            clauses.append(clause)
            params.append(value)
        return clauses, params

    def _found(self, where: tuple[list[str], list[Any]] | None, limit: int) -> list[Read]:
        if where is None:
            return []
        clauses, params = where
        rows = self.conn.execute(
            f"SELECT {READ_COLUMNS} FROM reads WHERE {' AND '.join(clauses)}"
            " ORDER BY captured_at, id LIMIT %s",
            (*params, limit),
        ).fetchall()
        return self._hydrate(rows)

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
        """Reads captured in [start, end), narrowed by plates, a canonical form, cameras."""
        more = [] if canonical is None else [("plate_canonical = %s", canonical)]
        where = self._search(start=start, end=end, plates=plates, camera_ids=camera_ids, more=more)
        return self._found(where, limit)

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
        """Reads in [start, end) whose plate starts with `prefix` (a plate-index range)."""
        where = self._search(
            start=start, end=end, plates=plates, camera_ids=camera_ids, more=_plate_range(prefix)
        )
        return self._found(where, limit)

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
        """Distinct plates read in [start, end), optionally at given cameras, with a prefix,
        or seen at `min_cameras` distinct cameras or more."""
        where = self._search(
            start=start,
            end=end,
            plates=plates,
            camera_ids=camera_ids,
            more=_plate_range(prefix or ""),
        )
        if where is None:
            return []
        clauses, params = where
        having = " HAVING count(DISTINCT camera_id) >= %s" if min_cameras > 1 else ""
        if having:
            params.append(min_cameras)
        rows = self.conn.execute(
            f"SELECT plate FROM reads WHERE {' AND '.join(clauses)}"
            f" GROUP BY plate{having} ORDER BY plate LIMIT %s",
            (*params, limit),
        )
        return [row[0] for row in rows]

    def count(self) -> int:
        row = self.conn.execute("SELECT count(*) FROM read_ids").fetchone()
        return int(row[0]) if row else 0

    # --- images -------------------------------------------------------------------------
    def image_hashes(self, read_ids: Sequence[uuid.UUID]) -> set[str]:
        return self._hashes_of(self._where(read_ids))

    def _hashes_of(self, found: Sequence[Where], *, single_files: bool = False) -> set[str]:
        if not found:
            return set()
        keys, first, last = self._span(found)
        only = " AND segment IS NULL" if single_files else ""
        return {
            row[0]
            for row in self.conn.execute(
                "SELECT sha256 FROM read_images WHERE read_id = ANY(%s)"
                f" AND captured_at BETWEEN %s AND %s AND sha256 IS NOT NULL{only}",
                (keys, first, last),
            )
        }

    def image_locations(self, read_ids: Sequence[uuid.UUID]) -> dict[str, ImageLocation | None]:
        found: dict[str, ImageLocation | None] = {}
        where = self._where(read_ids)
        if not where:
            return found
        keys, first, last = self._span(where)
        for sha, name, offset in self.conn.execute(
            "SELECT i.sha256, s.name, i.byte_offset FROM read_images i"
            " LEFT JOIN image_segments s ON s.id = i.segment"
            " WHERE i.read_id = ANY(%s) AND i.captured_at BETWEEN %s AND %s"
            " AND i.sha256 IS NOT NULL",
            (keys, first, last),
        ):
            if name is not None:
                found[sha] = ImageLocation(name, offset)
            else:
                found.setdefault(sha, None)
        return found

    def segment_images(self, segments: Iterable[str]) -> dict[str, int]:
        return {
            name: int(live)
            for name, live in self.conn.execute(
                "SELECT name, live FROM image_segments WHERE name = ANY(%s)",
                (sorted(set(segments)),),
            )
        }

    def forget_segments(self, segments: Iterable[str]) -> None:
        self.conn.execute(
            "DELETE FROM image_segments WHERE name = ANY(%s) AND live <= 0",
            (sorted(set(segments)),),
        )

    def unreferenced(self, hashes: Iterable[str]) -> set[str]:
        """Those of these single-file images no read refers to (the partial index of
        every day; not an analysis, so not bounded by time)."""
        wanted = set(hashes)
        if not wanted:
            return set()
        still = {
            row[0]
            for row in self.conn.execute(
                "SELECT DISTINCT sha256 FROM read_images WHERE sha256 = ANY(%s)"
                " AND segment IS NULL AND sha256 IS NOT NULL",
                (sorted(wanted),),
            )
        }
        return wanted - still

    def _release_images(self, keys: list[bytes], first: int, last: int) -> None:
        """Delete the image rows of these reads, counting them out of their segments."""
        span = (keys, first, last)
        for segment, count in self.conn.execute(
            "SELECT segment, count(*) FROM read_images WHERE read_id = ANY(%s)"
            " AND captured_at BETWEEN %s AND %s AND segment IS NOT NULL"
            " GROUP BY segment ORDER BY segment",
            span,
        ).fetchall():
            self.conn.execute(
                "UPDATE image_segments SET live = live - %s WHERE id = %s", (count, segment)
            )
        self.conn.execute(
            "DELETE FROM read_images WHERE read_id = ANY(%s) AND captured_at BETWEEN %s AND %s",
            span,
        )

    def _delete_found(self, found: Sequence[Where]) -> int:
        if not found:
            return 0
        keys, first, last = self._span(found)
        self._release_images(keys, first, last)
        deleted = self.conn.execute(
            "DELETE FROM reads WHERE read_id = ANY(%s) AND captured_at BETWEEN %s AND %s",
            (keys, first, last),
        ).rowcount
        self.conn.execute("DELETE FROM read_ids WHERE read_id = ANY(%s)", (keys,))
        return deleted

    def delete(self, read_ids: Sequence[uuid.UUID]) -> int:
        return self._delete_found(self._where(read_ids))

    # --- retention ----------------------------------------------------------------------
    def purge_before(
        self,
        *,
        cutoff: datetime,
        holds: Sequence[Hold],
        limit: int,
        after: PurgeCursor | None = None,
    ) -> PurgeBatch:
        """One step of the retention purge (see the port): a whole day no hold touches is
        dropped in one step (its partitions go, in constant time), any other day is
        walked row by row as on SQLite. Never commits."""
        return self._purge_step(cutoff=cutoff, holds=holds, limit=limit, after=after, apply=True)

    def preview_purge_before(
        self,
        *,
        cutoff: datetime,
        holds: Sequence[Hold],
        limit: int,
        after: PurgeCursor | None = None,
    ) -> PurgeBatch:
        """What `purge_before` would do; reads only, so a read-only transaction serves."""
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
        if limit < 1:
            raise ValueError("limit must be at least 1")
        cut = encode(cutoff)
        last_ts, last_id = after or _BEFORE_ALL
        active = [h for h in holds if h.active]
        dropped, orphaned, resume = 0, set[str](), after
        for day in all_days(self.conn):
            start, end = day_bounds(day)
            if end - 1 < last_ts or (end - 1 == last_ts and last_id == _LAST_ID):
                continue  # passed already
            if start >= cut:
                break
            if end <= cut and last_ts < start and not _touched(active, start, end):
                # every read of the day is doomed: the whole day goes, and the days after
                # it that are as doomed, in this step, until `limit` reads have gone
                doomed, hashes = self._drop_day(day, apply=apply)
                dropped += doomed
                orphaned |= hashes
                if doomed:
                    resume = (end - 1, _LAST_ID)
                if dropped >= limit:
                    break
                continue
            if dropped:
                break  # a day walked row by row is the next step's
            step = self._walk_day(day, cut, active, limit, after, apply=apply)
            if step is not None:
                return step
        if not dropped or resume is None:
            return PurgeBatch(0, 0, frozenset(), True, after)
        if apply and orphaned:  # once for every day dropped: one look at every day left
            orphaned = self.unreferenced(orphaned)
        return PurgeBatch(
            deleted=dropped,
            kept_by_holds=0,
            orphaned_images=frozenset(orphaned),
            done=not self._any_between(resume[0] + 1, cut),
            resume_after=resume,
        )

    def _drop_day(self, day: int, *, apply: bool) -> tuple[int, set[str]]:
        """Drop a day's partitions whole (in a preview, only count them): how many reads
        went, and their single-file images (in a preview, all of their images)."""
        start, end = day_bounds(day)
        bounds = (start, end)
        row = self.conn.execute(
            "SELECT count(*) FROM reads WHERE captured_at >= %s AND captured_at < %s", bounds
        ).fetchone()
        doomed = int(row[0]) if row else 0
        only = " AND segment IS NULL" if apply else ""
        hashes = {
            r[0]
            for r in self.conn.execute(
                "SELECT DISTINCT sha256 FROM read_images WHERE captured_at >= %s"
                f" AND captured_at < %s AND sha256 IS NOT NULL{only}",
                bounds,
            )
        }
        if apply:
            for segment, count in self.conn.execute(
                "SELECT segment, count(*) FROM read_images WHERE captured_at >= %s"
                " AND captured_at < %s AND segment IS NOT NULL GROUP BY segment ORDER BY segment",
                bounds,
            ).fetchall():
                self.conn.execute(
                    "UPDATE image_segments SET live = live - %s WHERE id = %s", (count, segment)
                )
            self.conn.execute(
                "DELETE FROM read_ids WHERE captured_at >= %s AND captured_at < %s", bounds
            )
            drop_day(self.conn, day)
            self._partitions.forget([day])
        return doomed, hashes

    def _walk_day(
        self,
        day: int,
        cut: int,
        holds: Sequence[Hold],
        limit: int,
        after: PurgeCursor | None,
        *,
        apply: bool,
    ) -> PurgeBatch | None:
        """The next reads of a day a hold touches (or that the cutoff cuts), oldest first,
        each decided by the domain rule (None: nothing left of the day to examine)."""
        start, end = day_bounds(day)
        last_ts, last_id = after or _BEFORE_ALL
        upper = min(end, cut)
        rows = self.conn.execute(
            "SELECT id, read_id, plate, camera_id, captured_at FROM reads"
            " WHERE captured_at >= %s AND captured_at < %s"
            " AND NOT (captured_at = %s AND id <= %s)"
            " ORDER BY captured_at, id LIMIT %s",
            (max(start, last_ts), upper, last_ts, last_id, limit + 1),
        ).fetchall()
        if not rows:
            return None
        page = rows[:limit]
        cutoff = decode(cut)
        doomed = [
            Where(bytes(r[1]), int(r[4]))
            for r in page
            if purgeable(
                captured_at=decode(r[4]), plate=r[2], camera_id=r[3], cutoff=cutoff, holds=holds
            )
        ]
        hashes = self._hashes_of(doomed, single_files=apply)
        if apply:
            deleted = self._delete_found(doomed)
            hashes = self.unreferenced(hashes) if hashes else set()
        else:
            deleted = len(doomed)
        done = len(rows) <= limit and (upper == cut or not self._any_between(end, cut))
        return PurgeBatch(
            deleted=deleted,
            kept_by_holds=len(page) - len(doomed),
            orphaned_images=frozenset(hashes),
            done=done,
            resume_after=(int(page[-1][4]), int(page[-1][0])),
        )

    def _any_between(self, start: int, end: int) -> bool:
        row = self.conn.execute(
            "SELECT EXISTS (SELECT 1 FROM reads WHERE captured_at >= %s AND captured_at < %s)",
            (start, end),
        ).fetchone()
        return bool(row and row[0])


def _touched(holds: Sequence[Hold], start: int, end: int) -> bool:
    """Some active hold's period meets [start, end) (it may keep a read of the day)."""
    return any(encode(h.period_start) < end and encode(h.period_end) >= start for h in holds)


def _plate_range(prefix: str) -> list[tuple[str, Any]]:
    """`plate >= prefix AND plate < successor`: a prefix as a range on the plate index
    (COLLATE "C": byte order, as SQLite's)."""
    if not prefix:
        return []
    successor = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    return [("plate >= %s", prefix), ("plate < %s", successor)]
