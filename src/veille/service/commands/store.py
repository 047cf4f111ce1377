"""Commands of the store itself: its schema (handlers: `service/handlers/store.py`)."""

from __future__ import annotations

from dataclasses import dataclass

from veille.service.commands import Command


@dataclass(frozen=True)
class MigrateStore(Command):
    """Apply the store's pending migrations; answers a `SchemaState`."""
