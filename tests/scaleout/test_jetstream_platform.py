"""`VEILLE_INGEST_SINK=jetstream`: the ingest API, unchanged, answers from the stream, and
an ingest worker built from the same settings stores what it holds."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.conftest import make_read, register_cameras
from tests.scaleout.ingest_helpers import WorkerThread, wait_until
from tests.scaleout.nats_servers import NatsCluster
from veille.adapters.jetstream.sink import JetStreamSink
from veille.bootstrap import Platform, bootstrap, ingest_worker_of
from veille.entrypoints.api.app import create_app
from veille.service.writer import GroupCommitWriter
from veille.settings import Settings

pytestmark = pytest.mark.e2e


@pytest.fixture
def jetstream_platform(
    tmp_path: Path, nats_server: NatsCluster, stream_name: str
) -> Iterator[Platform]:
    settings = Settings(
        data_dir=tmp_path / "var",
        image_fsync=False,
        run_jobs=False,
        ingest_sink="jetstream",
        nats_url=",".join(nats_server.urls),
        jetstream_stream=stream_name,
        jetstream_subject_prefix=f"test.{stream_name.lower()}",
        jetstream_replicas=1,
    )
    platform = bootstrap(settings)
    platform.store.initialise()
    yield platform
    platform.stop()


def test_the_default_sink_is_still_the_writer(settings: Settings) -> None:
    assert settings.ingest_sink == "writer"
    assert isinstance(bootstrap(settings).ingest_sink, GroupCommitWriter)


def test_reads_posted_to_the_api_reach_the_store_through_the_stream(
    jetstream_platform: Platform,
) -> None:
    platform = jetstream_platform
    assert isinstance(platform.ingest_sink, JetStreamSink)
    cam = register_cameras(platform, "CAM-A")["CAM-A"]
    reads = [make_read("CAM-A", plate=f"1-ABC-{n:03d}") for n in range(20)]
    with TestClient(create_app(platform)) as client:
        answer = client.post("/api/v1/reads", json={"reads": reads}, headers=cam.headers)
        again = client.post("/api/v1/reads", json={"reads": reads[:5]}, headers=cam.headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["stored"] == 20
    assert again.json()["duplicate"] == 5  # inside the stream's duplicate window

    worker = ingest_worker_of(platform)
    with WorkerThread(worker):
        assert wait_until(lambda: worker.counters.stored == 20)
    with platform.read_uow() as uow:
        assert uow.reads.count() == 20
