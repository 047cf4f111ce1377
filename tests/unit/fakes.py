"""A message bus wired to the in-memory store, for handler unit tests.

`memory_bus(register)` answers a bus on which `register` (an area's
`service/handlers/<area>.register`) has put its handlers, with every dependency pointing
at a fresh `MemoryStore` and a clock the test moves.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from veille.adapters.decoders import DecoderRegistry, builtin_decoders
from veille.adapters.memory.store import MemoryStore
from veille.domain.districts import CrossDistrictRule, DistrictMap, belgian_district_map
from veille.service.handlers.deps import Dependencies
from veille.service.messagebus import MessageBus
from veille.service.queries import LegalPolicy
from veille.settings import Settings

NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


@dataclass
class FakePlatform:
    """The parts a handler may depend on, all in memory; tests change them freely."""

    store: MemoryStore = field(default_factory=MemoryStore)
    now: datetime = NOW
    settings: Settings = field(default_factory=Settings)
    districts: DistrictMap = field(default_factory=belgian_district_map)
    bus: MessageBus = field(default_factory=MessageBus)
    decoders: DecoderRegistry = field(default_factory=builtin_decoders)

    def policy(self) -> LegalPolicy:
        s = self.settings
        return LegalPolicy(
            purposes=frozenset(s.search_purposes),
            case_ref_pattern=re.compile(s.case_ref_pattern),
            window=s.window_policy(),
            authorization_purposes=frozenset(s.authorization_purposes),
            districts=self.districts,
        )

    def deps(self, **overrides: Any) -> Dependencies:
        fields: dict[str, Any] = dict(
            uow=lambda: self.store.uow(),
            read_uow=lambda: self.store.uow(write=False),
            clock=lambda: self.now,
            settings=lambda: self.settings,
            policy=self.policy,
            districts=lambda: self.districts,
            rule=lambda: CrossDistrictRule(self.settings.cross_district_approval),
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
