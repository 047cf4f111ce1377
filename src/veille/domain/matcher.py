"""The in-memory hotlist matcher: an immutable index, O(1) per read, swapped atomically."""

from __future__ import annotations

import re
from array import array
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from itertools import chain, combinations, count
from typing import Any

from veille.domain.hotlists import KIND_RANK, MAX_PLATE_CHARS, Hit, Hotlist, HotlistEntry, MatchKind
from veille.domain.plates import DEFAULT_LOOKALIKES, LookalikeTable, wildcard_regex
from veille.domain.times import from_micros, micros

_OPEN_START, _OPEN_END = -(2**63), 2**63 - 1  # "no valid_from" / "no valid_until"
_KINDS = tuple(MatchKind)  # index = rank
_EXACT, _LOOKALIKE, _EDIT, _WILDCARD = (KIND_RANK[k] for k in _KINDS)


class IndexBuildError(ValueError):
    """The lists and entries cannot form an index (unknown list, too many wildcards…)."""


class TooManyWildcards(IndexBuildError):
    """A list holds more wildcard entries than its `max_wildcards`."""


def deletion_levels(key: str, depth: int) -> list[list[str]]:
    """Level d (0..depth): every way of deleting d characters of `key`, in the order of
    `itertools.combinations` (so the position in a level names the deleted positions)."""
    return [
        list(map("".join, combinations(key, len(key) - d))) if d <= len(key) else []
        for d in range(depth + 1)
    ]


def pattern_bits(pattern: str) -> dict[str, int]:
    """For each character of `pattern`, the bit mask of its positions (for bit_distance)."""
    bits: dict[str, int] = {}
    for position, ch in enumerate(pattern):
        bits[ch] = bits.get(ch, 0) | (1 << position)
    return bits


def bit_distance(bits: dict[str, int], length: int, text: str) -> int:
    """Levenshtein distance between a pattern (as `pattern_bits`, `length` chars) and `text`.

    Myers' bit-parallel algorithm (Hyyrö's form): one column of the matrix per step, so a
    plate costs a few dozen integer operations instead of the full matrix in Python.
    """
    if length == 0:
        return len(text)
    full = (1 << length) - 1
    top = 1 << (length - 1)
    plus, minus, score = full, 0, length
    for ch in text:
        eq = bits.get(ch, 0)
        xv = eq | minus
        xh = (((eq & plus) + plus) ^ plus) | eq
        h_plus = minus | (~(xh | plus) & full)
        h_minus = plus & xh
        if h_plus & top:
            score += 1
        elif h_minus & top:
            score -= 1
        h_plus = ((h_plus << 1) | 1) & full
        h_minus = (h_minus << 1) & full
        plus = h_minus | (~(xv | h_plus) & full)
        minus = h_plus & xv
    return score


class _Postings:
    """Key → entry numbers. A key held by one entry maps to its number; a key shared by
    several maps to -(group + 1). Plain ints keep the big maps free of container values,
    so the garbage collector never has to walk them."""

    __slots__ = ("building", "groups")

    def __init__(self) -> None:
        self.building: list[list[int]] = []
        self.groups: tuple[tuple[int, ...], ...] = ()

    def add(self, mapping: dict[Any, int], key: Hashable, number: int) -> None:
        present = mapping.get(key)
        if present is None:
            mapping[key] = number
        elif present >= 0:
            self.building.append([present, number])
            mapping[key] = -len(self.building)
        else:
            self.building[-present - 1].append(number)

    def seal(self) -> None:
        self.groups = tuple(tuple(group) for group in self.building)
        self.building = []

    def numbers(self, posting: int) -> tuple[int, ...]:
        return (posting,) if posting >= 0 else self.groups[-posting - 1]


@dataclass
class _Edits:
    """Symmetric-delete index of the entries with an edit budget k (1 or 2) in one space.

    If lev(read, entry) <= k, a read variant with dq <= k deletions equals an entry variant
    with de <= k deletions; when dq = de = k the edits are k substitutions, so the deleted
    positions are the same on both sides. Hence three maps: `within` (entry variants with
    <= k deletions) for the read's variants with < k deletions; `shorter` (< k) and
    `aligned` (exactly k, keyed with the positions) for the read's variants with k. Looking
    up aligned pairs only at k deletions keeps false candidates rare; each is verified.
    """

    postings: _Postings
    within: dict[str, int] = field(default_factory=dict)
    shorter: dict[str, int] = field(default_factory=dict)
    aligned: dict[tuple[tuple[str, ...], int], int] = field(default_factory=dict)
    entries: dict[int, tuple[str, int]] = field(default_factory=dict)  # number → (key, k)
    max_k: int = 0
    # lengths of the variants in each map: a read variant of another length cannot be there
    within_lengths: set[int] = field(default_factory=set)
    shorter_lengths: set[int] = field(default_factory=set)
    aligned_lengths: set[int] = field(default_factory=set)

    def add(self, key: str, k: int, number: int) -> None:
        self.entries[number] = (key, k)
        self.max_k = max(self.max_k, k)
        levels = deletion_levels(key, k)
        for variant in set(chain.from_iterable(levels)):
            self.postings.add(self.within, variant, number)
            self.within_lengths.add(len(variant))
        for variant in set(chain.from_iterable(levels[:-1])):
            self.postings.add(self.shorter, variant, number)
            self.shorter_lengths.add(len(variant))
        if len(key) >= k:
            for pair in set(zip(combinations(key, len(key) - k), count())):
                self.postings.add(self.aligned, pair, number)
            self.aligned_lengths.add(len(key) - k)

    def candidates(self, key: str) -> set[int]:
        """Postings of the entries that may be within their budget of `key`.

        The read's variants with fewer than `max_k` deletions go to `within`; those with
        `max_k` to `shorter` and `aligned`. An entry with a smaller budget is still found:
        all its pairs are among the `within` lookups.
        """
        length, top = len(key), self.max_k
        found: set[Any] = set()  # postings, and None for the variants not indexed
        if length in self.within_lengths:
            found.add(self.within.get(key))
        for deleted in range(1, min(top, length + 1)):
            if length - deleted in self.within_lengths:
                variants = map("".join, combinations(key, length - deleted))
                found.update(map(self.within.get, variants))
        if length >= top:
            if length - top in self.shorter_lengths:
                variants = map("".join, combinations(key, length - top))
                found.update(map(self.shorter.get, variants))
            if length - top in self.aligned_lengths:
                pairs = zip(combinations(key, length - top), count())
                found.update(map(self.aligned.get, pairs))
        found.discard(None)
        return found


WildcardGroup = tuple[re.Pattern[str], tuple[tuple[re.Pattern[str], int], ...]]


@dataclass
class _Space:
    """Entries compared in one form: look-alike canonical (lookalike lists) or normalised."""

    postings: _Postings = field(default_factory=_Postings)
    exact: dict[str, int] = field(default_factory=dict)
    edits: _Edits = field(init=False)  # entries of lists with max_edits > 0
    patterns: list[tuple[str, int]] = field(default_factory=list)  # until sealed
    # read length → (one alternation as a cheap "any of them?" test, each pattern)
    wildcards: dict[int, WildcardGroup] = field(default_factory=dict)
    long_group: int = MAX_PLATE_CHARS + 1

    def __post_init__(self) -> None:
        self.edits = _Edits(self.postings)

    def seal(self) -> None:
        self.postings.seal()
        # a read is tested only against the patterns that fit its length; reads longer than
        # every pattern's fixed part share the last group (all the `*` patterns)
        longest = max((len(p.replace("*", "")) for p, _ in self.patterns), default=0)
        self.long_group = max(MAX_PLATE_CHARS, longest) + 1
        for length in range(1, self.long_group + 1):
            members = []
            for pattern, number in self.patterns:
                fixed = len(pattern.replace("*", ""))
                if fixed == length or ("*" in pattern and fixed <= length):
                    members.append((wildcard_regex(pattern), number))
            if members:
                anyof = re.compile("|".join(f"(?:{regex.pattern})" for regex, _ in members))
                self.wildcards[length] = (anyof, tuple(members))
        self.patterns = []

    @property
    def empty(self) -> bool:
        return not (self.exact or self.edits.entries or self.wildcards)


class _Texts:
    """Strings packed into one UTF-8 buffer with end offsets: ~1 byte per character instead
    of a ~50-byte object each, and nothing for the garbage collector to walk."""

    __slots__ = ("data", "ends")

    def __init__(self) -> None:
        self.data = bytearray()
        self.ends = array("Q")

    def append(self, text: str) -> None:
        self.data += text.encode()
        self.ends.append(len(self.data))

    def __getitem__(self, number: int) -> str:
        start = self.ends[number - 1] if number else 0
        return self.data[start : self.ends[number]].decode()

    def __len__(self) -> int:
        return len(self.ends)


class HotlistIndex:
    """Every entry of every list, indexed for matching one read in bounded time.

    Entry data is held column-wise (packed text, typed arrays) and turned back into a
    HotlistEntry only for a hit, so a million entries take about 250 MB.
    Immutable once built: replace it whole (MatcherHolder) when a list changes.
    """

    __slots__ = (
        "_country",
        "_country_codes",
        "_country_names",
        "_covert",
        "_entry_id",
        "_instruction_no",
        "_instruction_texts",
        "_instructions",
        "_list_no",
        "_lists",
        "_plate",
        "_priority",
        "_source_ref",
        "_spaces",
        "_valid_from",
        "_valid_until",
    )

    def __init__(self, lists: tuple[Hotlist, ...]) -> None:
        self._lists = lists
        self._entry_id = _Texts()
        self._plate = _Texts()
        self._source_ref = _Texts()
        self._instructions: dict[str, int] = {}  # each distinct text once → its number
        self._instruction_no = array("I")
        self._instruction_texts: tuple[str, ...] = ()
        self._list_no = array("H")
        self._country = array("H")
        self._priority = bytearray()
        self._covert = bytearray()
        self._valid_from = array("q")
        self._valid_until = array("q")
        self._country_codes: dict[str, int] = {}
        self._country_names: tuple[str | None, ...] = (None,)
        self._spaces: tuple[tuple[_Space, bool], ...] = ()

    @classmethod
    def build(
        cls,
        lists: Iterable[Hotlist],
        entries: Iterable[HotlistEntry],
        *,
        lookalikes: LookalikeTable = DEFAULT_LOOKALIKES,
    ) -> HotlistIndex:
        """Index `entries` (any iterable: stream them) of `lists`; raise IndexBuildError."""
        index = cls(tuple(lists))
        list_numbers = {hl.list_id: n for n, hl in enumerate(index._lists)}
        if len(list_numbers) != len(index._lists):
            raise IndexBuildError("two hotlists share a list_id")
        if len(index._lists) > 0xFFFF:
            raise IndexBuildError("more than 65535 hotlists")
        wildcards = [0] * len(index._lists)
        canon, plain = _Space(), _Space()
        for number, entry in enumerate(entries):
            list_no = list_numbers.get(entry.list_id)
            if list_no is None:
                raise IndexBuildError(f"entry {entry.entry_id}: unknown list {entry.list_id!r}")
            hotlist = index._lists[list_no]
            if entry.is_wildcard:
                wildcards[list_no] += 1
                if wildcards[list_no] > hotlist.max_wildcards:
                    raise TooManyWildcards(
                        f"list {hotlist.list_id!r} allows {hotlist.max_wildcards} wildcard"
                        f" entries; entry {entry.entry_id} ({entry.plate}) is one too many"
                    )
            index._append_fields(entry, list_no)
            if hotlist.lookalike:
                _place(canon, number, lookalikes.canonical(entry.plate), entry, hotlist)
            else:
                _place(plain, number, entry.plate, entry, hotlist)
        index._country_names = (None, *index._country_codes)
        index._instruction_texts = tuple(index._instructions)
        for space in (canon, plain):
            space.seal()
        index._spaces = tuple(
            (space, canonical)
            for space, canonical in ((canon, True), (plain, False))
            if not space.empty
        )
        return index

    def _append_fields(self, entry: HotlistEntry, list_no: int) -> None:
        self._entry_id.append(entry.entry_id)
        self._plate.append(entry.plate)
        self._source_ref.append(entry.source_ref)
        text = entry.instructions
        self._instruction_no.append(self._instructions.setdefault(text, len(self._instructions)))
        self._list_no.append(list_no)
        code = 0
        if entry.country:
            country = entry.country.upper()
            code = self._country_codes.setdefault(country, len(self._country_codes) + 1)
        self._country.append(code)
        self._priority.append(entry.priority)
        self._covert.append(entry.covert)
        start, end = entry.valid_from, entry.valid_until
        self._valid_from.append(_OPEN_START if start is None else micros(start))
        self._valid_until.append(_OPEN_END if end is None else micros(end))

    # ---- reading ---------------------------------------------------------------------

    @property
    def lists(self) -> tuple[Hotlist, ...]:
        return self._lists

    def __len__(self) -> int:
        return len(self._plate)

    def entry(self, number: int) -> HotlistEntry:
        """Entry number `number` (in build order), rebuilt from the columns."""
        start, end = self._valid_from[number], self._valid_until[number]
        return HotlistEntry(
            entry_id=self._entry_id[number],
            list_id=self._lists[self._list_no[number]].list_id,
            plate=self._plate[number],
            country=self._country_names[self._country[number]],
            priority=self._priority[number],
            valid_from=None if start == _OPEN_START else from_micros(start),
            valid_until=None if end == _OPEN_END else from_micros(end),
            source_ref=self._source_ref[number],
            instructions=self._instruction_texts[self._instruction_no[number]],
            covert=bool(self._covert[number]),
        )

    def match(
        self, *, plate: str, plate_canonical: str, country: str | None, now: datetime
    ) -> list[Hit]:
        """Every entry the read hits, best kind per entry, highest priority first."""
        found: dict[int, tuple[int, int]] = {}  # entry number → (kind rank, distance)
        for space, canonical in self._spaces:
            key = plate_canonical if canonical else plate
            posting = space.exact.get(key)
            if posting is not None:
                for number in space.postings.numbers(posting):
                    entry_plate = self._plate[number]
                    if entry_plate == plate:
                        found[number] = (_EXACT, 0)
                    else:
                        differ = sum(a != b for a, b in zip(entry_plate, plate, strict=False))
                        found[number] = (_LOOKALIKE, differ)
            if space.edits.max_k:
                _near(space, key, found)
            if space.wildcards:
                group = space.wildcards.get(min(len(key), space.long_group))
                if group is not None and group[0].fullmatch(key):
                    for regex, number in group[1]:
                        if number not in found and regex.fullmatch(key):
                            found[number] = (_WILDCARD, 0)
        if not found:
            return []
        return self._hits(found, country, micros(now))

    def _hits(self, found: dict[int, tuple[int, int]], country: str | None, now: int) -> list[Hit]:
        read_code = 0 if country is None else self._country_codes.get(country.upper(), -1)
        hits = []
        for number, (rank, distance) in found.items():
            code = self._country[number]
            if code and read_code and code != read_code:
                continue  # the entry names another country than the one read
            if not self._valid_from[number] <= now < self._valid_until[number]:
                continue
            hits.append(
                Hit(
                    entry=self.entry(number),
                    list=self._lists[self._list_no[number]],
                    kind=_KINDS[rank],
                    distance=distance,
                )
            )
        hits.sort(
            key=lambda h: (
                h.entry.priority,
                KIND_RANK[h.kind],
                h.distance,
                h.list.list_id,
                h.entry.entry_id,
            )
        )
        return hits


def _place(space: _Space, number: int, key: str, entry: HotlistEntry, hotlist: Hotlist) -> None:
    if entry.is_wildcard:
        space.patterns.append((key, number))  # `?` and `*` are in no look-alike class
        return
    space.postings.add(space.exact, key, number)
    if hotlist.max_edits:
        space.edits.add(key, hotlist.max_edits, number)


def _near(space: _Space, key: str, found: dict[int, tuple[int, int]]) -> None:
    """Add the entries within their list's edit budget of `key` (verified candidates)."""
    edits = space.edits
    bits: dict[str, int] | None = None
    for posting in edits.candidates(key):
        for number in space.postings.numbers(posting):
            if number in found:
                continue
            target, budget = edits.entries[number]
            if abs(len(target) - len(key)) > budget:
                continue
            if bits is None:
                bits = pattern_bits(key)
            distance = bit_distance(bits, len(key), target)
            if distance <= budget:
                found[number] = (_EDIT, distance)


class MatcherHolder:
    """Holds the current index; a replacement is swapped in by one reference assignment,
    so matching never waits for a rebuild and each match sees one whole index."""

    __slots__ = ("_index",)

    def __init__(self, index: HotlistIndex | None = None) -> None:
        self._index = index if index is not None else HotlistIndex.build((), ())

    @property
    def current(self) -> HotlistIndex:
        return self._index

    def replace(self, index: HotlistIndex) -> HotlistIndex:
        """Swap in `index`; return the one it replaces."""
        previous, self._index = self._index, index
        return previous

    def rebuild_with(
        self,
        lists: Iterable[Hotlist],
        entries: Iterable[HotlistEntry],
        *,
        lookalikes: LookalikeTable = DEFAULT_LOOKALIKES,
    ) -> HotlistIndex:
        """Build a new index off to the side, then swap it in; return the new index."""
        index = HotlistIndex.build(lists, entries, lookalikes=lookalikes)
        self._index = index
        return index

    def match(
        self, *, plate: str, plate_canonical: str, country: str | None, now: datetime
    ) -> list[Hit]:
        index = self._index  # read once: one match, one index
        return index.match(plate=plate, plate_canonical=plate_canonical, country=country, now=now)
