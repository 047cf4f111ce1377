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

from veille.domain.districts import CrossDistrictRule, DistrictMap
from veille.service.ports import CameraDecoders, UnitOfWork
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
    decoders: Callable[[], CameraDecoders]  # by camera protocol: imports check protocols
