"""Inline images through the group-commit writer, on the memory store: appended by the
writer for the reads it stores, synced before the commit that acknowledges them."""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from veille.adapters.decoders.native_json import validate_batch
from veille.adapters.memory.images import MemoryImageStore
from veille.adapters.memory.store import MemoryStore, MemoryUnitOfWork
from veille.domain.reads import ReadRules
from veille.service.ingest import IngestBatch
from veille.service.writer import GroupCommitWriter

pytestmark = pytest.mark.unit

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def a_read(data: bytes, read_id: str | None = None) -> dict[str, Any]:
    return {
        "read_id": read_id or str(uuid.uuid4()),
        "camera_id": "CAM-A",
        "captured_at": (NOW - timedelta(seconds=2)).isoformat(),
        "plate": "1-ABC-123",
        "confidence": 0.9,
        "images": [{"kind": "plate", "data": base64.b64encode(data).decode()}],
    }


def batch(images: MemoryImageStore, *items: dict[str, Any]) -> IngestBatch:
    return validate_batch(list(items), camera_id="CAM-A", now=NOW, rules=ReadRules(), images=images)


@pytest.fixture
def images() -> MemoryImageStore:
    return MemoryImageStore(clock=NOW.timestamp)


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def writer(store: MemoryStore, images: MemoryImageStore) -> Iterator[GroupCommitWriter]:
    writer = GroupCommitWriter(store.uow, images=images)
    writer.start()
    yield writer
    writer.stop()


def test_an_acknowledged_reads_image_survives_a_crash(
    store: MemoryStore, images: MemoryImageStore, writer: GroupCommitWriter
):
    item = a_read(b"\xff\xd8 plate")
    assert writer.submit(batch(images, item)).result(5).stored == 1
    images.crash()  # whatever was not synced is lost
    with store.uow(write=False) as uow:
        located = uow.reads.image_locations([uuid.UUID(item["read_id"])])
    sha = hashlib.sha256(b"\xff\xd8 plate").hexdigest()
    assert images.get(sha, located[sha]) == b"\xff\xd8 plate"


def test_a_duplicates_image_is_not_written_again(
    images: MemoryImageStore, writer: GroupCommitWriter
):
    item = a_read(b"\xff\xd8 once")
    writer.submit(batch(images, item)).result(5)
    again = writer.submit(batch(images, a_read(b"\xff\xd8 once", item["read_id"]))).result(5)
    assert again.duplicate == 1
    assert sum(len(records) for records in images.segments.values()) == 1


class FailingCommit(MemoryUnitOfWork):
    def commit(self) -> None:
        raise RuntimeError("disk full")


def test_no_read_refers_to_the_images_of_a_failed_commit(
    store: MemoryStore, images: MemoryImageStore
):
    writer = GroupCommitWriter(lambda: FailingCommit(store), images=images)
    writer.start()
    try:
        with pytest.raises(RuntimeError, match="disk full"):
            writer.submit(batch(images, a_read(b"\xff\xd8 lost"))).result(5)
    finally:
        writer.stop()
    (segment,) = images.segments
    with store.uow(write=False) as uow:
        assert uow.reads.count() == 0
        assert uow.reads.segment_images([segment]) == {}
