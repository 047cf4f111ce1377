"""The image sweep deletes files no read refers to, and nothing a read may still need."""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from veille.adapters.images import FolderImageStore
from veille.adapters.sqlite.store import SqliteStore
from veille.domain.audit import system_actor
from veille.domain.plates import canonical
from veille.domain.reads import ImageRef, Read
from veille.service.retention import sweep_orphan_images

pytestmark = pytest.mark.integration
NOW = datetime.now(UTC)


def put(images: FolderImageStore, data: bytes, *, age_s: float) -> str:
    digest = hashlib.sha256(data).hexdigest()
    images.put(digest, data)
    old = time.time() - age_s
    os.utime(images.path(digest), (old, old))
    return digest


def test_sweep_deletes_old_orphans_only(tmp_path):
    store = SqliteStore(tmp_path / "s.db")
    store.initialise()
    images = FolderImageStore(tmp_path / "images", fsync=False)
    kept = put(images, b"referenced", age_s=7200)
    orphan = put(images, b"orphan", age_s=7200)
    young = put(images, b"young orphan: its read may still be committing", age_s=60)
    read = Read(
        read_id=uuid.uuid4(),
        camera_id="C",
        captured_at=NOW,
        plate_raw="1ABC123",
        plate="1ABC123",
        plate_canonical=canonical("1ABC123"),
        country="BE",
        confidence=0.9,
        received_at=NOW,
        images=(ImageRef(kind="plate", content_type="image/jpeg", sha256=kept, size=10),),
    )
    with store.uow() as uow:
        uow.reads.add_many([read])
        uow.commit()

    dry = sweep_orphan_images(
        uow_factory=store.uow,
        read_uow_factory=lambda: store.uow(write=False),
        images=images,
        now=NOW,
        min_age=timedelta(hours=1),
        actor=system_actor("test"),
        dry_run=True,
    )
    assert (dry.checked, dry.deleted) == (2, 1) and images.exists(orphan)
    report = sweep_orphan_images(
        uow_factory=store.uow,
        read_uow_factory=lambda: store.uow(write=False),
        images=images,
        now=NOW,
        min_age=timedelta(hours=1),
        actor=system_actor("test"),
    )
    assert report.deleted == 1
    assert not images.exists(orphan)
    assert images.exists(kept) and images.exists(young)
    with store.uow(write=False) as uow:
        actions = [(r.entry.action, r.entry.result_count) for r in uow.audit.iter_all()]
    assert actions == [("images.sweep_dry_run", 1), ("images.sweep", 1)]


def test_sweep_removes_stale_temporary_files_a_killed_write_left(tmp_path):
    """A process killed between writing `.<sha>.<pid>.tmp` and renaming it leaves the file
    behind; the sweep removes it once it is older than the safe age, and counts it."""
    store = SqliteStore(tmp_path / "s.db")
    store.initialise()
    images = FolderImageStore(tmp_path / "images", fsync=False)
    digest = hashlib.sha256(b"never renamed").hexdigest()
    folder = images.path(digest).parent
    folder.mkdir(parents=True)
    stale = folder / f".{digest}.4242.tmp"
    fresh = folder / f".{digest}.4343.tmp"  # a write in progress right now
    for path, age_s in ((stale, 7200), (fresh, 5)):
        path.write_bytes(b"half an image")
        old = time.time() - age_s
        os.utime(path, (old, old))
    unrelated = folder / "notes.txt"  # not ours: never touched
    unrelated.write_text("x")
    os.utime(unrelated, (time.time() - 7200,) * 2)

    def sweep(dry_run: bool):
        return sweep_orphan_images(
            uow_factory=store.uow,
            read_uow_factory=lambda: store.uow(write=False),
            images=images,
            now=NOW,
            min_age=timedelta(hours=1),
            actor=system_actor("test"),
            dry_run=dry_run,
        )

    dry = sweep(dry_run=True)
    assert dry.temporary_removed == 1 and stale.exists()
    report = sweep(dry_run=False)
    assert report.temporary_removed == 1 and report.as_dict()["temporary_removed"] == 1
    assert not stale.exists() and fresh.exists() and unrelated.exists()
    with store.uow(write=False) as uow:
        params = [r.entry.params for r in uow.audit.iter_all()]
    assert params[-1]["temporary_removed"] == 1
