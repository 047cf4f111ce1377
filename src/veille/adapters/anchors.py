"""The default anchor store: signed checkpoints as JSON lines in a folder outside the database."""

from __future__ import annotations

import os
from pathlib import Path

import orjson

from veille.domain.checkpoints import Checkpoint
from veille.service.ports import AnchorStoreMissing, StoredCheckpoints

CHECKPOINT_FILE_NAME = "checkpoints.jsonl"


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FolderAnchorStore:
    """`<folder>/checkpoints.jsonl`, one signed statement a line, only ever appended.

    One short `O_APPEND` write per line, fsynced: concurrent writers (the server and a
    `veille audit anchor` run) never interleave, and a written line survives power loss.
    """

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.path = self.folder / CHECKPOINT_FILE_NAME

    @property
    def location(self) -> str:
        return str(self.path)

    def append(self, checkpoint: Checkpoint) -> None:
        created_folder = not self.folder.exists()
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        created = not self.path.exists()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, orjson.dumps(checkpoint.as_dict()) + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)
        if created:  # make the new directory entries durable too
            _fsync_dir(self.folder)
        if created_folder:
            _fsync_dir(self.folder.parent)

    def read(self) -> StoredCheckpoints:
        """Every statement in file order; a line that is not one is reported, not skipped."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            raise AnchorStoreMissing(f"no anchor store at {self.path}") from None
        checkpoints: list[Checkpoint] = []
        damaged: list[str] = []
        for number, line in enumerate(data.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                doc = orjson.loads(line)
                if not isinstance(doc, dict):
                    raise TypeError("not an object")
                checkpoints.append(Checkpoint.from_dict(doc))
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                damaged.append(f"{self.path}, line {number}: not a checkpoint ({exc})")
        return StoredCheckpoints(checkpoints=tuple(checkpoints), damaged=tuple(damaged))
