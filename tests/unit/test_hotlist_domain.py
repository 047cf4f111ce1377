"""Hotlist rules: list settings, entry validation field by field, wildcards, the import diff."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from veille.domain.hotlists import (
    Category,
    EntryInvalid,
    EntryWrites,
    Hit,
    Hotlist,
    HotlistEntry,
    MatchKind,
    diff_lists,
    entry_from_record,
    entry_key,
    entry_writes,
    normalise_pattern,
    recipients_allowed,
)
from veille.domain.plates import PlateRejected, normalise

pytestmark = pytest.mark.unit

STOLEN = Hotlist("stolen", "Stolen vehicles", Category.STOLEN_VEHICLE, "fed", default_priority=2)


def entry(record: dict[str, Any], *, where: str = "line 2") -> HotlistEntry:
    return entry_from_record(record, hotlist=STOLEN, where=where)


def refused(record: dict[str, Any]) -> EntryInvalid:
    with pytest.raises(EntryInvalid) as caught:
        entry(record)
    return caught.value


# ---- lists ---------------------------------------------------------------------------


def test_a_list_takes_its_category_from_text_and_has_safe_defaults():
    hotlist = Hotlist("inv-1", "Burglaries", "investigation", "zone-5339")  # type: ignore[arg-type]
    assert hotlist.category is Category.INVESTIGATION
    assert (hotlist.max_edits, hotlist.lookalike, hotlist.max_wildcards) == (0, True, 10)
    assert {c.value for c in Category} >= {"stolen_plate", "schengen_alert", "traffic_ban"}


@pytest.mark.parametrize(
    "changes",
    [
        {"max_edits": 3},
        {"max_edits": -1},
        {"max_wildcards": -1},
        {"default_priority": 0},
        {"default_priority": 6},
        {"category": "parking"},
        {"list_id": ""},
    ],
)
def test_a_list_refuses_settings_out_of_range(changes: dict[str, Any]):
    settings: dict[str, Any] = {
        "list_id": "x",
        "name": "X",
        "category": Category.UNINSURED,
        "owner_org": "fed",
    }
    with pytest.raises(ValueError):
        Hotlist(**(settings | changes))


# ---- entries: plate ------------------------------------------------------------------


def test_a_plate_is_normalised_and_the_defaults_come_from_the_list():
    e = entry({"plate": " 1-abc.123 "})
    assert e.plate == "1ABC123"
    assert e.list_id == "stolen"
    assert e.priority == 2  # the list's default
    assert (e.country, e.valid_from, e.valid_until, e.covert) == (None, None, None, False)
    assert (e.source_ref, e.instructions) == ("", "")
    assert not e.is_wildcard
    assert e.entry_id == "stolen|1ABC123|"  # the stable key when the record has no id
    assert e.key == entry_key("stolen", "1ABC123", None) == ("stolen", "1ABC123", "")


def test_an_explicit_entry_id_is_kept():
    assert entry({"plate": "1ABC123", "entry_id": "E-42"}).entry_id == "E-42"


@pytest.mark.parametrize(
    ("plate", "reason"),
    [
        (None, "required"),
        ("", "required"),
        ("   ", "required"),
        ("-.-", "no letters or digits"),
        (12345, "must be text"),
        ("1234567890ABC", "more than 12"),
    ],
)
def test_a_bad_plate_is_refused_with_its_reason(plate: Any, reason: str):
    error = refused({"plate": plate})
    assert error.field == "plate"
    assert reason in error.reason
    assert error.where == "line 2"
    assert str(error).startswith("line 2: plate: ")


@given(st.text(min_size=1, max_size=20).filter(lambda s: "?" not in s and "*" not in s))
def test_a_plain_plate_is_exactly_the_normalised_text_or_refused(raw: str):
    try:
        e = entry({"plate": raw})
    except EntryInvalid as error:
        assert error.field == "plate"
        try:
            plate = normalise(raw)
        except PlateRejected as why:
            assert error.reason == why.reason
            return
        assert not plate or len(plate) > 12 or not raw.strip()
    else:
        assert e.plate == normalise(raw)
        assert not e.is_wildcard


def test_an_entry_folds_accents_and_homoglyphs_like_a_read():
    assert entry({"plate": "1-АВС-123"}).plate == "1ABC123"  # Cyrillic А, В, С
    assert entry({"plate": "1-àbc-123"}).plate == "1ABC123"
    assert entry({"plate": "1-АВ?-*"}).plate == "1AB?*"


@pytest.mark.parametrize(("raw", "offending"), [("1-ABß-123", "ß"), ("京A1234*", "京")])
def test_an_entry_that_cannot_be_a_plate_is_refused_with_the_character(raw: str, offending: str):
    error = refused({"plate": raw})
    assert error.field == "plate" and offending in error.reason and error.where == "line 2"


# ---- entries: wildcards --------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "pattern"),
    [
        ("1-ab?-12*", "1AB?12*"),
        ("??ABC", "??ABC"),
        ("1AB**3", "1AB*3"),  # runs of * mean the same as one
        ("*x-y-z*", "*XYZ*"),
    ],
)
def test_a_wildcard_entry_keeps_its_wildcards(raw: str, pattern: str):
    e = entry({"plate": raw})
    assert e.plate == pattern
    assert e.is_wildcard


@pytest.mark.parametrize("raw", ["AB*", "?A?B?", "*1*2*", "??", "*"])
def test_a_wildcard_entry_needs_three_fixed_characters(raw: str):
    error = refused({"plate": raw})
    assert error.field == "plate"
    assert "at least 3 fixed characters" in error.reason


def test_a_wildcard_pattern_cannot_outgrow_a_plate():
    assert "longer than any plate" in refused({"plate": "ABCDEFGHIJ???"}).reason
    assert "at most 16" in refused({"plate": "A?B?C?D?E?F?G?H?I"}).reason


def test_normalise_pattern_strips_all_but_letters_digits_and_wildcards():
    assert normalise_pattern(" 1-a.b?_c**9 ") == "1AB?C*9"


# ---- entries: the other fields --------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "country"), [("be", "BE"), (" Fr ", "FR"), ("", None), (None, None)]
)
def test_country_is_two_letters_upper_case_or_none(raw: Any, country: str | None):
    assert entry({"plate": "AB123", "country": raw}).country == country


@pytest.mark.parametrize("raw", ["BEL", "B", "B1", 32, "12"])
def test_a_bad_country_is_refused(raw: Any):
    assert refused({"plate": "AB123", "country": raw}).field == "country"


@pytest.mark.parametrize(("raw", "priority"), [(1, 1), (5, 5), ("3", 3), (" 4 ", 4), ("", 2)])
def test_priority_is_one_to_five(raw: Any, priority: int):
    assert entry({"plate": "AB123", "priority": raw}).priority == priority


@pytest.mark.parametrize("raw", [0, 6, -1, "6", "high", 1.5, True])
def test_a_priority_out_of_range_is_refused(raw: Any):
    assert refused({"plate": "AB123", "priority": raw}).field == "priority"


def test_validity_reads_iso_times_with_a_zone():
    e = entry(
        {
            "plate": "AB123",
            "valid_from": "2025-01-01T00:00:00+01:00",
            "valid_until": datetime(2025, 2, 1, tzinfo=UTC),
        }
    )
    assert e.valid_from == datetime(2024, 12, 31, 23, tzinfo=UTC)
    assert e.valid_until == datetime(2025, 2, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("valid_from", "2025-01-01T00:00:00", "no time zone"),
        ("valid_until", "2025-01-01", "no time zone"),
        ("valid_from", "next week", "not an ISO 8601"),
        ("valid_until", 20250101, "ISO 8601"),
    ],
)
def test_a_bad_validity_time_is_refused(field: str, value: Any, reason: str):
    error = refused({"plate": "AB123", field: value})
    assert error.field == field
    assert reason in error.reason


@pytest.mark.parametrize("until_after_from", [timedelta(0), timedelta(seconds=-1)])
def test_valid_until_must_come_after_valid_from(until_after_from: timedelta):
    start = datetime(2025, 1, 1, tzinfo=UTC)
    error = refused(
        {"plate": "AB123", "valid_from": start, "valid_until": start + until_after_from}
    )
    assert (error.field, error.reason) == ("valid_until", "must be after valid_from")


def test_one_second_of_validity_is_enough():
    start = datetime(2025, 1, 1, tzinfo=timezone(timedelta(hours=2)))
    e = entry({"plate": "AB123", "valid_from": start, "valid_until": start + timedelta(seconds=1)})
    assert e.active_at(start)
    assert not e.active_at(start + timedelta(seconds=1))
    assert not e.active_at(start - timedelta(microseconds=1))


@pytest.mark.parametrize(
    ("raw", "covert"),
    [(True, True), ("yes", True), ("1", True), (0, False), ("", False), (None, False)],
)
def test_covert_reads_the_usual_spellings_of_true_and_false(raw: Any, covert: bool):
    assert entry({"plate": "AB123", "covert": raw}).covert is covert


@pytest.mark.parametrize(
    ("record", "field"),
    [
        ({"covert": "maybe"}, "covert"),
        ({"covert": 2}, "covert"),
        ({"source_ref": "x" * 201}, "source_ref"),
        ({"instructions": "x" * 2001}, "instructions"),
        ({"instructions": ["stop"]}, "instructions"),
        ({"entry_id": 7}, "entry_id"),
    ],
)
def test_bad_texts_and_flags_are_refused(record: dict[str, Any], field: str):
    assert refused({"plate": "AB123"} | record).field == field


def test_texts_are_trimmed():
    e = entry({"plate": "AB123", "source_ref": " PV 12/24 ", "instructions": " Stop. "})
    assert (e.source_ref, e.instructions) == ("PV 12/24", "Stop.")


# ---- hits and recipients -------------------------------------------------------------


def test_a_covert_hit_goes_to_its_owner_only():
    covert = entry({"plate": "AB123", "covert": True})
    open_entry = entry({"plate": "AB124"})
    covert_hit = Hit(entry=covert, list=STOLEN, kind=MatchKind.EXACT)
    assert covert_hit.covert and covert_hit.owner_org == "fed"
    assert recipients_allowed(covert_hit, "fed")
    assert not recipients_allowed(covert_hit, "zone-5339")
    open_hit = Hit(entry=open_entry, list=STOLEN, kind=MatchKind.EXACT)
    assert recipients_allowed(open_hit, "zone-5339")


# ---- the import diff -----------------------------------------------------------------


def make(plate: str, **fields: Any) -> HotlistEntry:
    return entry({"plate": plate} | fields)


def test_diff_reports_added_changed_removed_and_unchanged():
    old = [make("AB123"), make("AB124", priority=3), make("AB125"), make("AB126", country="BE")]
    new = [
        make("AB123", entry_id="new-id"),  # a new storage id alone is no change
        make("AB124", priority=1),
        make("AB126", country="FR"),  # another country is another entry
        make("AB127"),
    ]
    diff = diff_lists(old, new)
    assert {e.plate for e in diff.added} == {"AB126", "AB127"}
    assert {(e.plate, e.country) for e in diff.added} == {("AB126", "FR"), ("AB127", None)}
    assert [(a.priority, b.priority) for a, b in diff.changed] == [(3, 1)]
    assert {(e.plate, e.country) for e in diff.removed} == {("AB125", None), ("AB126", "BE")}
    assert diff.unchanged == 1
    assert not diff.empty


@pytest.mark.parametrize(
    "change",
    [
        {"valid_until": "2030-01-01T00:00:00Z"},
        {"source_ref": "PV 2"},
        {"instructions": "Stop."},
        {"covert": True},
    ],
)
def test_diff_sees_every_content_field(change: dict[str, Any]):
    diff = diff_lists([make("AB123")], [make("AB123", **change)])
    assert len(diff.changed) == 1 and not diff.added and not diff.removed


def test_diff_of_identical_lists_is_empty():
    entries = [make("AB123"), make("1-AB?-12*")]
    diff = diff_lists(entries, list(entries))
    assert diff.empty and diff.unchanged == 2


def test_diff_refuses_a_repeated_key():
    with pytest.raises(ValueError, match=re.escape("repeat the key stolen|AB123|")):
        diff_lists([], [make("AB123"), make("ab-123", priority=1)])


@given(
    st.sets(st.sampled_from(["AB1", "AB2", "AB3", "CD1", "CD2"])),
    st.sets(st.sampled_from(["AB1", "AB2", "AB3", "CD1", "CD2"])),
)
def test_diff_partitions_the_union_of_keys(old_plates: set[str], new_plates: set[str]):
    diff = diff_lists([make(p) for p in old_plates], [make(p, priority=1) for p in new_plates])
    assert {e.plate for e in diff.added} == new_plates - old_plates
    assert {e.plate for e in diff.removed} == old_plates - new_plates
    assert {b.plate for _, b in diff.changed} == old_plates & new_plates


_ENTRY_POOL = [
    make("AB123"),
    make("AB123", priority=1),  # same id and key, other content
    make("AB123", entry_id="renamed"),  # same key, another storage id
    make("AB124"),
    make("AB125", country="BE"),
    make("1-AB?-12*"),
]


@given(
    stored=st.lists(st.sampled_from(_ENTRY_POOL), unique_by=lambda e: e.entry_id),
    imported=st.lists(st.sampled_from(_ENTRY_POOL), unique_by=lambda e: e.entry_id),
)
def test_entry_writes_turn_the_stored_list_into_exactly_the_imported_one(
    stored: list[HotlistEntry], imported: list[HotlistEntry]
):
    writes = entry_writes(stored, imported)
    rows = {e.entry_id: e for e in stored}
    for entry_id in writes.delete:
        del rows[entry_id]
    rows.update({e.entry_id: e for e in writes.put})
    assert rows == {e.entry_id: e for e in imported}
    # and no more than that: nothing put that is stored as it is, nothing deleted twice
    assert not set(writes.put) & set(stored)
    assert len(set(writes.delete)) == len(writes.delete)


def test_entry_writes_of_an_unchanged_list_write_nothing():
    entries = [make("AB123"), make("1-AB?-12*")]
    assert entry_writes(entries, list(entries)) == EntryWrites(delete=(), put=())
