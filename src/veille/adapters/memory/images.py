"""In-memory image bytes, content-addressed like the image folder (for tests and fakes)."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterator, Sequence

from veille.adapters.image_log import HEADER_BYTES, sealed, segment_name
from veille.domain.reads import ImageUpload
from veille.service.ports import ImageLocation


class MemoryImageStore:
    """The `ImageStore` port in a dict: write once, keyed by the bytes' sha256, each image
    stamped with `clock()` (seconds) when first put, as a file gets its modification time.

    Appended images go to hourly segments as in the image log; those not yet `sync`ed are
    lost by `crash()`, as a process killed before its fsync loses them."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._images: dict[str, tuple[bytes, str, float]] = {}
        self.temporaries: dict[str, float] = {}  # half-written files of killed writes
        self._lock = threading.Lock()
        # segment name → {offset: (sha256, bytes)}; offsets as the image log's records
        self.segments: dict[str, dict[int, tuple[str, bytes]]] = {}
        self._sizes: dict[str, int] = {}
        self._unsynced: list[tuple[str, int]] = []
        self.syncs = 0

    def append(self, uploads: Sequence[ImageUpload]) -> list[ImageLocation]:
        with self._lock:
            name = segment_name(self.clock(), "0" * 12)
            records = self.segments.setdefault(name, {})
            locations = []
            for upload in uploads:
                assert upload.ref.sha256 is not None
                offset = self._sizes.get(name, 0)
                records[offset] = (upload.ref.sha256, upload.data)
                self._sizes[name] = offset + HEADER_BYTES + len(upload.data)
                self._unsynced.append((name, offset))
                locations.append(ImageLocation(name, offset))
        return locations

    def sync(self) -> None:
        with self._lock:
            self._unsynced.clear()
            self.syncs += 1

    def crash(self) -> None:
        """Lose what was appended since the last `sync`."""
        with self._lock:
            for name, offset in self._unsynced:
                self.segments[name].pop(offset, None)
            self._unsynced.clear()

    def sealed_segments(self, now: float) -> Iterator[str]:
        with self._lock:
            names = sorted(name for name in self.segments if sealed(name, now))
        yield from names

    def drop_segment(self, name: str) -> bool:
        with self._lock:
            return self.segments.pop(name, None) is not None

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

    def get(self, sha256: str, at: ImageLocation | None = None) -> bytes | None:
        if at is not None:
            stored = self.segments.get(at.segment, {}).get(at.offset)
            return stored[1] if stored is not None and stored[0] == sha256 else None
        found = self._images.get(sha256)
        return found[0] if found else None

    def delete(self, sha256: str) -> bool:
        with self._lock:
            return self._images.pop(sha256, None) is not None

    def delete_many(self, sha256s: Sequence[str]) -> int:
        return sum(self.delete(sha256) for sha256 in sha256s)

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
