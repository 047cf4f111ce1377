"""Camera registry, ingest and dead letters against a real SQLite store in a temporary folder."""

from __future__ import annotations

import base64
import hashlib
import sqlite3
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from veille.adapters.decoders import builtin_decoders
from veille.adapters.decoders.native_json import validate_batch
from veille.adapters.images import FolderImageStore
from veille.adapters.sqlite.database import load_migrations
from veille.adapters.sqlite.store import SqliteStore, SqliteUnitOfWork
from veille.adapters.sqlite.times import decode
from veille.domain.audit import system_actor
from veille.domain.cameras import Phase
from veille.domain.reads import ReadRules
from veille.service import cameras as camera_service
from veille.service.cameras import (
    ImportProblem,
    authenticate_camera,
    hash_token,
    import_cameras,
    retire_camera,
    rotate_token,
    set_phase,
)
from veille.service.dead_letters import DeadLetterNotOpen, discard, list_dead_letters
from veille.service.ingest import (
    DUPLICATE,
    REJECTED,
    STORED,
    commit_batches,
)

ACTOR = system_actor("test")

pytestmark = pytest.mark.integration

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DECODERS = builtin_decoders()
RULES = ReadRules()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "db" / "veille.sqlite3"


@pytest.fixture
def store(db_path: Path) -> Iterator[SqliteStore]:
    sqlite_store = SqliteStore(db_path, synchronous="NORMAL")
    sqlite_store.initialise()
    yield sqlite_store
    sqlite_store.close()


@pytest.fixture
def image_store(tmp_path: Path) -> FolderImageStore:
    return FolderImageStore(tmp_path / "images", fsync=False)


def camera(camera_id: str, **overrides: Any) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "camera_id": camera_id,
        "name": f"Camera {camera_id}",
        "lat": 50.836,
        "lon": 4.308,
        "heading": 180,
        "zone": "Midi",
        "province": "Bruxelles-Capitale",
        "vendor": "Dahua",
        "protocol": "veille-json",
        "phase": "live",
    }
    rec.update(overrides)
    return rec


def lines(*records: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(f"line {i}", r) for i, r in enumerate(records, start=2)]


def register(store: SqliteStore, *ids: str, phase: str = "live") -> dict[str, str]:
    report = import_cameras(
        actor=ACTOR, uow=store.uow(), records=lines(*(camera(c, phase=phase) for c in ids)), now=NOW
    )
    assert report.applied, report.problems
    return report.tokens


def scalar(store: SqliteStore, sql: str, *params: Any) -> Any:
    return store.connection().execute(sql, params).fetchone()[0]


def file_bytes(db_path: Path) -> bytes:
    """The database as it is on disk: main file plus its WAL and shared-memory files."""
    return b"".join(p.read_bytes() for p in sorted(db_path.parent.glob(db_path.name + "*")))


def make_read(camera_id: str, **overrides: Any) -> dict[str, Any]:
    read: dict[str, Any] = {
        "read_id": str(uuid.uuid4()),
        "camera_id": camera_id,
        "captured_at": (NOW - timedelta(seconds=30)).isoformat(),
        "plate": "1-ABC-123",
        "country": "BE",
        "confidence": 0.93,
        "direction": "approaching",
        "lane": 1,
    }
    read.update(overrides)
    return read


def ingest(
    store: SqliteStore,
    items: list[Any],
    *,
    camera_id: str = "CAM-A",
    now: datetime = NOW,
    images: FolderImageStore | None = None,
) -> list[str]:
    batch = validate_batch(items, camera_id=camera_id, now=now, rules=RULES, images=images)
    results, _ = commit_batches(store.uow(), [batch], images=images)
    assert [r.index for r in results[0]] == list(range(len(items)))
    return [r.status for r in results[0]]


# --- migrations and pragmas -------------------------------------------------------------


def test_migrations_apply_once_and_are_recorded(db_path: Path):
    shipped = load_migrations()
    assert [(m.version, m.name) for m in shipped[:2]] == [(1, "foundation"), (2, "users")]
    first = SqliteStore(db_path)
    try:
        assert first.initialise() == [m.version for m in shipped]
        assert first.initialise() == []
        rows = first.connection().execute(
            "SELECT version, name FROM schema_migrations ORDER BY version"
        )
        assert rows.fetchall() == [(m.version, m.name) for m in shipped]
    finally:
        first.close()
    again = SqliteStore(db_path)
    try:
        assert again.initialise() == []
        assert scalar(again, "SELECT count(*) FROM schema_migrations") == len(shipped)
        tables = {
            r[0]
            for r in again.connection().execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
        assert {"cameras", "camera_credentials", "reads", "read_images", "dead_letters"} <= tables
        assert {"users", "organisations", "api_tokens"} <= tables
    finally:
        again.close()


def test_store_runs_in_wal_mode(store: SqliteStore, db_path: Path):
    assert scalar(store, "PRAGMA journal_mode") == "wal"
    # WAL is a property of the file: any other connection sees it too.
    plain = sqlite3.connect(db_path)
    try:
        assert plain.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        plain.close()
    assert scalar(store, "PRAGMA foreign_keys") == 1


# --- camera import ----------------------------------------------------------------------


def test_import_with_one_bad_record_stores_nothing(store: SqliteStore):
    records = lines(camera("CAM-A"), camera("CAM-B", lat=48.857, lon=2.352), camera("CAM-C"))
    report = import_cameras(actor=ACTOR, uow=store.uow(), records=records, now=NOW)
    assert not report.applied
    assert [(p.where, p.field) for p in report.problems] == [("line 3", "lat/lon")]
    assert "outside Belgium" in report.problems[0].reason
    assert report.created == [] and report.tokens == {}
    assert scalar(store, "SELECT count(*) FROM cameras") == 0
    assert scalar(store, "SELECT count(*) FROM camera_credentials") == 0


def test_import_reports_every_problem_with_where_and_field(store: SqliteStore):
    records = lines(
        camera("CAM-A"),
        camera("bad id!"),
        camera("CAM-C", zone=""),
        camera("CAM-A", name="again"),
        camera("CAM-E", heading=400),
        camera("CAM-F", province="Brabant"),
    )
    report = import_cameras(actor=ACTOR, uow=store.uow(), records=records, now=NOW)
    assert [(p.where, p.field) for p in report.problems] == [
        ("line 3", "camera_id"),
        ("line 4", "zone"),
        ("line 5", "camera_id"),
        ("line 6", "heading"),
        ("line 7", "province"),
    ]
    assert report.problems[2] == ImportProblem("line 5", "camera_id", "also at line 2")
    assert report.as_dict()["applied"] is False
    assert scalar(store, "SELECT count(*) FROM cameras") == 0


def test_import_creates_cameras_with_tokens(store: SqliteStore):
    report = import_cameras(
        actor=ACTOR, uow=store.uow(), records=lines(camera("CAM-A"), camera("CAM-B")), now=NOW
    )
    assert report.applied
    assert report.created == ["CAM-A", "CAM-B"]
    assert set(report.tokens) == {"CAM-A", "CAM-B"}
    assert report.tokens["CAM-A"] != report.tokens["CAM-B"]
    stored = camera_service.get_camera(uow=store.uow(), camera_id="CAM-A")
    assert (stored.name, stored.zone, stored.phase, stored.created_at) == (
        "Camera CAM-A",
        "Midi",
        Phase.LIVE,
        NOW,
    )


def test_reimport_updates_changed_and_reports_unchanged(store: SqliteStore):
    register(store, "CAM-A", "CAM-B")
    later = NOW + timedelta(days=3)
    report = import_cameras(
        actor=ACTOR,
        uow=store.uow(),
        records=lines(camera("CAM-A", name="Boulevard du Midi"), camera("CAM-B"), camera("CAM-C")),
        now=later,
    )
    assert report.applied
    assert (report.created, report.updated, report.unchanged) == (["CAM-C"], ["CAM-A"], ["CAM-B"])
    assert set(report.tokens) == {"CAM-C"}  # "new": only created cameras get a token
    updated = camera_service.get_camera(uow=store.uow(), camera_id="CAM-A")
    assert updated.name == "Boulevard du Midi"
    assert updated.created_at == NOW  # creation time survives an update
    assert scalar(store, "SELECT count(*) FROM cameras") == 3


def test_reimport_with_all_tokens_revokes_the_previous_ones(store: SqliteStore):
    old = register(store, "CAM-A")["CAM-A"]
    report = import_cameras(
        actor=ACTOR, uow=store.uow(), records=lines(camera("CAM-A")), now=NOW, issue_tokens="all"
    )
    assert report.unchanged == ["CAM-A"]
    new = report.tokens["CAM-A"]
    assert authenticate_camera(uow=store.uow(), token=old) is None
    assert authenticate_camera(uow=store.uow(), token=new).camera_id == "CAM-A"


# --- camera tokens ----------------------------------------------------------------------


def test_token_is_stored_only_as_its_sha256(store: SqliteStore, db_path: Path):
    token = register(store, "CAM-A")["CAM-A"]
    assert token.startswith("vc_") and len(token) > 40
    digest = hash_token(token)
    assert digest == hashlib.sha256(token.encode()).hexdigest()
    assert scalar(store, "SELECT token_hash FROM camera_credentials") == digest
    on_disk = file_bytes(db_path)
    assert digest.encode() in on_disk  # we are looking at the right bytes
    assert token.encode() not in on_disk
    assert token[3:].encode() not in on_disk


def test_authenticate_camera(store: SqliteStore):
    token = register(store, "CAM-A")["CAM-A"]
    found = authenticate_camera(uow=store.uow(), token=token)
    assert found is not None and found.camera_id == "CAM-A"
    assert authenticate_camera(uow=store.uow(), token=token + "x") is None
    assert authenticate_camera(uow=store.uow(), token="") is None


def test_rotate_revokes_the_old_token(store: SqliteStore):
    old = register(store, "CAM-A")["CAM-A"]
    new = rotate_token(
        actor=ACTOR, uow=store.uow(), camera_id="CAM-A", now=NOW + timedelta(hours=1)
    )
    assert new != old
    assert authenticate_camera(uow=store.uow(), token=old) is None
    assert authenticate_camera(uow=store.uow(), token=old, any_phase=True) is None
    assert authenticate_camera(uow=store.uow(), token=new).camera_id == "CAM-A"
    revoked_at = scalar(
        store, "SELECT revoked_at FROM camera_credentials WHERE token_hash = ?", hash_token(old)
    )
    assert decode(revoked_at) == NOW + timedelta(hours=1)


def test_rotate_unknown_camera(store: SqliteStore):
    with pytest.raises(camera_service.CameraNotFound):
        rotate_token(actor=ACTOR, uow=store.uow(), camera_id="NOPE", now=NOW)


def test_retire_revokes_and_stops_posting(store: SqliteStore):
    token = register(store, "CAM-A")["CAM-A"]
    later = NOW + timedelta(days=1)
    retired = retire_camera(actor=ACTOR, uow=store.uow(), camera_id="CAM-A", now=later)
    assert retired.phase is Phase.RETIRED
    assert not retired.may_post
    stored = camera_service.get_camera(uow=store.uow(), camera_id="CAM-A")
    assert (stored.phase, stored.retired_at, stored.may_post) == (Phase.RETIRED, later, False)
    assert authenticate_camera(uow=store.uow(), token=token) is None
    assert authenticate_camera(uow=store.uow(), token=token, any_phase=True) is None
    with pytest.raises(camera_service.CameraRetired):
        rotate_token(actor=ACTOR, uow=store.uow(), camera_id="CAM-A", now=later)
    with pytest.raises(camera_service.CameraRetired):
        set_phase(actor=ACTOR, uow=store.uow(), camera_id="CAM-A", phase=Phase.LIVE, now=later)


def test_planned_camera_cannot_post_until_testing(store: SqliteStore):
    token = register(store, "CAM-P", phase="planned")["CAM-P"]
    assert authenticate_camera(uow=store.uow(), token=token) is None
    seen = authenticate_camera(uow=store.uow(), token=token, any_phase=True)
    assert seen is not None and seen.phase is Phase.PLANNED
    set_phase(actor=ACTOR, uow=store.uow(), camera_id="CAM-P", phase=Phase.TESTING, now=NOW)
    assert authenticate_camera(uow=store.uow(), token=token).camera_id == "CAM-P"


def test_reimport_as_retired_revokes_the_token(store: SqliteStore):
    token = register(store, "CAM-A")["CAM-A"]
    later = NOW + timedelta(days=2)
    report = import_cameras(
        actor=ACTOR, uow=store.uow(), records=lines(camera("CAM-A", phase="retired")), now=later
    )
    assert report.updated == ["CAM-A"]
    stored = camera_service.get_camera(uow=store.uow(), camera_id="CAM-A")
    assert (stored.phase, stored.retired_at) == (Phase.RETIRED, later)
    assert authenticate_camera(uow=store.uow(), token=token, any_phase=True) is None


def test_reimport_does_not_revive_a_retired_camera(store: SqliteStore):
    register(store, "CAM-A")
    retire_camera(actor=ACTOR, uow=store.uow(), camera_id="CAM-A", now=NOW)
    report = import_cameras(
        actor=ACTOR,
        uow=store.uow(),
        records=lines(camera("CAM-A", phase="live")),
        now=NOW,
        issue_tokens="all",
    )
    stored = camera_service.get_camera(uow=store.uow(), camera_id="CAM-A")
    assert not report.applied or stored.phase is Phase.RETIRED
    for token in report.tokens.values():
        assert authenticate_camera(uow=store.uow(), token=token) is None


def test_camera_imported_as_retired_gets_no_token(store: SqliteStore):
    report = import_cameras(
        actor=ACTOR, uow=store.uow(), records=lines(camera("CAM-R", phase="retired")), now=NOW
    )
    assert report.created == ["CAM-R"]
    assert report.tokens == {}


def test_list_cameras_filters(store: SqliteStore):
    register(store, "CAM-A", "CAM-B")
    register(store, "CAM-P", phase="planned")
    listed = camera_service.list_cameras(uow=store.uow(), phase="planned")
    assert [c.camera_id for c in listed] == ["CAM-P"]
    assert len(camera_service.list_cameras(uow=store.uow(), zone="Midi")) == 3
    assert camera_service.list_cameras(uow=store.uow(), zone="Polbruno") == []


# --- ingest -----------------------------------------------------------------------------


def test_good_reads_are_stored(store: SqliteStore):
    reads = [make_read("CAM-A", plate=p) for p in ("1-ABC-123", "AB-123-CD", "123-ABC")]
    assert ingest(store, reads) == [STORED] * 3
    with store.uow() as uow:
        assert uow.reads.count() == 3
        got = uow.reads.get(uuid.UUID(reads[1]["read_id"]))
    assert got is not None
    assert (got.plate, got.plate_raw, got.camera_id) == ("AB123CD", "AB-123-CD", "CAM-A")
    assert got.captured_at == NOW - timedelta(seconds=30)
    assert got.received_at == NOW


def test_duplicate_within_a_batch_is_stored_once(store: SqliteStore):
    first = make_read("CAM-A")
    again = make_read("CAM-A", read_id=first["read_id"].upper(), plate="1-ABC-128")
    other = make_read("CAM-A")
    assert ingest(store, [first, again, other]) == [STORED, DUPLICATE, STORED]
    assert scalar(store, "SELECT count(*) FROM reads") == 2
    with store.uow() as uow:
        kept = uow.reads.get(uuid.UUID(first["read_id"]))
    assert kept is not None and kept.plate == "1ABC123"  # the first one wins


def test_duplicate_across_batches_is_stored_once(store: SqliteStore):
    first = make_read("CAM-A")
    assert ingest(store, [first]) == [STORED]
    assert ingest(store, [make_read("CAM-A"), first]) == [STORED, DUPLICATE]
    assert ingest(store, [first]) == [DUPLICATE]
    assert scalar(store, "SELECT count(*) FROM reads") == 2


def test_duplicates_across_group_committed_batches(store: SqliteStore):
    shared = make_read("CAM-A")
    b1 = validate_batch(
        [shared, make_read("CAM-A")], camera_id="CAM-A", now=NOW, rules=RULES, images=None
    )
    b2 = validate_batch(
        [make_read("CAM-B"), {**shared, "camera_id": "CAM-B"}],
        camera_id="CAM-B",
        now=NOW,
        rules=RULES,
        images=None,
    )
    results, fresh = commit_batches(store.uow(), [b1, b2])
    assert [r.status for r in results[0]] == [STORED, STORED]
    assert [r.status for r in results[1]] == [STORED, DUPLICATE]
    assert results[1][1].read_id == shared["read_id"]
    assert len(fresh) == 3
    assert scalar(store, "SELECT count(*) FROM reads") == 3
    assert (
        scalar(
            store,
            "SELECT camera_id FROM reads WHERE read_id = ?",
            uuid.UUID(shared["read_id"]).bytes,
        )
        == "CAM-A"
    )


def test_mixed_batch_stores_good_items_and_dead_letters_bad_ones(store: SqliteStore):
    good1, good2 = make_read("CAM-A"), make_read("CAM-A", plate="AB12 CDE", country="UK")
    bad = make_read("CAM-A", confidence=2)
    garbage = "not a read"
    statuses = ingest(store, [good1, bad, good2, garbage])
    assert statuses == [STORED, REJECTED, STORED, REJECTED]
    assert scalar(store, "SELECT count(*) FROM reads") == 2
    open_letters = list_dead_letters(uow=store.uow())
    assert len(open_letters) == 2
    first, second = open_letters
    assert first.camera_id == "CAM-A" and first.source == "api" and first.status == "open"
    assert orjson.loads(first.payload) == bad
    assert first.errors == [{"field": "confidence", "reason": "must be between 0 and 1, got 2.0"}]
    assert orjson.loads(second.payload) == garbage
    assert second.errors[0]["field"] == "(read)"
    raw_errors = scalar(store, "SELECT errors FROM dead_letters WHERE id = ?", first.id)
    assert orjson.loads(raw_errors) == first.errors


def test_rejected_items_report_their_read_id_and_errors(store: SqliteStore):
    bad = make_read("CAM-A", lane=0, plate=7)
    batch = validate_batch([bad], camera_id="CAM-A", now=NOW, rules=RULES, images=None)
    results, fresh = commit_batches(store.uow(), [batch])
    (item,) = results[0]
    assert fresh == []
    assert item.as_dict()["read_id"] == bad["read_id"]
    assert {e["field"] for e in item.as_dict()["errors"]} == {"lane", "plate"}


def test_one_malformed_item_does_not_sink_the_batch(store: SqliteStore):
    good = make_read("CAM-A")
    bad = make_read("CAM-A", direction=["approaching"])
    assert ingest(store, [good, bad]) == [STORED, REJECTED]


class FailingCommit(SqliteUnitOfWork):
    def commit(self) -> None:
        raise RuntimeError("disk full")


def test_reads_and_dead_letters_share_one_transaction(store: SqliteStore):
    batch = validate_batch(
        [make_read("CAM-A"), make_read("CAM-A", confidence=-1)],
        camera_id="CAM-A",
        now=NOW,
        rules=RULES,
        images=None,
    )
    with pytest.raises(RuntimeError):
        commit_batches(FailingCommit(store.connection()), [batch])
    assert scalar(store, "SELECT count(*) FROM reads") == 0
    assert scalar(store, "SELECT count(*) FROM dead_letters") == 0
    results, _ = commit_batches(store.uow(), [batch])
    assert [r.status for r in results[0]] == [STORED, REJECTED]


def test_images_go_to_the_image_log_and_read_images(
    store: SqliteStore, image_store: FolderImageStore, tmp_path: Path
):
    jpeg = b"\xff\xd8\xff\xe0 plate crop \xff\xd9"
    png = b"\x89PNG\r\n\x1a\n overview"
    read = make_read(
        "CAM-A",
        images=[
            {
                "kind": "plate",
                "content_type": "image/jpeg",
                "data": base64.b64encode(jpeg).decode(),
            },
            {
                "kind": "overview",
                "content_type": "image/png",
                "data": base64.b64encode(png).decode(),
            },
            {"kind": "other", "uri": "https://nvr.local/clip/9"},
        ],
    )
    assert ingest(store, [read], images=image_store) == [STORED]
    sha_jpeg, sha_png = hashlib.sha256(jpeg).hexdigest(), hashlib.sha256(png).hexdigest()
    assert not image_store.exists(sha_jpeg)  # no single file any more: one log segment
    (segment,) = (tmp_path / "images" / "log").iterdir()
    rows = store.connection().execute(
        "SELECT position, kind, content_type, sha256, size, uri, byte_offset FROM read_images"
        " WHERE read_id = ? ORDER BY position",
        (uuid.UUID(read["read_id"]).bytes,),
    )
    header = len(segment.read_bytes()) - len(jpeg) - len(png)
    assert header % 2 == 0
    assert rows.fetchall() == [
        (0, "plate", "image/jpeg", sha_jpeg, len(jpeg), None, 0),
        (1, "overview", "image/png", sha_png, len(png), None, header // 2 + len(jpeg)),
        (2, "other", "image/jpeg", None, None, "https://nvr.local/clip/9", None),
    ]
    with store.uow() as uow:
        located = uow.reads.image_locations([uuid.UUID(read["read_id"])])
        assert uow.reads.segment_images([segment.name]) == {segment.name: 2}
    assert set(located) == {sha_jpeg, sha_png}
    assert image_store.get(sha_jpeg, located[sha_jpeg]) == jpeg
    assert image_store.get(sha_png, located[sha_png]) == png
    assert image_store.get(sha_png, located[sha_jpeg]) is None  # not that image's record


def test_same_image_in_two_reads_of_one_commit_is_written_once(
    store: SqliteStore, image_store: FolderImageStore, tmp_path: Path
):
    data = base64.b64encode(b"same bytes").decode()
    reads = [make_read("CAM-A", images=[{"kind": "plate", "data": data}]) for _ in range(2)]
    assert ingest(store, reads, images=image_store) == [STORED, STORED]
    (segment,) = (tmp_path / "images" / "log").iterdir()
    assert segment.read_bytes().count(b"same bytes") == 1
    assert scalar(store, "SELECT count(*) FROM read_images") == 2
    assert scalar(store, "SELECT count(DISTINCT byte_offset) FROM read_images") == 1


def test_image_bytes_refused_when_the_server_keeps_none(store: SqliteStore):
    read = make_read("CAM-A", images=[{"kind": "plate", "data": "aGk="}])
    assert ingest(store, [read], images=None) == [REJECTED]
    (letter,) = list_dead_letters(uow=store.uow())
    assert letter.errors == [{"field": "images", "reason": "this server keeps no image bytes"}]


# --- dead letters -----------------------------------------------------------------------


# Replays run through the bus (`IngestReads`): tests/unit/test_handlers_dead_letters.py,
# and on this store end to end in tests/e2e/test_ingest_api.py and test_cli.py.


def test_discard(store: SqliteStore):
    assert ingest(store, [make_read("CAM-A", plate="--")]) == [REJECTED]
    (letter,) = list_dead_letters(uow=store.uow())
    later = NOW + timedelta(minutes=10)
    discard(actor=ACTOR, uow=store.uow(), dead_letter_id=letter.id, now=later, reason="test camera")
    assert list_dead_letters(uow=store.uow()) == []
    (gone,) = list_dead_letters(uow=store.uow(), status="discarded")
    assert (gone.id, gone.status, gone.replayed_at, gone.replay_result) == (
        letter.id,
        "discarded",
        later,
        "test camera",
    )
    for dead_id, reason in ((letter.id, "twice"), (424242, "unknown")):
        with pytest.raises(DeadLetterNotOpen):
            discard(actor=ACTOR, uow=store.uow(), dead_letter_id=dead_id, now=later, reason=reason)
    assert len(list_dead_letters(uow=store.uow(), status=None)) == 1
