"""The retention job on a real SQLite store: what goes, what a hold keeps, images, audit."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from tests.conftest import register_cameras, settings_on
from veille.bootstrap import Platform, bootstrap
from veille.domain.audit import system_actor
from veille.domain.plates import canonical
from veille.domain.reads import ImageRef, Read
from veille.domain.retention import HoldInvalid, RetentionPolicy
from veille.entrypoints.cli_jobs import holds_app, jobs_app
from veille.service.commands import Command
from veille.service.messagebus import MessageBus
from veille.service.retention import (
    DRY_RUN,
    PURGE,
    HoldNotFound,
    list_holds,
    place_hold,
    release_hold,
    run_retention,
)
from veille.settings import Settings

pytestmark = pytest.mark.integration


# On PostgreSQL the 14 months of reads are ~425 day partitions, made and dropped: ~10 s of
# DDL and commits on a quiet machine, over a minute on a loaded one, so that variant is
# `slow` (the partition drop itself is tested fast in test_postgresql_store.py).
@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    """The purge runs on the embedded store and on PostgreSQL, which drops whole days."""
    with settings_on(request.param, tmp_path) as chosen:
        yield chosen


NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
POLICY = RetentionPolicy()
CUTOFF = POLICY.cutoff(NOW)
SPAN = timedelta(days=426)  # about 14 months
N_READS = 14_000
CAMERAS = [f"CAM-{i}" for i in range(5)]
HELD_PLATE = "1HLD001"
HELD_CAMERA = "CAM-3"
PLATE_HOLD = (NOW - timedelta(days=400), NOW - timedelta(days=380))
CAMERA_HOLD = (NOW - timedelta(days=420), NOW - timedelta(days=410))
ADMIN = system_actor("test:admin")


def _image(label: str) -> tuple[ImageRef, bytes]:
    data = f"jpeg bytes of {label}".encode()
    sha = hashlib.sha256(data).hexdigest()
    return ImageRef(kind="plate", content_type="image/jpeg", sha256=sha, size=len(data)), data


def make_read(captured_at: datetime, plate: str, camera_id: str, images=()) -> Read:
    return Read(
        read_id=uuid.uuid4(),
        camera_id=camera_id,
        captured_at=captured_at,
        plate_raw=plate,
        plate=plate,
        plate_canonical=canonical(plate),
        country="BE",
        confidence=0.9,
        received_at=captured_at,
        images=tuple(images),
    )


@dataclass
class Fixture:
    platform: Platform
    reads: list[Read]
    # sha256 -> read ids that reference it
    image_refs: dict[str, set[uuid.UUID]] = field(default_factory=dict)
    shared_with_recent: str = ""
    shared_with_held: str = ""


def _held(read: Read) -> bool:
    by_plate = read.plate == HELD_PLATE and PLATE_HOLD[0] <= read.captured_at < PLATE_HOLD[1]
    by_camera = (
        read.camera_id == HELD_CAMERA and CAMERA_HOLD[0] <= read.captured_at < CAMERA_HOLD[1]
    )
    return by_plate or by_camera


def _survives(read: Read) -> bool:
    return read.captured_at >= CUTOFF or _held(read)


@pytest.fixture
def store(platform: Platform) -> Fixture:
    """14,000 reads spread evenly over 14 months, images on every 10th, three holds."""
    register_cameras(platform, *CAMERAS)
    reads: list[Read] = []
    step = SPAN / N_READS
    shared_recent, shared_recent_data = _image("shared with a recent read")
    shared_held, shared_held_data = _image("shared with a held read")
    for i in range(N_READS):
        captured = NOW - SPAN + step * i
        plate = HELD_PLATE if i % 50 == 0 else f"1AAA{i % 97:03d}"
        images = []
        if i % 10 == 0:
            ref, data = _image(f"read {i}")
            platform.images.put(ref.sha256 or "", data)
            images.append(ref)
        reads.append(make_read(captured, plate, CAMERAS[i % len(CAMERAS)], images))
    fixture = Fixture(platform, reads)
    # one image referenced by a doomed old read and by a recent read, another by a doomed
    # old read and a held one: both files must stay
    doomed = [r for r in reads if not _survives(r)]
    recent = next(r for r in reads if r.captured_at >= CUTOFF)
    held = next(r for r in reads if _held(r))
    platform.images.put(shared_recent.sha256 or "", shared_recent_data)
    platform.images.put(shared_held.sha256 or "", shared_held_data)
    _add_image(reads, doomed[1], shared_recent)
    _add_image(reads, recent, shared_recent)
    _add_image(reads, doomed[2], shared_held)
    _add_image(reads, held, shared_held)
    fixture.shared_with_recent = shared_recent.sha256 or ""
    fixture.shared_with_held = shared_held.sha256 or ""
    for r in fixture.reads:
        for img in r.images:
            fixture.image_refs.setdefault(img.sha256 or "", set()).add(r.read_id)
    with platform.uow() as uow:
        uow.reads.add_many(reads)
        uow.commit()
    place_hold(
        uow=platform.uow(),
        case_ref="PV-2025-0042",
        plates=["1-hld-001"],  # normalised by the service
        camera_ids=[],
        start=PLATE_HOLD[0],
        end=PLATE_HOLD[1],
        actor=ADMIN,
        now=NOW,
    )
    place_hold(
        uow=platform.uow(),
        case_ref="PV-2025-0077",
        plates=[],
        camera_ids=[HELD_CAMERA],
        start=CAMERA_HOLD[0],
        end=CAMERA_HOLD[1],
        actor=ADMIN,
        now=NOW,
    )
    released = place_hold(
        uow=platform.uow(),
        case_ref="PV-2024-0001",
        plates=["1AAA001", "1AAA002"],
        camera_ids=[],
        start=NOW - SPAN,
        end=CUTOFF,
        actor=ADMIN,
        now=NOW,
    )
    release_hold(uow=platform.uow(), hold_id=released.hold_id, actor=ADMIN, now=NOW)
    return fixture


def _add_image(reads: list[Read], read: Read, ref: ImageRef) -> None:
    index = reads.index(read)
    reads[index] = Read(
        **{f: getattr(read, f) for f in Read.__slots__ if f != "images"},
        images=(*read.images, ref),
    )


def _stored_ids(platform: Platform) -> set[uuid.UUID]:
    with platform.read_uow() as uow:
        rows = uow.conn.execute("SELECT read_id FROM reads").fetchall()
    return {uuid.UUID(bytes=r[0]) for r in rows}


def _audit(platform: Platform, action: str):
    with platform.read_uow() as uow:
        return uow.audit.search(action=action)


def _purge(platform: Platform, **kwargs) -> object:
    return run_retention(
        uow_factory=platform.uow,
        images=platform.images,
        now=NOW,
        policy=POLICY,
        **kwargs,
    )


def test_purge_deletes_old_reads_keeps_held_and_recent(store: Fixture) -> None:
    platform = store.platform
    expected = {r.read_id for r in store.reads if _survives(r)}
    old_held = [r for r in store.reads if r.captured_at < CUTOFF and _held(r)]
    assert len(old_held) > 10 and len(expected) < N_READS  # the fixture covers every case

    report = _purge(platform, batch_size=500)

    assert _stored_ids(platform) == expected
    assert report.deleted_reads == N_READS - len(expected)
    assert report.kept_by_holds == len(old_held)
    assert report.batches >= (N_READS - len(expected)) // 500
    assert report.cutoff == CUTOFF
    # image files: gone exactly when no surviving read references them
    survivors = {r.read_id for r in store.reads if _survives(r)}
    gone = 0
    for sha, refs in store.image_refs.items():
        if refs & survivors:
            assert platform.images.exists(sha), sha
        else:
            assert not platform.images.exists(sha), sha
            gone += 1
    assert report.deleted_images == gone > 0
    assert platform.images.exists(store.shared_with_recent)
    assert platform.images.exists(store.shared_with_held)
    with platform.read_uow() as uow:
        orphan_rows = uow.conn.execute(
            "SELECT count(*) FROM read_images WHERE read_id NOT IN (SELECT read_id FROM reads)"
        ).fetchone()[0]
    assert orphan_rows == 0


def test_purge_is_idempotent_and_audited_once_per_run(store: Fixture) -> None:
    platform = store.platform
    first = _purge(platform, batch_size=1000)
    second = _purge(platform, batch_size=1000)

    assert first.deleted_reads > 0
    assert second.deleted_reads == 0 and second.deleted_images == 0
    assert second.kept_by_holds == first.kept_by_holds
    records = _audit(platform, PURGE)
    assert [r.entry.result_count for r in records] == [first.deleted_reads, 0]
    entry = records[0].entry
    assert entry.actor.username == "job:retention"
    assert entry.params["cutoff"] == CUTOFF.isoformat()
    assert entry.params["batch_size"] == 1000
    assert len(entry.params["holds"]) == 2  # the released hold does not apply
    assert entry.params["kept_by_holds"] == first.kept_by_holds


def test_dry_run_deletes_nothing_and_is_audited(store: Fixture) -> None:
    platform = store.platform
    before = _stored_ids(platform)
    report = _purge(platform, dry_run=True, read_uow_factory=platform.read_uow)

    assert _stored_ids(platform) == before
    assert all(platform.images.exists(sha) for sha in store.image_refs)
    assert report.dry_run
    assert report.deleted_reads == sum(not _survives(r) for r in store.reads)
    assert _audit(platform, PURGE) == []
    [record] = _audit(platform, DRY_RUN)
    assert record.entry.result_count == report.deleted_reads
    # the real run then deletes exactly what the dry run announced
    assert _purge(platform).deleted_reads == report.deleted_reads


def test_interrupted_run_is_audited_and_the_next_run_finishes(store: Fixture) -> None:
    platform = store.platform
    first = _purge(platform, batch_size=1000, should_stop=lambda: True)
    assert first.interrupted and first.batches == 1
    assert 0 < first.deleted_reads <= 1000
    rest = _purge(platform, batch_size=1000)
    assert _stored_ids(platform) == {r.read_id for r in store.reads if _survives(r)}
    assert first.deleted_reads + rest.deleted_reads == sum(not _survives(r) for r in store.reads)
    records = _audit(platform, PURGE)
    assert [r.entry.params.get("interrupted", False) for r in records] == [True, False]


def test_hold_placed_on_an_unknown_camera_is_refused(platform: Platform) -> None:
    with pytest.raises(HoldInvalid, match="unknown camera"):
        place_hold(
            uow=platform.uow(),
            case_ref="PV-1",
            plates=[],
            camera_ids=["NOPE"],
            start=NOW - timedelta(days=1),
            end=NOW,
            actor=ADMIN,
            now=NOW,
        )
    with pytest.raises(HoldNotFound):
        release_hold(uow=platform.uow(), hold_id=99, actor=ADMIN, now=NOW)
    assert list_holds(uow=platform.uow(), actor=ADMIN, now=NOW) == []


def test_cli_holds_and_jobs(tmp_path: Path) -> None:
    data = tmp_path / "cli"
    platform = bootstrap(Settings(data_dir=data, image_fsync=False))
    platform.store.initialise()
    register_cameras(platform, "CAM-A")
    now = datetime.now(UTC)
    old = now - timedelta(days=500)
    with platform.uow() as uow:
        uow.reads.add_many(
            [
                make_read(old, "1ABC123", "CAM-A"),
                make_read(old, "1XYZ999", "CAM-A"),
                make_read(now - timedelta(days=3), "1XYZ999", "CAM-A"),
            ]
        )
        uow.commit()
    platform.store.close()
    runner = CliRunner()
    args = ["--data-dir", str(data)]

    placed = runner.invoke(
        holds_app,
        [
            *("add", "--case", "PV-9", "--plate", "1-abc-123", "--camera", "CAM-A"),
            *("--start", (old - timedelta(days=1)).date().isoformat()),
            *("--end", (old + timedelta(days=1)).isoformat(), *args),
        ],
    )
    assert placed.exit_code == 0, placed.output
    listed = runner.invoke(holds_app, ["list", "--json", *args])
    [hold] = orjson.loads(listed.output)
    assert hold["plates"] == ["1ABC123"] and hold["camera_ids"] == ["CAM-A"]

    assert "retention" in runner.invoke(jobs_app, ["list"]).output
    dry = runner.invoke(jobs_app, ["run", "retention", "--dry-run", *args])
    assert dry.exit_code == 0, dry.output
    assert orjson.loads(dry.output)["deleted_reads"] == 1
    real = runner.invoke(jobs_app, ["run", "retention", *args])
    assert orjson.loads(real.output)["deleted_reads"] == 1
    assert orjson.loads(real.output)["kept_by_holds"] == 1

    released = runner.invoke(holds_app, ["release", str(hold["hold_id"]), *args])
    assert released.exit_code == 0, released.output
    assert (
        orjson.loads(runner.invoke(jobs_app, ["run", "retention", *args]).output)["deleted_reads"]
        == 1
    )
    assert runner.invoke(holds_app, ["release", str(hold["hold_id"]), *args]).exit_code == 1
    assert runner.invoke(jobs_app, ["run", "nope", *args]).exit_code == 2
    refused = runner.invoke(
        holds_app, ["add", "--case", "PV-9", "--start", "2025-01-01", "--end", "2025-02-01", *args]
    )
    # an invalid hold is bad input: exit 2, as every `Invalid` is (cli_common.TAXONOMY_EXIT)
    assert refused.exit_code == 2 and "at least one plate" in refused.output

    platform = bootstrap(Settings(data_dir=data))
    platform.store.initialise()
    with platform.read_uow() as uow:
        assert uow.reads.count() == 1
        actions = [r.entry.action for r in uow.audit.search()]
        actors = {r.entry.actor.username for r in uow.audit.search(action="hold.place")}
    platform.store.close()
    assert actions.count("retention.purge") == 2 and actions.count("retention.dry_run") == 1
    assert {"hold.place", "hold.list", "hold.release"} <= set(actions)
    assert all(a.startswith("cli:") for a in actors)


def test_scheduler_runs_a_job_when_its_time_has_come(store: Fixture) -> None:
    from veille.service.jobs import JOBS, JobScheduler

    platform = store.platform
    platform.clock = lambda: NOW
    scheduler = JobScheduler(platform.bus, clock=lambda: NOW)
    assert scheduler.due(NOW) == list(JOBS)

    first = scheduler.tick(NOW)
    assert first["retention"].deleted_reads == sum(not _survives(r) for r in store.reads)
    assert "retention" not in scheduler.tick(NOW + timedelta(hours=23))  # not due yet
    assert "audit-anchor" in first  # the hourly job ran too
    again = scheduler.tick(NOW + timedelta(hours=24))
    assert again["retention"].deleted_reads == 0
    assert len(_audit(platform, PURGE)) == 2


@dataclass(frozen=True)
class _Broken(Command):
    should_stop: object = None


@dataclass(frozen=True)
class _Fine(Command):
    should_stop: object = None


def test_scheduler_keeps_going_after_a_failed_job() -> None:
    from veille.service.jobs import Job, JobScheduler

    calls: list[str] = []

    def broken(_cmd: _Broken, _raised: object) -> None:
        calls.append("broken")
        raise RuntimeError("disk full")

    def fine(_cmd: _Fine, _raised: object) -> str:
        calls.append("fine")
        return "ok"

    bus = MessageBus()
    bus.register(_Broken, broken)
    bus.register(_Fine, fine)
    scheduler = JobScheduler(
        bus,
        jobs={
            "broken": Job("broken", timedelta(hours=1), _Broken),
            "fine": Job("fine", timedelta(hours=1), _Fine),
        },
        clock=lambda: NOW,
    )
    assert scheduler.tick(NOW) == {"fine": "ok"}
    assert scheduler.last_error == {"broken": "RuntimeError: disk full"}
    assert scheduler.tick(NOW + timedelta(minutes=30)) == {}  # not retried every poll
    scheduler.tick(NOW + timedelta(hours=1))
    assert calls == ["broken", "fine", "broken", "fine"]
    scheduler.start()  # the thread polls after poll_s (60 s): start and stop cleanly
    scheduler.stop(timeout=5)
