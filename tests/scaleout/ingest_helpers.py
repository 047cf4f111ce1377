"""Helpers of the JetStream ingest tests: batches as the ingest API makes them, and a
worker run on a thread of the test."""

from __future__ import annotations

import asyncio
import base64
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from tests.integration.test_ingest_writer_path import payload as writer_payload
from veille.adapters.decoders.native_json import parse_read
from veille.adapters.jetstream.worker import JetStreamWorker
from veille.domain.reads import FieldError, ReadRules
from veille.service.ingest import IngestBatch, accept_batch
from veille.service.ports import DecodedBatch, ImageStore, Rejection

RULES = ReadRules()
JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8  # image bytes (not decoded by anyone)


def payload(camera_id: str, now: datetime, n: int = 0, **overrides: Any) -> dict[str, Any]:
    """The writer tests' native read, captured just before `now`."""
    captured = (now - timedelta(seconds=5)).isoformat()
    return writer_payload(camera_id, n, **{"captured_at": captured, **overrides})


def with_image(item: dict[str, Any], data: bytes = JPEG) -> dict[str, Any]:
    item["images"] = [
        {"kind": "plate", "content_type": "image/jpeg", "data": base64.b64encode(data).decode()}
    ]
    return item


def batch_of(
    camera_id: str,
    items: list[dict[str, Any]],
    now: datetime,
    *,
    images: ImageStore | None = None,
    refused: tuple[str, ...] = (),
) -> IngestBatch:
    """The batch the ingest handler hands its sink for these items (and refused texts)."""
    decoded = DecodedBatch(size=len(items) + len(refused))
    for index, item in enumerate(items):
        decoded.reads.append((index, parse_read(item, camera_id=camera_id, now=now), item))
    for offset, text in enumerate(refused):
        decoded.rejected.append(
            Rejection(len(items) + offset, text, (FieldError("plate", "is required"),))
        )
    return accept_batch(decoded, camera_id=camera_id, received_at=now, images=images)


def wait_until(condition: Callable[[], bool], timeout: float = 60.0) -> bool:
    """Poll `condition` until it holds (True) or `timeout` passes (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


class WorkerThread:
    """A JetStreamWorker running on a thread of its own until `stop`."""

    def __init__(self, worker: JetStreamWorker) -> None:
        self.worker = worker
        self._loop = asyncio.new_event_loop()
        self._stop = asyncio.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.failure: BaseException | None = None

    def _run(self) -> None:
        try:
            self._loop.run_until_complete(self.worker.run(self._stop))
        except BaseException as failure:
            self.failure = failure

    def __enter__(self) -> WorkerThread:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(30)
        if not self._loop.is_closed() and not self._thread.is_alive():
            self._loop.close()
