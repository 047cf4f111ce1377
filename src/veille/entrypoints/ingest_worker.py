"""`python -m veille.entrypoints.ingest_worker`: one JetStream ingest worker process.

It takes reads from the ingest stream (`VEILLE_NATS_URL`, `VEILLE_JETSTREAM_*`) and stores
them in the store the settings name, matching hotlists as it goes; run as many as the
store keeps up with, on as many machines. SIGTERM or SIGINT stops it after the batch in
hand is stored and acknowledged; a SIGKILL loses nothing (what it had not acknowledged
comes back to another worker, and the store answers what it had stored as duplicates).
"""

from __future__ import annotations

import asyncio
import logging
import signal

import orjson

from veille.adapters.jetstream.worker import JetStreamWorker
from veille.bootstrap import bootstrap, ingest_worker_of
from veille.settings import Settings

log = logging.getLogger("veille.ingest_worker")


async def serve(worker: JetStreamWorker) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await worker.run(stop)


def main() -> None:
    from veille.entrypoints.runtime import configure_logging

    configure_logging()
    settings = Settings()
    platform = bootstrap(settings)
    platform.sink = None  # a worker stores what the stream holds; it publishes nothing
    platform.start()  # the store, the hotlist watcher, webhooks and MQTT
    try:
        worker = ingest_worker_of(platform)
        asyncio.run(serve(worker))
        log.info("ingest worker stopped: %s", orjson.dumps(worker.counters.as_dict()).decode())
    finally:
        platform.stop()


if __name__ == "__main__":
    main()
