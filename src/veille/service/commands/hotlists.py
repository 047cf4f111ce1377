"""Commands and queries of the hotlists area (handlers: `service/handlers/hotlists.py`).

Each carries the caller's organisation, `org_id`: a list another organisation owns does
not exist for the caller (`NotFound`, as for a missing one). `None` is the command line,
which manages every list; it is never a default, so no caller gets that power by
forgetting to say who it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from veille.domain.audit import Actor
from veille.service.commands import Command, Query


@dataclass(frozen=True)
class HotlistsOfOrg(Query):
    """The lists `org_id` owns, each with its entry count (`HotlistSummary`), by id."""

    org_id: str | None


@dataclass(frozen=True)
class HotlistEntriesPage(Query):
    """A list's entries in id order, from just after entry `after`, at most `limit`."""

    list_id: str
    org_id: str | None
    after: str | None = None
    limit: int | None = None


@dataclass(frozen=True)
class SaveHotlist(Command):
    """Create a list, or change its definition; answers a `SavedHotlist`."""

    list_id: str
    name: str
    category: str  # a `Category` value
    owner_org: str
    actor: Actor
    org_id: str | None
    max_edits: int = 0
    lookalike: bool = True
    max_wildcards: int = 10
    default_priority: int = 3


@dataclass(frozen=True)
class DeleteHotlist(Command):
    """Delete a list and its entries."""

    list_id: str
    actor: Actor
    org_id: str | None


@dataclass(frozen=True)
class PutHotlistEntry(Command):
    """Add or edit one entry from its record (plate, country, priority, validity …)."""

    list_id: str
    record: Mapping[str, Any]
    actor: Actor
    org_id: str | None


@dataclass(frozen=True)
class ExpireHotlistEntry(Command):
    """End an entry's validity now; it stays on record."""

    list_id: str
    entry_id: str
    actor: Actor
    org_id: str | None


@dataclass(frozen=True)
class DeleteHotlistEntry(Command):
    """Delete one entry."""

    list_id: str
    entry_id: str
    actor: Actor
    org_id: str | None


@dataclass(frozen=True)
class ImportHotlist(Command):
    """Replace a list's entries with those of an import file (CSV, header first; or JSON),
    all or nothing; answers the `ImportReport`, which says what was refused if anything."""

    list_id: str
    text: str
    fmt: Literal["csv", "json"]
    actor: Actor
    org_id: str | None
