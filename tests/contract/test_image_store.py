"""The image store contract: one suite, every `ImageStore` behind the port (the folder with
its image log, the in-memory fake, and an S3 bucket on a real SeaweedFS server).

Each test takes the `images` fixture, parametrised over the stores; the S3 one starts the
session's SeaweedFS server on first use.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from veille.adapters.images import FolderImageStore
from veille.adapters.memory.images import MemoryImageStore
from veille.domain.reads import ImageRef, ImageUpload
from veille.service.ports import ImageStore

pytestmark = pytest.mark.integration

# "s3": PUTs on the lean signed path (what bootstrap wires); "s3-boto3": boto3's put_object
STORES = ["folder", "memory", "s3", "s3-boto3"]


def s3_store(request: pytest.FixtureRequest, *, signed: bool) -> ImageStore:
    from veille.adapters.s3_images import S3ImageStore, S3Location

    seaweedfs = request.getfixturevalue("seaweedfs")
    bucket = request.getfixturevalue("s3_bucket")
    return S3ImageStore(
        seaweedfs.client(),
        S3Location(bucket, "veille/"),
        signed_put=seaweedfs.signed_put() if signed else None,
    )


@pytest.fixture(params=STORES)
def images(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ImageStore]:
    if request.param == "folder":
        folder = FolderImageStore(tmp_path / "images", fsync=False)
        yield folder
        folder.close()
    elif request.param == "memory":
        yield MemoryImageStore()
    else:
        store = s3_store(request, signed=request.param == "s3")
        yield store
        store.close()  # type: ignore[attr-defined]


def upload(data: bytes, kind: str = "plate") -> ImageUpload:
    sha = hashlib.sha256(data).hexdigest()
    return ImageUpload(ImageRef(kind, "image/jpeg", sha256=sha, size=len(data)), data)


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_appended_images_are_read_back_from_where_they_went_once_synced(images: ImageStore):
    plate, overview = upload(os.urandom(3000)), upload(os.urandom(25_000), "overview")
    where = images.append([plate, overview])
    images.sync()
    assert len(where) == 2
    for image, at in zip((plate, overview), where, strict=True):
        assert images.get(image.ref.sha256 or "", at) == image.data


def test_an_image_put_on_its_own_is_kept_once_and_deleted_once(images: ImageStore):
    data = os.urandom(2048)
    sha = digest(data)
    assert not images.exists(sha) and images.get(sha) is None
    images.put(sha, data, "image/jpeg")
    images.put(sha, data, "image/jpeg")  # the same bytes again: harmless
    assert images.exists(sha) and images.get(sha) == data
    assert images.delete(sha) is True
    assert images.delete(sha) is False
    assert not images.exists(sha) and images.get(sha) is None


def test_many_images_are_deleted_at_once(images: ImageStore):
    blobs = [os.urandom(500) for _ in range(3)]
    for data in blobs:
        images.put(digest(data), data, "image/jpeg")
    assert images.delete_many([digest(blobs[0]), digest(blobs[1])]) == 2
    assert [images.exists(digest(data)) for data in blobs] == [False, False, True]
    assert images.delete_many([]) == 0


def test_put_refuses_bytes_that_are_not_their_digest(images: ImageStore):
    with pytest.raises(ValueError, match="sha256"):
        images.put(digest(b"one image"), b"another image", "image/jpeg")
    assert not images.exists(digest(b"one image"))


def test_stored_before_names_what_was_written_before_a_moment(images: ImageStore):
    data = os.urandom(1000)
    images.put(digest(data), data, "image/jpeg")
    now = time.time()
    assert digest(data) in set(images.stored_before(now + 120))
    assert digest(data) not in set(images.stored_before(now - 3600))


def test_a_store_with_nothing_half_written_removes_no_temporaries(images: ImageStore):
    assert images.remove_temporaries_before(time.time() + 120, dry_run=True) == 0
    assert images.remove_temporaries_before(time.time() + 120) == 0


def test_nothing_appended_syncs_and_answers_nothing(images: ImageStore):
    assert list(images.append([])) == []
    images.sync()
