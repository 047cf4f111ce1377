"""The live alert channel: an in-process fan-out to server-sent-event subscribers."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

# Subscribers that fall this far behind lose the oldest events rather than slow ingest.
QUEUE_LIMIT = 1000


@dataclass(eq=False)
class Subscriber:
    """One open live channel: who it is for, and where its events go."""

    allowed: Callable[[Any], bool]  # may this subscriber see this alert?
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[bytes] = field(default_factory=lambda: asyncio.Queue(QUEUE_LIMIT))
    dropped: int = 0

    def offer(self, payload: bytes) -> None:
        """Runs on the subscriber's event loop."""
        if self.queue.full():
            self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait(payload)


class AlertBus:
    """Publishes committed alert events to every live subscriber allowed to see them.

    Publishing happens on the ingest writer's thread right after the commit; each event is
    encoded once and handed to the subscribers' event loops without waiting for them.
    """

    def __init__(self, to_json: Callable[[Any], dict[str, Any]]):
        self._to_json = to_json
        self._subscribers: set[Subscriber] = set()
        self._lock = threading.Lock()

    def subscribe(self, allowed: Callable[[Any], bool]) -> Subscriber:
        sub = Subscriber(allowed=allowed, loop=asyncio.get_running_loop())
        with self._lock:
            self._subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        with self._lock:
            self._subscribers.discard(sub)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    def publish(self, events: list[Any]) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        if not subscribers:
            return
        for event in events:
            body = {"event": event.kind, "published_at": time.time(), **self._to_json(event)}
            payload = orjson.dumps(body)
            for sub in subscribers:
                if sub.allowed(event.alert):
                    try:
                        sub.loop.call_soon_threadsafe(sub.offer, payload)
                    except RuntimeError:  # its loop has closed: the client went away
                        self.unsubscribe(sub)
