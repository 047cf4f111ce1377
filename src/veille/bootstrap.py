"""Composition root: builds the platform from settings. Nothing connects at import time."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from veille.adapters.anchors import FolderAnchorStore
from veille.adapters.dispatch import MqttPublisher, WebhookDispatcher
from veille.adapters.district_config import load_district_map
from veille.adapters.images import FolderImageStore
from veille.adapters.keys import AuditKeyring, CheckpointVerifier, SecretBox
from veille.adapters.live import AlertBus
from veille.adapters.sqlite.repositories import read_row
from veille.adapters.sqlite.store import SqliteStore, SqliteUnitOfWork
from veille.adapters.webhook_targets import check_target, system_resolver
from veille.domain.cameras import Camera
from veille.domain.districts import DistrictMap, belgian_district_map
from veille.domain.reads import Read, ReadRules
from veille.domain.webhooks import TargetAllowList
from veille.service import alerts as alert_service
from veille.service import cameras as camera_service
from veille.service.alerts import AlertEvent
from veille.service.audit_checkpoints import CheckpointWriter
from veille.service.hotlists import HotlistMatcher, MatcherWatcher
from veille.service.ports import ReadEncoder
from veille.service.queries import CameraDirectory
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
    encode_read: ReadEncoder  # the store's row encoding, applied by request threads
    camera_cache: CameraCredentialCache
    matcher: HotlistMatcher
    hotlist_watcher: MatcherWatcher
    alert_bus: AlertBus
    webhooks: WebhookDispatcher
    audit_keys: AuditKeyring  # seals audit records, signs checkpoints (a key file)
    anchors: FolderAnchorStore  # where signed checkpoints are kept, outside the database
    checkpoints: CheckpointWriter
    mqtt: MqttPublisher | None = None
    cameras: CameraDirectory = field(default_factory=CameraDirectory)
    districts: DistrictMap = field(default_factory=belgian_district_map)  # camera → district
    clock: Callable[[], datetime] = utc_now
    started: bool = field(default=False)

    def audit_verifier(self) -> CheckpointVerifier:
        """The public key checkpoints are verified with (never the private one)."""
        return CheckpointVerifier.from_file(self.settings.audit_public_key)

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
            self.hotlist_watcher.start()
            self.webhooks.start()
            if self.mqtt is not None:
                self.mqtt.start()
            self.writer.start()
            self.started = True

    def stop(self) -> None:
        if self.started:
            self.writer.stop()
            self.hotlist_watcher.stop()
            self.webhooks.stop()
            if self.mqtt is not None:
                self.mqtt.stop()
            self.store.close()
            self.started = False


def bootstrap(
    settings: Settings | None = None, *, clock: Callable[[], datetime] = utc_now
) -> Platform:
    settings = settings or Settings()
    audit_keys = AuditKeyring(settings.audit_key, settings.audit_public_key)
    store = SqliteStore(
        settings.database,
        synchronous=settings.sqlite_synchronous,
        seal=audit_keys.seal,
        secrets=SecretBox(settings.totp_key),
    )
    # The writer thread gets a connection of its own, used only by it.
    writer_conn: list[SqliteUnitOfWork] = []

    def writer_uow() -> SqliteUnitOfWork:
        if not writer_conn:
            writer_conn.append(store.uow_on(store.new_connection()))
        return store.uow_on(writer_conn[0].conn)

    writer = GroupCommitWriter(
        writer_uow,
        max_rows=settings.writer_max_rows,
        max_queued_rows=settings.writer_max_queued_rows or None,
        stuck_after_s=settings.writer_stuck_s,
    )
    rules = settings.read_rules()
    matcher = HotlistMatcher(rules.lookalikes)
    timing = settings.alert_timing()

    def match_fresh(uow: SqliteUnitOfWork, fresh: list[Read]) -> list[AlertEvent]:
        return alert_service.record_hits(
            uow=uow,
            reads=fresh,
            match=matcher.match,
            cameras=uow.cameras.get,
            now=clock(),
            timing=timing,
        )

    writer.in_transaction.append(match_fresh)  # type: ignore[arg-type]
    bus = AlertBus(
        alert_service.event_json,
        replay_events=settings.alert_stream_replay_events,
        queue_limit=settings.alert_stream_queue,
    )
    webhooks = WebhookDispatcher(
        targets=lambda alert: alert_service.webhook_targets(
            uow=store.uow(write=False), alert=alert
        ),
        to_json=alert_service.event_json,
        record=lambda **fields: alert_service.record_delivery(uow=store.uow(), **fields),
        attempts=settings.webhook_attempts,
        backoff_s=settings.webhook_backoff_s,
        check=lambda url: check_target(
            url,
            allow=TargetAllowList.parse(settings.webhook_allowed_targets),
            resolve=system_resolver,
        ),
    )
    mqtt = None
    if settings.mqtt_host:
        mqtt = MqttPublisher(
            host=settings.mqtt_host,
            port=settings.mqtt_port,
            prefix=settings.mqtt_topic_prefix,
            to_json=alert_service.event_json,
        )
    anchors = FolderAnchorStore(settings.audit_anchors)
    platform = Platform(
        settings=settings,
        store=store,
        images=FolderImageStore(settings.images, fsync=settings.image_fsync),
        writer=writer,
        read_rules=rules,
        encode_read=read_row,
        camera_cache=CameraCredentialCache(settings.camera_cache_s),
        matcher=matcher,
        hotlist_watcher=MatcherWatcher(
            matcher, lambda: store.uow(write=False), settings.hotlist_refresh_s
        ),
        alert_bus=bus,
        webhooks=webhooks,
        mqtt=mqtt,
        districts=load_district_map(settings.district_map_file),
        clock=clock,
        audit_keys=audit_keys,
        anchors=anchors,
        checkpoints=CheckpointWriter(
            read_uow=lambda: store.uow(write=False),
            signer=audit_keys,
            store=anchors,
            clock=clock,
            every_records=settings.audit_checkpoint_every_records,
            interval=timedelta(seconds=settings.audit_checkpoint_interval_s),
        ),
    )
    writer.after_commit.append(bus.publish)
    writer.after_commit.append(platform.webhooks.publish)
    if platform.mqtt is not None:
        writer.after_commit.append(platform.mqtt.publish)
    return platform
