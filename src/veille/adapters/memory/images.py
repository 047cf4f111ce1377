"""In-memory image bytes, content-addressed like the image folder (for tests and fakes)."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator


class MemoryImageStore:
    """The `ImageStore` port in a dict: write once, keyed by the bytes' sha256."""

    def __init__(self) -> None:
        self._images: dict[str, tuple[bytes, str, float]] = {}
        self._lock = threading.Lock()

    def put(self, sha256: str, data: bytes, content_type: str = "image/jpeg") -> None:
        if hashlib.sha256(data).hexdigest() != sha256:
            raise ValueError("image bytes do not match their sha256")
        with self._lock:
            self._images.setdefault(sha256, (data, content_type, time.time()))

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
            found = [h for h, (_, _, at) in self._images.items() if at < moment]
        yield from found

    def remove_temporaries_before(self, moment: float, *, dry_run: bool = False) -> int:
        """Nothing is ever half-written in memory."""
        return 0
