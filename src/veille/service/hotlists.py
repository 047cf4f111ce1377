"""Hotlist use cases: lists and entries, atomic full imports, and the live matcher."""

from __future__ import annotations

import csv
import io
import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import orjson

from veille.domain.audit import Actor, AuditEntry
from veille.domain.hotlists import (
    KIND_RANK,
    EntryInvalid,
    Hit,
    Hotlist,
    HotlistEntry,
    diff_lists,
    entry_from_record,
    entry_writes,
)
from veille.domain.matcher import HotlistIndex, IndexBuildError
from veille.domain.plates import DEFAULT_LOOKALIKES, LookalikeTable
from veille.domain.times import iso_or_none
from veille.service.errors import Conflict, Forbidden, Invalid, NotFound
from veille.service.ports import UnitOfWork

log = logging.getLogger(__name__)

ENTRY_COLUMNS = (
    "plate",
    "country",
    "priority",
    "valid_from",
    "valid_until",
    "source_ref",
    "instructions",
    "covert",
    "entry_id",
)


class HotlistError(Invalid, ValueError):
    """A hotlist change the rules refuse (a wildcard too many, another owner); the
    message says why."""

    code = "invalid_change"


class ImportFileInvalid(HotlistError):
    """An import file that cannot be read as entries (its header, its JSON shape)."""

    code = "bad_import_file"


class HotlistNotFound(NotFound, LookupError):
    """No such list, or none the caller's organisation owns; or no such entry in it."""


@dataclass(frozen=True)
class HotlistSummary:
    """A list and how many entries it holds."""

    hotlist: Hotlist
    entries: int


@dataclass(frozen=True)
class SavedHotlist:
    hotlist: Hotlist
    created: bool  # False: an existing list's definition was changed


@dataclass
class ImportReport:
    list_id: str
    added: int = 0
    changed: int = 0
    removed: int = 0
    unchanged: int = 0
    problems: list[dict[str, str]] = field(default_factory=list)

    @property
    def applied(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {
            "list_id": self.list_id,
            "applied": self.applied,
            "added": self.added,
            "changed": self.changed,
            "removed": self.removed,
            "unchanged": self.unchanged,
            "problems": self.problems,
        }


def decode_entries(text: str, fmt: str) -> list[tuple[str, dict[str, Any]]]:
    """Entries of an import file, each with where it is: CSV (header first) or JSON."""
    if fmt == "csv":
        reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
        header = set(reader.fieldnames or ())
        if "plate" not in header:
            raise ImportFileInvalid("line 1: the CSV header needs a plate column")
        unknown = header - set(ENTRY_COLUMNS)
        if unknown:
            raise ImportFileInvalid(f"line 1: unknown column(s): {', '.join(sorted(unknown))}")
        out, start = [], reader.line_num + 1
        for row in reader:
            where, start = f"line {start}", reader.line_num + 1
            if None in row:
                raise ImportFileInvalid(f"{where}: more cells than columns")
            if any((v or "").strip() for v in row.values()):
                out.append((where, {k: (v or "").strip() for k, v in row.items()}))
        return out
    if fmt == "json":
        try:
            doc = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise ImportFileInvalid(f"not valid JSON: {exc}") from None
        items = doc.get("entries") if isinstance(doc, dict) else doc
        if not isinstance(items, list):
            raise ImportFileInvalid('JSON must be a list of entries or {"entries": [...]}')
        out = []
        for i, item in enumerate(items, start=1):
            if not isinstance(item, dict):
                raise ImportFileInvalid(f"entry {i}: must be an object")
            out.append((f"entry {i}", item))
        return out
    raise ImportFileInvalid("format must be csv or json")


def _changed(
    uow: UnitOfWork,
    *,
    list_id: str,
    now: datetime,
    actor: Actor,
    action: str,
    params: dict[str, Any],
) -> None:
    """Record a hotlist change: bump the change counter every process watches, and audit
    it, in the transaction of the change."""
    uow.hotlists.note_change(list_id, now)
    uow.audit.append(AuditEntry(at=now, actor=actor, action=action, target=list_id, params=params))


def _own_list(uow: UnitOfWork, list_id: str, org_id: str | None) -> Hotlist:
    """The list `list_id`, if the caller's organisation owns it (any list when `org_id` is
    None: the command line manages every list); else `HotlistNotFound`, the same answer
    whether the list is missing or another organisation's."""
    hotlist = uow.hotlists.get_list(list_id)
    if hotlist is None or (org_id is not None and hotlist.owner_org != org_id):
        mine = "" if org_id is None else " of your organisation"
        raise HotlistNotFound(f"no hotlist {list_id}{mine}")
    return hotlist


def lists_of(*, uow: UnitOfWork, org_id: str | None) -> list[HotlistSummary]:
    """The lists an organisation owns (every list when `org_id` is None), in id order."""
    with uow:
        return [
            HotlistSummary(h, uow.hotlists.count_entries(h.list_id))
            for h in uow.hotlists.lists()
            if org_id is None or h.owner_org == org_id
        ]


def entries_page(
    *,
    uow: UnitOfWork,
    list_id: str,
    org_id: str | None,
    after: str | None = None,
    limit: int | None = None,
) -> list[HotlistEntry]:
    """A list's entries in id order from just after entry `after`, at most `limit`."""
    with uow:
        _own_list(uow, list_id, org_id)
        return uow.hotlists.page(list_id, after=after, limit=limit)


def save_list(
    *,
    uow: UnitOfWork,
    hotlist: Hotlist,
    now: datetime,
    actor: Actor,
    org_id: str | None = None,
) -> SavedHotlist:
    """Create or change a list's definition (category, owner, matching tolerance). A
    caller of one organisation (`org_id`) cannot see, so cannot change, another's list."""
    if org_id is not None and hotlist.owner_org != org_id:
        raise Forbidden("a list is saved for the organisation that saves it")
    with uow:
        existing = uow.hotlists.get_list(hotlist.list_id)
        if existing is not None:
            _own_list(uow, hotlist.list_id, org_id)
            if existing.owner_org != hotlist.owner_org:
                raise HotlistError("a list keeps its owning organisation")
        wildcards = sum(1 for e in uow.hotlists.entries(hotlist.list_id) if e.is_wildcard)
        if wildcards > hotlist.max_wildcards:
            raise HotlistError(f"the list already holds {wildcards} wildcard entries")
        uow.hotlists.save_list(hotlist, now)
        _changed(
            uow,
            list_id=hotlist.list_id,
            now=now,
            actor=actor,
            action="hotlist.save",
            params={
                "category": hotlist.category.value,
                "owner_org": hotlist.owner_org,
                "max_edits": hotlist.max_edits,
                "lookalike": hotlist.lookalike,
                "created": existing is None,
            },
        )
        uow.commit()
    return SavedHotlist(hotlist, created=existing is None)


def delete_list(
    *, uow: UnitOfWork, list_id: str, now: datetime, actor: Actor, org_id: str | None = None
) -> None:
    with uow:
        _own_list(uow, list_id, org_id)
        removed = uow.hotlists.count_entries(list_id)
        uow.hotlists.delete_list(list_id)
        _changed(
            uow,
            list_id=list_id,
            now=now,
            actor=actor,
            action="hotlist.delete",
            params={"entries_removed": removed},
        )
        uow.commit()


def put_entry(
    *,
    uow: UnitOfWork,
    list_id: str,
    record: Mapping[str, Any],
    now: datetime,
    actor: Actor,
    org_id: str | None = None,
) -> HotlistEntry:
    """Create or edit one entry (same entry_id, or same plate and country, replaces it).
    A refused field is `EntryInvalid` (`invalid_entry`); a wildcard too many, a
    `HotlistError` (`invalid_change`)."""
    with uow:
        hotlist = _own_list(uow, list_id, org_id)
        entry = entry_from_record(record, hotlist=hotlist, where="entry")
        existing = uow.hotlists.get_entry(list_id, entry.entry_id)
        if entry.is_wildcard and (existing is None or not existing.is_wildcard):
            wildcards = sum(1 for e in uow.hotlists.entries(list_id) if e.is_wildcard)
            if wildcards >= hotlist.max_wildcards:
                raise HotlistError(
                    f"list {list_id} allows {hotlist.max_wildcards} wildcard entries"
                )
        uow.hotlists.put_entries([entry], now)
        _changed(
            uow,
            list_id=list_id,
            now=now,
            actor=actor,
            action="hotlist.entry_put",
            params={"entry_id": entry.entry_id, "plate": entry.plate, "created": existing is None},
        )
        uow.commit()
    return entry


def _own_entry(uow: UnitOfWork, list_id: str, entry_id: str, org_id: str | None) -> HotlistEntry:
    _own_list(uow, list_id, org_id)
    entry = uow.hotlists.get_entry(list_id, entry_id)
    if entry is None:
        raise HotlistNotFound(f"no entry {entry_id} in {list_id}")
    return entry


def expire_entry(
    *,
    uow: UnitOfWork,
    list_id: str,
    entry_id: str,
    now: datetime,
    actor: Actor,
    org_id: str | None = None,
) -> HotlistEntry:
    """End an entry's validity now: it no longer hits, and stays on record."""
    with uow:
        entry = replace(_own_entry(uow, list_id, entry_id, org_id), valid_until=now)
        uow.hotlists.put_entries([entry], now)
        _changed(
            uow,
            list_id=list_id,
            now=now,
            actor=actor,
            action="hotlist.entry_expire",
            params={"entry_id": entry_id},
        )
        uow.commit()
    return entry


def delete_entry(
    *,
    uow: UnitOfWork,
    list_id: str,
    entry_id: str,
    now: datetime,
    actor: Actor,
    org_id: str | None = None,
) -> None:
    with uow:
        _own_entry(uow, list_id, entry_id, org_id)
        uow.hotlists.delete_entry(list_id, entry_id)
        _changed(
            uow,
            list_id=list_id,
            now=now,
            actor=actor,
            action="hotlist.entry_delete",
            params={"entry_id": entry_id},
        )
        uow.commit()


# How often an import compares again when the list changed under it before giving up.
IMPORT_ATTEMPTS = 3


def import_list(
    *,
    uow: UnitOfWork,
    snapshot: Callable[[], UnitOfWork],
    list_id: str,
    records: Sequence[tuple[str, Mapping[str, Any]]],
    now: datetime,
    actor: Actor,
    org_id: str | None = None,
) -> ImportReport:
    """Replace a whole list and report what was added, changed and removed.

    Every record is validated first; a bad line is reported with where it is and nothing
    of the import is applied. National lists are refreshed in full this way: a million
    entries, a few per cent of them changed each day. So the work is done outside the
    write transaction: records are validated, and compared with the list as a
    `snapshot` holds it. Only then is the difference written, in one write transaction
    that holds the store's writer (ingest's too) for the changed rows alone. If the list
    changed between the snapshot and the write, it is compared again (then `Conflict`).
    """
    report = ImportReport(list_id)
    validated: tuple[Hotlist, list[HotlistEntry]] | None = None
    for _ in range(IMPORT_ATTEMPTS):
        with snapshot() as seen:
            hotlist = _own_list(seen, list_id, org_id)
            seen_change = seen.hotlists.latest_change(list_id)
            stored = seen.hotlists.entries(list_id)
        if validated is None or validated[0] != hotlist:
            report.problems = []
            validated = (hotlist, _validated_entries(records, hotlist, report))
            if report.problems:
                return report
        entries = validated[1]
        diff = diff_lists(stored, entries)
        writes = entry_writes(stored, entries)
        with uow:
            if (
                uow.hotlists.latest_change(list_id) != seen_change
                or uow.hotlists.get_list(list_id) != hotlist
            ):
                continue  # changed meanwhile: compare again with what is stored now
            report.added, report.changed, report.removed = (
                len(diff.added),
                len(diff.changed),
                len(diff.removed),
            )
            report.unchanged = len(entries) - report.added - report.changed
            uow.hotlists.delete_entries(list_id, writes.delete)
            uow.hotlists.put_entries(writes.put, now)
            _changed(
                uow,
                list_id=list_id,
                now=now,
                actor=actor,
                action="hotlist.import",
                params={k: v for k, v in report.as_dict().items() if k != "problems"},
            )
            uow.commit()
            return report
    raise Conflict(
        f"hotlist {list_id} changed {IMPORT_ATTEMPTS} times during the import; import again",
        code="hotlist_changed",
    )


def _validated_entries(
    records: Sequence[tuple[str, Mapping[str, Any]]], hotlist: Hotlist, report: ImportReport
) -> list[HotlistEntry]:
    """The import's entries, each problem (bad line, repeated entry, too many wildcards)
    added to `report` with where it is."""
    entries: list[HotlistEntry] = []
    keys: dict[str, str] = {}  # entry ids, and (plate, country) keys, seen where
    plates: dict[tuple[str, ...], str] = {}
    for where, record in records:
        try:
            entry = entry_from_record(record, hotlist=hotlist, where=where)
        except EntryInvalid as exc:
            report.problems.append({"where": where, "field": exc.field, "reason": exc.reason})
            continue
        # one entry per plate and country, whatever ids the file gives them
        first = keys.get(entry.entry_id) or plates.get(entry.key)
        if first is not None:
            report.problems.append(
                {"where": where, "field": "plate", "reason": f"same entry as {first}"}
            )
            continue
        keys[entry.entry_id] = where
        plates[entry.key] = where
        entries.append(entry)
    wildcards = sum(1 for e in entries if e.is_wildcard)
    if wildcards > hotlist.max_wildcards:
        report.problems.append(
            {
                "where": "file",
                "field": "plate",
                "reason": f"{wildcards} wildcard entries; the list allows {hotlist.max_wildcards}",
            }
        )
    return entries


# A list this large gets an index of its own (national lists, refreshed in full); all
# smaller lists share one index, so a read is matched against few indexes (each index
# costs its own deletion variants and lookups: one index per list measured 29 µs per read
# against 10 µs for one shared index) and a change to a small list rebuilds in ~0.1 s.
LARGE_LIST_ENTRIES = 50_000
SMALL_LISTS = "(small lists)"


class HotlistMatcher:
    """Indexes swapped whole: each large list in its own, every other list in a shared
    one. A change rebuilds only the index holding the changed list, off to the side, and
    matching never waits. `refresh` picks up changes made by any process (the store's
    change counter)."""

    def __init__(
        self,
        lookalikes: LookalikeTable = DEFAULT_LOOKALIKES,
        large_list_entries: int = LARGE_LIST_ENTRIES,
    ):
        self.lookalikes = lookalikes
        self.large_list_entries = large_list_entries
        self._indexes: dict[str, HotlistIndex] = {}
        self._small: frozenset[str] = frozenset()
        self._seen_change = -1
        self._lock = threading.Lock()  # one refresh at a time; matching takes no lock

    @property
    def lists(self) -> list[Hotlist]:
        return [hl for index in self._indexes.values() for hl in index.lists]

    def entry_count(self) -> int:
        return sum(len(index) for index in self._indexes.values())

    def layout(self) -> dict[str, int]:
        """Entries per index: a large list's id, or `SMALL_LISTS` for the shared index."""
        return {key: len(index) for key, index in self._indexes.items()}

    def match(
        self, *, plate: str, plate_canonical: str, country: str | None, now: datetime
    ) -> list[Hit]:
        indexes = self._indexes  # read once: one consistent set of lists per read
        hits: list[Hit] = []
        for index in indexes.values():
            hits.extend(
                index.match(plate=plate, plate_canonical=plate_canonical, country=country, now=now)
            )
        if len(hits) > 1:
            hits.sort(key=lambda h: (h.entry.priority, KIND_RANK[h.kind]))
        return hits

    def refresh(self, uow_factory: Callable[[], UnitOfWork]) -> set[str]:
        """Rebuild the indexes holding lists changed since the last refresh; return the
        ids of the changed lists."""
        with self._lock:
            with uow_factory() as uow:
                if self._seen_change < 0:
                    latest = uow.hotlists.latest_change()
                    changed = {hl.list_id for hl in uow.hotlists.lists()} | {SMALL_LISTS}
                else:
                    since = uow.hotlists.changes_since(self._seen_change)
                    latest, changed = since.latest, set(since.lists)
                if not changed:
                    return set()
                lists = {hl.list_id: hl for hl in uow.hotlists.lists()}
                large = {
                    list_id
                    for list_id in lists
                    if uow.hotlists.count_entries(list_id) >= self.large_list_entries
                }
                small = frozenset(lists) - large
                fresh = {k: v for k, v in self._indexes.items() if k in large and k not in changed}
                for list_id in large - fresh.keys():
                    self._build(fresh, list_id, [lists[list_id]], uow.hotlists.entries(list_id))
                if small != self._small or changed & (small | {SMALL_LISTS}):
                    self._build(
                        fresh,
                        SMALL_LISTS,
                        [lists[i] for i in sorted(small)],
                        (e for i in sorted(small) for e in uow.hotlists.entries(i)),
                    )
                elif SMALL_LISTS in self._indexes:
                    fresh[SMALL_LISTS] = self._indexes[SMALL_LISTS]
            self._indexes = fresh
            self._small = small
            self._seen_change = latest
            return changed - {SMALL_LISTS}

    def _build(
        self,
        into: dict[str, HotlistIndex],
        key: str,
        lists: list[Hotlist],
        entries: Iterable[HotlistEntry],
    ) -> None:
        try:
            into[key] = HotlistIndex.build(lists, entries, lookalikes=self.lookalikes)
        except IndexBuildError:
            log.exception("hotlists %s could not be indexed; keeping the previous index", key)
            if key in self._indexes:
                into[key] = self._indexes[key]


class MatcherWatcher:
    """Polls the store's hotlist changes so that every process sees a change within
    `interval` seconds (the scale-out deployment adds a NATS notification)."""

    def __init__(
        self, matcher: HotlistMatcher, uow_factory: Callable[[], UnitOfWork], interval: float = 0.5
    ):
        self.matcher = matcher
        self.uow_factory = uow_factory
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.matcher.refresh(self.uow_factory)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="veille-hotlists", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.matcher.refresh(self.uow_factory)
            except Exception:  # keep watching: a failed refresh keeps the current lists
                log.exception("hotlist refresh failed")


def entries_json(entries: Iterable[HotlistEntry]) -> list[dict[str, Any]]:
    return [entry_json(e) for e in entries]


def entry_json(e: HotlistEntry) -> dict[str, Any]:
    return {
        "entry_id": e.entry_id,
        "list_id": e.list_id,
        "plate": e.plate,
        "country": e.country,
        "priority": e.priority,
        "valid_from": iso_or_none(e.valid_from),
        "valid_until": iso_or_none(e.valid_until),
        "source_ref": e.source_ref,
        "instructions": e.instructions,
        "covert": e.covert,
    }


def list_json(h: Hotlist) -> dict[str, Any]:
    return {
        "list_id": h.list_id,
        "name": h.name,
        "category": h.category.value,
        "owner_org": h.owner_org,
        "max_edits": h.max_edits,
        "lookalike": h.lookalike,
        "max_wildcards": h.max_wildcards,
        "default_priority": h.default_priority,
    }
