"""Composition root: builds the platform from settings. Nothing connects at import time."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from veille.adapters.images import FolderImageStore
from veille.adapters.sqlite.store import SqliteStore, SqliteUnitOfWork
from veille.domain.cameras import Camera
from veille.domain.reads import ReadRules
from veille.service import cameras as camera_service
from veille.service.writer import GroupCommitWriter
from veille.settings import Settings


def utc_now() -> datetime:
    return datetime.now(UTC)


class CameraCredentialCache:
    """Verified camera tokens, trusted for a few seconds so ingest skips a lookup per request.

    Changes made in this process clear it at once; changes made elsewhere (the CLI)
    take effect within `ttl` seconds.
    """

    def __init__(self, ttl: float):
        self.ttl = ttl
        self._entries: dict[str, tuple[Camera | None, float]] = {}
        self._lock = threading.Lock()

    def get(self, token: str, load: Callable[[str], Camera | None]) -> Camera | None:
        now = time.monotonic()
        entry = self._entries.get(token)
        if entry is not None and entry[1] > now:
            return entry[0]
        camera = load(token)
        with self._lock:
            if len(self._entries) > 100_000:
                self._entries.clear()
            self._entries[token] = (camera, now + self.ttl)
        return camera

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


@dataclass
class Platform:
    """Everything the entrypoints need, wired once."""

    settings: Settings
    store: SqliteStore
    images: FolderImageStore
    writer: GroupCommitWriter
    read_rules: ReadRules
    camera_cache: CameraCredentialCache
    clock: Callable[[], datetime] = utc_now
    started: bool = field(default=False)

    def uow(self) -> SqliteUnitOfWork:
        """A unit of work that will write: it takes the write lock when it begins."""
        return self.store.uow()

    def read_uow(self) -> SqliteUnitOfWork:
        """A read-only unit of work: a snapshot that never blocks the ingest writer."""
        return self.store.uow(write=False)

    def camera_for_token(self, token: str) -> Camera | None:
        return self.camera_cache.get(
            token,
            lambda t: camera_service.authenticate_camera(
                uow=self.read_uow(), token=t, any_phase=True
            ),
        )

    def start(self) -> None:
        if not self.started:
            self.store.initialise()
            self.writer.start()
            self.started = True

    def stop(self) -> None:
        if self.started:
            self.writer.stop()
            self.store.close()
            self.started = False


def bootstrap(
    settings: Settings | None = None, *, clock: Callable[[], datetime] = utc_now
) -> Platform:
    settings = settings or Settings()
    store = SqliteStore(settings.database, synchronous=settings.sqlite_synchronous)
    # The writer thread gets a connection of its own, used only by it.
    writer_conn: list[SqliteUnitOfWork] = []

    def writer_uow() -> SqliteUnitOfWork:
        if not writer_conn:
            writer_conn.append(SqliteUnitOfWork(store.new_connection()))
        return SqliteUnitOfWork(writer_conn[0].conn)

    writer = GroupCommitWriter(writer_uow, max_rows=settings.writer_max_rows)
    return Platform(
        settings=settings,
        store=store,
        images=FolderImageStore(settings.images, fsync=settings.image_fsync),
        writer=writer,
        read_rules=settings.read_rules(),
        camera_cache=CameraCredentialCache(settings.camera_cache_s),
        clock=clock,
    )
