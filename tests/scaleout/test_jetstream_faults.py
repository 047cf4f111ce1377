"""Faults under a steady publisher, on a 3-node JetStream cluster with an R3 stream.

Each test publishes batches of reads through the JetStream sink without pause (as
cameras would, re-sending a batch that was not acknowledged), breaks something mid-stream,
repairs it, and then counts against the store: acknowledged reads lost (must be 0) and
reads stored twice (must be 0). The worker is a real process
(`python -m veille.entrypoints.ingest_worker`), killed with SIGKILL by its process id.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import nats
import orjson
import pytest

from tests.conftest import CameraCred, make_read, register_cameras
from tests.scaleout.ingest_helpers import batch_of, payload, wait_until
from tests.scaleout.nats_servers import NatsCluster
from veille.adapters.jetstream.sink import JetStreamSink
from veille.adapters.jetstream.stream import IngestStream
from veille.bootstrap import bootstrap
from veille.entrypoints.server_process import free_port, start_server, stop_server
from veille.settings import Settings

pytestmark = pytest.mark.integration

SRC = Path(__file__).resolve().parents[2] / "src"
BATCH = 20  # reads per publish


@dataclass
class Publisher:
    """Publishes batches back to back on a thread; a batch the sink fails is sent again."""

    sink: JetStreamSink
    acknowledged: set[str] = field(default_factory=set)
    failed_batches: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        n = 0
        pending: list[dict[str, object]] | None = None
        while not self._stop.is_set():
            now = datetime.now(UTC)
            if pending is None:
                pending = [payload("CAM-A", now, n + i) for i in range(BATCH)]
                n += BATCH
            try:
                outcome = self.sink.submit(batch_of("CAM-A", pending, now)).result(30)
            except Exception:
                self.failed_batches += 1  # not acknowledged: the camera sends it again
                self._stop.wait(0.2)
                continue
            self.acknowledged.update(str(item["read_id"]) for item in pending)
            assert outcome.stored + outcome.duplicate == len(pending)
            pending = None

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(60)


@dataclass
class WorkerProcess:
    """An ingest worker process, started with the test's settings in its environment."""

    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def start(self) -> None:
        self.starts += 1
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "veille.entrypoints.ingest_worker"],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        bound = "ingest worker bound"
        assert wait_until(lambda: self.log.read_text().count(bound) >= self.starts, 60), (
            self.log.read_text()[-3000:]
        )

    def kill(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.kill()


@dataclass
class Rig:
    stream: IngestStream
    database: Path
    sink: JetStreamSink
    publisher: Publisher
    worker: WorkerProcess
    cluster: NatsCluster
    env: dict[str, str] = field(default_factory=dict)
    notes: str = ""

    def stored(self) -> int:
        with sqlite3.connect(self.database, timeout=30) as conn:
            return int(conn.execute("SELECT count(*) FROM reads").fetchone()[0])

    def stored_ids(self) -> tuple[set[str], int]:
        """The read ids stored, and how many of them are stored more than once."""
        with sqlite3.connect(self.database, timeout=30) as conn:
            rows = conn.execute("SELECT read_id, count(*) FROM reads GROUP BY read_id").fetchall()
        twice = sum(1 for _, copies in rows if copies > 1)
        return {str(uuid.UUID(bytes=bytes(rid))) for rid, _ in rows}, twice

    def backlog(self) -> int:
        """Messages still in the stream, or fetched and not yet acknowledged."""

        async def ask() -> int:
            nc = await nats.connect(servers=list(self.stream.servers))
            try:
                js = nc.jetstream()
                info = await js.stream_info(self.stream.name)
                return int(info.state.messages)
            finally:
                await nc.close()

        try:
            return asyncio.run(ask())
        except Exception:  # a leader election under way: ask again
            return -1

    def stream_leader(self) -> str:
        """The server name of the node that leads the stream's replicas."""

        async def ask() -> str:
            nc = await nats.connect(servers=list(self.stream.servers))
            try:
                info = await nc.jetstream().stream_info(self.stream.name)
                assert info.cluster is not None and info.cluster.leader
                return info.cluster.leader
            finally:
                await nc.close()

        return asyncio.run(ask())

    def consumer_state(self) -> str:
        async def ask() -> str:
            nc = await nats.connect(servers=list(self.stream.servers))
            try:
                js = nc.jetstream()
                info = await js.consumer_info(self.stream.name, self.stream.durable)
                stream = await js.stream_info(self.stream.name)
                return f"consumer={info!r} stream={stream.state!r} cluster={stream.cluster!r}"
            finally:
                await nc.close()

        return asyncio.run(ask())

    def last_counters(self) -> dict[str, int]:
        """What the last cleanly stopped worker counted (from its log)."""
        lines = [line for line in self.worker.log.read_text().splitlines() if "stopped: {" in line]
        return json.loads(lines[-1].split("stopped: ", 1)[1]) if lines else {}

    def report(self, fault: str) -> tuple[int, int]:
        """After the publisher stopped and the stream drained: (lost, stored twice)."""
        process = self.worker.process
        assert process is not None
        assert process.poll() is None or process.returncode == 0, (
            "the worker died:\n" + self.worker.log.read_text()[-4000:]
        )
        assert wait_until(lambda: self.backlog() == 0, 120), (
            f"the workers did not drain the stream: {self.consumer_state()}\n"
            + self.worker.log.read_text()[-4000:]
        )
        stored, twice = self.stored_ids()
        lost = len(self.publisher.acknowledged - stored)
        print(
            f"\nFAULT {fault}: acknowledged={len(self.publisher.acknowledged)}"
            f" stored={len(stored)} failed_batches={self.publisher.failed_batches}"
            f" worker_starts={self.worker.starts} {self.notes} lost={lost} stored_twice={twice}"
        )
        return lost, twice


@pytest.fixture
def rig(tmp_path: Path, nats_cluster: NatsCluster) -> Iterator[Rig]:
    name = f"VEILLE_FAULT_{uuid.uuid4().hex[:8].upper()}"
    env = {
        **os.environ,
        "PYTHONPATH": str(SRC),
        "VEILLE_DATA_DIR": str(tmp_path / "var"),
        "VEILLE_RUN_JOBS": "false",
        "VEILLE_IMAGE_FSYNC": "false",
        "VEILLE_SQLITE_SYNCHRONOUS": "NORMAL",
        "VEILLE_NATS_URL": ",".join(nats_cluster.urls),
        "VEILLE_JETSTREAM_STREAM": name,
        "VEILLE_JETSTREAM_REPLICAS": "3",
        "VEILLE_JETSTREAM_WORKER_BATCH": "200",
        "VEILLE_JETSTREAM_ACK_WAIT_S": "3",  # what a killed worker held comes back soon
    }
    settings = Settings(data_dir=tmp_path / "var", run_jobs=False)
    bootstrap(settings).store.initialise()
    stream = IngestStream(servers=tuple(nats_cluster.urls), name=name, replicas=3)
    sink = JetStreamSink(stream, publish_timeout_s=5)
    sink.start()
    worker = WorkerProcess(env, tmp_path / "worker.log")
    rig = Rig(stream, settings.database, sink, Publisher(sink), worker, nats_cluster, env=env)
    try:
        yield rig
    finally:
        rig.publisher.stop()
        worker.stop()
        sink.stop()


def test_sigkill_of_the_worker_mid_stream_loses_and_doubles_nothing(rig: Rig) -> None:
    rig.worker.start()
    rig.publisher.start()
    assert wait_until(lambda: rig.stored() >= 1000, 120)
    rig.worker.kill()  # mid-stream: batches fetched, maybe stored, not acknowledged
    at_kill = len(rig.publisher.acknowledged)
    backlog = rig.backlog()  # acknowledged to a camera, not yet by a worker
    assert wait_until(lambda: len(rig.publisher.acknowledged) >= at_kill + 500, 120)
    rig.worker.start()
    assert wait_until(lambda: rig.stored() >= at_kill + 500, 120)
    rig.publisher.stop()
    assert wait_until(lambda: rig.backlog() == 0, 120)
    rig.worker.stop()  # cleanly, so that it logs what it took twice
    after = rig.last_counters()
    rig.notes = (
        f"backlog_at_kill={backlog} restarted_worker_redelivered={after.get('redelivered')}"
        f" restarted_worker_duplicates={after.get('duplicate')}"
    )

    lost, twice = rig.report("worker SIGKILL")
    assert lost == 0
    assert twice == 0


def test_a_nats_node_killed_and_brought_back_loses_and_doubles_nothing(rig: Rig) -> None:
    rig.worker.start()
    rig.publisher.start()
    assert wait_until(lambda: len(rig.publisher.acknowledged) >= 1000, 120)
    leader = rig.stream_leader()
    node = next(n for n in rig.cluster.nodes if n.name == leader)
    node.kill()  # the stream's leader, one node of three: the other two keep the quorum
    at_kill = len(rig.publisher.acknowledged)
    assert wait_until(lambda: len(rig.publisher.acknowledged) >= at_kill + 1000, 120), (
        "ingest stopped with one node of three down"
    )
    rig.cluster.restart(node)
    at_return = len(rig.publisher.acknowledged)
    assert wait_until(lambda: len(rig.publisher.acknowledged) >= at_return + 1000, 120)
    rig.publisher.stop()
    rig.notes = f"killed={leader} (the stream leader) new_leader={rig.stream_leader()}"

    lost, twice = rig.report("NATS node SIGKILL and restart")
    assert lost == 0
    assert twice == 0


@dataclass
class HttpCameras:
    """Cameras posting batches to the API over HTTP, each re-sending a batch until it is
    acknowledged (200), as cameras do when the server dies under them."""

    port: int
    cams: dict[str, CameraCred]
    acknowledged: set[str] = field(default_factory=set)
    unanswered: int = 0  # requests that got no answer or a 503 (then sent again)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        for cam in self.cams.values():
            thread = threading.Thread(target=self._run, args=(cam,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _run(self, cam: CameraCred) -> None:
        n = 0
        with httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=15) as client:
            batch: list[dict[str, object]] | None = None
            while not self._stop.is_set():
                if batch is None:
                    batch = [
                        make_read(cam.camera_id, plate=f"1-HTP-{(n + i) % 1000:03d}")
                        for i in range(50)
                    ]
                    n += 50
                try:
                    answer = client.post(
                        "/api/v1/reads",
                        content=orjson.dumps({"reads": batch}),
                        headers=cam.headers,
                    )
                except httpx.HTTPError:
                    answer = None
                if answer is None or answer.status_code != 200:
                    with self._lock:
                        self.unanswered += 1
                    self._stop.wait(0.2)
                    continue
                statuses = {r["status"] for r in answer.json()["results"]}
                assert statuses <= {"stored", "duplicate"}, statuses
                with self._lock:
                    self.acknowledged.update(str(r["read_id"]) for r in batch)
                batch = None

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(60)


def test_sigkill_of_an_api_process_mid_stream_loses_and_doubles_nothing(
    rig: Rig, tmp_path: Path
) -> None:
    data = tmp_path / "var"
    platform = bootstrap(Settings(data_dir=data, run_jobs=False))
    cams = register_cameras(platform, *(f"API-{i}" for i in range(3)))
    platform.store.close()
    env = {**rig.env, "VEILLE_INGEST_SINK": "jetstream"}
    port = free_port()
    server = start_server(data, port, env, timeout=60)
    cameras = HttpCameras(port, cams)
    try:
        rig.worker.start()
        cameras.start()
        assert wait_until(lambda: len(cameras.acknowledged) >= 1500, 120)
        os.kill(server.pid, signal.SIGKILL)  # requests in flight, publishes unacknowledged
        server.wait(30)
        at_kill = len(cameras.acknowledged)
        server = start_server(data, port, env, timeout=60)
        assert wait_until(lambda: len(cameras.acknowledged) >= at_kill + 1500, 120)
    finally:
        cameras.stop()
        stop_server(server)
    rig.publisher.acknowledged = cameras.acknowledged  # what the report checks
    rig.publisher.failed_batches = cameras.unanswered
    rig.notes = f"acknowledged_before_kill={at_kill}"

    lost, twice = rig.report("API process SIGKILL")
    assert lost == 0
    assert twice == 0
