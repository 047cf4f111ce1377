"""Hotlists and their entries: categories, entry validation, hits and the import diff."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from veille.domain.errors import Invalid, Problem
from veille.domain.plates import PlateRejected, fold, normalise

MAX_PLATE_CHARS = 12  # reads with longer normalised plates are refused, so entries are too
MAX_PATTERN_CHARS = 16  # a wildcard pattern, `?` and `*` included
MIN_WILDCARD_FIXED = 3  # fewer fixed characters would hit a large share of all traffic
MAX_SOURCE_REF = 200
MAX_INSTRUCTIONS = 2000
PRIORITY_HIGHEST, PRIORITY_LOWEST = 1, 5
_COUNTRY = re.compile(r"[A-Za-z]{2}")
_TRUE = frozenset({"1", "true", "yes", "y", "oui", "ja"})
_FALSE = frozenset({"", "0", "false", "no", "n", "non", "nee"})


class Category(StrEnum):
    STOLEN_VEHICLE = "stolen_vehicle"
    STOLEN_PLATE = "stolen_plate"
    WANTED_PERSON = "wanted_person"
    MISSING_PERSON = "missing_person"
    SCHENGEN_ALERT = "schengen_alert"
    UNINSURED = "uninsured"
    NO_ROADWORTHINESS_TEST = "no_roadworthiness_test"
    TRAFFIC_BAN = "traffic_ban"
    INVESTIGATION = "investigation"


class MatchKind(StrEnum):
    """How a read matched an entry, best first."""

    EXACT = "exact"
    LOOKALIKE = "lookalike"
    EDIT_DISTANCE = "edit_distance"
    WILDCARD = "wildcard"


KIND_RANK: dict[MatchKind, int] = {kind: rank for rank, kind in enumerate(MatchKind)}


@dataclass(frozen=True, slots=True)
class Hotlist:
    """A list of wanted plates and how loosely reads may match it."""

    list_id: str
    name: str
    category: Category
    owner_org: str
    max_edits: int = 0  # 0, 1 or 2 differences (on canonical forms when lookalike is on)
    lookalike: bool = True  # compare look-alike canonical forms (0/O/D/Q, 1/I/L/T/7 …)
    max_wildcards: int = 10  # wildcard entries allowed in this list
    default_priority: int = 3  # for entries imported without a priority

    def __post_init__(self) -> None:
        if not self.list_id:
            raise ValueError("a hotlist needs a list_id")
        object.__setattr__(self, "category", Category(self.category))
        if self.max_edits not in (0, 1, 2):
            raise ValueError(f"max_edits must be 0, 1 or 2, got {self.max_edits}")
        if self.max_wildcards < 0:
            raise ValueError("max_wildcards cannot be negative")
        if not PRIORITY_HIGHEST <= self.default_priority <= PRIORITY_LOWEST:
            raise ValueError(f"default_priority must be {PRIORITY_HIGHEST}–{PRIORITY_LOWEST}")


@dataclass(frozen=True, slots=True)
class HotlistEntry:
    """One wanted plate (or `?`/`*` pattern) of one list, valid in [valid_from, valid_until)."""

    entry_id: str
    list_id: str
    plate: str  # normalised; for a wildcard entry the pattern, keeping `?` and `*`
    country: str | None = None
    priority: int = 3  # 1 = highest
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    source_ref: str = ""
    instructions: str = ""
    covert: bool = False  # visible to the owning organisation only

    @property
    def is_wildcard(self) -> bool:
        return "?" in self.plate or "*" in self.plate

    @property
    def key(self) -> EntryKey:
        return entry_key(self.list_id, self.plate, self.country)

    def active_at(self, now: datetime) -> bool:
        return (self.valid_from is None or self.valid_from <= now) and (
            self.valid_until is None or now < self.valid_until
        )


EntryKey = tuple[str, str, str]


def entry_key(list_id: str, plate: str, country: str | None) -> EntryKey:
    """The stable identity of an entry across imports: list, plate and country."""
    return (list_id, plate, country or "")


@dataclass(frozen=True, slots=True)
class Hit:
    """A read that matched one entry. `distance`: 0 for exact and wildcard hits, the number
    of look-alike characters for a look-alike hit, the edit distance for an edit-distance hit
    (on canonical forms when the list compares look-alikes)."""

    entry: HotlistEntry
    list: Hotlist
    kind: MatchKind
    distance: int = 0

    @property
    def covert(self) -> bool:
        return self.entry.covert

    @property
    def owner_org(self) -> str:
        return self.list.owner_org


def recipients_allowed(hit: Hit, org_id: str) -> bool:
    """May members of `org_id` be told of this hit? A covert entry: its owners only."""
    return not hit.entry.covert or org_id == hit.list.owner_org


class EntryInvalid(Invalid, ValueError):
    """One field of one imported entry was refused; `where` locates it (e.g. "line 12").

    Its code is `invalid_entry` and its answer names the `field` (as clients read them)."""

    code = "invalid_entry"

    def __init__(self, field: str, reason: str, where: str = "") -> None:
        super().__init__(
            f"{where + ': ' if where else ''}{field}: {reason}", problems=[Problem(field, reason)]
        )
        self.extra = {"field": field}
        self.field = field
        self.reason = reason
        self.where = where


def normalise_pattern(raw: str) -> str:
    """Plate characters, `?` and `*` (runs of `*` collapsed to one), folded as plates are
    (raises PlateRejected for a letter that cannot be on a plate)."""
    return re.sub(r"\*+", "*", fold(raw, keep="?*"))


def _text(record: Mapping[str, Any], name: str, limit: int, where: str) -> str:
    value = record.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise EntryInvalid(name, f"must be text, got {type(value).__name__}", where)
    value = value.strip()
    if len(value) > limit:
        raise EntryInvalid(name, f"longer than {limit} characters", where)
    return value


def _plate(record: Mapping[str, Any], where: str) -> str:
    raw = record.get("plate")
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        raise EntryInvalid("plate", "is required", where)
    if not isinstance(raw, str):
        raise EntryInvalid("plate", f"must be text, got {type(raw).__name__}", where)
    try:
        return _plate_or_pattern(raw, where)
    except PlateRejected as refused:
        raise EntryInvalid("plate", refused.reason, where) from None


def _plate_or_pattern(raw: str, where: str) -> str:
    if "?" not in raw and "*" not in raw:
        plate = normalise(raw)
        if not plate:
            raise EntryInvalid("plate", "has no letters or digits", where)
        if len(plate) > MAX_PLATE_CHARS:
            raise EntryInvalid("plate", f"more than {MAX_PLATE_CHARS} letters and digits", where)
        return plate
    pattern = normalise_pattern(raw)
    fixed = sum(ch not in "?*" for ch in pattern)
    if fixed < MIN_WILDCARD_FIXED:
        raise EntryInvalid(
            "plate",
            f"a wildcard pattern needs at least {MIN_WILDCARD_FIXED} fixed characters",
            where,
        )
    if len(pattern) > MAX_PATTERN_CHARS:
        raise EntryInvalid("plate", f"a pattern is at most {MAX_PATTERN_CHARS} characters", where)
    if len(pattern.replace("*", "")) > MAX_PLATE_CHARS:
        raise EntryInvalid("plate", f"pattern longer than any plate ({MAX_PLATE_CHARS})", where)
    return pattern


def _country(record: Mapping[str, Any], where: str) -> str | None:
    value = record.get("country")
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str) or not _COUNTRY.fullmatch(value.strip()):
        raise EntryInvalid("country", "must be a two-letter country code or empty", where)
    return value.strip().upper()


def _priority(record: Mapping[str, Any], default: int, where: str) -> int:
    value = record.get("priority")
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        raise EntryInvalid("priority", "must be a whole number", where)
    if not PRIORITY_HIGHEST <= value <= PRIORITY_LOWEST:
        raise EntryInvalid(
            "priority", f"must be from {PRIORITY_HIGHEST} (highest) to {PRIORITY_LOWEST}", where
        )
    return value


def _moment(record: Mapping[str, Any], name: str, where: str) -> datetime | None:
    value = record.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str):
        text = value.strip()
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            raise EntryInvalid(name, f"not an ISO 8601 date-time: {text[:40]!r}", where) from None
    if not isinstance(value, datetime):
        raise EntryInvalid(name, "must be an ISO 8601 date-time", where)
    if value.tzinfo is None:
        raise EntryInvalid(name, "has no time zone: add Z or an offset such as +01:00", where)
    return value


def _flag(record: Mapping[str, Any], name: str, where: str) -> bool:
    value = record.get(name)
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise EntryInvalid(name, "must be true or false", where)


def entry_from_record(
    record: Mapping[str, Any], *, hotlist: Hotlist, where: str = ""
) -> HotlistEntry:
    """Validate one imported record (CSV row or JSON object) into an entry of `hotlist`.

    Fields: plate (required; `?` one character, `*` any run), country, priority,
    valid_from, valid_until (ISO 8601 with a time zone), source_ref, instructions, covert,
    entry_id (default: the stable key). Raises EntryInvalid on the first bad field.
    """
    plate = _plate(record, where)
    country = _country(record, where)
    priority = _priority(record, hotlist.default_priority, where)
    valid_from = _moment(record, "valid_from", where)
    valid_until = _moment(record, "valid_until", where)
    if valid_from is not None and valid_until is not None and valid_until <= valid_from:
        raise EntryInvalid("valid_until", "must be after valid_from", where)
    entry_id = _text(record, "entry_id", 200, where) or "|".join(
        entry_key(hotlist.list_id, plate, country)
    )
    return HotlistEntry(
        entry_id=entry_id,
        list_id=hotlist.list_id,
        plate=plate,
        country=country,
        priority=priority,
        valid_from=valid_from,
        valid_until=valid_until,
        source_ref=_text(record, "source_ref", MAX_SOURCE_REF, where),
        instructions=_text(record, "instructions", MAX_INSTRUCTIONS, where),
        covert=_flag(record, "covert", where),
    )


@dataclass(frozen=True, slots=True)
class ListDiff:
    """What replacing a list's entries did, by stable key (list, plate, country)."""

    added: tuple[HotlistEntry, ...]
    changed: tuple[tuple[HotlistEntry, HotlistEntry], ...]  # (old, new)
    removed: tuple[HotlistEntry, ...]
    unchanged: int = 0

    @property
    def empty(self) -> bool:
        return not (self.added or self.changed or self.removed)


def _content(entry: HotlistEntry) -> tuple[Any, ...]:
    # entry_id is storage identity, not content: a re-import may assign new ids
    return (
        entry.priority,
        entry.valid_from,
        entry.valid_until,
        entry.source_ref,
        entry.instructions,
        entry.covert,
    )


def _by_key(entries: Iterable[HotlistEntry], side: str) -> dict[EntryKey, HotlistEntry]:
    keyed: dict[EntryKey, HotlistEntry] = {}
    for entry in entries:
        key = entry.key
        if key in keyed:
            raise ValueError(f"{side} entries repeat the key {'|'.join(key)}")
        keyed[key] = entry
    return keyed


@dataclass(frozen=True)
class EntryWrites:
    """The rows a full replacement must write so that a list's stored entries become
    exactly the imported ones: rows to delete (by entry id), then rows to put."""

    delete: tuple[str, ...]
    put: tuple[HotlistEntry, ...]


def entry_writes(stored: Iterable[HotlistEntry], imported: Iterable[HotlistEntry]) -> EntryWrites:
    """The least a replacement writes: a list refreshed in full every day (a million
    entries, a few per cent of them changed) writes the changed rows, not the list."""
    wanted = {entry.entry_id: entry for entry in imported}
    kept = {entry.entry_id: entry for entry in stored}
    return EntryWrites(
        delete=tuple(entry_id for entry_id in kept if entry_id not in wanted),
        put=tuple(entry for entry_id, entry in wanted.items() if kept.get(entry_id) != entry),
    )


def diff_lists(
    old_entries: Iterable[HotlistEntry], new_entries: Iterable[HotlistEntry]
) -> ListDiff:
    """Compare a list's entries before and after a full replacement (keys must be unique)."""
    old, new = _by_key(old_entries, "old"), _by_key(new_entries, "new")
    added = tuple(entry for key, entry in new.items() if key not in old)
    removed = tuple(entry for key, entry in old.items() if key not in new)
    changed: list[tuple[HotlistEntry, HotlistEntry]] = []
    unchanged = 0
    for key, entry in new.items():
        before = old.get(key)
        if before is None:
            continue
        if _content(before) != _content(entry):
            changed.append((before, entry))
        else:
            unchanged += 1
    return ListDiff(added=added, changed=tuple(changed), removed=removed, unchanged=unchanged)
