"""The national bench's exactly-once check, on a small real store: it passes when every
acknowledged read is there once with its images, and fails when one is not."""

from __future__ import annotations

import base64
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from tests.conftest import CameraCred, make_read
from veille.bench.national.exactly_once import check_exactly_once
from veille.bench.national.loadgen_images import ImagePool, sha256_hex
from veille.bootstrap import Platform

pytestmark = pytest.mark.integration


def _ingest(
    client: TestClient, cam: CameraCred, tmp_path: Path, count: int = 6
) -> tuple[Path, Path, list[dict[str, Any]]]:
    """Post reads (half with inline images, half by reference) and write acks.jsonl and
    unacknowledged.jsonl as the load generator does; one read stays unacknowledged but
    stored (its answer "lost"), one unacknowledged and never sent."""
    pool = ImagePool(size=2, seed=1)
    acks = []
    for n in range(count):
        read = make_read(cam.camera_id)
        if n % 2 == 0:
            (plate, plate_b64), (overview, overview_b64) = pool.images_for(n)
            read["images"] = [
                {"kind": "plate", "content_type": "image/jpeg", "data": plate_b64.decode()},
                {"kind": "overview", "content_type": "image/jpeg", "data": overview_b64.decode()},
            ]
            names = [sha256_hex(plate), sha256_hex(overview)]
            assert base64.b64decode(plate_b64) == plate
        else:
            uris = [f"https://cam.example/{n}/plate.jpg", f"https://cam.example/{n}/scene.jpg"]
            read["images"] = [
                {"kind": "plate", "content_type": "image/jpeg", "uri": uris[0]},
                {"kind": "overview", "content_type": "image/jpeg", "uri": uris[1]},
            ]
            names = ["uri:" + u for u in uris]
        answer = client.post("/api/v1/reads", content=orjson.dumps(read), headers=cam.headers)
        assert answer.status_code == 200, answer.text
        acks.append({"read_id": read["read_id"], "images": names, "step": "1x"})
    lost = make_read(cam.camera_id)
    assert client.post("/api/v1/reads", content=orjson.dumps(lost), headers=cam.headers).is_success
    acks_path = tmp_path / "acks.jsonl"
    acks_path.write_bytes(b"".join(orjson.dumps(a) + b"\n" for a in acks))
    never = {"read_id": str(uuid.uuid4()), "camera_id": cam.camera_id, "step": "1x"}
    unacked = tmp_path / "unacknowledged.jsonl"
    unacked.write_bytes(
        orjson.dumps({"read_id": lost["read_id"], "camera_id": cam.camera_id, "step": "1x"})
        + b"\n"
        + orjson.dumps(never)
        + b"\n"
    )
    return acks_path, unacked, acks


def _check(platform: Platform, acks: Path, unacked: Path) -> Any:
    return check_exactly_once(
        database=platform.settings.database,
        images=platform.images,
        acks=acks,
        unacknowledged=unacked,
    )


def _damage_image(platform: Platform, sha: str) -> None:
    """Overwrite the header of the image's record in the image log: its bytes are lost."""
    db = sqlite3.connect(platform.settings.database)
    segment, offset = db.execute(
        "SELECT s.name, i.byte_offset FROM read_images i JOIN image_segments s"
        " ON s.id = i.segment WHERE i.sha256 = ?",
        (sha,),
    ).fetchone()
    db.close()
    platform.images.sync()
    with open(platform.settings.images / "log" / segment, "r+b") as handle:
        handle.seek(offset)
        handle.write(b"\0" * 16)


def _sql(platform: Platform, statement: str, *args: Any) -> None:
    db = sqlite3.connect(platform.settings.database)
    with db:
        db.execute(statement, args)
    db.close()


def test_every_acknowledged_read_stored_once_with_its_images_passes(
    platform: Platform, client: TestClient, cams: dict[str, CameraCred], tmp_path: Path
) -> None:
    acks, unacked, _ = _ingest(client, cams["CAM-A"], tmp_path)
    result = _check(platform, acks, unacked)
    assert result.verdict, result.as_dict()
    assert result.acknowledged == result.stored_once == 6
    assert result.image_rows_expected == 12
    assert result.image_bytes_checked == 6  # the inline images, read back and hashed
    assert (result.unacknowledged, result.unacknowledged_stored) == (2, 1)


def test_a_deleted_read_fails_the_check(
    platform: Platform, client: TestClient, cams: dict[str, CameraCred], tmp_path: Path
) -> None:
    acks, unacked, sent = _ingest(client, cams["CAM-A"], tmp_path)
    gone = sent[3]["read_id"]
    _sql(platform, "DELETE FROM reads WHERE read_id = ?", uuid.UUID(gone).bytes)
    result = _check(platform, acks, unacked)
    assert not result.verdict
    assert result.missing == 1 and result.stored_once == 5
    assert result.examples["missing"] == [gone]


def test_a_missing_image_row_or_image_file_fails_the_check(
    platform: Platform, client: TestClient, cams: dict[str, CameraCred], tmp_path: Path
) -> None:
    acks, unacked, sent = _ingest(client, cams["CAM-A"], tmp_path)
    by_reference, inline = sent[1], sent[2]
    _sql(
        platform,
        "DELETE FROM read_images WHERE read_id = ? AND position = 0",
        uuid.UUID(by_reference["read_id"]).bytes,
    )
    result = _check(platform, acks, unacked)
    assert not result.verdict and result.image_rows_missing == 1
    assert result.stored_once == 6  # the read itself is there
    _damage_image(platform, inline["images"][1])  # the overview's bytes
    result = _check(platform, acks, unacked)
    assert result.image_bytes_missing == 1 and result.image_rows_missing == 1


def test_a_read_acknowledged_but_stored_twice_fails_the_check(
    platform: Platform, client: TestClient, cams: dict[str, CameraCred], tmp_path: Path
) -> None:
    acks, unacked, sent = _ingest(client, cams["CAM-A"], tmp_path)
    # the schema forbids a second row with the same read id: drop that rule, as a store
    # that lost it would, and copy one read
    db = sqlite3.connect(platform.settings.database)
    with db:
        (ddl,) = db.execute("SELECT sql FROM sqlite_master WHERE name = 'reads'").fetchone()
        columns = [row[1] for row in db.execute("PRAGMA table_info(reads)") if row[1] != "id"]
        db.execute("PRAGMA foreign_keys = OFF")
        db.execute("ALTER TABLE reads RENAME TO reads_old")
        db.execute(ddl.replace("read_id         BLOB NOT NULL UNIQUE", "read_id BLOB NOT NULL"))
        names = ", ".join(columns)
        db.execute(f"INSERT INTO reads ({names}) SELECT {names} FROM reads_old")
        db.execute(
            f"INSERT INTO reads ({names}) SELECT {names} FROM reads_old WHERE read_id = ?",
            (uuid.UUID(sent[0]["read_id"]).bytes,),
        )
    db.close()
    result = _check(platform, acks, unacked)
    assert not result.verdict
    assert result.duplicated == 1 and result.examples["duplicated"] == [sent[0]["read_id"]]
