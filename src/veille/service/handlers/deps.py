"""What handlers depend on, bound once by the composition root (`bootstrap.py`).

Every field is read at each use (a callable), so that a test or a reload replacing a part
of the platform (its clock, its district map, its settings) is seen by every handler.
Fields are typed against the ports, never against an adapter class. An area that needs
another part of the platform adds a field here and binds it in `bootstrap`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from veille.domain.districts import CrossDistrictRule, DistrictMap
from veille.domain.reads import ReadRules
from veille.service.audit import SignatureCheck
from veille.service.audit_checkpoints import CheckpointWriter
from veille.service.ports import (
    AnchorStore,
    CameraCatalog,
    CameraCredentialCache,
    CameraDecoders,
    ImageStore,
    LiveStreams,
    SchemaMigrations,
    UnitOfWork,
    WebhookTargetCheck,
)
from veille.service.queries import LegalPolicy
from veille.settings import Settings


@dataclass(frozen=True)
class Dependencies:
    uow: Callable[[], UnitOfWork]  # a unit of work that writes: keep it short
    read_uow: Callable[[], UnitOfWork]  # a snapshot: never blocks the ingest writer
    clock: Callable[[], datetime]
    settings: Callable[[], Settings]
    policy: Callable[[], LegalPolicy]  # the legal rules of searches, from the settings
    districts: Callable[[], DistrictMap]  # camera → judicial district
    rule: Callable[[], CrossDistrictRule]  # who approves a cross-district request
    images: Callable[[], ImageStore]  # the image bytes of reads
    anchors: Callable[[Path | None], AnchorStore]  # the settings' anchor store, or this folder
    verifier: Callable[[Path | None], SignatureCheck]  # the settings' public key, or this file
    checkpoints: Callable[[], CheckpointWriter]  # signs the audit head into the anchor store
    webhook_check: Callable[[], WebhookTargetCheck | None]  # None: every target allowed
    cameras: Callable[[], CameraCatalog]  # every camera, cached between queries
    read_rules: Callable[[], ReadRules]  # plate rules: the look-alike table of searches
    camera_cache: Callable[[], CameraCredentialCache]  # verified camera tokens, cleared on change
    migrations: Callable[[], SchemaMigrations]  # the store's schema
    streams: Callable[[], LiveStreams]  # open live alert streams, closed when access ends
    decoders: Callable[[], CameraDecoders]  # by camera protocol: imports check protocols
