"""Verified camera tokens, trusted until the camera directory changes.

At national scale 10,000 cameras post one read every few seconds each: a cache that
forgot a token after two seconds verified almost every request again (a thread hop and a
database lookup on the ingest route). Every change to a camera or its credentials moves
the store's camera version (migrations 0007 and 0016), so a verified token stays good for
exactly as long as the version has not moved. The cache looks at the version at most once
every `ttl` seconds and forgets everything when it moved:
- a change made in this process clears the cache at once (the camera handlers call
  `clear`), so it applies to the very next read;
- a change made in another process (the CLI) applies within `ttl` seconds, as before.

`peek` answers from memory, and reads the version (one row of one table) when a look at
it is due: the event loop calls it for every request, and at the national rate a
thread hop for each request of the few hundred milliseconds the look took on a worker
thread cost a tenth of the loop (`bench national`, py-spy). `get` also loads an unknown
token, so it runs on a worker thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from veille.domain.cameras import Camera

# A flood of made-up tokens must not grow the cache without bound: past this many
# entries it starts again from empty (verified tokens are reloaded on their next read).
MAX_ENTRIES = 100_000


class CameraCredentialCache:
    """Token → camera (or None: unknown or revoked), valid while the version holds."""

    def __init__(
        self,
        ttl: float,
        version: Callable[[], int],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self._version_of = version
        self._clock = clock
        self._entries: dict[str, Camera | None] = {}
        self._version: int | None = None
        self._checked_at = float("-inf")
        self._lock = threading.Lock()
        self.loads = 0  # tokens looked up in the store (a read's cost the cache saves)

    def peek(self, token: str) -> tuple[bool, Camera | None]:
        """(True, the camera or None) when the answer is known while the version holds;
        (False, None) when `get` must load the token. Reads the version when it is due."""
        self._check_version()
        entries = self._entries
        if token in entries:
            return True, entries[token]
        return False, None

    def get(self, token: str, load: Callable[[str], Camera | None]) -> Camera | None:
        """The camera of `token`: from memory while the version holds, else `load`ed."""
        known, camera = self.peek(token)  # looks at the version when due
        if known:
            return camera
        camera = load(token)
        with self._lock:
            self.loads += 1
            if len(self._entries) >= MAX_ENTRIES:
                self._entries = {}
            self._entries[token] = camera
        return camera

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries = {}
            self._checked_at = float("-inf")  # and look at the version again

    def _check_version(self) -> None:
        now = self._clock()
        if now - self._checked_at < self.ttl:
            return
        with self._lock:
            if now - self._checked_at < self.ttl:  # another thread just did
                return
            version = self._version_of()
            if version != self._version:
                self._entries = {}
                self._version = version
            self._checked_at = now
