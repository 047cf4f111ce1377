"""SQLite implementations of the repository ports. They never commit."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from functools import lru_cache
from itertools import chain
from typing import Any

import orjson

from veille.adapters.sqlite.times import decode, decode_or_none, encode, encode_or_none
from veille.domain.cameras import Camera, Phase
from veille.domain.reads import Candidate, ImageRef, Read
from veille.domain.retention import Hold, purgeable
from veille.service.ports import DeadLetter, ImageLocation, ImagePlacer, PurgeBatch, PurgeCursor

_CHUNK = 500  # bound on "IN (...)" parameters per statement
# Most rows per multi-row INSERT: 2,048 × 15 columns = 30,720 parameters, under the
# 32,766 SQLite allows since 3.32 (a build with a lower limit gets smaller statements).
_ROWS_PER_INSERT = 2048
_BEFORE_ALL: PurgeCursor = (-(2**63), 0)


READ_COLUMNS = (
    "read_id, camera_id, captured_at, received_at, plate_raw, plate, plate_canonical, country,"
    " confidence, direction, lane, vehicle_make, vehicle_colour, vehicle_type, details"
)
_READ_FIELDS = len(READ_COLUMNS.split(","))
_READ_PLACEHOLDERS = "(" + ",".join("?" * _READ_FIELDS) + ")"
INSERT_READ = f"INSERT INTO reads ({READ_COLUMNS}) VALUES {_READ_PLACEHOLDERS}"
INSERT_IMAGE = (
    "INSERT OR IGNORE INTO read_images (read_id, position, kind, content_type, sha256, size, uri)"
    " VALUES (?,?,?,?,?,?,?)"
)
_IMAGE_COLUMNS = "read_id, position, kind, content_type, sha256, size, uri, segment, byte_offset"
_IMAGE_FIELDS = len(_IMAGE_COLUMNS.split(","))
_IMAGE_PLACEHOLDERS = "(" + ",".join("?" * _IMAGE_FIELDS) + ")"
_ROWS_PER_IMAGE_INSERT = 1024  # 9,216 parameters, under every SQLite's limit since 3.32
# an image row with where its bytes are in the image log (segment id, byte offset)
INSERT_LOCATED_IMAGE = (
    f"INSERT OR IGNORE INTO read_images ({_IMAGE_COLUMNS}) VALUES {_IMAGE_PLACEHOLDERS}"
)


# The last `received_at` encoded and its column value: every read of one delivery shares
# one `received_at` object, so a batch encodes it once (a tuple swap is atomic: request
# threads may share this; at worst one encodes it again).
_last_received: tuple[datetime | None, int] = (None, 0)


def _received(moment: datetime) -> int:
    global _last_received
    last, value = _last_received
    if moment is not last:
        value = encode(moment)
        _last_received = (moment, value)
    return value


def read_row(read: Read) -> tuple[Any, ...]:
    """The row of the reads table for one read (the same in the benchmark's raw insert)."""
    details = None
    if read.candidates or read.extra:
        details = orjson.dumps(
            {
                "candidates": [[c.plate, c.confidence] for c in read.candidates],
                "extra": read.extra,
            }
        ).decode()
    return (
        read.read_id.bytes,
        read.camera_id,
        encode(read.captured_at),
        _received(read.received_at),
        read.plate_raw,
        read.plate,
        read.plate_canonical,
        read.country,
        read.confidence,
        read.direction,
        read.lane,
        read.vehicle_make,
        read.vehicle_colour,
        read.vehicle_type,
        details,
    )


@lru_cache(maxsize=64)
def _insert_images_sql(rows: int) -> str:
    return f"INSERT OR IGNORE INTO read_images ({_IMAGE_COLUMNS}) VALUES " + ",".join(
        [_IMAGE_PLACEHOLDERS] * rows
    )


@lru_cache(maxsize=64)
def _insert_reads_sql(rows: int, *, ignore_existing: bool) -> str:
    verb = "INSERT OR IGNORE INTO" if ignore_existing else "INSERT INTO"
    return f"{verb} reads ({READ_COLUMNS}) VALUES " + ",".join([_READ_PLACEHOLDERS] * rows)


def insert_read_rows(
    conn: sqlite3.Connection, rows: Sequence[tuple[Any, ...]], *, ignore_existing: bool
) -> int:
    """Insert rows of the reads table; return how many were inserted.

    Multi-row statements instead of `executemany`: one statement step inserts up to
    2,048 rows, so the writer thread lets go of the GIL once per chunk rather than once
    per row, and does not queue behind the request thread to get it back row after row
    (measured: docs/decisions/0004-a-lean-ingest-writer.md). Chunks are powers of two,
    so at most twelve statement texts exist and all stay in the statement cache.
    `ignore_existing` skips rows whose read id is already stored (INSERT OR IGNORE).
    """
    most = conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // _READ_FIELDS
    most = min(_ROWS_PER_INSERT, 1 << max(0, most.bit_length() - 1))
    inserted = 0
    start, total = 0, len(rows)
    while start < total:
        size = min(most, 1 << ((total - start).bit_length() - 1))
        params = list(chain.from_iterable(rows[start : start + size]))
        sql = _insert_reads_sql(size, ignore_existing=ignore_existing)
        inserted += conn.execute(sql, params).rowcount
        start += size
    return inserted


def image_rows(read: Read) -> list[tuple[Any, ...]]:
    return [
        (read.read_id.bytes, i, img.kind, img.content_type, img.sha256, img.size, img.uri)
        for i, img in enumerate(read.images)
    ]


def read_from_row(row: Sequence[Any], images: Iterable[ImageRef]) -> Read:
    """The read of a reads-table row (`READ_COLUMNS` order) and its images, in order."""
    details = orjson.loads(row[14]) if row[14] else {}
    return Read(
        read_id=uuid.UUID(bytes=bytes(row[0])),
        camera_id=row[1],
        captured_at=decode(row[2]),
        received_at=decode(row[3]),
        plate_raw=row[4],
        plate=row[5],
        plate_canonical=row[6],
        country=row[7],
        confidence=row[8],
        direction=row[9],
        lane=row[10],
        vehicle_make=row[11],
        vehicle_colour=row[12],
        vehicle_type=row[13],
        candidates=tuple(Candidate(p, c) for p, c in details.get("candidates", [])),
        images=tuple(images),
        extra=details.get("extra", {}),
    )


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class SqliteReadRepository:
    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def add_many(self, reads: Sequence[Read]) -> None:
        insert_read_rows(self.conn, [read_row(r) for r in reads], ignore_existing=False)
        self._add_images(reads)

    def add_new(
        self,
        reads: Sequence[Read],
        rows: Sequence[tuple[Any, ...]] | None = None,
        located: ImagePlacer | None = None,
    ) -> list[Read]:
        """Insert the reads whose id is not stored yet; return those inserted.

        Of reads sharing an id in `reads`, only the first can be inserted. `rows` are the
        reads already encoded by `read_row` (same order), so the single writer thread need
        not encode them; without them they are encoded here. The unique index on read_id
        decides (INSERT OR IGNORE), so the common case of no duplicates costs no extra
        lookup; only when some were ignored do we find which.
        """
        if not reads:
            return []
        if rows is None:
            rows = [read_row(r) for r in reads]
        elif len(rows) != len(reads):
            raise ValueError(f"{len(rows)} encoded rows for {len(reads)} reads")
        before = self.conn.execute("SELECT coalesce(max(id), 0) FROM reads").fetchone()[0]
        inserted = insert_read_rows(self.conn, rows, ignore_existing=True)
        if inserted == len(reads):
            fresh = list(reads)
        else:
            new_ids: set[bytes] = set()
            for chunk in _chunks([r.read_id.bytes for r in reads]):
                marks = ",".join("?" * len(chunk))
                new_ids.update(
                    row[0]
                    for row in self.conn.execute(
                        f"SELECT read_id FROM reads WHERE read_id IN ({marks}) AND id > ?",
                        [*chunk, before],
                    )
                )
            fresh = []
            for read in reads:  # the first of a repeated id is the one inserted
                key = read.read_id.bytes
                if key in new_ids:
                    new_ids.discard(key)
                    fresh.append(read)
        self._add_images(fresh, located(fresh) if located is not None and fresh else None)
        return fresh

    def _add_images(
        self, reads: Sequence[Read], locations: Mapping[str, ImageLocation] | None = None
    ) -> None:
        """The image rows of these reads, each with where its bytes are (`locations`),
        and the segments' reference counts, in multi-row statements (one GIL hand-off
        per statement, not per row: decision 0004)."""
        segment_ids = self._segment_ids(locations) if locations else {}
        rows: list[tuple[Any, ...]] = []
        counts: dict[int, int] = {}
        for read in reads:
            if not read.images:
                continue
            key = read.read_id.bytes
            for i, img in enumerate(read.images):
                at = locations.get(img.sha256) if locations and img.sha256 else None
                segment = None
                if at is not None:
                    segment = segment_ids[at.segment]
                    counts[segment] = counts.get(segment, 0) + 1
                rows.append(
                    (
                        key,
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
        for start in range(0, len(rows), _ROWS_PER_IMAGE_INSERT):
            chunk = rows[start : start + _ROWS_PER_IMAGE_INSERT]
            self.conn.execute(_insert_images_sql(len(chunk)), list(chain.from_iterable(chunk)))
        for segment, count in counts.items():
            self.conn.execute(
                "UPDATE image_segments SET live = live + ? WHERE id = ?", (count, segment)
            )

    def _segment_ids(self, locations: Mapping[str, ImageLocation]) -> dict[str, int]:
        names = {at.segment for at in locations.values()}
        found: dict[str, int] = {}
        for name in names:
            row = self.conn.execute(
                "INSERT INTO image_segments (name) VALUES (?)"
                " ON CONFLICT (name) DO UPDATE SET name = excluded.name RETURNING id",
                (name,),
            ).fetchone()
            found[name] = int(row[0])
        return found

    def image_locations(self, read_ids: Sequence[uuid.UUID]) -> dict[str, ImageLocation | None]:
        found: dict[str, ImageLocation | None] = {}
        for chunk in _chunks([r.bytes for r in read_ids]):
            marks = ",".join("?" * len(chunk))
            for sha, name, offset in self.conn.execute(
                "SELECT i.sha256, s.name, i.byte_offset FROM read_images i"
                " LEFT JOIN image_segments s ON s.id = i.segment"
                f" WHERE i.read_id IN ({marks}) AND i.sha256 IS NOT NULL",
                list(chunk),
            ):
                if name is not None:
                    found[sha] = ImageLocation(name, offset)
                else:
                    found.setdefault(sha, None)
        return found

    def segment_images(self, segments: Iterable[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        for chunk in _chunks(sorted(set(segments))):
            marks = ",".join("?" * len(chunk))
            found.update(
                (name, int(live))
                for name, live in self.conn.execute(
                    f"SELECT name, live FROM image_segments WHERE name IN ({marks})",
                    list(chunk),
                )
            )
        return found

    def forget_segments(self, segments: Iterable[str]) -> None:
        for chunk in _chunks(sorted(set(segments))):
            marks = ",".join("?" * len(chunk))
            self.conn.execute(
                f"DELETE FROM image_segments WHERE name IN ({marks}) AND live <= 0", list(chunk)
            )

    def _release_images(self, read_ids: Sequence[bytes]) -> None:
        """Delete the image rows of these reads, counting them out of their segments."""
        for chunk in _chunks(read_ids):
            marks = ",".join("?" * len(chunk))
            for segment, count in self.conn.execute(
                "SELECT segment, count(*) FROM read_images"
                f" WHERE read_id IN ({marks}) AND segment IS NOT NULL GROUP BY segment",
                list(chunk),
            ).fetchall():
                self.conn.execute(
                    "UPDATE image_segments SET live = live - ? WHERE id = ?", (count, segment)
                )
            self.conn.execute(f"DELETE FROM read_images WHERE read_id IN ({marks})", list(chunk))

    def _images_for(self, read_ids: Sequence[bytes]) -> dict[bytes, list[ImageRef]]:
        out: dict[bytes, list[ImageRef]] = {}
        for chunk in _chunks(list(read_ids)):
            marks = ",".join("?" * len(chunk))
            for rid, kind, ctype, sha, size, uri in self.conn.execute(
                "SELECT read_id, kind, content_type, sha256, size, uri FROM read_images"
                f" WHERE read_id IN ({marks}) ORDER BY read_id, position",
                list(chunk),
            ):
                out.setdefault(rid, []).append(
                    ImageRef(kind=kind, content_type=ctype, sha256=sha, size=size, uri=uri)
                )
        return out

    def _hydrate(self, rows: list[tuple[Any, ...]]) -> list[Read]:
        images = self._images_for([row[0] for row in rows])
        return [read_from_row(row, images.get(row[0], ())) for row in rows]

    def get(self, read_id: uuid.UUID) -> Read | None:
        rows = self.conn.execute(
            f"SELECT {READ_COLUMNS} FROM reads WHERE read_id = ?", (read_id.bytes,)
        ).fetchall()
        found = self._hydrate(rows)
        return found[0] if found else None

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
        """Reads captured in [start, end), narrowed by plates, a canonical form, cameras.

        Each criterion given is served by its (…, captured_at) index.
        """
        clauses = ["captured_at >= ?", "captured_at < ?"]
        params: list[Any] = [encode(start), encode(end)]
        for column, values in (("plate", plates), ("camera_id", camera_ids)):
            if values is not None:
                wanted = sorted(set(values))
                if not wanted:
                    return []
                clauses.append(f"{column} IN ({','.join('?' * len(wanted))})")
                params.extend(wanted)
        if canonical is not None:
            clauses.append("plate_canonical = ?")
            params.append(canonical)
        rows = self.conn.execute(
            f"SELECT {READ_COLUMNS} FROM reads WHERE {' AND '.join(clauses)}"
            " ORDER BY captured_at LIMIT ?",
            (*params, limit),
        ).fetchall()
        return self._hydrate(rows)

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
        """Reads in [start, end) whose plate starts with `prefix` (a plate-index range scan)."""
        if not prefix:  # every plate starts with "": no range to scan, the period decides
            return self.find(
                start=start, end=end, plates=plates, camera_ids=camera_ids, limit=limit
            )
        clauses, params = _plate_range(prefix)
        clauses += ["captured_at >= ?", "captured_at < ?"]
        params += [encode(start), encode(end)]
        for column, values in (("plate", plates), ("camera_id", camera_ids)):
            if values is not None:
                wanted = sorted(set(values))
                if not wanted:
                    return []
                clauses.append(f"{column} IN ({','.join('?' * len(wanted))})")
                params.extend(wanted)
        # Without the hint the planner walks the time index to save the sort; over weeks
        # of reads the plate range is far narrower than the period.
        rows = self.conn.execute(
            f"SELECT {READ_COLUMNS} FROM reads INDEXED BY reads_plate_time"
            f" WHERE {' AND '.join(clauses)} ORDER BY captured_at LIMIT ?",
            (*params, limit),
        ).fetchall()
        return self._hydrate(rows)

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
        clauses = ["captured_at >= ?", "captured_at < ?"]
        params: list[Any] = [encode(start), encode(end)]
        if prefix:
            more, values = _plate_range(prefix)
            clauses += more
            params += values
        for column, wanted_values in (("plate", plates), ("camera_id", camera_ids)):
            if wanted_values is not None:
                wanted = sorted(set(wanted_values))
                if not wanted:
                    return []
                clauses.append(f"{column} IN ({','.join('?' * len(wanted))})")
                params.extend(wanted)
        having = " HAVING count(DISTINCT camera_id) >= ?" if min_cameras > 1 else ""
        if having:
            params.append(min_cameras)
        # A prefix is a narrow range of the plate index. Given a scope's camera list too,
        # the planner (statistics or not) would walk every read of those cameras over the
        # period instead: ~6 s for a Brussels zone's `1AB?12?` at 10 M reads (decision 0014).
        hint = " INDEXED BY reads_plate_time" if prefix else ""
        rows = self.conn.execute(
            f"SELECT plate FROM reads{hint} WHERE {' AND '.join(clauses)}"
            f" GROUP BY plate{having} ORDER BY plate LIMIT ?",
            (*params, limit),
        )
        return [row[0] for row in rows]

    def count(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM reads").fetchone()[0])

    def image_hashes(self, read_ids: Sequence[uuid.UUID]) -> set[str]:
        return self._hashes_of([r.bytes for r in read_ids])

    def delete(self, read_ids: Sequence[uuid.UUID]) -> int:
        deleted = 0
        keys = [r.bytes for r in read_ids]
        self._release_images(keys)
        for chunk in _chunks(keys):
            marks = ",".join("?" * len(chunk))
            deleted += self.conn.execute(
                f"DELETE FROM reads WHERE read_id IN ({marks})", list(chunk)
            ).rowcount
        return deleted

    def unreferenced(self, hashes: Iterable[str]) -> set[str]:
        wanted = list(hashes)
        still: set[str] = set()
        for chunk in _chunks(wanted):
            marks = ",".join("?" * len(chunk))
            still.update(
                row[0]
                for row in self.conn.execute(
                    f"SELECT DISTINCT sha256 FROM read_images WHERE sha256 IN ({marks})"
                    " AND segment IS NULL AND sha256 IS NOT NULL",  # the partial index
                    list(chunk),
                )
            )
        return set(wanted) - still

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
        """Walk the `reads_captured` index from the cursor, decide each read with the
        domain rule in Python (a handful of holds against a page of reads costs less than
        building their SQL), delete the doomed by row id.

        The index orders entries by capture time, then row id, so every step costs one
        range scan however much was deleted before it. One row more than `limit` is
        read to know whether anything is left, so the last step says `done` itself.
        """
        if limit < 1:
            raise ValueError("limit must be at least 1")
        last_ts, last_id = after or _BEFORE_ALL
        rows = self.conn.execute(
            "SELECT id, read_id, plate, camera_id, captured_at FROM reads"
            " WHERE captured_at >= ? AND captured_at < ?"
            " AND NOT (captured_at = ? AND id <= ?)"
            " ORDER BY captured_at, id LIMIT ?",
            (last_ts, encode(cutoff), last_ts, last_id, limit + 1),
        ).fetchall()
        done = len(rows) <= limit
        page = rows[:limit]
        active = [h for h in holds if h.active]
        doomed = [
            row
            for row in page
            if purgeable(
                captured_at=decode(row[4]),
                plate=row[2],
                camera_id=row[3],
                cutoff=cutoff,
                holds=active,
            )
        ]
        hashes = self._hashes_of([row[1] for row in doomed], single_files=apply)
        deleted = 0
        if apply:
            self._release_images([row[1] for row in doomed])
            for chunk in _chunks(doomed):
                marks = ",".join("?" * len(chunk))
                deleted += self.conn.execute(
                    f"DELETE FROM reads WHERE id IN ({marks})", [r[0] for r in chunk]
                ).rowcount
            hashes = self.unreferenced(hashes) if hashes else set()
        else:
            deleted = len(doomed)
        return PurgeBatch(
            deleted=deleted,
            kept_by_holds=len(page) - len(doomed),
            orphaned_images=frozenset(hashes),
            done=done,
            resume_after=(page[-1][4], page[-1][0]) if page else after,
        )

    def _hashes_of(self, read_ids: Sequence[bytes], *, single_files: bool = False) -> set[str]:
        """The images of these reads (only those stored as single files, with
        `single_files`: the others go with their segment)."""
        found: set[str] = set()
        only = " AND segment IS NULL" if single_files else ""
        for chunk in _chunks(read_ids):
            marks = ",".join("?" * len(chunk))
            found.update(
                row[0]
                for row in self.conn.execute(
                    f"SELECT sha256 FROM read_images WHERE read_id IN ({marks})"
                    f" AND sha256 IS NOT NULL{only}",
                    list(chunk),
                )
            )
        return found


def _plate_range(prefix: str) -> tuple[list[str], list[Any]]:
    """`plate >= prefix AND plate < successor`: a prefix as a range on the plate index."""
    successor = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    return ["plate >= ?", "plate < ?"], [prefix, successor]


_CAMERA_COLUMNS = (
    "camera_id, name, lat, lon, heading, zone, province, vendor, protocol, phase,"
    " created_at, retired_at"
)


def _camera(row: tuple[Any, ...]) -> Camera:
    return Camera(
        camera_id=row[0],
        name=row[1],
        lat=row[2],
        lon=row[3],
        heading=row[4],
        zone=row[5],
        province=row[6],
        vendor=row[7],
        protocol=row[8],
        phase=Phase(row[9]),
        created_at=decode(row[10]),
        retired_at=decode_or_none(row[11]),
    )


def _camera_params(camera: Camera) -> tuple[Any, ...]:
    return (
        camera.camera_id,
        camera.name,
        camera.lat,
        camera.lon,
        camera.heading,
        camera.zone,
        camera.province,
        camera.vendor,
        camera.protocol,
        camera.phase.value,
        encode(camera.created_at),
        encode_or_none(camera.retired_at),
    )


class SqliteCameraRepository:
    _no_limit = -1  # SQLite's LIMIT of no limit (a backend's SQL may say it otherwise)

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def get(self, camera_id: str) -> Camera | None:
        row = self.conn.execute(
            f"SELECT {_CAMERA_COLUMNS} FROM cameras WHERE camera_id = ?", (camera_id,)
        ).fetchone()
        return _camera(row) if row else None

    def add(self, camera: Camera) -> None:
        self.conn.execute(
            f"INSERT INTO cameras ({_CAMERA_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            _camera_params(camera),
        )

    def update(self, camera: Camera) -> None:
        params = _camera_params(camera)
        self.conn.execute(
            "UPDATE cameras SET name=?, lat=?, lon=?, heading=?, zone=?, province=?, vendor=?,"
            " protocol=?, phase=?, created_at=?, retired_at=? WHERE camera_id=?",
            (*params[1:], params[0]),
        )

    def find(self, *, zone: str | None = None, phase: str | None = None) -> list[Camera]:
        clauses, params = [], []
        if zone:
            clauses.append("zone = ?")
            params.append(zone)
        if phase:
            clauses.append("phase = ?")
            params.append(phase)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self.conn.execute(
            f"SELECT {_CAMERA_COLUMNS} FROM cameras{where} ORDER BY camera_id", params
        )
        return [_camera(r) for r in rows]

    def page(
        self,
        *,
        zone: str | None = None,
        phase: str | None = None,
        after: str | None = None,
        limit: int | None = None,
    ) -> list[Camera]:
        """Cameras in id order after `after` (keyset paging), at most `limit` (None: all)."""
        clauses, params = [], []
        if zone:
            clauses.append("zone = ?")
            params.append(zone)
        if phase:
            clauses.append("phase = ?")
            params.append(phase)
        if after is not None:
            clauses.append("camera_id > ?")
            params.append(after)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self.conn.execute(
            f"SELECT {_CAMERA_COLUMNS} FROM cameras{where} ORDER BY camera_id LIMIT ?",
            (*params, self._no_limit if limit is None else limit),
        )
        return [_camera(r) for r in rows]

    def add_credential(self, camera_id: str, token_hash: str, now: datetime) -> None:
        self.conn.execute(
            "INSERT INTO camera_credentials (token_hash, camera_id, created_at) VALUES (?,?,?)",
            (token_hash, camera_id, encode(now)),
        )

    def revoke_credentials(self, camera_id: str, now: datetime) -> int:
        return self.conn.execute(
            "UPDATE camera_credentials SET revoked_at = ?"
            " WHERE camera_id = ? AND revoked_at IS NULL",
            (encode(now), camera_id),
        ).rowcount

    def version(self) -> int:
        """Bumped by every change to any camera or credential (triggers, migrations 0007, 0016)."""
        return int(self.conn.execute("SELECT version FROM camera_version").fetchone()[0])

    def camera_for_token(self, token_hash: str) -> Camera | None:
        row = self.conn.execute(
            f"SELECT {', '.join('c.' + c.strip() for c in _CAMERA_COLUMNS.split(','))}"
            " FROM camera_credentials k JOIN cameras c ON c.camera_id = k.camera_id"
            " WHERE k.token_hash = ? AND k.revoked_at IS NULL",
            (token_hash,),
        ).fetchone()
        return _camera(row) if row else None


_DL_COLUMNS = (
    "id, received_at, camera_id, source, payload, errors, status, replayed_at, replay_result"
)


def _dead_letter(row: tuple[Any, ...]) -> DeadLetter:
    return DeadLetter(
        id=row[0],
        received_at=decode(row[1]),
        camera_id=row[2],
        source=row[3],
        payload=row[4],
        errors=orjson.loads(row[5]),
        status=row[6],
        replayed_at=decode_or_none(row[7]),
        replay_result=row[8],
    )


class SqliteDeadLetterRepository:
    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def add(
        self,
        *,
        received_at: datetime,
        camera_id: str | None,
        source: str,
        payload: str,
        errors: list[dict[str, str]],
    ) -> int:
        cur = self.conn.execute(
            "INSERT INTO dead_letters (received_at, camera_id, source, payload, errors, status)"
            " VALUES (?,?,?,?,?, 'open')",
            (encode(received_at), camera_id, source, payload, orjson.dumps(errors).decode()),
        )
        return int(cur.lastrowid or 0)

    def find(self, *, status: str | None = "open", limit: int = 100) -> list[DeadLetter]:
        if status:
            rows = self.conn.execute(
                f"SELECT {_DL_COLUMNS} FROM dead_letters WHERE status = ? ORDER BY id LIMIT ?",
                (status, limit),
            )
        else:
            rows = self.conn.execute(
                f"SELECT {_DL_COLUMNS} FROM dead_letters ORDER BY id LIMIT ?", (limit,)
            )
        return [_dead_letter(r) for r in rows]

    def page(
        self, *, status: str | None = "open", after: int | None = None, limit: int = 100
    ) -> list[DeadLetter]:
        """Dead letters in id order after `after` (keyset paging), at most `limit`."""
        rows = self.conn.execute(
            f"SELECT {_DL_COLUMNS} FROM dead_letters WHERE (? IS NULL OR status = ?)"
            " AND id > ? ORDER BY id LIMIT ?",
            (status, status, 0 if after is None else after, limit),
        )
        return [_dead_letter(r) for r in rows]

    def get(self, dead_letter_id: int) -> DeadLetter | None:
        row = self.conn.execute(
            f"SELECT {_DL_COLUMNS} FROM dead_letters WHERE id = ?", (dead_letter_id,)
        ).fetchone()
        return _dead_letter(row) if row else None

    def mark(self, dead_letter_id: int, *, status: str, at: datetime, result: str) -> None:
        self.conn.execute(
            "UPDATE dead_letters SET status = ?, replayed_at = ?, replay_result = ? WHERE id = ?",
            (status, encode(at), result, dead_letter_id),
        )

    def count(self, *, status: str | None = None) -> int:
        if status:
            row = self.conn.execute("SELECT count(*) FROM dead_letters WHERE status = ?", (status,))
        else:
            row = self.conn.execute("SELECT count(*) FROM dead_letters")
        return int(row.fetchone()[0])
