"""The national bench's exactly-once check: every acknowledged read is in the store once,
with its images, and what became of the reads never acknowledged.

Reads the load generator's `acks.jsonl` and `unacknowledged.jsonl` and the store after the
server has stopped: the rows of `reads` and `read_images` by read id (SQLite), and the
bytes of every inline image in the image store (present for all; for a sample, read back
and hashed to the sha256 the camera sent).
"""

from __future__ import annotations

import hashlib
import random
import sqlite3
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from veille.adapters.image_log import HEADER_BYTES, parse_record
from veille.adapters.images import FolderImageStore
from veille.service.ports import ImageLocation, ImageStore

CHUNK = 5000  # read ids per query
EXAMPLES = 5  # read ids kept per kind of fault, to look at


@dataclass
class ExactlyOnce:
    acknowledged: int = 0  # distinct read ids in acks.jsonl
    ack_lines: int = 0  # lines of acks.jsonl (a read acknowledged twice counts twice)
    stored_once: int = 0
    missing: int = 0  # acknowledged, not in the store
    duplicated: int = 0  # acknowledged, in the store more than once
    image_rows_expected: int = 0
    image_rows_missing: int = 0  # an image the camera sent has no row with its sha256/uri
    image_bytes_missing: int = 0  # an inline image's row is there, its bytes are not
    image_bytes_checked: int = 0  # inline images read back and hashed
    image_bytes_wrong: int = 0  # ... whose bytes do not hash to the sha256 sent
    unacknowledged: int = 0  # reads due and never acknowledged
    unacknowledged_stored: int = 0  # ... stored all the same (the answer was lost)
    examples: dict[str, list[str]] = field(default_factory=dict)

    @property
    def verdict(self) -> bool:
        return (
            self.acknowledged > 0
            and self.stored_once == self.acknowledged
            and self.missing == 0
            and self.duplicated == 0
            and self.image_rows_missing == 0
            and self.image_bytes_missing == 0
            and self.image_bytes_wrong == 0
        )

    def note(self, kind: str, read_id: str) -> None:
        kept = self.examples.setdefault(kind, [])
        if len(kept) < EXAMPLES:
            kept.append(read_id)

    def as_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "acknowledged": self.acknowledged,
            "ack_lines": self.ack_lines,
            "stored_once": self.stored_once,
            "missing": self.missing,
            "duplicated": self.duplicated,
            "image_rows_expected": self.image_rows_expected,
            "image_rows_missing": self.image_rows_missing,
            "image_bytes_missing": self.image_bytes_missing,
            "image_bytes_checked": self.image_bytes_checked,
            "image_bytes_wrong": self.image_bytes_wrong,
            "unacknowledged": self.unacknowledged,
            "unacknowledged_stored": self.unacknowledged_stored,
            "examples": self.examples,
        }


def _lines(path: Path) -> Iterator[dict[str, Any]]:
    if not path.exists():
        return
    with path.open("rb") as f:
        for line in f:
            if line.strip():
                yield orjson.loads(line)


def _chunks(items: list[str], size: int = CHUNK) -> Iterator[list[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _counts(db: sqlite3.Connection, read_ids: list[str]) -> Counter[str]:
    """How many rows of `reads` each read id has (absent: 0)."""
    found: Counter[str] = Counter()
    for chunk in _chunks(read_ids):
        marks = ",".join("?" * len(chunk))
        rows = db.execute(
            f"SELECT read_id FROM reads WHERE read_id IN ({marks})",
            [uuid.UUID(r).bytes for r in chunk],
        )
        for (blob,) in rows:
            found[str(uuid.UUID(bytes=blob))] += 1
    return found


def _images(
    db: sqlite3.Connection, read_ids: list[str]
) -> tuple[dict[str, set[str]], dict[str, ImageLocation | None]]:
    """Each read's images as the camera named them (sha256, or "uri:" + uri), and where
    each inline image's bytes are: a record of the image log, or (None) a file of its own
    as versions before the log wrote them."""
    held: dict[str, set[str]] = {}
    where: dict[str, ImageLocation | None] = {}
    for chunk in _chunks(read_ids):
        marks = ",".join("?" * len(chunk))
        rows = db.execute(
            "SELECT i.read_id, i.sha256, i.uri, s.name, i.byte_offset FROM read_images i"
            f" LEFT JOIN image_segments s ON s.id = i.segment WHERE i.read_id IN ({marks})",
            [uuid.UUID(r).bytes for r in chunk],
        )
        for blob, sha, uri, segment, offset in rows:
            names = held.setdefault(str(uuid.UUID(bytes=blob)), set())
            if sha:
                names.add(sha)
                where[sha] = ImageLocation(segment, offset) if segment is not None else None
            if uri:
                names.add("uri:" + uri)
    return held, where


def _present(images: ImageStore, sha: str, at: ImageLocation | None) -> bool:
    """The image's bytes are there: its log record's header names it and the segment holds
    all its bytes (read back and hashed only for a sample), or its own file exists."""
    if at is None:
        return images.exists(sha)
    if not isinstance(images, FolderImageStore):
        return images.get(sha, at) is not None
    path = images.log.root / at.segment
    try:
        with open(path, "rb") as handle:
            handle.seek(at.offset)
            length = parse_record(sha, handle.read(HEADER_BYTES))
        size = path.stat().st_size
    except FileNotFoundError:
        return False
    return length is not None and size >= at.offset + HEADER_BYTES + length


def check_exactly_once(
    *,
    database: Path,
    images: ImageStore,
    acks: Path,
    unacknowledged: Path,
    hash_sample: int = 2000,
    seed: int = 7,
) -> ExactlyOnce:
    """Check the store against the load generator's records (the server stopped)."""
    result = ExactlyOnce()
    sent: dict[str, tuple[str, ...]] = {}
    for ack in _lines(acks):
        result.ack_lines += 1
        sent.setdefault(ack["read_id"], tuple(ack["images"]))
    result.acknowledged = len(sent)
    db = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        read_ids = list(sent)
        counts = _counts(db, read_ids)
        for read_id in read_ids:
            n = counts.get(read_id, 0)
            if n == 1:
                result.stored_once += 1
            elif n == 0:
                result.missing += 1
                result.note("missing", read_id)
            else:
                result.duplicated += 1
                result.note("duplicated", read_id)
        held, where = _images(db, read_ids)
        inline: list[str] = []
        for read_id, names in sent.items():
            have = held.get(read_id, set())
            for name in names:
                result.image_rows_expected += 1
                if name not in have:
                    result.image_rows_missing += 1
                    result.note("image_row_missing", read_id)
                elif not name.startswith("uri:"):
                    inline.append(name)
                    if not _present(images, name, where.get(name)):
                        result.image_bytes_missing += 1
                        result.note("image_bytes_missing", read_id)
        for sha in random.Random(seed).sample(inline, min(hash_sample, len(inline))):
            data = images.get(sha, where.get(sha))
            if data is None:
                continue  # counted above as missing
            result.image_bytes_checked += 1
            if hashlib.sha256(data).hexdigest() != sha:
                result.image_bytes_wrong += 1
                result.note("image_bytes_wrong", sha)
        never = [u["read_id"] for u in _lines(unacknowledged)]
        result.unacknowledged = len(never)
        result.unacknowledged_stored = sum(1 for n in _counts(db, never).values() if n)
    finally:
        db.close()
    return result


def reads_received_since(database: Path, since_epoch_s: float) -> int:
    """Reads the store received since a moment (this run's, whoever acknowledged them)."""
    from datetime import UTC, datetime

    from veille.adapters.sqlite.times import encode

    db = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        (n,) = db.execute(
            "SELECT COUNT(*) FROM reads WHERE received_at >= ?",
            (encode(datetime.fromtimestamp(since_epoch_s, UTC)),),
        ).fetchone()
        return int(n)
    finally:
        db.close()
