"""Handlers of the hotlists area's commands and queries (`service/commands/hotlists.py`).

Refusals, each of one kind of the taxonomy: a list missing or of another organisation,
or an entry missing, is `HotlistNotFound` (404 `not_found`); a refused entry field is
`EntryInvalid` (422 `invalid_entry`, naming the field); a refused change of a list
(its definition, a wildcard too many) is `HotlistError` (422 `invalid_change`); an
import file that cannot be read is `ImportFileInvalid` (422 `bad_import_file`). An
import with bad lines is not refused here: its report says what to fix.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

from veille.domain.hotlists import Category, Hotlist, HotlistEntry
from veille.service import hotlists as hotlist_service
from veille.service.commands.hotlists import (
    DeleteHotlist,
    DeleteHotlistEntry,
    ExpireHotlistEntry,
    HotlistEntriesPage,
    HotlistsOfOrg,
    ImportHotlist,
    PutHotlistEntry,
    SaveHotlist,
)
from veille.service.handlers.deps import Dependencies
from veille.service.hotlists import HotlistError, HotlistSummary, ImportReport, SavedHotlist
from veille.service.messagebus import MessageBus, Raised
from veille.service.ports import UnitOfWork

UowFactory = Callable[[], UnitOfWork]
Clock = Callable[[], datetime]
T = TypeVar("T")
# the commands that change a list, each for a caller (`actor`, of organisation `org_id`)
Changing = (
    SaveHotlist
    | DeleteHotlist
    | PutHotlistEntry
    | ExpireHotlistEntry
    | DeleteHotlistEntry
    | ImportHotlist
)


def hotlists_of_org(
    query: HotlistsOfOrg, raised: Raised, *, read_uow: UowFactory
) -> list[HotlistSummary]:
    return hotlist_service.lists_of(uow=read_uow(), org_id=query.org_id)


def hotlist_entries_page(
    query: HotlistEntriesPage, raised: Raised, *, read_uow: UowFactory
) -> list[HotlistEntry]:
    return hotlist_service.entries_page(
        uow=read_uow(),
        list_id=query.list_id,
        org_id=query.org_id,
        after=query.after,
        limit=query.limit,
    )


def save_hotlist(
    cmd: SaveHotlist, raised: Raised, *, uow: UowFactory, clock: Clock
) -> SavedHotlist:
    try:
        hotlist = Hotlist(
            list_id=cmd.list_id,
            name=cmd.name,
            category=Category(cmd.category),
            owner_org=cmd.owner_org,
            max_edits=cmd.max_edits,
            lookalike=cmd.lookalike,
            max_wildcards=cmd.max_wildcards,
            default_priority=cmd.default_priority,
        )
    except ValueError as refused:  # the domain's rules of a list definition
        raise HotlistError(str(refused)) from None
    return _change(hotlist_service.save_list, cmd, uow=uow, clock=clock, hotlist=hotlist)


def _change(
    service: Callable[..., T], cmd: Changing, *, uow: UowFactory, clock: Clock, **fields: Any
) -> T:
    """Run one hotlist change of the service, in its own unit of work, for the caller."""
    return service(uow=uow(), now=clock(), actor=cmd.actor, org_id=cmd.org_id, **fields)


def delete_hotlist(cmd: DeleteHotlist, raised: Raised, *, uow: UowFactory, clock: Clock) -> None:
    _change(hotlist_service.delete_list, cmd, uow=uow, clock=clock, list_id=cmd.list_id)


def put_hotlist_entry(
    cmd: PutHotlistEntry, raised: Raised, *, uow: UowFactory, clock: Clock
) -> HotlistEntry:
    return _change(
        hotlist_service.put_entry, cmd, uow=uow, clock=clock, list_id=cmd.list_id, record=cmd.record
    )


def expire_hotlist_entry(
    cmd: ExpireHotlistEntry, raised: Raised, *, uow: UowFactory, clock: Clock
) -> HotlistEntry:
    return _change(
        hotlist_service.expire_entry,
        cmd,
        uow=uow,
        clock=clock,
        list_id=cmd.list_id,
        entry_id=cmd.entry_id,
    )


def delete_hotlist_entry(
    cmd: DeleteHotlistEntry, raised: Raised, *, uow: UowFactory, clock: Clock
) -> None:
    _change(
        hotlist_service.delete_entry,
        cmd,
        uow=uow,
        clock=clock,
        list_id=cmd.list_id,
        entry_id=cmd.entry_id,
    )


def import_hotlist(
    cmd: ImportHotlist, raised: Raised, *, uow: UowFactory, read_uow: UowFactory, clock: Clock
) -> ImportReport:
    """Validated and compared outside the write transaction; only the difference is
    written (`hotlist_service.import_list`)."""
    records = hotlist_service.decode_entries(cmd.text, cmd.fmt)
    return _change(
        hotlist_service.import_list,
        cmd,
        uow=uow,
        clock=clock,
        snapshot=read_uow,
        list_id=cmd.list_id,
        records=records,
    )


def register(bus: MessageBus, deps: Dependencies) -> None:
    """Register every handler of this area on `bus`, with `deps` bound."""
    bus.register(HotlistsOfOrg, partial(hotlists_of_org, read_uow=deps.read_uow))
    bus.register(HotlistEntriesPage, partial(hotlist_entries_page, read_uow=deps.read_uow))
    for command, handler in (
        (SaveHotlist, save_hotlist),
        (DeleteHotlist, delete_hotlist),
        (PutHotlistEntry, put_hotlist_entry),
        (ExpireHotlistEntry, expire_hotlist_entry),
        (DeleteHotlistEntry, delete_hotlist_entry),
    ):
        bus.register(command, partial(handler, uow=deps.uow, clock=deps.clock))
    bus.register(
        ImportHotlist,
        partial(import_hotlist, uow=deps.uow, read_uow=deps.read_uow, clock=deps.clock),
    )
