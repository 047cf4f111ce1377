"""Plate text rules: normalisation, look-alike classes, edit distance, formats, wildcards."""

from __future__ import annotations

import itertools
import re
import string
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from veille.domain.plates import (
    DEFAULT_LOOKALIKE_GROUPS,
    DEFAULT_LOOKALIKES,
    PLATE_FORMATS,
    LookalikeTable,
    PlateRejected,
    canonical,
    display,
    edit_distance,
    fits_country,
    fold,
    merge_groups,
    normalise,
    recognise,
    wildcard_regex,
    within_distance,
)

pytestmark = pytest.mark.unit

ALPHANUM = string.ascii_uppercase + string.digits
plates = st.text(alphabet=ALPHANUM, min_size=1, max_size=10)
# A small alphabet makes equal characters, and so short distances, frequent.
short_words = st.text(alphabet="AB01O", max_size=8)
COUNTRIES = sorted({f.country for f in PLATE_FORMATS})


def reference_levenshtein(a: str, b: str) -> int:
    """Textbook full-matrix Levenshtein distance, written independently of the code."""
    rows, cols = len(a) + 1, len(b) + 1
    d = [[0] * cols for _ in range(rows)]
    for i in range(rows):
        d[i][0] = i
    for j in range(cols):
        d[0][j] = j
    for i in range(1, rows):
        for j in range(1, cols):
            d[i][j] = min(
                d[i - 1][j] + 1,
                d[i][j - 1] + 1,
                d[i - 1][j - 1] + (0 if a[i - 1] == b[j - 1] else 1),
            )
    return d[-1][-1]


def class_of(ch: str) -> frozenset[str]:
    for members in DEFAULT_LOOKALIKES.classes:
        if ch in members:
            return members
    return frozenset(ch)


# --- normalise --------------------------------------------------------------------------


@given(st.text())
def test_normalise_is_idempotent_and_yields_only_ascii_upper_letters_and_digits(raw: str):
    try:
        once = normalise(raw)
    except PlateRejected as refused:
        assert refused.reason  # refused, never silently shortened
        return
    assert re.fullmatch(r"[A-Z0-9]*", once)
    assert normalise(once) == once


@given(st.text())
def test_normalise_never_drops_a_letter_or_digit_silently(raw: str):
    """Every letter or digit of the text is in the plate, or the text is refused."""
    try:
        plate = normalise(raw)
    except PlateRejected:
        return
    folded = unicodedata.normalize("NFKD", raw)
    kept = [c for c in folded if unicodedata.category(c)[0] in "LN"]
    assert len(plate) == len(kept)


@given(st.text(alphabet=string.ascii_letters + string.digits + " -.·/", max_size=20))
def test_normalise_keeps_letters_and_digits_in_order_upper_cased(raw: str):
    expected = "".join(c.upper() for c in raw if c.isalnum())
    assert normalise(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1-abc-123", "1ABC123"), (" ab 12 cde ", "AB12CDE"), ("AB.123.CD", "AB123CD"), ("--", "")],
)
def test_normalise_examples(raw: str, expected: str):
    assert normalise(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1-ÀBC-123", "1ABC123"),  # composed À
        ("1-A\u0300BC-123", "1ABC123"),  # the same, decomposed: A + combining grave
        ("1-àbç-123", "1ABC123"),
        ("1АВС123", "1ABC123"),  # Cyrillic А, В, С
        ("1-авс-123", "1ABC123"),  # and their lower case
        ("ЕНКМОРТХ", "EHKMOPTX"),  # every Cyrillic capital that looks Latin
        ("ΑΒΕΖΗΙΚΜΝΟΡΤΥΧ", "ABEZHIKMNOPTYX"),  # Greek capitals
        ("１ＡＢＣ１２３", "1ABC123"),  # full-width forms
        ("Ａ\u00a0Ｂ", "AB"),  # a no-break space is a separator
        ("Ǆ-12", "DZ12"),  # a compatibility ligature folds to its letters
    ],
)
def test_normalise_folds_accents_widths_and_homoglyphs_to_latin(raw: str, expected: str):
    assert normalise(raw) == expected


@pytest.mark.parametrize(
    ("raw", "offending"),
    [
        ("1-ABß-123", "ß"),  # not "SS": a plate never reads two letters for one
        ("京A12345", "京"),
        ("1ABC١٢٣", "١"),  # Arabic-Indic digits
        ("ØRE123", "Ø"),
        ("1-ЖBC-123", "Ж"),  # Cyrillic with no Latin look-alike
        ("ΩXY123", "Ω"),
    ],
)
def test_normalise_refuses_what_cannot_be_a_plate_and_says_why(raw: str, offending: str):
    with pytest.raises(PlateRejected) as refused:
        normalise(raw)
    assert offending in refused.value.reason
    assert "A–Z" in refused.value.reason


def test_fold_keeps_wildcards_when_asked():
    assert fold("1-àb?-*", keep="?*") == "1AB?*"
    assert wildcard_regex("1-АВ?-*").pattern == "1AB..*"  # Cyrillic А, В


# --- look-alike classes and canonical form ----------------------------------------------


def test_merged_default_classes_are_disjoint():
    for a, b in itertools.combinations(DEFAULT_LOOKALIKES.classes, 2):
        assert not a & b, (a, b)


def test_merged_default_classes_cover_every_group_and_nothing_else():
    for group in DEFAULT_LOOKALIKE_GROUPS:
        assert any(set(group) <= members for members in DEFAULT_LOOKALIKES.classes), group
    union_of_classes = set().union(*DEFAULT_LOOKALIKES.classes)
    assert union_of_classes == set("".join(DEFAULT_LOOKALIKE_GROUPS))


def test_overlapping_default_groups_are_merged():
    classes = set(DEFAULT_LOOKALIKES.classes)
    assert frozenset("1ILT7") in classes  # 1/I/L/T and 7/T share T
    assert frozenset("6GC") in classes  # 6/G and C/G share G
    assert frozenset("UVJ") in classes  # U/V and J/U share U
    assert frozenset("O0DQ") in classes
    assert frozenset("MN") in classes


@given(st.lists(st.text(alphabet="ABCDEF123", min_size=1, max_size=4), max_size=8))
def test_merge_groups_gives_disjoint_classes_covering_every_group(groups: list[str]):
    classes = merge_groups(groups)
    for a, b in itertools.combinations(classes, 2):
        assert not a & b
    for group in groups:
        assert sum(1 for members in classes if set(group) <= members) == 1
    assert set().union(*classes) == set("".join(groups))


@given(plates)
def test_canonical_is_idempotent(plate: str):
    once = canonical(plate)
    assert canonical(once) == once
    assert len(once) == len(plate)


@given(plates, st.data())
def test_canonical_is_invariant_under_lookalike_substitution(plate: str, data: st.DataObject):
    substituted = "".join(data.draw(st.sampled_from(sorted(class_of(ch)))) for ch in plate)
    assert canonical(substituted) == canonical(plate)


def test_canonical_maps_each_class_to_its_smallest_member():
    assert canonical("OQD0") == "0000"
    assert canonical("B8") == "88"
    assert canonical("ILT17") == "11111"
    assert canonical("EFHPRWY3") == "EFHPRWY3"  # no look-alikes: unchanged


@given(plates, st.data())
def test_canonical_forms_differ_iff_some_position_is_not_a_lookalike(
    plate: str, data: st.DataObject
):
    # Each position either keeps a look-alike or (sometimes) takes any character.
    other = "".join(
        data.draw(st.sampled_from(sorted(class_of(ch))) | st.sampled_from(ALPHANUM)) for ch in plate
    )
    differs_somewhere = any(
        not DEFAULT_LOOKALIKES.alike(x, y) for x, y in zip(plate, other, strict=True)
    )
    assert (canonical(plate) != canonical(other)) == differs_somewhere


def test_alike_examples():
    assert DEFAULT_LOOKALIKES.alike("O", "Q")
    assert DEFAULT_LOOKALIKES.alike("7", "I")  # through T
    assert not DEFAULT_LOOKALIKES.alike("M", "K")
    assert not DEFAULT_LOOKALIKES.alike("E", "F")


def test_custom_table_uses_only_its_groups():
    table = LookalikeTable.from_groups(["AB", "bc"])  # lower case is normalised
    assert table.classes == (frozenset("ABC"),)
    assert table.canonical("CAB0") == "AAA0"


# --- edit distance ----------------------------------------------------------------------


@given(short_words, short_words)
def test_edit_distance_equals_reference(a: str, b: str):
    assert edit_distance(a, b) == reference_levenshtein(a, b)


@given(short_words, short_words, st.integers(min_value=0, max_value=6))
def test_edit_distance_with_limit_is_exact_up_to_the_limit(a: str, b: str, limit: int):
    expected = reference_levenshtein(a, b)
    got = edit_distance(a, b, limit=limit)
    if expected <= limit:
        assert got == expected
    else:
        assert got > limit


@given(short_words, short_words, st.integers(min_value=-2, max_value=6))
def test_within_distance_matches_reference(a: str, b: str, k: int):
    assert within_distance(a, b, k) == (reference_levenshtein(a, b) <= k)


@given(short_words, short_words, st.integers(min_value=0, max_value=6))
def test_within_distance_is_symmetric(a: str, b: str, k: int):
    assert within_distance(a, b, k) == within_distance(b, a, k)


@given(plates, st.data())
def test_one_insertion_is_within_one(plate: str, data: st.DataObject):
    at = data.draw(st.integers(min_value=0, max_value=len(plate)))
    ch = data.draw(st.sampled_from(ALPHANUM))
    edited = plate[:at] + ch + plate[at:]
    assert within_distance(plate, edited, 1)
    assert not within_distance(plate, edited, 0)


@given(plates, st.data())
def test_one_deletion_is_within_one(plate: str, data: st.DataObject):
    at = data.draw(st.integers(min_value=0, max_value=len(plate) - 1))
    edited = plate[:at] + plate[at + 1 :]
    assert within_distance(plate, edited, 1)
    assert not within_distance(plate, edited, 0)


@given(plates, st.data())
def test_one_substitution_is_within_one(plate: str, data: st.DataObject):
    at = data.draw(st.integers(min_value=0, max_value=len(plate) - 1))
    ch = data.draw(st.sampled_from(ALPHANUM).filter(lambda c: c != plate[at]))
    edited = plate[:at] + ch + plate[at + 1 :]
    assert within_distance(plate, edited, 1)
    assert not within_distance(plate, edited, 0)


def test_within_distance_examples():
    assert within_distance("1ABC123", "1ABC123", 0)
    assert within_distance("1ABC123", "1ABC12", 1)  # dropped last character
    assert not within_distance("1ABC123", "1ABC1", 1)
    assert within_distance("1ABC123", "1ABC1", 2)
    assert not within_distance("ABC", "ABC", -1)


# --- national formats -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("printed", "country", "shown", "format_name"),
    [
        ("1-ABC-123", "BE", "1-ABC-123", "BE since 2010"),
        ("123-ABC", "BE", "123-ABC", "BE 2008-2010"),
        ("ABC-123", "BE", "ABC-123", "BE before 2008"),
        ("AB-123-CD", "FR", "AB-123-CD", "FR SIV"),
        ("AB12 CDE", "UK", "AB12 CDE", "UK current"),
        ("12-AB-34", "NL", "12-AB-34", "NL sidecode 99-XX-99"),
        ("AB-123-C", "NL", "AB-123-C", "NL sidecode XX-999-X"),
        ("1-ABC-23", "NL", "1-ABC-23", "NL sidecode 9-XXX-99"),
    ],
)
def test_recognised_formats_and_display(printed: str, country: str, shown: str, format_name: str):
    text = normalise(printed)
    assert recognise(text)[0].name == format_name  # most specific first
    assert display(text, country) == shown
    assert display(text, None) == shown
    assert fits_country(text, country)


@pytest.mark.parametrize(
    ("printed", "country"),
    [("M-AB 1234", "DE"), ("B-X 1", "DE"), ("AB 1234", "LU"), ("1234", "LU"), ("XY 123", "LU")],
)
def test_german_and_luxembourg_plates_fit_their_country(printed: str, country: str):
    text = normalise(printed)
    assert fits_country(text, country)
    assert display(text, country) == text  # free-form: shown as normalised


@pytest.mark.parametrize(
    ("text", "country"),
    [
        ("AB123CD", "UK"),
        ("1ABC123", "FR"),
        ("AB12CDE", "NL"),
        ("AB12CDE", "DE"),
        ("ABC12345", "LU"),
        ("ABCDEFGHI", "BE"),  # longer than a personalised Belgian plate
        ("1ABC123", "NL"),
    ],
)
def test_fits_country_refuses_other_formats(text: str, country: str):
    assert not fits_country(text, country)


def test_belgian_personalised_plate_fits_belgium():
    assert fits_country("VEILLE", "BE")
    assert display("VEILLE", "BE") == "VEILLE"


def test_country_without_known_formats_accepts_any_text():
    assert fits_country("ANYTHING1", "IT")


def test_display_in_a_country_whose_formats_do_not_fit_keeps_the_text():
    assert display("1ABC123", "FR") == "1ABC123"


@given(plates, st.sampled_from([None, *COUNTRIES]))
def test_display_only_adds_separators(plate: str, country: str | None):
    assert normalise(display(plate, country)) == plate


# --- wildcards --------------------------------------------------------------------------


def test_question_mark_is_exactly_one_character():
    rx = wildcard_regex("1AB?123")
    assert rx.fullmatch("1ABC123")
    assert rx.fullmatch("1AB9123")
    assert not rx.fullmatch("1AB123")
    assert not rx.fullmatch("1ABCD123")


def test_star_is_any_run_including_empty():
    rx = wildcard_regex("1AB*")
    assert rx.fullmatch("1AB")
    assert rx.fullmatch("1ABC123")
    assert not rx.fullmatch("2ABC123")
    assert wildcard_regex("*123").fullmatch("1ABC123")
    assert not wildcard_regex("*123").fullmatch("1ABC124")


def test_pattern_is_normalised_like_a_plate():
    rx = wildcard_regex("1-ab?-123")
    assert rx.pattern == "1AB.123"
    assert rx.fullmatch("1ABC123")


def test_literal_pattern_matches_only_itself():
    rx = wildcard_regex("AB123CD")
    assert rx.fullmatch("AB123CD")
    assert not rx.fullmatch("AB123CE")


@pytest.mark.parametrize("pattern", ["", "   ", "---", "#!/", "ßß", "京*"])
def test_empty_or_invalid_patterns_are_refused(pattern: str):
    with pytest.raises(ValueError, match="plate"):
        wildcard_regex(pattern)


def test_accented_patterns_fold_like_plates():
    assert wildcard_regex("éè?").pattern == "EE."


@given(plates, st.data())
def test_question_marks_anywhere_still_match(plate: str, data: st.DataObject):
    mask = data.draw(st.lists(st.booleans(), min_size=len(plate), max_size=len(plate)))
    pattern = "".join("?" if hide else ch for ch, hide in zip(plate, mask, strict=True))
    rx = wildcard_regex(pattern)
    assert rx.fullmatch(plate)
    assert not rx.fullmatch(plate + "X")
    assert not rx.fullmatch(plate[:-1])


@given(plates, st.data())
def test_star_replacing_any_substring_still_matches(plate: str, data: st.DataObject):
    start = data.draw(st.integers(min_value=0, max_value=len(plate)))
    end = data.draw(st.integers(min_value=start, max_value=len(plate)))
    pattern = plate[:start] + "*" + plate[end:]
    assert wildcard_regex(pattern).fullmatch(plate)


@given(st.text(min_size=0, max_size=16))
def test_the_ascii_fast_path_of_canonical_agrees_with_the_full_translation(text: str):
    # `canonical` takes a 256-byte table for ASCII text; it must answer what the
    # character map answers, for any text, ASCII or not.
    assert DEFAULT_LOOKALIKES.canonical(text) == text.translate(DEFAULT_LOOKALIKES.translation)


def test_a_table_mapping_ascii_to_a_non_ascii_representative_keeps_the_full_translation():
    table = LookalikeTable(translation={ord("O"): ord("Ø")}, classes=())
    assert table.ascii_table == b""
    assert table.canonical("OO1") == "ØØ1"
