"""The platform with its images in S3 (VEILLE_IMAGE_STORE=s3://…) on a real SeaweedFS
server: selected by settings, its secret never shown, and SeaweedFS stopped mid-ingest:
the reads whose images could not be stored are refused 503, the camera sends them again
after the restart, and no acknowledged read or image is lost."""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from tests.conftest import make_read, register_cameras
from tests.seaweedfs import SeaweedFS, started_or_fail
from veille.adapters.s3_images import S3ImageStore
from veille.bootstrap import bootstrap, build_image_store
from veille.entrypoints.api.app import create_app
from veille.settings import Settings, settings_markdown

pytestmark = pytest.mark.e2e


def s3_settings(tmp_path: Path, server: SeaweedFS, bucket: str) -> Settings:
    return Settings(
        data_dir=tmp_path / "var",
        run_jobs=False,
        image_store=f"s3://{bucket}/images",
        s3_endpoint_url=server.endpoint_url,
        s3_access_key_id=server.access_key,
        s3_secret_access_key=server.secret_key,  # type: ignore[arg-type]
        s3_timeout_s=2.0,
        writer_wait_s=60.0,
    )


def inline(kind: str, data: bytes) -> dict[str, Any]:
    return {"kind": kind, "content_type": "image/jpeg", "data": base64.b64encode(data).decode()}


def test_the_settings_select_the_bucket_and_never_show_its_secret(
    tmp_path: Path, seaweedfs: SeaweedFS, s3_bucket: str, caplog: pytest.LogCaptureFixture
):
    settings = s3_settings(tmp_path, seaweedfs, s3_bucket)
    caplog.set_level(logging.DEBUG)
    platform = bootstrap(settings)
    platform.store.initialise()
    try:
        assert isinstance(platform.images, S3ImageStore)
        cam = register_cameras(platform, "CAM-A")["CAM-A"]
        crop = os.urandom(3000)
        read = make_read("CAM-A", images=[inline("plate", crop)])
        with TestClient(create_app(platform)) as client:
            resp = client.post("/api/v1/reads", content=orjson.dumps(read), headers=cam.headers)
        assert resp.status_code == 200 and resp.json()["stored"] == 1
        key = f"images/sha256/{hashlib.sha256(crop).hexdigest()[:2]}/"
        listed = seaweedfs.client().list_objects_v2(Bucket=s3_bucket, Prefix=key)
        assert [item["Size"] for item in listed.get("Contents", [])] == [3000]
    finally:
        platform.stop()
        platform.images.close()  # type: ignore[attr-defined]
    assert f"images in s3://{s3_bucket}/images/" in caplog.text
    shown = caplog.text + repr(settings) + str(settings.model_dump()) + settings_markdown()
    assert seaweedfs.secret_key not in shown


def test_a_location_that_is_not_a_bucket_url_is_refused_naming_the_setting(tmp_path: Path):
    with pytest.raises(ValueError, match=r"VEILLE_IMAGE_STORE: not an s3://bucket\[/prefix\] URL"):
        build_image_store(Settings(data_dir=tmp_path, image_store="/srv/images"))


@pytest.mark.parametrize(
    "down_s",
    [3.0, pytest.param(30.0, marks=pytest.mark.slow, id="30s")],  # the 30 s: slow
    ids=lambda down_s: f"{down_s:g}s",
)
def test_seaweedfs_stopped_mid_ingest_refuses_reads_503_and_loses_nothing(
    tmp_path: Path, down_s: float
):
    server = started_or_fail(tmp_path / "weed")
    platform = None
    try:
        bucket = server.new_bucket()
        platform = bootstrap(s3_settings(tmp_path, server, bucket))
        platform.store.initialise()
        cam = register_cameras(platform, "CAM-S3")["CAM-S3"]
        acknowledged: dict[str, list[str]] = {}  # read id → digests of its images
        images: dict[str, bytes] = {}
        refusals: list[tuple[int, str]] = []
        lock = threading.Lock()
        stop = threading.Event()
        failures: list[BaseException] = []

        def camera(client: TestClient) -> None:
            """Posts batches of five reads, each with a plate crop and an overview, and
            sends a refused batch again (as a camera does) until it is acknowledged."""
            try:
                while not stop.is_set():
                    batch, digests = [], {}
                    for _ in range(5):
                        crop, overview = os.urandom(3000), os.urandom(25_000)
                        read = make_read(
                            "CAM-S3", images=[inline("plate", crop), inline("overview", overview)]
                        )
                        batch.append(read)
                        digests[read["read_id"]] = [
                            hashlib.sha256(crop).hexdigest(),
                            hashlib.sha256(overview).hexdigest(),
                        ]
                        with lock:
                            images.update(
                                {hashlib.sha256(d).hexdigest(): d for d in (crop, overview)}
                            )
                    while True:
                        resp = client.post(
                            "/api/v1/reads",
                            content=orjson.dumps({"reads": batch}),
                            headers=cam.headers,
                        )
                        if resp.status_code == 200:
                            statuses = {r["status"] for r in resp.json()["results"]}
                            assert statuses <= {"stored", "duplicate"}, resp.json()
                            with lock:
                                acknowledged.update(digests)
                            break
                        with lock:
                            refusals.append((resp.status_code, resp.json()["error"]["code"]))
                        time.sleep(0.2)
            except BaseException as exc:  # reported by the test, not lost in the thread
                failures.append(exc)

        def acked() -> int:
            with lock:
                return len(acknowledged)

        def wait_for(condition: Any, what: str, timeout_s: float = 60.0) -> None:
            deadline = time.monotonic() + timeout_s
            while not condition():
                assert not failures, failures
                assert time.monotonic() < deadline, f"timed out waiting for {what}"
                time.sleep(0.05)

        with TestClient(create_app(platform)) as client:
            thread = threading.Thread(target=camera, args=(client,), daemon=True)
            thread.start()
            wait_for(lambda: acked() >= 50, "reads acknowledged before the stop")
            server.stop(kill=True)
            stopped = time.monotonic()
            before_restart = acked()
            wait_for(lambda: len(refusals) >= 3, "reads refused while SeaweedFS is down")
            time.sleep(max(0.0, down_s - (time.monotonic() - stopped)))
            server.start()
            wait_for(lambda: acked() >= before_restart + 50, "reads acknowledged after it")
            stop.set()
            thread.join(timeout=120)
        assert not failures, failures
        assert not thread.is_alive()

        # refused with the store's own answer, never acknowledged while it was down
        assert refusals and set(refusals) == {(503, "store_unavailable")}
        with platform.read_uow() as uow:
            missing = [rid for rid in acknowledged if uow.reads.get(uuid.UUID(rid)) is None]
            count = uow.reads.count()
        assert missing == [] and count == len(acknowledged)  # each stored, once
        lost = [
            sha
            for digests in acknowledged.values()
            for sha in digests
            if platform.images.get(sha) != images[sha]
        ]
        print(  # the fault test's figures (pytest -s)
            f"SeaweedFS down {down_s:g} s: {len(acknowledged)} reads acknowledged,"
            f" {len(refusals)} requests refused 503, reads lost {len(missing)},"
            f" stored twice {count - len(acknowledged) + len(missing)}, images lost {len(lost)}"
        )
        assert lost == [], f"{len(lost)} images of acknowledged reads lost"
    finally:
        if platform is not None:
            platform.stop()
            platform.images.close()  # type: ignore[attr-defined]
        server.stop(kill=True)


def test_an_image_read_back_is_checked_against_its_digest(
    tmp_path: Path, seaweedfs: SeaweedFS, s3_bucket: str
):
    images = build_image_store(s3_settings(tmp_path, seaweedfs, s3_bucket))
    try:
        data = os.urandom(500)
        sha = hashlib.sha256(data).hexdigest()
        images.put(sha, data, "image/jpeg")
        assert images.get(sha) == data and images.get(uuid.uuid4().hex * 2) is None
    finally:
        images.close()  # type: ignore[attr-defined]


def test_the_default_store_needs_no_s3_library_and_s3_without_one_says_what_to_install(
    tmp_path: Path,
):
    """boto3 is an optional extra: without it, the platform starts on its image folder,
    and asking for a bucket stops with the install line."""
    script = (
        "import sys\n"
        "for name in ('boto3', 'botocore', 'urllib3', 'mypy_boto3_s3'):\n"
        "    sys.modules[name] = None  # as if not installed\n"
        "from veille.bootstrap import build_image_store\n"
        "from veille.settings import Settings\n"
        "print(type(build_image_store(Settings(data_dir=sys.argv[1]))).__name__)\n"
        "try:\n"
        "    build_image_store(Settings(data_dir=sys.argv[1], image_store='s3://bucket-a'))\n"
        "except RuntimeError as exc:\n"
        "    print(exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert done.stdout.splitlines() == [
        "FolderImageStore",
        "the S3 image store needs boto3: pip install 'veille[s3]'",
    ]
