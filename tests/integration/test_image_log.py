"""The image log on disk and the writer's group commit: an acknowledged read's images are
durable, a torn tail is ignored, a failed commit refers to nothing, retention drops the
segments no read refers into."""

from __future__ import annotations

import base64
import hashlib
import sqlite3
import uuid
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import make_read
from veille.adapters.decoders.native_json import validate_batch
from veille.adapters.image_log import HEADER_BYTES, ImageLog
from veille.adapters.images import FolderImageStore
from veille.adapters.sqlite.store import SqliteStore, SqliteUnitOfWork
from veille.domain.audit import system_actor
from veille.domain.reads import ImageRef, ImageUpload, ReadRules
from veille.domain.retention import RetentionPolicy
from veille.service.ingest import IngestBatch
from veille.service.retention import place_hold, run_retention
from veille.service.writer import GroupCommitWriter

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(microsecond=0)
RULES = ReadRules()


def upload(data: bytes) -> ImageUpload:
    sha = hashlib.sha256(data).hexdigest()
    ref = ImageRef(kind="plate", content_type="image/jpeg", sha256=sha, size=len(data))
    return ImageUpload(ref=ref, data=data)


class Clock:
    def __init__(self, at: datetime = NOW) -> None:
        self.at = at.timestamp()

    def __call__(self) -> float:
        return self.at


@pytest.fixture
def store(tmp_path: Path) -> Any:
    store = SqliteStore(tmp_path / "veille.db")
    store.initialise()
    yield store
    store.close()


def with_image(data: bytes, **overrides: Any) -> dict[str, Any]:
    image = {"kind": "plate", "content_type": "image/jpeg", "data": base64.b64encode(data).decode()}
    # captured at the tests' NOW (set at import): a read stamped with the wall clock would
    # fall beyond the clock skew once the suite has run for more than five minutes
    overrides.setdefault("captured_at", NOW.isoformat())
    return make_read("CAM-A", images=[image], **overrides)


def batch_of(*items: dict[str, Any], images: FolderImageStore) -> IngestBatch:
    return validate_batch(list(items), camera_id="CAM-A", now=NOW, rules=RULES, images=images)


# --- the log itself -----------------------------------------------------------------


def test_a_torn_tail_is_ignored_and_a_reopened_log_never_appends_to_it(tmp_path: Path):
    log = ImageLog(tmp_path / "log", clock=Clock())
    first, second = upload(b"\xff\xd8 first image"), upload(b"\xff\xd8 second image " * 50)
    (at_first,) = log.append([first])
    log.sync()
    (at_second,) = log.append([second])
    log.close()
    # the crash: the second record reached the disk only in part
    segment = tmp_path / "log" / at_first.segment
    with open(segment, "r+b") as handle:
        handle.truncate(at_second.offset + HEADER_BYTES + 10)
    size = segment.stat().st_size

    reopened = ImageLog(tmp_path / "log", clock=Clock())
    assert reopened.get(first.ref.sha256 or "", at_first) == first.data
    assert reopened.get(second.ref.sha256 or "", at_second) is None  # torn: not served
    (at_third,) = reopened.append([second])
    reopened.sync()
    assert at_third.segment != at_first.segment  # a segment of its own, never the torn one
    assert segment.stat().st_size == size
    assert reopened.get(second.ref.sha256 or "", at_third) == second.data


def test_a_damaged_record_is_answered_as_missing(tmp_path: Path):
    log = ImageLog(tmp_path / "log")
    image = upload(b"\xff\xd8 some bytes to damage")
    (at,) = log.append([image])
    log.sync()
    path = tmp_path / "log" / at.segment
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    assert log.get(image.ref.sha256 or "", at) is None


def test_segments_roll_every_hour_and_are_sealed_an_hour_after(tmp_path: Path):
    clock = Clock(datetime(2026, 3, 1, 10, 59, tzinfo=UTC))
    log = ImageLog(tmp_path / "log", clock=clock)
    (ten,) = log.append([upload(b"at ten")])
    clock.at += 120
    (eleven,) = log.append([upload(b"at eleven")])
    log.sync()
    assert ten.segment.startswith("20260301T10-") and eleven.segment.startswith("20260301T11-")
    noon = datetime(2026, 3, 1, 12, 0, tzinfo=UTC).timestamp()
    assert list(log.sealed_segments(noon - 1)) == []
    assert list(log.sealed_segments(noon)) == [ten.segment]
    assert log.get(upload(b"at ten").ref.sha256 or "", ten) == b"at ten"


# --- the writer's group commit ---------------------------------------------------------


class SyncChecked(FolderImageStore):
    """At each sync, checks that no committed read refers to the images yet: the images
    are durable before the commit that makes their reads stored (and acknowledged)."""

    def __init__(self, root: Path, database: Path) -> None:
        super().__init__(root, fsync=True)
        self.database = database
        self.synced_before_commit = 0

    def sync(self) -> None:
        with closing(sqlite3.connect(self.database)) as other:  # another connection
            committed = other.execute("SELECT count(*) FROM read_images").fetchone()[0]
        assert committed == 0, "images synced after their reads were committed"
        super().sync()
        self.synced_before_commit += 1


def test_an_acknowledged_reads_images_were_synced_before_its_commit(
    store: SqliteStore, tmp_path: Path
):
    images = SyncChecked(tmp_path / "images", tmp_path / "veille.db")
    writer = GroupCommitWriter(store.uow, images=images)
    writer.start()
    try:
        data = b"\xff\xd8\xff\xe0 plate crop"
        item = with_image(data)
        outcome = writer.submit(batch_of(item, images=images)).result(10)
    finally:
        writer.stop()
    assert outcome.stored == 1 and images.synced_before_commit == 1
    read_id = uuid.UUID(item["read_id"])
    sha = hashlib.sha256(data).hexdigest()
    with store.uow(write=False) as uow:
        located = uow.reads.image_locations([read_id])
    # read back through a fresh store on the same folder, as after a restart
    assert FolderImageStore(tmp_path / "images").get(sha, located[sha]) == data


class FailingCommit(SqliteUnitOfWork):
    def commit(self) -> None:
        raise RuntimeError("disk full")


def test_images_of_a_group_whose_commit_failed_are_referenced_by_nothing_and_dropped(
    store: SqliteStore, tmp_path: Path
):
    clock = Clock()
    images = FolderImageStore(tmp_path / "images", clock=clock)
    writer = GroupCommitWriter(lambda: FailingCommit(store.connection()), images=images)
    writer.start()
    try:
        with pytest.raises(RuntimeError, match="disk full"):
            writer.submit(batch_of(with_image(b"lost image"), images=images)).result(10)
    finally:
        writer.stop()
    (segment,) = (tmp_path / "images" / "log").iterdir()
    assert b"lost image" in segment.read_bytes()  # written and synced, then not committed
    with store.uow(write=False) as uow:
        assert uow.conn.execute("SELECT count(*) FROM read_images").fetchone()[0] == 0
        assert uow.reads.segment_images([segment.name]) == {}
    policy = RetentionPolicy(max_age=timedelta(days=30))
    report = run_retention(uow_factory=store.uow, images=images, now=NOW, policy=policy)
    assert report.deleted_segments == 0 and segment.exists()  # still the writer's segment
    later = NOW + timedelta(hours=2)
    report = run_retention(uow_factory=store.uow, images=images, now=later, policy=policy)
    assert report.deleted_segments == 1 and not segment.exists()


def test_retention_drops_a_segment_once_its_reads_are_purged_but_not_while_one_is_held(
    store: SqliteStore, tmp_path: Path
):
    images = FolderImageStore(tmp_path / "images", fsync=False, clock=Clock())
    old = NOW - timedelta(days=40)
    writer = GroupCommitWriter(store.uow, images=images)
    writer.start()
    try:
        for plate in ("1-ABC-123", "2-DEF-456"):
            item = with_image(plate.encode() * 10, plate=plate, captured_at=old.isoformat())
            writer.submit(
                validate_batch(
                    [item],
                    camera_id="CAM-A",
                    now=old,
                    rules=RULES,
                    images=images,
                )
            ).result(10)
    finally:
        writer.stop()
    (segment,) = (tmp_path / "images" / "log").iterdir()
    place_hold(
        uow=store.uow(),
        case_ref="PV-1",
        plates=["2-DEF-456"],
        camera_ids=[],
        start=old - timedelta(hours=1),
        end=old + timedelta(hours=1),
        actor=system_actor("test"),
        now=NOW,
    )
    policy = RetentionPolicy(max_age=timedelta(days=30))
    later = NOW + timedelta(hours=2)
    report = run_retention(uow_factory=store.uow, images=images, now=later, policy=policy)
    assert (report.deleted_reads, report.kept_by_holds, report.deleted_segments) == (1, 1, 0)
    assert segment.exists()  # the held read's image is still served from it
    with store.uow(write=False) as uow:
        assert uow.reads.segment_images([segment.name]) == {segment.name: 1}

    with store.uow() as uow:  # the case closes: its hold goes, and so does the segment
        uow.conn.execute("DELETE FROM case_holds")
        uow.commit()
    report = run_retention(uow_factory=store.uow, images=images, now=later, policy=policy)
    assert (report.deleted_reads, report.deleted_segments) == (1, 1)
    assert not segment.exists()
