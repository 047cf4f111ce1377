"""In-memory image bytes, content-addressed like the image folder (for tests and fakes)."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterator


class MemoryImageStore:
    """The `ImageStore` port in a dict: write once, keyed by the bytes' sha256, each image
    stamped with `clock()` (seconds) when first put, as a file gets its modification time."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._images: dict[str, tuple[bytes, str, float]] = {}
        self.temporaries: dict[str, float] = {}  # half-written files of killed writes
        self._lock = threading.Lock()

    @property
    def files(self) -> set[str]:
        """The hashes stored, as the folder's file names."""
        with self._lock:
            return set(self._images)

    def put(self, sha256: str, data: bytes, content_type: str = "image/jpeg") -> None:
        if hashlib.sha256(data).hexdigest() != sha256:
            raise ValueError("image bytes do not match their sha256")
        with self._lock:
            self._images.setdefault(sha256, (data, content_type, self.clock()))

    def get(self, sha256: str) -> bytes | None:
        found = self._images.get(sha256)
        return found[0] if found else None

    def delete(self, sha256: str) -> bool:
        with self._lock:
            return self._images.pop(sha256, None) is not None

    def exists(self, sha256: str) -> bool:
        return sha256 in self._images

    def stored_before(self, moment: float) -> Iterator[str]:
        with self._lock:
            found = sorted(h for h, (_, _, at) in self._images.items() if at < moment)
        yield from found

    def remove_temporaries_before(self, moment: float, *, dry_run: bool = False) -> int:
        old = [name for name, at in self.temporaries.items() if at < moment]
        if not dry_run:
            for name in old:
                del self.temporaries[name]
        return len(old)
