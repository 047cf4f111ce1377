"""Alerts stored before hits were grouped per zone: after migration 0008 each old hit keeps
its camera's place, and nobody is shown an old hit outside their scope."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from tests.conftest import make_read
from veille.adapters.decoders.native_json import validate_batch
from veille.adapters.images import FolderImageStore
from veille.adapters.sqlite.database import load_migrations, split_statements
from veille.adapters.sqlite.repositories import INSERT_IMAGE, image_rows
from veille.adapters.sqlite.store import SqliteStore
from veille.adapters.sqlite.times import encode
from veille.domain.access import Principal, Role, Scope, ScopeKind
from veille.domain.audit import system_actor
from veille.domain.cameras import camera_from_record
from veille.domain.reads import ReadRules
from veille.service import alerts as alert_service

pytestmark = pytest.mark.integration
WINDOW = timedelta(days=30)

NOW = datetime.now(UTC)


def principal(scope: Scope) -> Principal:
    return Principal(
        user_id=1,
        username="op",
        role=Role.OPERATOR,
        org_id="org",
        scope=scope,
        designated=True,
        training_expires=NOW + timedelta(days=30),
    )


def migrate_up_to(store: SqliteStore, version: int) -> None:
    conn = store.connection()
    conn.execute(
        "CREATE TABLE schema_migrations ("
        " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    for migration in load_migrations():
        if migration.version > version:
            break
        for statement in split_statements(migration.sql):
            conn.execute(statement)
        conn.execute(
            "INSERT INTO schema_migrations VALUES (?, ?, ?)",
            (migration.version, migration.name, NOW.isoformat()),
        )


def test_old_cross_zone_hits_are_shown_only_within_scope(tmp_path: Path):
    store = SqliteStore(tmp_path / "veille.db")
    images = FolderImageStore(tmp_path / "images", fsync=False)
    migrate_up_to(store, 7)
    shas: dict[str, str] = {}
    read_ids: dict[str, bytes] = {}
    with store.uow() as uow:
        for camera_id, zone in (("MIDI-1", "Midi"), ("PB-1", "Polbruno")):
            uow.cameras.add(
                camera_from_record(
                    {
                        "camera_id": camera_id,
                        "lat": 50.85,
                        "lon": 4.35,
                        "zone": zone,
                        "province": "Bruxelles-Capitale",
                        "phase": "live",
                    },
                    now=NOW,
                )
            )
            data = camera_id.encode() * 20
            shas[camera_id] = hashlib.sha256(data).hexdigest()
            item = make_read(
                camera_id,
                # captured before this test's NOW, not the wall clock's: NOW is taken when
                # the module is imported, and a long suite runs it minutes later
                captured_at=(NOW - timedelta(seconds=5)).isoformat(),
                images=[
                    {
                        "kind": "plate",
                        "content_type": "image/jpeg",
                        "data": base64.b64encode(data).decode(),
                    }
                ],
            )
            batch = validate_batch(
                [item], camera_id=camera_id, now=NOW, rules=ReadRules(), images=images
            )
            ((_, parsed),) = batch.accepted
            # as versions before the image log stored them: the read, its image rows
            # without a location, the image as a single file
            (read,) = uow.reads.add_new([replace(parsed, images=())])
            uow.conn.executemany(INSERT_IMAGE, image_rows(parsed))
            images.put(shas[camera_id], data, "image/jpeg")
            read_ids[camera_id] = read.read_id.bytes  # as stored in the old rows
        # the old grouping: the Polbruno hit joined Midi's alert
        uow.conn.execute(
            "INSERT INTO alerts (alert_id, opened_at, last_hit_at, status, read_id, camera_id,"
            " zone, province, plate, country, list_id, entry_id, category, priority,"
            " match_kind, distance, covert, owner_org, hit_count, entry)"
            " VALUES (1, ?, ?, 'open', ?, 'MIDI-1', 'Midi', 'Bruxelles-Capitale', '1ABC123',"
            " 'BE', 'stolen', 'e1', 'stolen_vehicle', 1, 'exact', 0, 0, 'federal', 2, ?)",
            (NOW.isoformat(), NOW.isoformat(), read_ids["MIDI-1"], orjson.dumps({}).decode()),
        )
        for camera_id, rid in read_ids.items():
            uow.conn.execute(
                "INSERT INTO alert_hits (alert_id, read_id, camera_id, captured_at, match_kind)"
                " VALUES (1, ?, ?, ?, 'exact')",
                (rid, camera_id, encode(NOW)),
            )
        uow.commit()
    assert store.initialise() == [v.version for v in load_migrations() if v.version > 7]

    def view(scope: Scope) -> set[str]:
        detail = alert_service.alert_detail(
            uow=store.uow(), alert_id=1, principal=principal(scope), now=NOW, open_window=WINDOW
        )
        return {h.camera_id for h in detail.hits}

    def image(scope: Scope, camera_id: str) -> None:
        alert_service.open_image(
            uow=store.uow(),
            alert_id=1,
            sha256=shas[camera_id],
            principal=principal(scope),
            actor=system_actor("test"),
            now=NOW,
            open_window=WINDOW,
        )

    midi = Scope(ScopeKind.ZONE, "Midi")
    assert view(midi) == {"MIDI-1"}
    image(midi, "MIDI-1")
    with pytest.raises(alert_service.ImageNotFound):
        image(midi, "PB-1")
    assert view(Scope(ScopeKind.NATIONAL)) == {"MIDI-1", "PB-1"}
    image(Scope(ScopeKind.PROVINCE, "Bruxelles-Capitale"), "PB-1")
    store.close()
