"""The national bench's prefilled store: a month of a province's reads, built once and cached.

`ensure_prefilled` answers a data folder (`VEILLE_DATA_DIR` for `veille serve`) holding
`veille.db` with 10,000 cameras registered through the camera service (audited, so the
store carries a real sealed and checkpointed audit chain) and `reads` reads over the 30
days before the build, two image rows each. The reads are generated inside SQLite, an
`INSERT … SELECT` over a recursive CTE per hour of the month (decision 0013):
- design density: the hour's share of the month follows the diurnal curve of the search
  bench's generator (`store_gen.minute_weights`, in Brussels local time), weekends at
  0.75 of a weekday; each read's camera is drawn with a lognormal popularity;
- read ids: random UUIDv4 (16 bytes, version and variant bits set), as cameras send;
- plates: a population of reads / 20 vehicles generated in Python (Belgian formats mostly,
  neighbours' too), raw text as printed, `plate` and `plate_canonical` computed with the
  domain's own `normalise` and look-alike table; a tenth of the vehicles (commuters) make
  45 % of the reads, three tenths 40 %, the rest 15 %;
- images: a plate crop and an overview row per read, each with its own random sha256 and a
  realistic size, and no bytes in `images/`: the bench never fetches a prefilled read's
  image (one asked for answers 404, as an image the store lost would).

The build writes into a temporary folder renamed when complete, under a key that hashes
the parameters, the generator version and every migration's text, so an interrupted build
is never reused and a schema change rebuilds. The manifest (`prefill.json`) records a
watermark: each table's row count and highest rowid, the camera registrations' digest and
the anchor file's bytes. `reset_to_watermark` takes the store back to it after a run,
which `ensure_prefilled` also does (and checks) before it hands a cached store out again.

Run alone: `python -m veille.bench.national.prefill --reads 1000000 [--json]`.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import math
import os
import random
import shutil
import sqlite3
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from veille.adapters.sqlite.database import connect
from veille.adapters.sqlite.times import decode, encode
from veille.bench.store_gen import camera_records, minute_weights
from veille.bootstrap import bootstrap
from veille.domain.audit import system_actor
from veille.domain.plates import LookalikeTable, normalise
from veille.service.commands.audit import CheckpointAuditHead, VerifyAuditLog
from veille.service.commands.cameras import ImportCameras
from veille.settings import Settings

GENERATOR_VERSION = 1
DEFAULT_FOLDER = Path("/tmp/veille-bench-stores")
DEFAULT_MAX_AGE = timedelta(days=7)
MANIFEST = "prefill.json"
DATABASE = "veille.db"  # Settings.database's default under the data folder
DAYS = 30
HOUR_US = 3_600_000_000
WEEKEND_FACTOR = 0.75
VEHICLES_PER_READ = 1 / 20
# (share of the vehicles, share of the reads): commuters, regulars, occasional visitors
TIERS = ((0.10, 0.45), (0.30, 0.40), (0.60, 0.15))
CAMERA_SLOTS = 1 << 16  # a camera's share of the slots is its popularity
PLATE_BYTES, OVERVIEW_BYTES = 3 * 1024, 25 * 1024  # as the load generator's JPEGs
_LETTERS = "ABCDEFGHJKLMNPRSTVWXYZ"
_MAKES = ("VW", "Renault", "Peugeot", "BMW", "Toyota", "Mercedes", "Audi", "Skoda", "Ford")
_COLOURS = ("grey", "black", "white", "blue", "red", "silver")
_TYPES = ("car", "car", "car", "car", "van", "truck", "motorcycle")
_BRUSSELS = ZoneInfo("Europe/Brussels")
_V4_NIBBLE = "X'" + "".join(f"{0x40 + n:02X}" for n in range(16)) + "'"
_VARIANT = "X'" + "".join(f"{0x80 + n:02X}" for n in range(64)) + "'"
# Tables the bulk load fills, whose secondary indexes are built after it (faster by sort).
_BULK_TABLES = ("reads", "read_images")


class PrefillError(RuntimeError):
    """A prefilled store cannot be built, or cannot be taken back to its watermark."""


@dataclass(frozen=True, slots=True)
class PrefilledStore:
    """A prefilled data folder: `<data_dir>/veille.db` (and `images/`, `keys/`,
    `audit-anchors/`), usable as `VEILLE_DATA_DIR`."""

    data_dir: Path
    reads: int
    image_rows: int
    cameras: int
    first_captured_at: datetime
    last_captured_at: datetime
    built_s: float
    reused: bool

    @property
    def database(self) -> Path:
        return self.data_dir / DATABASE

    @property
    def camera_ids(self) -> list[str]:
        """The cameras' ids, as registered (the bench's set: `store_gen.camera_records`)."""
        return [f"CAM-{i:05d}" for i in range(self.cameras)]


def store_key(*, reads: int, cameras: int, seed: int) -> str:
    """What names a cached store: its parameters, the generator and the schema it has."""
    digest = hashlib.sha256(
        orjson.dumps(
            {"reads": reads, "cameras": cameras, "seed": seed, "generator": GENERATOR_VERSION}
        )
    )
    folder = resources.files("veille.adapters.sqlite") / "migrations"
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".sql"):
            digest.update(entry.name.encode())
            digest.update(entry.read_bytes())
    return digest.hexdigest()[:16]


def ensure_prefilled(
    *,
    folder: Path = DEFAULT_FOLDER,
    reads: int = 50_000_000,
    cameras: int = 10_000,
    seed: int = 7,
    log: Callable[[str], None] = print,
    max_age: timedelta = DEFAULT_MAX_AGE,
    keep_others: bool = False,
    now: datetime | None = None,
    fail_after_hours: int | None = None,
) -> PrefilledStore:
    """The cached prefilled store for these parameters, built first if there is none.

    A cached store is taken back to its watermark (what an earlier run left is dropped)
    and checked; one older than `max_age` (its month no longer ends now), or one that
    cannot be restored, is built again. Other `national-*` stores in `folder` are removed
    before a build unless `keep_others` (each is tens of GB). `fail_after_hours` raises
    mid-build (tests: an interrupted build must never be reused).
    """
    if reads < 1 or cameras < 1:
        raise ValueError("a prefilled store needs at least one read and one camera")
    now = now or datetime.now(UTC)
    key = store_key(reads=reads, cameras=cameras, seed=seed)
    data_dir = folder / f"national-{key}"
    manifest = _load_manifest(data_dir)
    if manifest is not None:
        built_at = datetime.fromisoformat(manifest["built_at"])
        if now - built_at > max_age:
            log(f"prefilled store {data_dir} was built {now - built_at} ago: building again")
        else:
            try:
                store = _store(data_dir, manifest, reused=True)
                reset_to_watermark(store)
                log(f"prefilled store reused: {data_dir} ({store.reads:,} reads)")
                return store
            except PrefillError as exc:
                log(f"prefilled store {data_dir} cannot be reused ({exc}): building again")
    folder.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(folder, keep=data_dir.name, others=not keep_others, log=log)
    shutil.rmtree(data_dir, ignore_errors=True)
    building = folder / f".{data_dir.name}.building-{os.getpid()}"
    shutil.rmtree(building, ignore_errors=True)
    try:
        manifest = _build(
            building,
            key=key,
            reads=reads,
            cameras=cameras,
            seed=seed,
            now=now,
            log=log,
            fail_after_hours=fail_after_hours,
        )
        os.replace(building, data_dir)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    return _store(data_dir, manifest, reused=False)


def reset_to_watermark(store: PrefilledStore) -> None:
    """Take the store back to its prefilled state: drop every row a run added (reads,
    images, alerts, audit records, users …), the image files and the anchor lines it wrote.

    Only for a folder built by `ensure_prefilled` (its manifest holds the watermark), with
    no server running on it. The audit log is append-only for everyone else: its triggers
    are dropped and created again inside the one transaction that deletes the run's
    records, as migration 0013 does, and the anchor file is cut back to its built length,
    so the chain and its checkpoints are exactly those of the build and verify as then.
    Raises PrefillError when the pristine part was changed (a prefilled row deleted or
    updated, the anchors or keys rewritten): such a store must be built again.
    """
    manifest = _load_manifest(store.data_dir)
    if manifest is None:
        raise PrefillError(f"{store.data_dir} holds no complete prefilled store")
    mark = manifest["watermark"]
    _restore_files(store.data_dir, mark)
    conn = connect(store.data_dir / DATABASE, synchronous="NORMAL")
    try:
        conn.execute("PRAGMA foreign_keys=OFF")  # children and parents go in any order
        _restore_rows(conn, mark)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    report = _verify_audit(store.data_dir)
    if not report.ok:
        raise PrefillError(f"the audit chain fails verification: {report.problems[:3]}")


# ---- the build -----------------------------------------------------------------------


def _build(
    building: Path,
    *,
    key: str,
    reads: int,
    cameras: int,
    seed: int,
    now: datetime,
    log: Callable[[str], None],
    fail_after_hours: int | None,
) -> dict[str, Any]:
    started = time.perf_counter()
    end = now.replace(second=0, microsecond=0)
    start = end - timedelta(days=DAYS)
    rng = random.Random(seed)
    records = camera_records(cameras, rng)
    _register_cameras(building, records, at=start - timedelta(days=1))
    log(f"{cameras:,} cameras registered ({_clock(started)})")
    conn = connect(building / DATABASE, synchronous="OFF")
    try:
        conn.execute("PRAGMA journal_mode=OFF")  # a failed build is thrown away whole
        conn.execute("PRAGMA cache_size=-3145728")  # 3 GiB: the read id index stays cached
        conn.execute("PRAGMA temp_store=FILE")  # index sorts spill to disk, not to memory
        conn.execute("PRAGMA temp.cache_size=-524288")  # the plate population stays cached
        conn.execute("PRAGMA threads=2")
        indexes = _drop_secondary_indexes(conn)
        _fill_helpers(conn, rng, records, vehicles=max(100, int(reads * VEHICLES_PER_READ)))
        log(f"plate population and camera popularity drawn ({_clock(started)})")
        written = _insert_reads(
            conn,
            start=start,
            reads=reads,
            log=log,
            started=started,
            fail_after_hours=fail_after_hours,
        )
        log(f"{written:,} reads written ({_clock(started)}); images next")
        images = _insert_images(conn)
        log(f"{images:,} image rows written ({_clock(started)})")
        for name, sql in indexes:
            conn.execute(sql)
            log(f"index {name} built ({_clock(started)})")
        conn.execute("DROP TABLE temp.plate_pool")
        conn.execute("DROP TABLE temp.camera_slot")
        first, last = conn.execute(
            "SELECT min(captured_at), max(captured_at) FROM reads"
        ).fetchone()
        conn.execute("PRAGMA journal_mode=WAL")
        watermark = _watermark(conn, building)
    finally:
        conn.close()
    report = _verify_audit(building)
    if not report.ok:
        raise PrefillError(f"the built store's audit chain fails verification: {report.problems}")
    built_s = round(time.perf_counter() - started, 1)
    db_bytes = (building / DATABASE).stat().st_size
    manifest: dict[str, Any] = {
        "version": GENERATOR_VERSION,
        "key": key,
        "reads": written,
        "image_rows": images,
        "cameras": cameras,
        "seed": seed,
        "built_at": now.isoformat(),
        "first_captured_at": decode(first).isoformat(),
        "last_captured_at": decode(last).isoformat(),
        "built_s": built_s,
        "built_cpu_s": round(time.process_time(), 1),  # this process's, the build's bulk
        "db_bytes": db_bytes,
        "watermark": watermark,
    }
    (building / MANIFEST).write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
    log(f"prefilled store built: {written:,} reads in {built_s} s, {db_bytes / 1e9:.1f} GB")
    return manifest


def _clock(started: float) -> str:
    """Wall and CPU seconds since the build started (a shared machine shows both)."""
    return f"{time.perf_counter() - started:.1f} s, CPU {time.process_time():.1f} s"


def _settings(data_dir: Path) -> Settings:
    return Settings(data_dir=data_dir, sqlite_synchronous="NORMAL", image_fsync=False)


def _register_cameras(data_dir: Path, records: list[dict[str, Any]], *, at: datetime) -> None:
    """The cameras through the camera service, as an administrator's import would: the
    server sees real registrations and the audit log starts with the import, sealed and
    checkpointed (the keys are created in the data folder, as the server does). No token
    is issued: the orchestrator issues its own."""
    platform = bootstrap(_settings(data_dir), clock=lambda: at)
    platform.open_store()
    try:
        report = platform.bus.handle(
            ImportCameras(
                records=[(f"camera {i + 1}", r) for i, r in enumerate(records)],
                actor=system_actor("bench-prefill"),
                issue_tokens="none",
            )
        )
        if not report.applied:
            raise PrefillError(f"the camera import was refused: {report.problems[:3]}")
        platform.bus.handle(CheckpointAuditHead())
    finally:
        platform.close_store()


def _verify_audit(data_dir: Path) -> Any:
    platform = bootstrap(_settings(data_dir))
    try:
        return platform.bus.handle(VerifyAuditLog())
    finally:
        platform.close_store()


def _drop_secondary_indexes(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    """Drop the bulk tables' own indexes (not the UNIQUE and PRIMARY KEY ones, which
    SQLite keeps); answers them to be built again, by sort, after the load."""
    marks = ",".join("?" * len(_BULK_TABLES))
    found = conn.execute(
        f"SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
        f" AND tbl_name IN ({marks}) ORDER BY name",
        _BULK_TABLES,
    ).fetchall()
    for name, _ in found:
        conn.execute(f'DROP INDEX "{name}"')
    return [(str(name), str(sql)) for name, sql in found]


def _fill_helpers(
    conn: sqlite3.Connection, rng: random.Random, records: list[dict[str, Any]], *, vehicles: int
) -> None:
    """Two temporary tables the hourly inserts draw from by random index: camera slots
    (a camera's share of them is its popularity) and the plate population."""
    weights = [rng.lognormvariate(0, 1.0) for _ in records]
    total = sum(weights)
    slots: list[tuple[int, str]] = []
    for record, weight in zip(records, weights, strict=True):
        base, share = len(slots), max(1, round(weight / total * CAMERA_SLOTS))
        slots.extend((base + k, record["camera_id"]) for k in range(share))
    conn.execute("CREATE TEMP TABLE camera_slot (slot INTEGER PRIMARY KEY, camera_id TEXT)")
    conn.executemany("INSERT INTO camera_slot VALUES (?, ?)", slots)
    conn.execute(
        "CREATE TEMP TABLE plate_pool (idx INTEGER PRIMARY KEY, plate_raw TEXT, plate TEXT,"
        " plate_canonical TEXT, country TEXT, make TEXT, colour TEXT, type TEXT)"
    )
    lookalikes = _settings(Path(".")).read_rules().lookalikes
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO plate_pool VALUES (?,?,?,?,?,?,?,?)",
        _vehicles(rng, vehicles, lookalikes),
    )
    conn.execute("COMMIT")


# Plates as printed, by country and format: N a digit 1–9, D a digit, L a letter (DOMAIN.md).
PLATE_PATTERNS: tuple[tuple[str, str, float], ...] = (
    ("BE", "N-LLL-DDD", 0.80),  # since 2010
    ("BE", "DDD-LLL", 0.04),  # 2008–2010
    ("BE", "LLL-DDD", 0.03),  # before 2008
    ("BE", "LLLLD", 0.01),  # personalised: free letters and digits
    ("NL", "LL-DDD-L", 0.05),
    ("FR", "LL-DDD-LL", 0.04),
    ("DE", "L-LL DDDD", 0.01),
    ("DE", "LLL-L DDD", 0.01),
    ("LU", "LL DDDD", 0.005),
    ("UK", "LLDD LLL", 0.005),
)


def plates_as_printed(rng: random.Random, count: int) -> list[tuple[str, str]]:
    """`count` plates as printed on the vehicle, with their country, drawn by format share
    (each character position drawn in bulk, so a plate costs a couple of microseconds)."""
    alphabets = {"L": _LETTERS, "D": "0123456789", "N": "123456789"}
    formats = rng.choices(range(len(PLATE_PATTERNS)), [w for *_, w in PLATE_PATTERNS], k=count)
    by_format = []
    for index, (country, pattern, _) in enumerate(PLATE_PATTERNS):
        n = formats.count(index)
        template = "".join("{}" if ch in alphabets else ch for ch in pattern)
        columns = [rng.choices(alphabets[ch], k=n) for ch in pattern if ch in alphabets]
        plates = [(template.format(*chars), country) for chars in zip(*columns, strict=True)]
        by_format.append(iter(plates))
    return [next(by_format[index]) for index in formats]  # in the drawn order of formats


def _vehicles(
    rng: random.Random, count: int, lookalikes: LookalikeTable
) -> list[tuple[int, str, str, str, str, str, str, str]]:
    makes = rng.choices(_MAKES, k=count)
    colours = rng.choices(_COLOURS, k=count)
    types = rng.choices(_TYPES, k=count)
    out = []
    for idx, (raw, country) in enumerate(plates_as_printed(rng, count)):
        plate = normalise(raw)
        out.append(
            (
                idx,
                raw,
                plate,
                lookalikes.canonical(plate),
                country,
                makes[idx],
                colours[idx],
                types[idx],
            )
        )
    return out


def hour_weights(start: datetime, hours: int) -> list[float]:
    """Each hour's weight from `start` on: the diurnal curve at the hour's Brussels local
    time, a weekend day at WEEKEND_FACTOR of a weekday."""
    cumulative = minute_weights()
    per_minute = [b - a for a, b in zip([0.0, *cumulative], cumulative, strict=False)]
    per_hour = [sum(per_minute[h * 60 : (h + 1) * 60]) for h in range(24)]
    out = []
    for h in range(hours):
        local = (start + timedelta(hours=h, minutes=30)).astimezone(_BRUSSELS)
        weight = per_hour[local.hour]
        out.append(weight * (WEEKEND_FACTOR if local.weekday() >= 5 else 1.0))
    return out


def split_reads(total: int, weights: list[float]) -> list[int]:
    """`total` reads over the weights, largest remainders last, summing to `total`."""
    whole = sum(weights)
    exact = [total * w / whole for w in weights]
    counts = [math.floor(x) for x in exact]
    by_remainder = sorted(range(len(exact)), key=lambda i: exact[i] - counts[i], reverse=True)
    for i in by_remainder[: total - sum(counts)]:
        counts[i] += 1
    return counts


def _insert_reads_sql(vehicles: int) -> str:
    """One hour's reads: every random draw made once per row in the recursive CTE (whose
    rows are materialised), then joined to a camera slot and a vehicle of a tier."""
    bounds, at = [], 0
    for vehicle_share, _ in TIERS:
        size = max(1, round(vehicles * vehicle_share))
        bounds.append((at, min(size, vehicles - at) or 1))
        at += size
    (c0, n0), (c1, n1), (c2, n2) = bounds
    r0 = round(TIERS[0][1] * 1000)
    r1 = r0 + round(TIERS[1][1] * 1000)
    pick = (
        f"CASE WHEN (c & 1023) % 1000 < {r0} THEN {c0} + (c >> 10 & 4294967295) % {n0}"
        f" WHEN (c & 1023) % 1000 < {r1} THEN {c1} + (c >> 10 & 4294967295) % {n1}"
        f" ELSE {c2} + (c >> 10 & 4294967295) % {n2} END"
    )
    return f"""
WITH RECURSIVE draw(i, t, a, b, c) AS (
    SELECT 0, 0, 0, 0, 0
    UNION ALL
    SELECT i + 1, :t0 + abs(random() % :span), random(), random(), random()
    FROM draw WHERE i < :n
)
INSERT INTO reads (read_id, camera_id, captured_at, received_at, plate_raw, plate,
    plate_canonical, country, confidence, direction, lane, vehicle_make, vehicle_colour,
    vehicle_type, details)
SELECT
    CAST(randomblob(6) || substr({_V4_NIBBLE}, 1 + (a & 15), 1) || randomblob(1)
        || substr({_VARIANT}, 1 + (a >> 4 & 63), 1) || randomblob(7) AS BLOB),
    s.camera_id,
    d.t,
    d.t + 300000 + (a >> 12 & 1073741823) % 4000000,
    p.plate_raw, p.plate, p.plate_canonical, p.country,
    round(0.7 + (b & 1023) / 1023.0 * 0.29, 3),
    CASE b >> 10 & 3 WHEN 0 THEN 'receding' WHEN 3 THEN 'unknown' ELSE 'approaching' END,
    1 + (b >> 12 & 1023) % 3,
    p.make, p.colour, p.type, NULL
FROM draw d
JOIN temp.camera_slot s ON s.slot = (b >> 24 & 1073741823) % :slots
JOIN temp.plate_pool p ON p.idx = {pick}
WHERE d.i > 0
ORDER BY d.t
"""


def _insert_reads(
    conn: sqlite3.Connection,
    *,
    start: datetime,
    reads: int,
    log: Callable[[str], None],
    started: float,
    fail_after_hours: int | None,
) -> int:
    hours = DAYS * 24
    counts = split_reads(reads, hour_weights(start, hours))
    vehicles = int(conn.execute("SELECT count(*) FROM temp.plate_pool").fetchone()[0])
    slots = int(conn.execute("SELECT count(*) FROM temp.camera_slot").fetchone()[0])
    sql = _insert_reads_sql(vehicles)
    t0 = encode(start)
    written = 0
    for hour, n in enumerate(counts):
        if fail_after_hours is not None and hour == fail_after_hours:
            raise PrefillError(f"build interrupted on purpose after {hour} hours")
        conn.execute("BEGIN")
        conn.execute(sql, {"t0": t0 + hour * HOUR_US, "span": HOUR_US, "n": n, "slots": slots})
        conn.execute("COMMIT")
        written += n
        if (hour + 1) % 24 == 0:
            elapsed = time.perf_counter() - started
            log(f"day {(hour + 1) // 24}/{DAYS}: {written:,} reads ({elapsed:.0f} s)")
    return written


def _insert_images(conn: sqlite3.Connection) -> int:
    """Two image rows per read, in read id order (the primary key's index then grows at
    its end), one read id byte range per transaction."""
    sql = f"""
INSERT INTO read_images (read_id, position, kind, content_type, sha256, size, uri)
SELECT r.read_id, k.position, k.kind, 'image/jpeg', lower(hex(randomblob(32))),
    k.size - k.size / 8 + abs(random() % (k.size / 4)), NULL
FROM reads r INDEXED BY sqlite_autoindex_reads_1
CROSS JOIN (SELECT 0 AS position, 'plate' AS kind, {PLATE_BYTES} AS size
            UNION ALL SELECT 1, 'overview', {OVERVIEW_BYTES}) k
WHERE r.read_id >= :low AND (:high IS NULL OR r.read_id < :high)
ORDER BY r.read_id, k.position
"""
    written = 0
    for first in range(0, 256, 16):
        high = bytes([first + 16]) if first + 16 < 256 else None
        conn.execute("BEGIN")
        written += conn.execute(sql, {"low": bytes([first]), "high": high}).rowcount
        conn.execute("COMMIT")
    return written


# ---- the watermark -------------------------------------------------------------------


def _tables(conn: sqlite3.Connection) -> list[str]:
    return [
        str(row[0])
        for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            " ORDER BY name"
        )
    ]


def _cameras_digest(conn: sqlite3.Connection) -> str:
    digest = hashlib.sha256()
    for row in conn.execute("SELECT * FROM cameras ORDER BY camera_id"):
        digest.update(orjson.dumps(list(row)))
    return digest.hexdigest()


def _file_digest(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


def _watermark(conn: sqlite3.Connection, data_dir: Path) -> dict[str, Any]:
    tables = {}
    for name in _tables(conn):
        rows, top = conn.execute(f'SELECT count(*), max(rowid) FROM "{name}"').fetchone()
        tables[name] = {"rows": int(rows), "max_rowid": int(top or 0)}
    settings = _settings(data_dir)
    anchors = settings.audit_anchors
    if any(settings.images.rglob("*")) if settings.images.exists() else False:
        raise PrefillError("a prefilled store holds no image files")
    return {
        "tables": tables,
        "camera_version": int(conn.execute("SELECT version FROM camera_version").fetchone()[0]),
        "cameras_digest": _cameras_digest(conn),
        "anchor_files": {
            p.name: {"bytes": p.stat().st_size, "sha256": _file_digest(p)}
            for p in sorted(anchors.iterdir())
            if p.is_file()
        }
        if anchors.exists()
        else {},
        "key_files": {
            str(p.relative_to(data_dir)): _file_digest(p)
            for p in (settings.audit_key, settings.audit_public_key, settings.totp_key)
            if p.exists()
        },
    }


def _restore_files(data_dir: Path, mark: dict[str, Any]) -> None:
    """The image store emptied, the anchor files cut back to their built length (checked
    unchanged up to it), the key files checked unchanged."""
    settings = _settings(data_dir)
    for name, digest in mark["key_files"].items():
        if _file_digest(data_dir / name) != digest:
            raise PrefillError(f"key file {data_dir / name} changed since the build")
    anchors = settings.audit_anchors
    if anchors.exists():
        for path in anchors.iterdir():
            if path.name not in mark["anchor_files"]:
                path.unlink()
    for name, built in mark["anchor_files"].items():
        path = anchors / name
        if not path.exists() or path.stat().st_size < built["bytes"]:
            raise PrefillError(f"anchor file {path} lost lines written at the build")
        with path.open("r+b") as handle:
            prefix = handle.read(built["bytes"])
            if hashlib.sha256(prefix).hexdigest() != built["sha256"]:
                raise PrefillError(f"anchor file {path} changed before its built length")
            handle.truncate(built["bytes"])
    if settings.images.exists():
        shutil.rmtree(settings.images)


def _restore_rows(conn: sqlite3.Connection, mark: dict[str, Any]) -> None:
    tables = mark["tables"]
    present = _tables(conn)
    if set(present) != set(tables):
        raise PrefillError(
            f"the schema changed since the build: {sorted(set(present) ^ set(tables))}"
        )
    conn.execute("BEGIN IMMEDIATE")
    try:
        for name in present:
            if name == "audit_log":
                _delete_audit_after(conn, tables[name]["max_rowid"])
            else:
                conn.execute(f'DELETE FROM "{name}" WHERE rowid > ?', (tables[name]["max_rowid"],))
            rows, top = conn.execute(f'SELECT count(*), max(rowid) FROM "{name}"').fetchone()
            if (int(rows), int(top or 0)) != (tables[name]["rows"], tables[name]["max_rowid"]):
                raise PrefillError(f"prefilled rows of {name} were deleted since the build")
        if _cameras_digest(conn) != mark["cameras_digest"]:
            raise PrefillError("camera registrations changed since the build")
        conn.execute("UPDATE camera_version SET version = ?", (mark["camera_version"],))
        if conn.execute("PRAGMA foreign_key_check").fetchone() is not None:
            raise PrefillError("the restored rows break a foreign key")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _delete_audit_after(conn: sqlite3.Connection, seq: int) -> None:
    """The run's audit records: the append-only triggers are lifted inside this
    transaction only (which holds the write lock), as migration 0013 does."""
    triggers = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_log'"
    ).fetchall()
    for name, _ in triggers:
        conn.execute(f'DROP TRIGGER "{name}"')
    conn.execute("DELETE FROM audit_log WHERE seq > ?", (seq,))
    for _, sql in triggers:
        conn.execute(sql)


# ---- loading -------------------------------------------------------------------------


def _load_manifest(data_dir: Path) -> dict[str, Any] | None:
    path = data_dir / MANIFEST
    if not path.exists() or not (data_dir / DATABASE).exists():
        return None
    with contextlib.suppress(orjson.JSONDecodeError):
        manifest: dict[str, Any] = orjson.loads(path.read_bytes())
        if manifest.get("version") == GENERATOR_VERSION:
            return manifest
    return None


def _store(data_dir: Path, manifest: dict[str, Any], *, reused: bool) -> PrefilledStore:
    return PrefilledStore(
        data_dir=data_dir,
        reads=manifest["reads"],
        image_rows=manifest["image_rows"],
        cameras=manifest["cameras"],
        first_captured_at=datetime.fromisoformat(manifest["first_captured_at"]),
        last_captured_at=datetime.fromisoformat(manifest["last_captured_at"]),
        built_s=manifest["built_s"],
        reused=reused,
    )


def _remove_leftovers(folder: Path, *, keep: str, others: bool, log: Callable[[str], None]) -> None:
    """Interrupted builds (never reused; a build whose process still runs is left alone)
    and, with `others`, stores of other parameters."""
    for path in folder.iterdir():
        interrupted = (
            path.name.startswith(".national-")
            and ".building-" in path.name
            and not _running(path.name.rsplit("-", 1)[-1])
        )
        other = others and path.name.startswith("national-") and path.name != keep
        if path.is_dir() and (interrupted or other):
            log(f"removing {path}")
            shutil.rmtree(path, ignore_errors=True)


def _running(pid: str) -> bool:
    """Whether the process of this id still runs (another build in the same folder)."""
    if not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


# ---- command line --------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reads", type=int, default=50_000_000)
    parser.add_argument("--cameras", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--folder", type=Path, default=DEFAULT_FOLDER)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    store = ensure_prefilled(
        folder=args.folder,
        reads=args.reads,
        cameras=args.cameras,
        seed=args.seed,
        log=lambda msg: print(msg, file=sys.stderr, flush=True),
    )
    manifest = _load_manifest(store.data_dir) or {}
    result = {
        **{k: v for k, v in asdict(store).items() if k not in ("data_dir",)},
        "data_dir": str(store.data_dir),
        "first_captured_at": store.first_captured_at.isoformat(),
        "last_captured_at": store.last_captured_at.isoformat(),
        "db_bytes": manifest.get("db_bytes"),
        "built_cpu_s": manifest.get("built_cpu_s"),
        "reads_per_s": round(store.reads / store.built_s) if store.built_s else None,
    }
    if args.json:
        print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
    else:
        for name, value in result.items():
            print(f"{name:<20} {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
