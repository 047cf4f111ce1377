"""Hotlists, their entries, paging, and the change counter every matcher follows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from tests.contract.builders import NOW, Store, committed, seen
from tests.contract.conftest import Backend
from veille.domain.hotlists import Category, Hotlist, HotlistEntry, entry_from_record
from veille.service.ports import HotlistChanges

pytestmark = pytest.mark.integration


def a_list(list_id: str = "stolen", **fields: Any) -> Hotlist:
    values: dict[str, Any] = {
        "name": f"List {list_id}",
        "category": Category.STOLEN_VEHICLE,
        "owner_org": "federal",
    }
    values.update(fields)
    return Hotlist(list_id=list_id, **values)


def an_entry(plate: str, hotlist: Hotlist | None = None, **record: Any) -> HotlistEntry:
    """An entry as an import makes it (the domain validates and names it)."""
    return entry_from_record({"plate": plate, **record}, hotlist=hotlist or a_list())


def stored(store: Store, *lists: Hotlist, entries: tuple[HotlistEntry, ...] = ()) -> None:
    def write(uow: Any) -> None:
        for hotlist in lists:
            uow.hotlists.save_list(hotlist, NOW)
        uow.hotlists.put_entries(entries, NOW)

    committed(store, write)


def test_lists_are_stored_replaced_by_id_and_listed_in_id_order(store: Store):
    stored(store, a_list("wanted", category=Category.WANTED_PERSON), a_list("stolen"))
    changed = a_list("stolen", name="Stolen (BE)", max_edits=1, lookalike=False, max_wildcards=2)
    stored(store, changed)
    with store.uow(write=False) as uow:
        assert [h.list_id for h in uow.hotlists.lists()] == ["stolen", "wanted"]
        assert uow.hotlists.get_list("stolen") == changed
        assert uow.hotlists.get_list("wanted") == a_list("wanted", category=Category.WANTED_PERSON)
        assert uow.hotlists.get_list("nowhere") is None


def test_entries_come_back_as_stored_in_id_order(store: Store):
    hotlist = a_list()
    full = an_entry(
        "1ABC123",
        country="BE",
        priority=1,
        valid_from=NOW.isoformat(),
        valid_until=(NOW + timedelta(days=30)).isoformat(),
        source_ref="PV 4711",
        instructions="Armed: do not stop alone",
        covert="yes",
    )
    pattern = an_entry("1AB?12*")
    stored(store, hotlist, a_list("other"), entries=(pattern, full, an_entry("2XYZ999")))
    stored(store, entries=(an_entry("9OTH999", a_list("other")),))
    with store.uow(write=False) as uow:
        found = uow.hotlists.entries("stolen")
        assert [e.entry_id for e in found] == sorted(e.entry_id for e in found)
        assert {e.entry_id: e for e in found}[full.entry_id] == full
        assert uow.hotlists.get_entry("stolen", pattern.entry_id) == pattern
        assert uow.hotlists.get_entry("other", pattern.entry_id) is None
        assert uow.hotlists.count_entries("stolen") == 3
        assert uow.hotlists.count_entries("nowhere") == 0
        every = uow.hotlists.entries()
        assert [(e.list_id, e.entry_id) for e in every] == sorted(
            (e.list_id, e.entry_id) for e in every
        )
        assert len(every) == 4


def test_an_entry_with_the_same_id_replaces_the_one_stored(store: Store):
    first = an_entry("1ABC123", priority=3)
    stored(store, a_list(), entries=(first,))
    stored(store, entries=(replace(first, priority=1, instructions="Now urgent"),))
    with store.uow(write=False) as uow:
        assert uow.hotlists.count_entries("stolen") == 1
        again = uow.hotlists.get_entry("stolen", first.entry_id)
        assert again is not None and (again.priority, again.instructions) == (1, "Now urgent")


def test_an_entry_needs_a_stored_list(store: Store, backend: Backend):
    with store.uow() as uow, pytest.raises(backend.conflict):
        uow.hotlists.put_entries([an_entry("1ABC123", a_list("nowhere"))], NOW)


def test_deleting_counts_what_was_deleted(store: Store):
    keep, doomed = an_entry("1ABC123"), an_entry("2XYZ999")
    stored(store, a_list(), a_list("other"), entries=(keep, doomed))
    stored(store, entries=(an_entry("9OTH999", a_list("other")),))
    with store.uow() as uow:
        assert uow.hotlists.delete_entry("stolen", doomed.entry_id) == 1
        assert uow.hotlists.delete_entry("stolen", doomed.entry_id) == 0
        assert uow.hotlists.delete_entry("other", keep.entry_id) == 0
        uow.commit()
    assert seen(store, lambda u: u.hotlists.entries("stolen")) == [keep]
    with store.uow() as uow:
        assert uow.hotlists.delete_list("other") == 1
        assert uow.hotlists.delete_list("other") == 0
        uow.commit()
    with store.uow(write=False) as uow:
        assert uow.hotlists.get_list("other") is None
        assert uow.hotlists.entries("other") == []
        assert uow.hotlists.entries("stolen") == [keep]


def test_replacing_a_list_keeps_only_the_new_entries(store: Store):
    stored(store, a_list(), a_list("other"), entries=(an_entry("1ABC123"), an_entry("2XYZ999")))
    stored(store, entries=(an_entry("9OTH999", a_list("other")),))
    fresh = [an_entry("2XYZ999", priority=1), an_entry("3NEW333")]
    committed(store, lambda uow: uow.hotlists.replace_entries("stolen", fresh, NOW))
    with store.uow(write=False) as uow:
        assert uow.hotlists.entries("stolen") == sorted(fresh, key=lambda e: e.entry_id)
        assert uow.hotlists.count_entries("other") == 1
    committed(store, lambda uow: uow.hotlists.replace_entries("stolen", [], NOW))
    assert seen(store, lambda u: u.hotlists.count_entries("stolen")) == 0


def test_deleting_entries_by_id_deletes_those_of_that_list_only(store: Store):
    a, b, c = an_entry("1ABC123"), an_entry("2XYZ999"), an_entry("3NEW333")
    stored(store, a_list(), a_list("other"), entries=(a, b, c))
    elsewhere_b = an_entry("2XYZ999", a_list("other"))
    stored(store, entries=(elsewhere_b,))
    ids = [a.entry_id, b.entry_id, elsewhere_b.entry_id, "none"]  # one of another list
    deleted = committed(store, lambda uow: uow.hotlists.delete_entries("stolen", ids))
    assert deleted == 2
    assert seen(store, lambda u: u.hotlists.entries("stolen")) == [c]
    assert seen(store, lambda u: u.hotlists.entries("other")) == [elsewhere_b]
    assert committed(store, lambda uow: uow.hotlists.delete_entries("stolen", [])) == 0


def test_the_latest_change_of_one_list(store: Store):
    assert seen(store, lambda u: u.hotlists.latest_change("stolen")) == 0
    first = committed(store, lambda uow: uow.hotlists.note_change("stolen", NOW))
    other = committed(store, lambda uow: uow.hotlists.note_change("wanted", NOW))
    assert seen(store, lambda u: u.hotlists.latest_change("stolen")) == first
    assert seen(store, lambda u: u.hotlists.latest_change("wanted")) == other
    assert seen(store, lambda u: u.hotlists.latest_change()) == other
    assert seen(store, lambda u: u.hotlists.latest_change("nowhere")) == 0


def test_walking_the_pages_of_a_list_gets_each_entry_once_in_id_order(store: Store):
    plates = [f"1PAG{n:03d}" for n in range(7)]
    stored(store, a_list(), a_list("other"), entries=tuple(an_entry(p) for p in plates))
    stored(store, entries=(an_entry("1PAG003", a_list("other")),))
    with store.uow(write=False) as uow:
        ids = [e.entry_id for e in uow.hotlists.entries("stolen")]
        walked: list[str] = []
        after: str | None = None
        while True:
            page = uow.hotlists.page("stolen", after=after, limit=3)
            walked.extend(e.entry_id for e in page)
            if len(page) < 3:
                break
            after = page[-1].entry_id
        assert walked == ids
        assert uow.hotlists.page("stolen") == uow.hotlists.entries("stolen")
        assert uow.hotlists.page("stolen", after=ids[-1], limit=3) == []
        assert [e.entry_id for e in uow.hotlists.page("stolen", after=ids[1])] == ids[2:]
        assert uow.hotlists.page("nowhere", limit=3) == []


def test_changes_are_counted_in_order_and_rolled_back_with_their_transaction(store: Store):
    with store.uow(write=False) as uow:
        assert uow.hotlists.latest_change() == 0
        assert uow.hotlists.changes_since(0) == HotlistChanges(0, frozenset())
    first = committed(store, lambda uow: uow.hotlists.note_change("stolen", NOW))
    with store.uow() as uow:
        second = uow.hotlists.note_change("wanted", NOW)
        third = uow.hotlists.note_change("stolen", NOW)
        uow.commit()
    assert first < second < third
    with store.uow() as uow:  # left without commit: never happened
        uow.hotlists.note_change("ghost", NOW)
    with store.uow(write=False) as uow:
        assert uow.hotlists.latest_change() == third
        assert uow.hotlists.changes_since(0) == HotlistChanges(
            third, frozenset({"stolen", "wanted"})
        )
        assert uow.hotlists.changes_since(first) == HotlistChanges(
            third, frozenset({"stolen", "wanted"})
        )
        assert uow.hotlists.changes_since(second) == HotlistChanges(third, frozenset({"stolen"}))
        assert uow.hotlists.changes_since(third) == HotlistChanges(third, frozenset())
    fourth = committed(store, lambda uow: uow.hotlists.note_change("wanted", NOW))
    assert fourth > third


def test_a_snapshot_does_not_see_a_list_changed_after_it_began(
    store: Store, elsewhere: Callable[[Callable[[], Any]], Any]
):
    stored(store, a_list(), entries=(an_entry("1ABC123"),))
    with store.uow(write=False) as snapshot:
        assert snapshot.hotlists.count_entries("stolen") == 1
        elsewhere(lambda: stored(store, entries=(an_entry("2XYZ999"),)))
        elsewhere(lambda: committed(store, lambda uow: uow.hotlists.note_change("stolen", NOW)))
        assert snapshot.hotlists.count_entries("stolen") == 1
        assert snapshot.hotlists.latest_change() == 0
    assert seen(store, lambda u: u.hotlists.count_entries("stolen")) == 2
