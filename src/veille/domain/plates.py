"""Plate text rules: normalisation, country formats, look-alike canonical form, edit distance."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from veille.domain.errors import Invalid

_STRIP = re.compile(r"[^A-Z0-9]")

# Characters that OCR engines confuse in the field (DOMAIN.md). Overlapping groups
# (T is in 1/I/L/T and 7/T, G in 6/G and C/G, U in U/V and J/U) are merged so that the
# canonical form is a function: each merged class maps to one symbol.
DEFAULT_LOOKALIKE_GROUPS: tuple[str, ...] = (
    "O0DQ",
    "1ILT",
    "8B",
    "2Z",
    "5S",
    "6G",
    "4A",
    "7T",
    "UV",
    "CG",
    "JU",
    "MN",
    "KX",
)


# Capitals of other scripts drawn exactly like a Latin one, as plates and OCR engines
# render them (a Cyrillic "1АВС123" is the Latin plate 1ABC123). Lower case gets here
# through upper-casing first.
HOMOGLYPHS: dict[str, str] = {
    # Cyrillic
    "А": "A", "В": "B", "С": "C", "Е": "E", "Н": "H", "І": "I", "Ј": "J", "К": "K",
    "М": "M", "О": "O", "Р": "P", "Ѕ": "S", "Т": "T", "Х": "X", "У": "Y", "Ү": "Y",
    # Greek
    "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M",
    "Ν": "N", "Ο": "O", "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X",
}  # fmt: skip
_MARKS = frozenset({"Mn", "Me"})  # combining marks: accents once NFKD has split them off


class PlateRejected(Invalid, ValueError):
    """Text that cannot be a plate: a letter or digit with no Latin A–Z or 0–9 form."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def normalise(raw: str) -> str:
    """Upper-case A–Z and 0–9 only: strip spaces, dashes, dots and other separators.

    Other scripts are folded first (see `fold`); a letter or digit that has no Latin
    form raises PlateRejected, so no character of a plate is ever dropped silently.
    """
    if raw.isascii():  # nearly every read: the fast path
        return _STRIP.sub("", raw.upper())
    return fold(raw)


def fold(raw: str, keep: str = "") -> str:
    """`raw` as plate characters: NFKD (full-width, ligatures and accents split off),
    combining marks removed, upper case, known homoglyphs mapped to Latin, and every
    other non-letter, non-digit removed, except the characters in `keep`.

    Raises PlateRejected naming the first letter or digit that stays outside A–Z / 0–9
    (ß, Ø, Ж, 京, Arabic-Indic digits …): a plate with it cannot be matched or searched.
    """
    out: list[str] = []
    for ch in unicodedata.normalize("NFKD", raw):
        if ch in keep:
            out.append(ch)
            continue
        category = unicodedata.category(ch)
        if category in _MARKS:
            continue
        upper = ch.upper()
        if len(upper) != 1:  # ß → "SS" is a spelling rule, not a plate character
            upper = ch
        upper = HOMOGLYPHS.get(upper, upper)
        if ("A" <= upper <= "Z") or ("0" <= upper <= "9"):
            out.append(upper)
        elif category[0] in "LN":
            name = unicodedata.name(ch, f"U+{ord(ch):04X}")
            raise PlateRejected(
                f"'{ch}' ({name.lower()}) cannot be on a plate: only the letters A–Z"
                " (accents removed) and digits 0–9"
            )
    return "".join(out)


def merge_groups(groups: Iterable[str]) -> list[frozenset[str]]:
    """Merge overlapping look-alike groups into disjoint classes (union of overlaps)."""
    classes: list[set[str]] = []
    for group in groups:
        members = set(normalise(group))
        if not members:
            continue
        overlapping = [c for c in classes if c & members]
        for c in overlapping:
            members |= c
            classes.remove(c)
        classes.append(members)
    return [frozenset(c) for c in classes]


@dataclass(frozen=True)
class LookalikeTable:
    """Maps every character to the representative of its look-alike class."""

    translation: dict[int, int]
    classes: tuple[frozenset[str], ...]
    # The same mapping for ASCII text as a 256-byte table: `bytes.translate` runs ~4x
    # fewer instructions than `str.translate` with a dict, on a path taken once per read.
    ascii_table: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        table = bytearray(range(256))
        for source, target in self.translation.items():
            if source < 128:
                if target >= 128:  # an ASCII character with a non-ASCII representative
                    table = bytearray()  # no table: every text takes `str.translate`
                    break
                table[source] = target
        object.__setattr__(self, "ascii_table", bytes(table))

    @classmethod
    def from_groups(cls, groups: Iterable[str] = DEFAULT_LOOKALIKE_GROUPS) -> LookalikeTable:
        classes = tuple(merge_groups(groups))
        translation: dict[int, int] = {}
        for members in classes:
            representative = min(members)  # digits sort before letters: stable, readable
            for ch in members:
                translation[ord(ch)] = ord(representative)
        return cls(translation=translation, classes=classes)

    def canonical(self, normalised: str) -> str:
        """The look-alike canonical form of an already normalised plate."""
        if self.ascii_table and normalised.isascii():
            return normalised.encode().translate(self.ascii_table).decode()
        return normalised.translate(self.translation)

    def alike(self, a: str, b: str) -> bool:
        """True when two characters belong to the same look-alike class."""
        return a.translate(self.translation) == b.translate(self.translation)


DEFAULT_LOOKALIKES = LookalikeTable.from_groups()


def canonical(normalised: str, table: LookalikeTable = DEFAULT_LOOKALIKES) -> str:
    """Look-alike canonical form with the default field classes."""
    return table.canonical(normalised)


@dataclass(frozen=True)
class PlateFormat:
    """One recognised national plate format."""

    country: str
    name: str
    pattern: re.Pattern[str]
    groups: tuple[int, ...]  # lengths of the display groups, () for free form
    separator: str = "-"

    def matches(self, normalised: str) -> bool:
        return self.pattern.fullmatch(normalised) is not None

    def display(self, normalised: str) -> str:
        if not self.groups or sum(self.groups) != len(normalised):
            return normalised
        parts, start = [], 0
        for size in self.groups:
            parts.append(normalised[start : start + size])
            start += size
        return self.separator.join(parts)


def _fmt(
    country: str, name: str, regex: str, groups: tuple[int, ...] = (), sep: str = "-"
) -> PlateFormat:
    return PlateFormat(country, name, re.compile(regex), groups, sep)


# Order matters: specific formats first, free forms last (DOMAIN.md, "Plates").
PLATE_FORMATS: tuple[PlateFormat, ...] = (
    _fmt("BE", "BE since 2010", r"[0-9][A-Z]{3}[0-9]{3}", (1, 3, 3)),
    _fmt("BE", "BE 2008-2010", r"[0-9]{3}[A-Z]{3}", (3, 3)),
    _fmt("BE", "BE before 2008", r"[A-Z]{3}[0-9]{3}", (3, 3)),
    _fmt("FR", "FR SIV", r"[A-Z]{2}[0-9]{3}[A-Z]{2}", (2, 3, 2)),
    _fmt("UK", "UK current", r"[A-Z]{2}[0-9]{2}[A-Z]{3}", (4, 3), " "),
    _fmt("NL", "NL sidecode 99-XX-99", r"[0-9]{2}[A-Z]{2}[0-9]{2}", (2, 2, 2)),
    _fmt("NL", "NL sidecode XX-999-X", r"[A-Z]{2}[0-9]{3}[A-Z]", (2, 3, 1)),
    _fmt("NL", "NL sidecode 9-XXX-99", r"[0-9][A-Z]{3}[0-9]{2}", (1, 3, 2)),
    _fmt("NL", "NL sidecode 99-XXX-9", r"[0-9]{2}[A-Z]{3}[0-9]", (2, 3, 1)),
    _fmt("NL", "NL sidecode XX-99-XX", r"[A-Z]{2}[0-9]{2}[A-Z]{2}", (2, 2, 2)),
    _fmt("NL", "NL sidecode X-999-XX", r"[A-Z][0-9]{3}[A-Z]{2}", (1, 3, 2)),
    _fmt("DE", "DE", r"[A-Z]{1,3}[A-Z]{1,2}[0-9]{1,4}"),
    _fmt("LU", "LU", r"[A-Z]{0,2}[0-9]{3,4}"),
    _fmt("BE", "BE personalised", r"[A-Z0-9]{1,8}"),
)


def recognise(normalised: str, formats: Sequence[PlateFormat] = PLATE_FORMATS) -> list[PlateFormat]:
    """Every known format the normalised text fits, most specific first."""
    return [f for f in formats if f.matches(normalised)]


def formats_for(country: str, formats: Sequence[PlateFormat] = PLATE_FORMATS) -> list[PlateFormat]:
    return [f for f in formats if f.country == country]


def fits_country(normalised: str, country: str) -> bool:
    """True when the text fits one of the country's formats, or we know none for it."""
    known = formats_for(country)
    return not known or any(f.matches(normalised) for f in known)


def display(normalised: str, country: str | None) -> str:
    """The plate as printed in its country's format (first fitting format), else as is."""
    for f in formats_for(country) if country else recognise(normalised):
        if f.matches(normalised):
            return f.display(normalised)
    return normalised


def within_distance(a: str, b: str, max_edits: int) -> bool:
    """Levenshtein distance(a, b) <= max_edits, computed in a band of width 2k+1."""
    if max_edits < 0:
        return False
    if abs(len(a) - len(b)) > max_edits:
        return False
    if max_edits == 0:
        return a == b
    return edit_distance(a, b, limit=max_edits) <= max_edits


def edit_distance(a: str, b: str, limit: int | None = None) -> int:
    """Levenshtein distance; stops early (returning limit + 1) once it must exceed limit."""
    if a == b:
        return 0
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        row_min = i
        for j, cb in enumerate(b, start=1):
            cost = previous[j - 1] + (ca != cb)
            insert = current[j - 1] + 1
            delete = previous[j] + 1
            value = min(cost, insert, delete)
            current.append(value)
            row_min = min(row_min, value)
        if limit is not None and row_min > limit:
            return limit + 1
        previous = current
    return previous[-1]


_WILDCARD_OK = re.compile(r"[A-Z0-9?*]+")


def wildcard_regex(pattern: str) -> re.Pattern[str]:
    """Compile a plate pattern: `?` is one character, `*` any run (possibly empty)."""
    cleaned = fold(pattern, keep="?*")
    if not cleaned or not _WILDCARD_OK.fullmatch(cleaned):
        raise ValueError("a plate pattern needs letters, digits, '?' or '*'")
    body = "".join("." if c == "?" else ".*" if c == "*" else c for c in cleaned)
    return re.compile(body)
