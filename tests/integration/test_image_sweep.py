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
