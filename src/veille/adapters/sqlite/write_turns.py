"""First come, first served turns at a SQLite store's write lock, for one process's threads.

SQLite lets one connection write at a time. A connection that finds the lock taken sleeps
in its busy handler and polls. At the national peak the ingest writer commits back to
back, and a poller wakes to find it has taken the lock again, over and over. So
investigators' audit records, operators' decisions on hits and sign-ins failed with
`database is locked` after the 10 s busy timeout (`bench national`). In one process,
every write unit of work therefore takes a turn here before `BEGIN IMMEDIATE`, and gives
it back at commit or rollback. The turn goes straight to the longest waiter, so a writer
waits for the transactions queued before it and never for a writer that keeps coming
back. Other processes (the CLI) still meet SQLite's busy handler, as before.
"""

from __future__ import annotations

import threading
from collections import deque


class WriteTurns:
    """A FIFO lock with hand-over, re-entrant per thread, with an optional time-out."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: deque[tuple[int, threading.Event]] = deque()
        self._owner: int | None = None
        self._depth = 0

    def acquire(self, timeout: float | None = None) -> bool:
        """Wait for this thread's turn; False if `timeout` seconds passed first."""
        me = threading.get_ident()
        with self._lock:
            if self._owner == me:
                self._depth += 1
                return True
            if self._owner is None and not self._waiting:
                self._owner, self._depth = me, 1
                return True
            turn = (me, threading.Event())
            self._waiting.append(turn)
        if turn[1].wait(timeout):
            return True  # `release` made this thread the owner
        with self._lock:
            if turn[1].is_set():  # handed over just as the time ran out
                return True
            self._waiting.remove(turn)
            return False

    def release(self) -> None:
        with self._lock:
            if self._owner != threading.get_ident():
                raise RuntimeError("release of a write turn this thread does not hold")
            self._depth -= 1
            if self._depth:
                return
            if self._waiting:
                owner, event = self._waiting.popleft()
                self._owner, self._depth = owner, 1
                event.set()
            else:
                self._owner = None

    @property
    def waiting(self) -> int:
        return len(self._waiting)
