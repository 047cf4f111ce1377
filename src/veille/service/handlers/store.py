"""Handlers of the store's own commands (`service/commands/store.py`)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from veille.service.commands.store import MigrateStore
from veille.service.handlers.deps import Dependencies
from veille.service.messagebus import MessageBus, Raised


@dataclass(frozen=True)
class SchemaState:
    applied: tuple[int, ...]  # the migrations applied now
    version: int  # the schema's version after them


def migrate_store(cmd: MigrateStore, raised: Raised, *, deps: Dependencies) -> SchemaState:
    migrations = deps.migrations()
    applied = migrations.initialise()
    return SchemaState(applied=tuple(applied), version=migrations.schema_version())


def register(bus: MessageBus, deps: Dependencies) -> None:
    """Register every handler of this area on `bus`, with `deps` bound."""
    bus.register(MigrateStore, partial(migrate_store, deps=deps))
