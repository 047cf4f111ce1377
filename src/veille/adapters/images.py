"""Folder image store: the image log under <root>/log (what ingest appends), and the
content-addressed single files of earlier versions under <root>/ab/cd/<sha256>."""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from veille.adapters.image_log import ImageLog
from veille.domain.reads import ImageUpload
from veille.service.ports import ImageLocation

_SHA256 = re.compile(r"[0-9a-f]{64}")
_TEMPORARY = re.compile(r"\.[0-9a-f]{64}\.[0-9]+\.tmp")  # what `put` writes before renaming


class FolderImageStore:
    def __init__(
        self, root: Path, *, fsync: bool = True, clock: Callable[[], float] = time.time
    ) -> None:
        self.root = Path(root)
        self.fsync = fsync
        self.log = ImageLog(self.root / "log", fsync=fsync, clock=clock)

    def append(self, uploads: Sequence[ImageUpload]) -> list[ImageLocation]:
        return self.log.append(uploads)

    def sync(self) -> None:
        self.log.sync()

    def sealed_segments(self, now: float) -> Iterator[str]:
        return self.log.sealed_segments(now)

    def drop_segment(self, name: str) -> bool:
        return self.log.drop_segment(name)

    def close(self) -> None:
        self.log.close()

    def path(self, sha256: str) -> Path:
        if not _SHA256.fullmatch(sha256):
            raise ValueError("not a sha256 hex digest")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put(self, sha256: str, data: bytes, content_type: str = "image/jpeg") -> None:
        """Write once: an image already present is not rewritten. Durable before return."""
        if hashlib.sha256(data).hexdigest() != sha256:
            raise ValueError("image bytes do not match their sha256")
        target = self.path(sha256)
        if target.exists():
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{sha256}.{os.getpid()}.tmp")
        with open(tmp, "wb") as handle:
            handle.write(data)
            if self.fsync:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, target)

    def get(self, sha256: str, at: ImageLocation | None = None) -> bytes | None:
        if at is not None:
            return self.log.get(sha256, at)
        try:
            return self.path(sha256).read_bytes()
        except FileNotFoundError:
            return None

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).exists()

    def stored_before(self, moment: float) -> Iterator[str]:
        """Digests of the images written before `moment` (seconds since the epoch)."""
        for path in self.root.glob("??/??/*"):
            if _SHA256.fullmatch(path.name) and path.stat().st_mtime < moment:
                yield path.name

    def remove_temporaries_before(self, moment: float, *, dry_run: bool = False) -> int:
        """Remove the temporary files of writes started before `moment` that never got
        renamed (the process was killed in between); return how many there were."""
        removed = 0
        for path in self.root.glob("??/??/.*.tmp"):
            if not _TEMPORARY.fullmatch(path.name):
                continue
            try:
                if path.stat().st_mtime >= moment:
                    continue
                if not dry_run:
                    path.unlink()
            except FileNotFoundError:  # renamed or removed meanwhile
                continue
            removed += 1
        return removed

    def delete(self, sha256: str) -> bool:
        try:
            self.path(sha256).unlink()
            return True
        except FileNotFoundError:
            return False

    def delete_many(self, sha256s: Sequence[str]) -> int:
        return sum(self.delete(sha256) for sha256 in sha256s)
