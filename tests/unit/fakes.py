"""A message bus wired to the in-memory store, for handler unit tests.

`memory_bus(register)` answers a bus on which `register` (an area's
`service/handlers/<area>.register`) has put its handlers, with every dependency pointing
at a fresh `MemoryStore` and a clock the test moves.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.unit.edges import MemoryAnchorStore, MemoryKeys
from veille.adapters.decoders import DecoderRegistry, builtin_decoders
from veille.adapters.memory.images import MemoryImageStore
from veille.adapters.memory.store import MemoryStore
from veille.domain.districts import CrossDistrictRule, DistrictMap, belgian_district_map
from veille.domain.reads import ReadRules
from veille.service.audit import SignatureCheck
from veille.service.audit_checkpoints import CheckpointWriter
from veille.service.commands import IngestReads
from veille.service.credential_cache import CameraCredentialCache
from veille.service.handlers.deps import Dependencies
from veille.service.handlers.ingest import ingest_reads
from veille.service.messagebus import MessageBus, Raised
from veille.service.ports import WebhookTargetCheck
from veille.service.queries import CameraDirectory, LegalPolicy
from veille.service.writer import GroupCommitWriter
from veille.settings import Settings

NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


@dataclass
class FakeStreams:
    """The live streams a handler told to end or re-check, as (what, id, reason) tuples."""

    told: list[tuple[str, object, str | None]] = field(default_factory=list)

    def close_user(self, user_id: int, reason: str) -> int:
        self.told.append(("close_user", user_id, reason))
        return 1

    def close_credential(self, credential: str, reason: str) -> int:
        self.told.append(("close_credential", credential, reason))
        return 1

    def recheck_user(self, user_id: int) -> int:
        self.told.append(("recheck_user", user_id, None))
        return 1


@dataclass
class FakePlatform:
    """The parts a handler may depend on, all in memory; tests change them freely."""

    keys: MemoryKeys = field(default_factory=MemoryKeys)  # the audit key: seals, signs
    store: MemoryStore = field(init=False)
    now: datetime = NOW
    settings: Settings = field(default_factory=Settings)
    districts: DistrictMap = field(default_factory=belgian_district_map)
    bus: MessageBus = field(default_factory=MessageBus)
    images: MemoryImageStore = field(init=False)
    anchors: MemoryAnchorStore = field(default_factory=MemoryAnchorStore)
    checkpoints: CheckpointWriter = field(init=False)

    webhook_check: WebhookTargetCheck | None = None  # None: every webhook target allowed
    cameras: CameraDirectory = field(default_factory=CameraDirectory)
    read_rules: ReadRules = field(default_factory=ReadRules)
    # verified camera tokens, trusted for an hour: only a change clears them in a test
    camera_cache: CameraCredentialCache = field(
        default_factory=lambda: CameraCredentialCache(ttl=3600, version=lambda: 0)
    )
    streams: FakeStreams = field(default_factory=FakeStreams)

    def __post_init__(self) -> None:
        self.store = MemoryStore(seal=self.keys.seal)
        self.images = MemoryImageStore(clock=lambda: self.now.timestamp())
        self.checkpoints = CheckpointWriter(
            read_uow=lambda: self.store.uow(write=False),
            signer=self.keys,
            store=self.anchors,
            clock=lambda: self.now,
            every_records=1000,
            interval=timedelta(minutes=1),
        )

    def verifier(self, key: Path | None = None) -> SignatureCheck:
        """The public key: the platform's, whatever file is named (no files here)."""
        return self.keys.verifier

    decoders: DecoderRegistry = field(default_factory=builtin_decoders)

    def policy(self) -> LegalPolicy:
        return LegalPolicy.from_settings(self.settings, self.districts)

    def audited(self) -> list[tuple[str, str | None, str]]:
        """(action, target, outcome) of every audit record, in order."""
        with self.store.uow(write=False) as uow:
            return [(r.entry.action, r.entry.target, r.entry.outcome) for r in uow.audit.iter_all()]

    def deps(self, **overrides: Any) -> Dependencies:
        fields: dict[str, Any] = dict(
            uow=lambda: self.store.uow(),
            read_uow=lambda: self.store.uow(write=False),
            clock=lambda: self.now,
            settings=lambda: self.settings,
            policy=self.policy,
            districts=lambda: self.districts,
            rule=lambda: CrossDistrictRule(self.settings.cross_district_approval),
            images=lambda: self.images,
            anchors=lambda folder: self.anchors,
            verifier=self.verifier,
            checkpoints=lambda: self.checkpoints,
            webhook_check=lambda: self.webhook_check,
            cameras=lambda: self.cameras,
            read_rules=lambda: self.read_rules,
            camera_cache=lambda: self.camera_cache,
            migrations=lambda: self.store,
            streams=lambda: self.streams,
            decoders=lambda: self.decoders,
        )
        fields.update(overrides)
        return Dependencies(**fields)


def memory_bus(
    *registers: Callable[[MessageBus, Dependencies], None], **overrides: Any
) -> FakePlatform:
    """A fake platform whose bus carries the handlers of the given areas."""
    fake = FakePlatform()
    deps = fake.deps(**overrides)
    for register in registers:
        register(fake.bus, deps)
    return fake


@contextmanager
def ingest_writer(
    fake: FakePlatform, *, rules: ReadRules | None = None
) -> Iterator[GroupCommitWriter]:
    """`IngestReads` on the fake's bus, committed by a group-commit writer on its store, as
    `bootstrap` wires them; for handlers that hand reads to ingest (a dead-letter replay)."""
    writer = GroupCommitWriter(fake.store.uow, bus=fake.bus)

    def ingest(cmd: IngestReads, raised: Raised) -> Any:
        return ingest_reads(cmd, raised, images=None, encode=None, submit=writer.submit)

    fake.bus.register(IngestReads, ingest)
    writer.start()
    try:
        yield writer
    finally:
        writer.stop()
