"""Image log: the bytes of ingested images appended to hourly segment files, made durable
once per group commit (decision 0010)."""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import struct
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

from veille.domain.reads import ImageUpload
from veille.service.ports import ImageLocation

SEGMENT_SECONDS = 3600  # a writer starts a new segment every hour (by its clock)
# Each record: magic, length of the image, its sha256 digest, then the bytes. The digest
# is checked when the image is read back, so a record torn by a crash (never referenced:
# its group was not committed) or damaged later is answered as missing, never as bytes.
_MAGIC = b"VIMG"
_HEADER = struct.Struct(">4sI32s")
HEADER_BYTES = _HEADER.size
_NAME = re.compile(r"(\d{8}T\d{2})-([0-9a-f]{12})\.seg")


def segment_name(moment: float, token: str) -> str:
    """The segment a writer named `token` appends to at `moment` (seconds since the epoch)."""
    hour = datetime.fromtimestamp(moment, UTC).strftime("%Y%m%dT%H")
    return f"{hour}-{token}.seg"


def sealed(name: str, now: float) -> bool:
    """Whether no writer appends to the segment any more: its hour ended at least an hour
    before `now` (the extra hour covers writers whose clocks disagree)."""
    match = _NAME.fullmatch(name)
    if match is None:
        return False
    start = datetime.strptime(match.group(1), "%Y%m%dT%H").replace(tzinfo=UTC).timestamp()
    return start + 2 * SEGMENT_SECONDS <= now


def record(upload: ImageUpload) -> bytes:
    """The header of one image's record (its bytes follow it)."""
    assert upload.ref.sha256 is not None
    return _HEADER.pack(_MAGIC, len(upload.data), bytes.fromhex(upload.ref.sha256))


def parse_record(sha256: str, head: bytes) -> int | None:
    """The length of the image whose record begins with `head`, or None when the record
    there is not that image's."""
    if len(head) < HEADER_BYTES:
        return None
    magic, length, digest = _HEADER.unpack(head[:HEADER_BYTES])
    if magic != _MAGIC or digest.hex() != sha256:
        return None
    return int(length)


class _Segment:
    __slots__ = ("fd", "name", "size")

    def __init__(self, name: str, fd: int, size: int) -> None:
        self.name, self.fd, self.size = name, fd, size


class ImageLog:
    """Append-only segment files under `root`, one writer process per file.

    `append` writes a group's images (one `writev`) and answers where each went; `sync`
    makes everything appended so far durable (one `fdatasync`). The ingest writer calls
    `sync` before the commit that refers to the images, so an acknowledged read's images
    are on disk, and a group whose commit fails leaves bytes no read refers to. Each
    process appends to segments of its own (a random token in the name) and starts a new
    one every hour and on every start, so a torn tail left by a crash is never appended
    to: it is ignored, and goes with its segment.
    """

    def __init__(
        self, root: Path, *, fsync: bool = True, clock: Callable[[], float] = time.time
    ) -> None:
        self.root = Path(root)
        self.fsync = fsync
        self.clock = clock
        self.token = secrets.token_hex(6)
        self._current: _Segment | None = None
        self._unsynced: list[_Segment] = []  # appended to since the last sync
        self._lock = threading.Lock()

    def append(self, uploads: Sequence[ImageUpload]) -> list[ImageLocation]:
        if not uploads:
            return []
        with self._lock:
            segment = self._segment(self.clock())
            parts: list[bytes] = []
            locations: list[ImageLocation] = []
            offset = segment.size
            for upload in uploads:
                parts.append(record(upload))
                parts.append(upload.data)
                locations.append(ImageLocation(segment.name, offset))
                offset += HEADER_BYTES + len(upload.data)
            try:
                _write_all(segment.fd, parts)
            except BaseException:  # what did get written is referenced by no read
                segment.size = os.fstat(segment.fd).st_size
                raise
            segment.size = offset
            if segment not in self._unsynced:
                self._unsynced.append(segment)
        return locations

    def sync(self) -> None:
        with self._lock:
            for segment in self._unsynced:
                if self.fsync:
                    os.fdatasync(segment.fd)
                if segment is not self._current:
                    os.close(segment.fd)
            self._unsynced.clear()

    def _segment(self, now: float) -> _Segment:
        name = segment_name(now, self.token)
        current = self._current
        if current is not None and current.name == name:
            return current
        if current is not None and current not in self._unsynced:
            os.close(current.fd)  # rolled over; one still unsynced is closed by `sync`
        fresh = not self.root.exists()
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / name, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
        if self.fsync:  # the new file's name must survive a crash as well as its bytes
            _fsync_dir(self.root)
            if fresh:
                _fsync_dir(self.root.parent)
        self._current = _Segment(name, fd, os.fstat(fd).st_size)
        return self._current

    def get(self, sha256: str, at: ImageLocation) -> bytes | None:
        if _NAME.fullmatch(at.segment) is None:
            return None
        try:
            with open(self.root / at.segment, "rb") as handle:
                handle.seek(at.offset)
                length = parse_record(sha256, handle.read(HEADER_BYTES))
                if length is None:
                    return None
                data = handle.read(length)
        except FileNotFoundError:
            return None
        if len(data) != length or hashlib.sha256(data).hexdigest() != sha256:
            return None  # torn or damaged
        return data

    def sealed_segments(self, now: float) -> Iterator[str]:
        """Segments no writer appends to any more (see `sealed`), oldest first."""
        if not self.root.exists():
            return
        names = sorted(path.name for path in self.root.iterdir())
        yield from (name for name in names if sealed(name, now))

    def drop_segment(self, name: str) -> bool:
        if _NAME.fullmatch(name) is None:
            raise ValueError(f"not a segment name: {name!r}")
        try:
            (self.root / name).unlink()
            return True
        except FileNotFoundError:
            return False

    def close(self) -> None:
        self.sync()
        with self._lock:
            if self._current is not None:
                os.close(self._current.fd)
                self._current = None


_IOV_MAX = 512  # buffers per writev, below every system's IOV_MAX (1,024 on Linux)


def _write_all(fd: int, parts: list[bytes]) -> None:
    for start in range(0, len(parts), _IOV_MAX):
        chunk = parts[start : start + _IOV_MAX]
        written = os.writev(fd, chunk)
        if written != sum(len(part) for part in chunk):
            rest = b"".join(chunk)[written:]  # a short write (rare: a signal, a full disk)
            while rest:
                rest = rest[os.write(fd, rest) :]


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
