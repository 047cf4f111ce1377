"""Composition root: builds the platform from settings. Nothing connects at import time."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from veille.adapters.anchors import FolderAnchorStore
from veille.adapters.decoders import builtin_decoders
from veille.adapters.dispatch import MqttPublisher, WebhookDispatcher
from veille.adapters.district_config import load_district_map
from veille.adapters.images import FolderImageStore
from veille.adapters.keys import AuditKeyring, CheckpointVerifier, SecretBox
from veille.adapters.live import AlertBus
from veille.adapters.postgresql.store import PostgresStore
from veille.adapters.s3_images import S3Location, s3_image_store
from veille.adapters.sqlite.repositories import read_row
from veille.adapters.sqlite.store import SqliteStore, SqliteUnitOfWork
from veille.adapters.webhook_targets import check_target, system_resolver
from veille.domain.alerts import AlertTiming
from veille.domain.cameras import Camera
from veille.domain.districts import CrossDistrictRule, DistrictMap, belgian_district_map
from veille.domain.reads import ReadRules
from veille.domain.webhooks import TargetAllowList
from veille.service import alerts as alert_service
from veille.service import cameras as camera_service
from veille.service import commands
from veille.service.audit import SignatureCheck
from veille.service.audit_checkpoints import CheckpointWriter
from veille.service.commands import alerts as alert_commands
from veille.service.credential_cache import CameraCredentialCache
from veille.service.events import HotlistHit, ReadsStored
from veille.service.handlers import alerts as alert_handlers
from veille.service.handlers import audit as audit_handlers
from veille.service.handlers import authorizations as authorization_handlers
from veille.service.handlers import cameras as camera_handlers
from veille.service.handlers import dead_letters as dead_letter_handlers
from veille.service.handlers import hotlists as hotlist_handlers
from veille.service.handlers import ingest as ingest_handlers
from veille.service.handlers import investigation as investigation_handlers
from veille.service.handlers import jobs as job_handlers
from veille.service.handlers import store as store_handlers
from veille.service.handlers import users as user_handlers
from veille.service.handlers.deps import Dependencies
from veille.service.hotlists import HotlistMatcher, MatcherWatcher
from veille.service.ingest import StoredBatch
from veille.service.messagebus import MessageBus, Raised
from veille.service.ports import (
    AnchorStore,
    CameraDecoders,
    ImageStore,
    IngestSink,
    ReadEncoder,
    Store,
    UnitOfWork,
)
from veille.service.queries import CameraDirectory, LegalPolicy
from veille.service.writer import GroupCommitWriter
from veille.settings import Settings

if TYPE_CHECKING:  # imported where used: the embedded deployment never loads nats-py
    from veille.adapters.jetstream.stream import IngestStream
    from veille.adapters.jetstream.worker import JetStreamWorker

log = logging.getLogger(__name__)


def utc_now() -> datetime:
    return datetime.now(UTC)


class RunningSink(IngestSink, Protocol):
    """An ingest sink with a life of its own (a connection to a stream), started and
    stopped with the platform."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


@dataclass
class Platform:
    """Everything the entrypoints need, wired once."""

    settings: Settings
    store: Store  # SQLite or PostgreSQL (VEILLE_STORE); only bootstrap() knows which
    images: ImageStore
    writer: GroupCommitWriter
    read_rules: ReadRules
    encode_read: ReadEncoder  # the store's row encoding, applied by request threads
    camera_cache: CameraCredentialCache
    matcher: HotlistMatcher
    hotlist_watcher: MatcherWatcher
    alert_bus: AlertBus
    webhooks: WebhookDispatcher
    audit_keys: AuditKeyring  # seals audit records, signs checkpoints (a key file)
    anchors: AnchorStore  # where signed checkpoints are kept, outside the database
    checkpoints: CheckpointWriter
    bus: MessageBus = field(default_factory=MessageBus)  # every use case's one way in
    mqtt: MqttPublisher | None = None
    cameras: CameraDirectory = field(default_factory=CameraDirectory)
    # one per camera protocol: what a camera sends is decoded by its protocol's decoder
    decoders: CameraDecoders = field(default_factory=builtin_decoders)
    districts: DistrictMap = field(default_factory=belgian_district_map)  # camera → district
    clock: Callable[[], datetime] = utc_now
    started: bool = field(default=False)
    # where ingest makes reads durable instead of the writer (`VEILLE_INGEST_SINK`)
    sink: RunningSink | None = None

    def legal_policy(self) -> LegalPolicy:
        """The legal rules of searches, as the settings and the district map say now."""
        return LegalPolicy.from_settings(self.settings, self.districts)

    def audit_verifier(self) -> CheckpointVerifier:
        """The public key checkpoints are verified with (never the private one)."""
        return CheckpointVerifier.from_file(self.settings.audit_public_key)

    def uow(self) -> UnitOfWork:
        """A unit of work that will write: it takes the write lock when it begins."""
        return self.store.uow()

    @property
    def ingest_sink(self) -> IngestSink:
        """Where validated reads go to become durable: the group-commit writer here, a
        replicated stream in a scale-out deployment (see `IngestSink` for the contract)."""
        return self.writer if self.sink is None else self.sink

    def read_uow(self) -> UnitOfWork:
        """A read-only unit of work: a snapshot that never blocks the ingest writer."""
        return self.store.uow(write=False)

    def camera_for_token(self, token: str) -> Camera | None:
        return self.camera_cache.get(
            token,
            lambda t: camera_service.authenticate_camera(
                uow=self.read_uow(), token=t, any_phase=True
            ),
        )

    def open_store(self) -> list[int]:
        """Bring the store's schema up to date (for a command that runs without `start`);
        answers the migrations applied now."""
        return self.store.initialise()

    def close_store(self) -> None:
        self.store.close()

    def start(self) -> None:
        if not self.started:
            self.store.initialise()
            self.hotlist_watcher.start()
            self.webhooks.start()
            if self.mqtt is not None:
                self.mqtt.start()
            self.writer.start()
            if self.sink is not None:
                self.sink.start()
            self.started = True

    def stop(self) -> None:
        if self.started:
            if self.sink is not None:
                self.sink.stop()
            self.writer.stop()
            self.hotlist_watcher.stop()
            self.webhooks.stop()
            if self.mqtt is not None:
                self.mqtt.stop()
            self.store.close()
            self.started = False


def build_store(
    settings: Settings, audit_keys: AuditKeyring
) -> tuple[Store, Callable[[], UnitOfWork]]:
    """The store the settings name (`VEILLE_STORE`), and the units of work of the ingest
    writer: the embedded SQLite file by default, whose writer thread keeps a connection of
    its own; PostgreSQL, whose writer takes a pooled connection per group commit."""
    secrets = SecretBox(settings.totp_key)
    if settings.uses_postgresql:
        pg = PostgresStore(
            settings.store,
            pool_size=settings.store_pool_size,
            seal=audit_keys.seal,
            secrets=secrets,
        )
        return pg, pg.uow
    sqlite = SqliteStore(
        settings.database,
        synchronous=settings.sqlite_synchronous,
        seal=audit_keys.seal,
        secrets=secrets,
    )
    # The writer thread gets a connection of its own, used only by it.
    writer_conn: list[SqliteUnitOfWork] = []

    def writer_uow() -> SqliteUnitOfWork:
        if not writer_conn:
            writer_conn.append(sqlite.uow_on(sqlite.new_connection()))
        return sqlite.uow_on(writer_conn[0].conn)

    return sqlite, writer_uow


def bootstrap(
    settings: Settings | None = None, *, clock: Callable[[], datetime] = utc_now
) -> Platform:
    settings = settings or Settings()
    audit_keys = AuditKeyring(settings.audit_key, settings.audit_public_key)
    store, writer_uow = build_store(settings, audit_keys)
    bus = MessageBus()
    images = build_image_store(settings)
    writer = GroupCommitWriter(
        writer_uow,
        bus=bus,
        images=images,
        max_rows=settings.writer_max_rows,
        max_queued_rows=settings.writer_max_queued_rows or None,
        stuck_after_s=settings.writer_stuck_s,
    )
    rules = settings.read_rules()
    matcher = HotlistMatcher(rules.lookalikes)
    timing = settings.alert_timing()

    live = AlertBus(
        alert_service.event_json,
        replay_events=settings.alert_stream_replay_events,
        queue_limit=settings.alert_stream_queue,
    )
    webhooks = WebhookDispatcher(
        # through the bus, whose handlers are registered below, before anything is sent
        targets=lambda alert: bus.handle(alert_commands.WebhookTargets(alert)),
        to_json=alert_service.event_json,
        record=lambda **fields: bus.handle(alert_commands.RecordDelivery(**fields)),
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
        images=images,
        writer=writer,
        read_rules=rules,
        encode_read=read_row,
        camera_cache=CameraCredentialCache(
            settings.camera_cache_s,
            partial(camera_service.camera_version, partial(store.uow, write=False)),
        ),
        matcher=matcher,
        hotlist_watcher=MatcherWatcher(
            matcher, lambda: store.uow(write=False), settings.hotlist_refresh_s
        ),
        alert_bus=live,
        bus=bus,
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
    platform.sink = ingest_sink_of(settings)
    _register_handlers(platform, timing=timing)
    return platform


# --- The scale-out ingest sink (NATS JetStream; docs/decisions/0016-jetstream-ingest.md) ---


def ingest_stream_of(settings: Settings) -> IngestStream:
    """The JetStream ingest stream the settings name (for the sink and the workers)."""
    from veille.adapters.jetstream.stream import IngestStream

    return IngestStream(
        servers=settings.nats_servers,
        name=settings.jetstream_stream,
        subject_prefix=settings.jetstream_subject_prefix,
        replicas=settings.jetstream_replicas,
        duplicate_window_s=settings.jetstream_duplicate_window_s,
        max_bytes=settings.jetstream_max_bytes,
    )


def ingest_sink_of(settings: Settings) -> RunningSink | None:
    """The sink `VEILLE_INGEST_SINK` chooses instead of the writer; None: the writer."""
    if settings.ingest_sink != "jetstream":
        return None
    from veille.adapters.jetstream.sink import JetStreamSink

    return JetStreamSink(
        ingest_stream_of(settings),
        publish_timeout_s=settings.jetstream_publish_timeout_s,
        max_pending_reads=settings.writer_max_queued_rows or None,
        # a read and its images in one message (4 images at most, a little JSON besides)
        max_payload=4 * settings.max_image_bytes + 64 * 1024,
    )


def _register_handlers(platform: Platform, *, timing: AlertTiming) -> None:
    """Every command's handler and every event's, with their dependencies bound."""
    bus = platform.bus

    def clock() -> datetime:  # read at each use: tests move the platform's clock
        return platform.clock()

    def rule() -> CrossDistrictRule:  # read at each use, as the settings may change
        return CrossDistrictRule(platform.settings.cross_district_approval)

    def districts() -> DistrictMap:  # read at each use: tests and reloads replace it
        return platform.districts

    def anchors(folder: Path | None) -> AnchorStore:  # a copy's folder, or the platform's
        return platform.anchors if folder is None else FolderAnchorStore(folder)

    def verifier(key: Path | None) -> SignatureCheck:  # a given public key, or the settings'
        return platform.audit_verifier() if key is None else CheckpointVerifier.from_file(key)

    deps = Dependencies(
        uow=lambda: platform.uow(),
        read_uow=lambda: platform.read_uow(),
        clock=clock,
        settings=lambda: platform.settings,
        policy=platform.legal_policy,
        districts=districts,
        rule=rule,
        images=lambda: platform.images,
        anchors=anchors,
        verifier=verifier,
        checkpoints=lambda: platform.checkpoints,
        webhook_check=lambda: platform.webhooks.check,  # tests replace it
        cameras=lambda: platform.cameras,
        read_rules=lambda: platform.read_rules,
        camera_cache=lambda: platform.camera_cache,
        migrations=lambda: platform.store,
        streams=lambda: platform.alert_bus,
        decoders=lambda: platform.decoders,
    )
    for area in (
        alert_handlers,
        authorization_handlers,
        hotlist_handlers,
        user_handlers,
        camera_handlers,
        dead_letter_handlers,
        investigation_handlers,
        audit_handlers,
        job_handlers,
        store_handlers,
    ):
        area.register(bus, deps)

    def ingest_reads(cmd: commands.IngestReads, raised: Raised) -> Future[StoredBatch]:
        # the platform's parts of the moment (a test, a reload may replace one)
        return ingest_handlers.ingest_reads(
            cmd,
            raised,
            images=platform.images,
            encode=platform.encode_read,
            submit=platform.ingest_sink.submit,
        )

    bus.register(commands.IngestReads, ingest_reads)
    bus.register(
        commands.KeepRejectedDelivery,
        partial(
            ingest_handlers.keep_rejected_delivery,
            uow=deps.uow,
            payload_bytes=lambda: platform.settings.dead_letter_payload_bytes,
        ),
    )
    # Matching runs in the transaction that stores the reads (decision 0003); its hits
    # are published by the writer once committed.
    bus.subscribe_in_transaction(
        ReadsStored,
        partial(
            ingest_handlers.match_stored_reads,
            match=platform.matcher.match,
            clock=clock,
            timing=timing,
        ),
    )
    bus.subscribe(HotlistHit, alert_handlers.publisher(platform.alert_bus.publish))
    bus.subscribe(HotlistHit, alert_handlers.publisher(platform.webhooks.publish))
    if platform.mqtt is not None:
        bus.subscribe(HotlistHit, alert_handlers.publisher(platform.mqtt.publish))


def ingest_worker_of(platform: Platform) -> JetStreamWorker:
    """A JetStream ingest worker over the platform's store, bus (hotlist matching) and
    image store, for `python -m veille.entrypoints.ingest_worker`."""
    from veille.adapters.jetstream.worker import JetStreamWorker, WorkerOptions

    settings = platform.settings
    return JetStreamWorker(
        ingest_stream_of(settings),
        uow=platform.uow,
        bus=platform.bus,
        images=platform.images,
        options=WorkerOptions(
            batch=settings.jetstream_worker_batch,
            ack_wait_s=settings.jetstream_ack_wait_s,
            max_ack_pending=settings.jetstream_max_ack_pending,
        ),
        clock=platform.clock,
    )


# --- the image store the settings name (decision 0017) ------------------------------------


def build_image_store(settings: Settings) -> ImageStore:
    """The image folder with its log (the default), or the S3-compatible bucket named by
    `VEILLE_IMAGE_STORE=s3://bucket[/prefix]`. The keys are handed to the client only,
    never logged."""
    if not settings.image_store:
        return FolderImageStore(settings.images, fsync=settings.image_fsync)
    try:
        location = S3Location.parse(settings.image_store)
    except ValueError as exc:
        raise ValueError(f"VEILLE_IMAGE_STORE: {exc}") from None
    secret = settings.s3_secret_access_key
    log.info("images in %s (endpoint %s)", location, settings.s3_endpoint_url or "AWS")
    return s3_image_store(
        location,
        endpoint_url=settings.s3_endpoint_url,
        region=settings.s3_region,
        access_key_id=settings.s3_access_key_id,
        secret_access_key=secret.get_secret_value() if secret is not None else None,
        timeout_s=settings.s3_timeout_s,
        max_concurrency=settings.s3_max_concurrency,
        multipart_threshold=settings.s3_multipart_threshold_bytes,
        part_bytes=settings.s3_part_bytes,
    )
