"""Handlers of investigation's commands and queries (`service/commands/investigation.py`)."""

from __future__ import annotations

from veille.service.handlers.deps import Dependencies
from veille.service.messagebus import MessageBus


def register(bus: MessageBus, deps: Dependencies) -> None:
    """Register every handler of this area on `bus`, with `deps` bound."""
