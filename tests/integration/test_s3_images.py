"""The S3 image store on a real SeaweedFS server: content-addressed keys, checksummed PUTs,
multipart above the threshold, the group commit's images durable before their reads, and
retention deleting an image with its last read."""

from __future__ import annotations

import base64
import hashlib
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.integration import test_image_log
from tests.integration.test_image_log import NOW, with_image
from tests.seaweedfs import SeaweedFS, _free_ports
from veille.adapters.decoders.native_json import validate_batch
from veille.adapters.s3_images import (
    ImageStoreUnavailable,
    S3ImageStore,
    S3Location,
    object_key,
    s3_image_store,
)
from veille.adapters.sqlite.store import SqliteStore
from veille.domain.audit import system_actor
from veille.domain.reads import ImageRef, ImageUpload, ReadRules
from veille.domain.retention import RetentionPolicy
from veille.service.retention import place_hold, run_retention, sweep_orphan_images
from veille.service.writer import GroupCommitWriter

pytestmark = pytest.mark.integration

PREFIX = "veille/"
store = test_image_log.store  # the embedded store fixture the image log's tests use
MiB = 1024 * 1024


def upload(data: bytes) -> ImageUpload:
    sha = hashlib.sha256(data).hexdigest()
    return ImageUpload(ImageRef("plate", "image/jpeg", sha256=sha, size=len(data)), data)


@pytest.fixture
def images(seaweedfs: SeaweedFS, s3_bucket: str) -> Iterator[S3ImageStore]:
    store = S3ImageStore(
        seaweedfs.client(), S3Location(s3_bucket, PREFIX), signed_put=seaweedfs.signed_put()
    )
    yield store
    store.close()


def keys(seaweedfs: SeaweedFS, bucket: str) -> list[str]:
    listed = seaweedfs.client().list_objects_v2(Bucket=bucket, Prefix=PREFIX)
    return sorted(item["Key"] for item in listed.get("Contents", []))


def test_the_location_setting_names_a_bucket_and_an_optional_prefix():
    assert S3Location.parse("s3://veille-images") == S3Location("veille-images", "")
    assert S3Location.parse("s3://veille-images/zone-a/") == S3Location("veille-images", "zone-a/")
    for bad in ("veille-images", "s3://", "s3://Bad_Bucket", "http://veille-images"):
        with pytest.raises(ValueError, match="s3://bucket"):
            S3Location.parse(bad)


def test_an_image_is_one_object_named_by_its_digest_however_often_it_is_sent(
    seaweedfs: SeaweedFS, s3_bucket: str, images: S3ImageStore
):
    image = upload(os.urandom(3000))
    sha = image.ref.sha256 or ""
    for _ in range(2):  # two groups, the same bytes
        assert list(images.append([image])) == [None]  # found by its digest: no location
        images.sync()
    assert keys(seaweedfs, s3_bucket) == [f"{PREFIX}sha256/{sha[:2]}/{sha[2:4]}/{sha}"]
    head = seaweedfs.client().head_object(Bucket=s3_bucket, Key=object_key(PREFIX, sha))
    assert head["ContentType"] == "image/jpeg" and head["ContentLength"] == 3000


def test_an_image_above_the_threshold_goes_up_in_parts(seaweedfs: SeaweedFS, s3_bucket: str):
    images = S3ImageStore(
        seaweedfs.client(),
        S3Location(s3_bucket, PREFIX),
        multipart_threshold=1 * MiB,
        part_bytes=5 * MiB,
    )
    try:
        large, small = upload(os.urandom(11 * MiB)), upload(os.urandom(900 * 1024))
        images.append([large, small])
        images.sync()
        assert images.multipart_uploads == 1  # the large one only
        head = seaweedfs.client().head_object(
            Bucket=s3_bucket, Key=object_key(PREFIX, large.ref.sha256 or "")
        )
        assert head["ETag"].strip('"').endswith("-3")  # 5 + 5 + 1 MiB
        assert images.get(large.ref.sha256 or "") == large.data
        assert images.get(small.ref.sha256 or "") == small.data
    finally:
        images.close()


def test_the_part_size_must_be_one_s3_accepts(seaweedfs: SeaweedFS, s3_bucket: str):
    with pytest.raises(ValueError, match="part_bytes"):
        S3ImageStore(seaweedfs.client(), S3Location(s3_bucket), part_bytes=1 * MiB)


@pytest.mark.parametrize("signed", [True, False], ids=["signed-put", "boto3"])
def test_bytes_that_are_not_their_digest_are_refused_by_the_server_and_sync_raises(
    seaweedfs: SeaweedFS, s3_bucket: str, signed: bool
):
    images = S3ImageStore(
        seaweedfs.client(),
        S3Location(s3_bucket, PREFIX),
        signed_put=seaweedfs.signed_put() if signed else None,
    )
    claimed = hashlib.sha256(b"the image the camera described").hexdigest()
    forged = ImageUpload(ImageRef("plate", "image/jpeg", sha256=claimed), b"other bytes")
    images.append([forged, upload(b"a good image")])
    with pytest.raises(ImageStoreUnavailable, match="1 of 2 images not stored") as refused:
        images.sync()
    assert "BadDigest" in str(refused.value) or "SignatureDoesNotMatch" in str(refused.value)
    assert not images.exists(claimed)
    images.sync()  # the failure was reported once; nothing is pending any more
    images.close()


def test_a_damaged_object_is_answered_as_missing(
    seaweedfs: SeaweedFS, s3_bucket: str, images: S3ImageStore
):
    data = os.urandom(3000)
    sha = hashlib.sha256(data).hexdigest()
    images.put(sha, data)
    seaweedfs.client().put_object(Bucket=s3_bucket, Key=object_key(PREFIX, sha), Body=b"rot")
    assert images.exists(sha) and images.get(sha) is None


def test_the_sweep_aborts_multipart_uploads_a_dead_process_left(
    seaweedfs: SeaweedFS, s3_bucket: str, images: S3ImageStore
):
    sha = hashlib.sha256(b"never completed").hexdigest()
    client = seaweedfs.client()
    started = client.create_multipart_upload(Bucket=s3_bucket, Key=object_key(PREFIX, sha))
    client.upload_part(
        Bucket=s3_bucket,
        Key=object_key(PREFIX, sha),
        UploadId=started["UploadId"],
        PartNumber=1,
        Body=b"half an image",
    )
    later = datetime.now(UTC).timestamp() + 120
    assert images.remove_temporaries_before(later - 3600) == 0  # too young: may be running
    assert images.remove_temporaries_before(later, dry_run=True) == 1
    assert len(client.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", [])) == 1
    assert images.remove_temporaries_before(later) == 1
    assert client.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", []) == []


def test_an_unreachable_store_fails_sync_with_a_clear_error_and_no_secret():
    secret = "do-not-log-this-secret"
    images = s3_image_store(
        S3Location("veille-images"),
        endpoint_url=f"http://127.0.0.1:{_free_ports(1)[0]}",  # nothing listens there
        region="us-east-1",
        access_key_id="veille",
        secret_access_key=secret,
        timeout_s=2.0,
        max_concurrency=4,
        multipart_threshold=8 * MiB,
        part_bytes=8 * MiB,
    )
    assert images.signed_put is not None
    try:
        images.append([upload(b"an image")])
        with pytest.raises(ImageStoreUnavailable) as failed:
            images.sync()
        message = str(failed.value)
        assert "1 of 1 images not stored in s3://veille-images/" in message
        assert secret not in message and secret not in repr(failed.value.__cause__)
    finally:
        images.close()


# --- with the group-commit writer and the embedded store (`store`, `with_image`: the
# image log's tests) ----------------------------------------------------------------------


def ingest(store: SqliteStore, images: S3ImageStore, items: list[dict[str, Any]], now: datetime):
    writer = GroupCommitWriter(store.uow, images=images)
    writer.start()
    try:
        for item in items:
            batch = validate_batch(
                [item], camera_id="CAM-A", now=now, rules=ReadRules(), images=images
            )
            assert writer.submit(batch).result(30).stored == 1
    finally:
        writer.stop()


def test_a_stored_reads_image_is_in_the_bucket_and_found_by_its_digest(
    store: SqliteStore, images: S3ImageStore
):
    data = os.urandom(3000)
    item = with_image(data)
    ingest(store, images, [item], NOW)
    sha = hashlib.sha256(data).hexdigest()
    with store.uow(write=False) as uow:
        located = uow.reads.image_locations([uuid.UUID(item["read_id"])])
    assert located == {sha: None}  # no segment: the bucket names it by its digest
    assert images.get(sha, located[sha]) == data


def test_retention_deletes_an_image_with_its_last_read_and_keeps_a_held_ones(
    store: SqliteStore, images: S3ImageStore
):
    old = NOW - timedelta(days=40)
    purged, held = os.urandom(3000), os.urandom(3000)
    shared = os.urandom(25_000)  # the overview of an old read and of a recent one
    items = [
        with_image(purged, plate="1ABC123", captured_at=old.isoformat()),
        with_image(held, plate="2DEF456", captured_at=old.isoformat()),
    ]
    for item, overview in zip(items, (shared, os.urandom(25_000)), strict=True):
        item["images"].append(
            {
                "kind": "overview",
                "content_type": "image/jpeg",
                "data": base64.b64encode(overview).decode(),
            }
        )
    ingest(store, images, items, old)
    recent = with_image(shared, plate="3GHI789")
    ingest(store, images, [recent], NOW)
    place_hold(
        uow=store.uow(),
        case_ref="PV-1",
        plates=["2DEF456"],
        camera_ids=[],
        start=old - timedelta(hours=1),
        end=old + timedelta(hours=1),
        actor=system_actor("test"),
        now=NOW,
    )
    report = run_retention(
        uow_factory=store.uow,
        images=images,
        now=NOW,
        policy=RetentionPolicy(max_age=timedelta(days=30)),
    )
    assert (report.deleted_reads, report.kept_by_holds) == (1, 1)
    assert report.deleted_images == 1  # the purged read's plate crop, and only it

    def sha(data: bytes) -> str:
        return hashlib.sha256(data).hexdigest()

    assert not images.exists(sha(purged))
    assert images.get(sha(held)) == held  # its read is held by the case
    assert images.get(sha(shared)) == shared  # a recent read still refers to it


def test_the_sweep_deletes_an_object_no_read_refers_to(store: SqliteStore, images: S3ImageStore):
    kept = os.urandom(3000)
    ingest(store, images, [with_image(kept)], NOW)
    orphan = upload(os.urandom(3000))  # a group whose commit failed left it
    images.append([orphan])
    images.sync()
    sweep = sweep_orphan_images(
        uow_factory=store.uow,
        read_uow_factory=lambda: store.uow(write=False),
        images=images,
        now=datetime.now(UTC) + timedelta(hours=2),
        min_age=timedelta(hours=1),
        actor=system_actor("test"),
    )
    assert (sweep.checked, sweep.deleted) == (2, 1)
    assert not images.exists(orphan.ref.sha256 or "")
    assert images.get(hashlib.sha256(kept).hexdigest()) == kept
