"""The in-memory store: what handler tests rely on beyond the contract suite."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tests.contract.builders import a_camera, a_read, an_entry
from veille.adapters.decoders.native_json import validate_batch
from veille.adapters.memory.store import MemoryStore, SnapshotConflict, StoreBusy
from veille.domain.audit import system_actor, verify_chain
from veille.domain.reads import ReadRules
from veille.service.cameras import authenticate_camera, import_cameras
from veille.service.ingest import DUPLICATE, REJECTED, STORED, commit_batches
from veille.service.users import create_first_admin, identify, issue_token

pytestmark = pytest.mark.unit

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_service_functions_run_on_it_as_on_sqlite():
    store = MemoryStore()
    admin = create_first_admin(
        uow=store.uow(), username="admin", password="Corr3ct-horse-battery-staple", now=NOW
    )
    token, _ = issue_token(uow=store.uow(), user_id=admin.user_id, now=NOW)
    found = identify(uow=store.uow(write=False), token=token, now=NOW)
    assert found is not None and found.principal.username == "admin"
    record = {
        "camera_id": "CAM-A",
        "lat": 50.836,
        "lon": 4.308,
        "zone": "Midi",
        "province": "Bruxelles-Capitale",
        "phase": "live",
    }
    report = import_cameras(
        uow=store.uow(), records=[("line 2", record)], now=NOW, actor=system_actor("test")
    )
    assert report.applied, report.problems
    camera = authenticate_camera(uow=store.uow(write=False), token=report.tokens["CAM-A"])
    assert camera is not None and camera.camera_id == "CAM-A"
    read_id = str(uuid.uuid4())
    good = {
        "read_id": read_id,
        "camera_id": "CAM-A",
        "captured_at": (NOW - timedelta(seconds=30)).isoformat(),
        "plate": "1-ABC-123",
        "confidence": 0.9,
    }
    batch = validate_batch(
        [good, {**good}, {"plate": None}],
        camera_id="CAM-A",
        now=NOW,
        rules=ReadRules(),
        images=None,
        encode=store.encode_read,
    )
    results, fresh = commit_batches(store.uow(), [batch])
    assert [r.status for r in results[0]] == [STORED, DUPLICATE, REJECTED]
    assert [str(r.read_id) for r in fresh] == [read_id]
    with store.uow(write=False) as uow:
        assert uow.dead_letters.count() == 1
        assert verify_chain(uow.audit.iter_all()) == []


def test_a_second_writer_on_the_same_thread_is_refused_at_once():
    store = MemoryStore()
    with store.uow(), pytest.raises(RuntimeError), store.uow():
        pass  # would wait for itself forever


def test_a_writer_waits_for_the_write_lock_no_longer_than_the_busy_timeout():
    store = MemoryStore(busy_timeout=0.01)
    holding, done = threading.Event(), threading.Event()

    def hold() -> None:
        with store.uow():
            holding.set()
            done.wait()

    holder = threading.Thread(target=hold)
    holder.start()
    holding.wait()
    try:
        with pytest.raises(StoreBusy), store.uow():
            pass
    finally:
        done.set()
        holder.join()


def test_a_read_only_unit_of_work_commits_changes_only_over_its_own_snapshot():
    store = MemoryStore()
    with store.uow(write=False) as uow:
        uow.audit.append(an_entry("appended from a snapshot"))
        uow.commit()
    stale = store.uow(write=False)
    with stale:
        stale.cameras.get("CAM-A")
        with store.uow() as writer:
            writer.cameras.add(a_camera("CAM-A"))
            writer.commit()
        stale.audit.append(an_entry("would fork the chain"))
        with pytest.raises(SnapshotConflict):
            stale.commit()
    with store.uow(write=False) as uow:
        assert [r.entry.action for r in uow.audit.iter_all()] == ["appended from a snapshot"]
        assert uow.cameras.get("CAM-A") is not None


def test_writing_outside_a_unit_of_work_is_refused_and_reading_sees_the_latest_commit():
    store = MemoryStore()
    idle = store.uow()
    with pytest.raises(RuntimeError):
        idle.reads.add_many([a_read()])
    with store.uow() as uow:
        uow.reads.add_many([a_read()])
        uow.commit()
    assert idle.reads.count() == 1
    with pytest.raises(RuntimeError):
        idle.commit()
