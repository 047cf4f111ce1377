"""Cameras registered while their protocol was a free label, on a store migrated since."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from veille.adapters.sqlite import database
from veille.adapters.sqlite.database import load_migrations
from veille.adapters.sqlite.store import SqliteStore

pytestmark = pytest.mark.integration

PROTOCOL_MIGRATION = 12
NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


def test_labels_that_name_no_decoder_become_the_native_protocol_they_posted_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    path = tmp_path / "v.db"
    older = [m for m in load_migrations() if m.version < PROTOCOL_MIGRATION]
    with monkeypatch.context() as patch:
        patch.setattr(database, "load_migrations", lambda: older)
        store = SqliteStore(path)
        store.initialise()
        with store.uow() as uow:
            for camera_id, vendor, protocol in (
                ("CAM-HIK", "Hikvision", "hikvision-isapi"),
                ("CAM-AXIS", "Axis", "axis-lpr"),
                ("CAM-VEI", "Veille", "veille-json"),
            ):
                uow.conn.execute(
                    "INSERT INTO cameras (camera_id, name, lat, lon, heading, zone, province,"
                    " vendor, protocol, phase, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        camera_id,
                        camera_id,
                        50.85,
                        4.35,
                        None,
                        "Midi",
                        "Bruxelles-Capitale",
                        vendor,
                        protocol,
                        "live",
                        NOW.isoformat(),
                    ),
                )
            uow.commit()
        store.close()
    store = SqliteStore(path)
    store.initialise()
    try:
        with store.uow(write=False) as uow:
            cameras = {c.camera_id: c for c in uow.cameras.find()}
        assert {cid: (c.vendor, c.protocol) for cid, c in cameras.items()} == {
            "CAM-HIK": ("Hikvision", "veille-json"),
            "CAM-AXIS": ("Axis", "veille-json"),
            "CAM-VEI": ("Veille", "veille-json"),
        }
    finally:
        store.close()
