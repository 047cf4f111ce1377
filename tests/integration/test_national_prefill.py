"""The national bench's prefilled store: valid reads the server searches, cached under its
key, never reused half-built, and taken back to its watermark after a run."""

from __future__ import annotations

import hashlib
import itertools
import os
import re
import sqlite3
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import pytest

from veille.adapters.sqlite.database import connect
from veille.adapters.sqlite.times import decode
from veille.bench.national.prefill import (
    DEFAULT_FOLDER,
    MANIFEST,
    PrefilledStore,
    PrefillError,
    ensure_prefilled,
    reset_to_watermark,
    store_key,
)
from veille.bootstrap import Platform, bootstrap
from veille.domain.access import Principal, Role, Scope, ScopeKind
from veille.domain.plates import canonical, fits_country, normalise
from veille.domain.reads import ImageRef, canonical_read
from veille.service import analyses
from veille.service import users as user_service
from veille.service.commands.audit import CheckpointAuditHead, VerifyAuditLog
from veille.service.queries import QueryContext, run_query
from veille.settings import Settings

pytestmark = pytest.mark.integration

READS, CAMERAS, SEED = 20_000, 200, 3
PURPOSE = "judicial: investigation of an offence"
SHA256 = re.compile(r"[0-9a-f]{64}")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> PrefilledStore:
    folder = tmp_path_factory.mktemp("prefill")
    return ensure_prefilled(folder=folder, reads=READS, cameras=CAMERAS, seed=SEED, log=_quiet)


def _quiet(_message: str) -> None:
    pass


@pytest.fixture
def platform(store: PrefilledStore) -> Iterator[Platform]:
    """The server's own wiring on the prefilled folder, as `veille serve` would open it."""
    platform = bootstrap(Settings(data_dir=store.data_dir, image_fsync=False, run_jobs=False))
    assert platform.open_store() == []  # built with every migration: nothing to apply
    yield platform
    platform.close_store()
    reset_to_watermark(store)


def _investigator(now: datetime) -> Principal:
    return Principal(
        user_id=7,
        username="ines",
        role=Role.INVESTIGATOR,
        org_id="federal",
        scope=Scope(ScopeKind.NATIONAL),
        designated=True,
        training_expires=now + timedelta(days=300),
    )


def test_the_store_has_what_was_asked(store: PrefilledStore) -> None:
    assert (store.reads, store.image_rows, store.cameras) == (READS, 2 * READS, CAMERAS)
    assert not store.reused
    assert store.data_dir.name == f"national-{store_key(reads=READS, cameras=CAMERAS, seed=SEED)}"
    conn = connect(store.database, readonly=True)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    cameras = [r[0] for r in conn.execute("SELECT camera_id FROM cameras ORDER BY camera_id")]
    assert cameras == store.camera_ids
    count, lo, hi, early, orphans = conn.execute(
        "SELECT count(*), min(captured_at), max(captured_at), sum(received_at <= captured_at),"
        " sum(camera_id NOT IN (SELECT camera_id FROM cameras)) FROM reads"
    ).fetchone()
    assert count == READS and early == 0 and orphans == 0
    assert (decode(lo), decode(hi)) == (store.first_captured_at, store.last_captured_at)
    assert (
        timedelta(days=29) < store.last_captured_at - store.first_captured_at <= timedelta(days=30)
    )
    # the whole month, at the diurnal curve's density: a rush hour holds more than a night
    by_hour = dict(
        conn.execute(
            "SELECT (captured_at / 3600000000 + 1) % 24, count(*) FROM reads GROUP BY 1"
        ).fetchall()
    )  # Brussels winter time; the build month may hold a change of time, hence the margin
    assert by_hour[8] > 3 * by_hour[3]
    # each camera's reads follow its popularity: the busiest far above the median
    per_camera = sorted(n for (n,) in conn.execute("SELECT count(*) FROM reads GROUP BY camera_id"))
    assert per_camera[-1] > 4 * per_camera[len(per_camera) // 2]


def test_read_ids_are_random_uuid4_and_unique(store: PrefilledStore) -> None:
    conn = connect(store.database, readonly=True)
    ids = [row[0] for row in conn.execute("SELECT read_id FROM reads ORDER BY id")]
    assert len(set(ids)) == len(ids) == READS
    for raw in ids:
        read_id = uuid.UUID(bytes=raw)
        assert read_id.version == 4 and read_id.variant == uuid.RFC_4122
    rising = sum(a < b for a, b in itertools.pairwise(ids)) / (len(ids) - 1)
    assert 0.45 < rising < 0.55  # in time order, the ids rise half the time: random
    assert len({raw[0] for raw in ids}) == 256


def test_two_image_rows_per_read(store: PrefilledStore) -> None:
    conn = connect(store.database, readonly=True)
    rows = conn.execute(
        "SELECT i.read_id, i.position, i.kind, i.content_type, i.sha256, i.size, i.uri"
        " FROM read_images i JOIN reads r ON r.read_id = i.read_id"
    ).fetchall()
    assert len(rows) == 2 * READS
    assert {(r[1], r[2]) for r in rows} == {(0, "plate"), (1, "overview")}
    assert len({(r[0], r[1]) for r in rows}) == 2 * READS
    assert all(r[3] == "image/jpeg" and r[6] is None and SHA256.fullmatch(r[4]) for r in rows)
    assert len({r[4] for r in rows}) == 2 * READS
    plate_sizes = [r[5] for r in rows if r[1] == 0]
    overview_sizes = [r[5] for r in rows if r[1] == 1]
    assert min(plate_sizes) > 2_000 and max(plate_sizes) < 4_000
    assert min(overview_sizes) > 20_000 and max(overview_sizes) < 32_000
    images = store.data_dir / "images"
    assert not images.exists() or not any(images.rglob("*"))  # rows, no bytes


def test_plates_are_normalised_and_canonical_as_at_ingest(store: PrefilledStore) -> None:
    conn = connect(store.database, readonly=True)
    rows = conn.execute("SELECT plate_raw, plate, plate_canonical, country FROM reads").fetchall()
    for raw, plate, canon, country in rows:
        assert plate == normalise(raw) and canon == canonical(plate)
        assert fits_country(plate, country), (raw, country)
    countries = {r[3] for r in rows}
    assert {"BE", "NL", "FR", "DE"} <= countries
    assert sum(plate != canon for _, plate, canon, _ in rows) > len(rows) / 2
    assert len({r[1] for r in rows}) < len(rows) / 2  # vehicles pass again and again


def test_the_server_searches_and_reads_back_prefilled_reads(
    store: PrefilledStore, platform: Platform
) -> None:
    _search_the_busiest_plate(store, platform)


def _search_the_busiest_plate(store: PrefilledStore, platform: Platform) -> None:
    """A lawful plate search through the service, and one of its reads read back by id."""
    conn = connect(store.database, readonly=True)
    plate, passages = conn.execute(
        "SELECT plate, count(*) FROM reads GROUP BY plate ORDER BY 2 DESC LIMIT 1"
    ).fetchone()
    (raw_id,) = conn.execute(
        "SELECT read_id FROM reads WHERE plate = ? LIMIT 1", (plate,)
    ).fetchone()
    now = datetime.now(UTC)
    result = run_query(
        uow_factory=platform.uow,
        read_uow_factory=platform.read_uow,
        ctx=QueryContext(_investigator(now), PURPOSE, "BR.12.L3.004711/2026"),
        now=now,
        policy=platform.legal_policy(),
        action="analysis.plate",
        params={"plate": plate},
        execute=partial(
            analyses.plate_search,
            plate=plate,
            start=store.first_captured_at,
            end=store.last_captured_at + timedelta(seconds=1),
        ),
    )
    assert passages > 1 and result["count"] == passages and result["plates"] == [plate]
    with platform.read_uow() as uow:
        read = uow.reads.get(uuid.UUID(bytes=raw_id))
    assert read is not None and read.plate == plate and read.camera_id in store.camera_ids
    assert [(i.kind, i.content_type) for i in read.images] == [
        ("plate", "image/jpeg"),
        ("overview", "image/jpeg"),
    ]


def test_a_second_call_reuses_the_cached_store(store: PrefilledStore) -> None:
    before = store.database.stat().st_ino
    again = ensure_prefilled(
        folder=store.data_dir.parent, reads=READS, cameras=CAMERAS, seed=SEED, log=_quiet
    )
    assert again.reused and again.built_s == store.built_s and again.data_dir == store.data_dir
    assert again.database.stat().st_ino == before
    assert again.first_captured_at == store.first_captured_at


def test_the_run_s_rows_are_dropped_and_the_audit_chain_still_verifies(
    store: PrefilledStore, platform: Platform
) -> None:
    conn = connect(store.database, readonly=True)
    audit_before = conn.execute("SELECT count(*), max(seq) FROM audit_log").fetchone()
    anchors = store.data_dir / "audit-anchors" / "checkpoints.jsonl"
    anchors_before = anchors.read_bytes()
    assert audit_before[0] >= 1 and anchors_before  # the camera import, checkpointed
    # a run: an administrator, reads with stored images, searches, checkpoints
    now = datetime.now(UTC)
    user_service.create_first_admin(
        uow=platform.uow(), username="admin", password="correct horse battery", now=now
    )
    image = b"\xff\xd8 not really a jpeg \xff\xd9"
    sha = hashlib.sha256(image).hexdigest()
    platform.images.put(sha, image)
    added = [
        canonical_read(
            read_id=uuid.uuid4(),
            camera_id=store.camera_ids[0],
            captured_at=now - timedelta(seconds=n),
            plate_raw="1-ABC-123",
            plate="1ABC123",
            confidence=0.9,
            now=now,
            rules=platform.read_rules,
            images=(ImageRef(kind="plate", content_type="image/jpeg", sha256=sha, size=20),),
        )
        for n in range(50)
    ]
    with platform.uow() as uow:
        uow.reads.add_many(added)
        uow.commit()
    _search_the_busiest_plate(store, platform)
    platform.bus.handle(CheckpointAuditHead())
    assert len(anchors.read_bytes()) > len(anchors_before)
    assert conn.execute("SELECT count(*) FROM reads").fetchone()[0] == READS + 50
    platform.close_store()

    reset_to_watermark(store)

    assert conn.execute("SELECT count(*) FROM reads").fetchone()[0] == READS
    assert conn.execute("SELECT count(*) FROM read_images").fetchone()[0] == 2 * READS
    assert conn.execute("SELECT count(*) FROM users").fetchone()[0] == 0
    assert conn.execute("SELECT count(*), max(seq) FROM audit_log").fetchone() == audit_before
    assert anchors.read_bytes() == anchors_before
    assert not platform.images.exists(sha)
    with platform.read_uow() as uow:
        assert uow.reads.get(added[0].read_id) is None
    report = platform.bus.handle(VerifyAuditLog())
    assert report.ok and report.records == audit_before[0]
    # the next run (a new server: the old one's checkpoint writer remembers the removed
    # head and would rightly call it a truncation) goes on from the prefilled head
    platform.close_store()
    after = bootstrap(Settings(data_dir=store.data_dir, image_fsync=False, run_jobs=False))
    after.bus.handle(CheckpointAuditHead())
    _search_the_busiest_plate(store, after)
    after.bus.handle(CheckpointAuditHead())
    report = after.bus.handle(VerifyAuditLog())
    assert report.ok and report.records == audit_before[0] + 1
    after.close_store()
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        connect(store.database).execute("DELETE FROM audit_log")


# ---- keys, interrupted builds, stores that cannot be restored -------------------------------

SMALL = {"reads": 2_000, "cameras": 50}


def test_a_changed_key_builds_another_store_and_removes_the_old(tmp_path: Path) -> None:
    first = ensure_prefilled(folder=tmp_path, seed=1, log=_quiet, **SMALL)
    again = ensure_prefilled(folder=tmp_path, seed=1, log=_quiet, **SMALL)
    other = ensure_prefilled(folder=tmp_path, seed=2, log=_quiet, **SMALL)
    assert again.reused and not other.reused and other.data_dir != first.data_dir
    assert not first.data_dir.exists()  # tens of GB at full size: one store kept
    assert store_key(seed=1, **SMALL) != store_key(seed=2, **SMALL)
    assert store_key(seed=1, **SMALL) != store_key(seed=1, reads=2_001, cameras=50)
    assert str(DEFAULT_FOLDER).startswith("/tmp/")


def test_an_interrupted_build_is_never_reused(tmp_path: Path) -> None:
    with pytest.raises(PrefillError, match="interrupted"):
        ensure_prefilled(folder=tmp_path, seed=1, log=_quiet, fail_after_hours=100, **SMALL)
    assert list(tmp_path.iterdir()) == []  # nothing half-built left behind
    # a build killed outright leaves its temporary folder: the next call removes it
    key = store_key(seed=1, **SMALL)
    killed = tmp_path / f".national-{key}.building-99999"
    killed.mkdir()
    (killed / "veille.db").write_bytes(b"half a database")
    live = tmp_path / f".national-other.building-{os.getppid()}"  # a build still running
    live.mkdir()
    built = ensure_prefilled(folder=tmp_path, seed=1, log=_quiet, **SMALL)
    assert not built.reused and not killed.exists() and live.exists()
    live.rmdir()
    assert sorted(p.name for p in tmp_path.iterdir()) == [built.data_dir.name]
    # a complete store whose manifest is gone is not trusted either
    (built.data_dir / MANIFEST).unlink()
    assert not ensure_prefilled(folder=tmp_path, seed=1, log=_quiet, **SMALL).reused


def test_a_store_whose_prefilled_rows_changed_is_built_again(tmp_path: Path) -> None:
    built = ensure_prefilled(folder=tmp_path, seed=1, log=_quiet, **SMALL)
    conn = connect(built.database)
    conn.execute("DELETE FROM reads WHERE id = 17")
    conn.close()
    with pytest.raises(PrefillError, match="reads"):
        reset_to_watermark(built)
    messages: list[str] = []
    again = ensure_prefilled(folder=tmp_path, seed=1, log=messages.append, **SMALL)
    assert not again.reused and any("cannot be reused" in m for m in messages)
    assert connect(again.database).execute("SELECT count(*) FROM reads").fetchone()[0] == 2_000


def test_a_store_older_than_max_age_is_built_again(tmp_path: Path) -> None:
    long_ago = datetime.now(UTC) - timedelta(days=20)
    old = ensure_prefilled(folder=tmp_path, seed=1, log=_quiet, now=long_ago, **SMALL)
    assert old.last_captured_at < long_ago
    fresh = ensure_prefilled(folder=tmp_path, seed=1, log=_quiet, **SMALL)
    assert not fresh.reused and fresh.last_captured_at > long_ago + timedelta(days=19)
    assert fresh.last_captured_at - old.last_captured_at > timedelta(days=19)  # ends now
