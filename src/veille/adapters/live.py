"""The live alert channel: an in-process fan-out to server-sent-event subscribers.

Every published event gets an id `<epoch>-<n>`: `n` counts up within this server process
and `epoch` is drawn when the process starts, so a console reconnecting to a restarted
server can never mistake the new process's ids for the old one's. Recent events stay in a
bounded ring buffer so a reconnecting console resumes from its `Last-Event-ID`; when that
is impossible, or a slow subscriber overflows, the subscriber is told (a gap), never
silently skipped.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

# A subscriber this far behind stops receiving until it has caught up, then hears of a gap
# rather than slowing ingest.
QUEUE_LIMIT = 1000


@dataclass(frozen=True)
class LiveEvent:
    """One event for the stream: its sequence number in this process and its JSON."""

    seq: int
    payload: bytes


@dataclass(frozen=True)
class Gap:
    """Events the subscriber will not receive: reload the open alerts instead.

    `first`/`last` are the missed sequence numbers when known (an overflow), else None
    (an unknown, too old or foreign `Last-Event-ID`)."""

    reason: str
    first: int | None = None
    last: int | None = None


@dataclass(frozen=True)
class Closed:
    """The stream must end now, for this reason."""

    reason: str


@dataclass(frozen=True)
class Recheck:
    """Access may have changed: re-check it before sending anything more."""


Item = LiveEvent | Gap | Closed | Recheck


@dataclass(eq=False)
class Subscriber:
    """One open live channel: who it is for, and the events waiting to be sent to it.

    Every method but the constructor runs on the subscriber's event loop, so none races.
    """

    allowed: Callable[[Any], bool]  # may this subscriber see this alert?
    loop: asyncio.AbstractEventLoop
    user_id: int | None = None
    credential: str | None = None  # the sha256 of the token the stream was opened with
    limit: int = QUEUE_LIMIT
    pending: deque[LiveEvent] = field(default_factory=deque)
    dropped: int = 0  # events this subscriber missed by falling behind
    overflows: int = 0  # how many times it fell behind
    missed: tuple[int, int] | None = None  # first and last missed seq of the current overflow
    closed: str | None = None
    recheck: bool = False
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    def offer(self, event: LiveEvent) -> None:
        if self.closed is not None:
            return
        if self.missed is not None or len(self.pending) >= self.limit:
            # Once behind, nothing more is queued until the backlog is sent and the gap
            # told: queuing newer events after a hole would hide where the hole is.
            if self.missed is None:
                self.overflows += 1
                self.missed = (event.seq, event.seq)
            else:
                self.missed = (self.missed[0], event.seq)
            self.dropped += 1
            return
        self.pending.append(event)
        self.wake.set()

    def close(self, reason: str) -> None:
        if self.closed is None:
            self.closed = reason
        self.wake.set()

    def request_recheck(self) -> None:
        self.recheck = True
        self.wake.set()

    def take(self) -> Item | None:
        """The next thing to send, if any: closing first, then a re-check, then events."""
        if self.closed is not None:
            return Closed(self.closed)
        if self.recheck:
            self.recheck = False
            return Recheck()
        if self.pending:
            return self.pending.popleft()
        if self.missed is not None:
            first, last = self.missed
            self.missed = None
            return Gap("overflow", first, last)
        return None

    async def next(self, timeout: float) -> Item | None:
        """The next thing to send, waiting at most `timeout` seconds (None: nothing came)."""
        item = self.take()
        if item is not None:
            return item
        self.wake.clear()
        try:
            await asyncio.wait_for(self.wake.wait(), max(timeout, 0.0))
        except TimeoutError:
            return None
        return self.take()

    def drain(self) -> list[bytes]:
        """Every queued payload, at once (tests and shutdown)."""
        out = [event.payload for event in self.pending]
        self.pending.clear()
        return out


@dataclass(frozen=True)
class _Buffered:
    seq: int
    alert: Any
    payload: bytes


class AlertBus:
    """Publishes committed alert events to every live subscriber allowed to see them.

    Publishing happens on the ingest writer's thread right after the commit; each event is
    encoded once and handed to the subscribers' event loops without waiting for them.
    """

    def __init__(
        self,
        to_json: Callable[[Any], dict[str, Any]],
        *,
        replay_events: int = 10_000,
        queue_limit: int = QUEUE_LIMIT,
    ):
        self._to_json = to_json
        self._subscribers: set[Subscriber] = set()
        self._lock = threading.Lock()
        self._seq = 0
        self._ring: deque[_Buffered] = deque(maxlen=max(replay_events, 1))
        self._queue_limit = queue_limit
        self._dropped = 0  # of subscribers already gone
        self._overflows = 0
        self.epoch = secrets.token_hex(4)

    def event_id(self, seq: int) -> str:
        return f"{self.epoch}-{seq}"

    def subscribe(
        self,
        allowed: Callable[[Any], bool],
        *,
        user_id: int | None = None,
        credential: str | None = None,
        last_event_id: str | None = None,
    ) -> tuple[Subscriber, list[LiveEvent] | Gap]:
        """Register a subscriber; with `last_event_id`, also the buffered events after it
        that `allowed` lets through (or a Gap when they cannot all be found).

        Registering and reading the buffer happen under one lock, so every event is
        either replayed or delivered live: none is lost, none comes twice."""
        sub = Subscriber(
            allowed=allowed,
            loop=asyncio.get_running_loop(),
            user_id=user_id,
            credential=credential,
            limit=self._queue_limit,
        )
        with self._lock:
            self._subscribers.add(sub)
            buffered = list(self._ring) if last_event_id is not None else []
            newest = self._seq
        if last_event_id is None:
            return sub, []
        after = self._parse(last_event_id)
        if after is None:
            return sub, Gap("unknown event id (another server process, or not an id)")
        if after > newest:
            return sub, Gap("unknown event id")
        oldest = buffered[0].seq if buffered else newest + 1
        if after < oldest - 1:
            return sub, Gap("the events after this id are no longer buffered")
        return sub, [
            LiveEvent(b.seq, b.payload) for b in buffered if b.seq > after and allowed(b.alert)
        ]

    def _parse(self, event_id: str) -> int | None:
        epoch, _, number = event_id.strip().rpartition("-")
        if epoch != self.epoch or not number.isdigit():
            return None
        return int(number)

    def unsubscribe(self, sub: Subscriber) -> None:
        with self._lock:
            if sub in self._subscribers:
                self._subscribers.discard(sub)
                self._dropped += sub.dropped
                self._overflows += sub.overflows

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    def stats(self) -> dict[str, int]:
        """Live-channel counters: open streams, events missed by slow subscribers."""
        with self._lock:
            subs = list(self._subscribers)
            dropped, overflows, seq = self._dropped, self._overflows, self._seq
        return {
            "live_subscribers": len(subs),
            "live_events_published": seq,
            "live_events_dropped": dropped + sum(s.dropped for s in subs),
            "live_overflows": overflows + sum(s.overflows for s in subs),
        }

    def close_user(self, user_id: int, reason: str) -> int:
        """End every stream of this user now (account deleted); returns how many."""
        return self._tell(lambda s: s.user_id == user_id, lambda s: s.close(reason))

    def close_credential(self, credential: str, reason: str) -> int:
        """End every stream opened with this token (by its sha256) now: it was revoked."""
        return self._tell(lambda s: s.credential == credential, lambda s: s.close(reason))

    def recheck_user(self, user_id: int) -> int:
        """Make every stream of this user re-check its access now (role, designation,
        training or organisation changed): those no longer allowed end at once."""
        return self._tell(lambda s: s.user_id == user_id, lambda s: s.request_recheck())

    def _tell(self, which: Callable[[Subscriber], bool], do: Callable[[Subscriber], None]) -> int:
        with self._lock:
            targets = [s for s in self._subscribers if which(s)]
        for sub in targets:
            try:
                sub.loop.call_soon_threadsafe(do, sub)
            except RuntimeError:  # its loop has closed: the client went away
                self.unsubscribe(sub)
        return len(targets)

    def publish(self, events: list[Any]) -> None:
        for event in events:
            body = {"event": event.kind, "published_at": time.time(), **self._to_json(event)}
            payload = orjson.dumps(body)
            with self._lock:  # numbering, buffering and the subscriber list move together
                self._seq += 1
                seq = self._seq
                self._ring.append(_Buffered(seq, event.alert, payload))
                subscribers = list(self._subscribers)
            live = LiveEvent(seq, payload)
            for sub in subscribers:
                if sub.allowed(event.alert):
                    try:
                        sub.loop.call_soon_threadsafe(sub.offer, live)
                    except RuntimeError:  # its loop has closed: the client went away
                        self.unsubscribe(sub)
