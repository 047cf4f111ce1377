"""The live matcher over a real store: shared index for small lists, own index for large."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from veille.adapters.sqlite.store import SqliteStore
from veille.domain.audit import system_actor
from veille.domain.hotlists import Category, Hotlist
from veille.domain.plates import canonical
from veille.service import hotlists as hotlist_service
from veille.service.hotlists import SMALL_LISTS, HotlistMatcher

pytestmark = pytest.mark.integration
NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)
ACTOR = system_actor("test")


def plates(matcher: HotlistMatcher, plate: str) -> set[tuple[str, str]]:
    hits = matcher.match(plate=plate, plate_canonical=canonical(plate), country="BE", now=NOW)
    return {(h.list.list_id, h.kind.value) for h in hits}


def test_large_lists_keep_their_index_when_a_small_list_changes(tmp_path):
    store = SqliteStore(tmp_path / "m.db")
    store.initialise()
    for list_id, entries in (
        ("national", ["1AAA111", "1AAA112", "1AAA113", "1AAA114"]),
        ("zone", ["2BBB222"]),
        ("case", ["3CCC333"]),
    ):
        hotlist_service.save_list(
            uow=store.uow(),
            now=NOW,
            actor=ACTOR,
            hotlist=Hotlist(
                list_id,
                list_id,
                Category.INVESTIGATION,
                "federal",
                max_edits=1 if list_id == "case" else 0,
            ),
        )
        hotlist_service.import_list(
            uow=store.uow(),
            snapshot=lambda: store.uow(write=False),
            list_id=list_id,
            now=NOW,
            actor=ACTOR,
            records=[(f"l{i}", {"plate": p}) for i, p in enumerate(entries)],
        )
    matcher = HotlistMatcher(large_list_entries=3)
    matcher.refresh(store.uow)
    assert set(matcher._indexes) == {"national", SMALL_LISTS}
    assert plates(matcher, "1AAA111") == {("national", "exact")}
    assert plates(matcher, "3CCC33") == {("case", "edit_distance")}  # a dropped character
    national = matcher._indexes["national"]

    hotlist_service.put_entry(
        uow=store.uow(),
        list_id="zone",
        record={"plate": "4DDD444"},
        now=NOW + timedelta(seconds=1),
        actor=ACTOR,
    )
    assert matcher.refresh(store.uow) == {"zone"}
    assert matcher._indexes["national"] is national  # untouched
    assert plates(matcher, "4DDD444") == {("zone", "exact")}
    assert matcher.refresh(store.uow) == set()  # nothing new

    hotlist_service.delete_list(uow=store.uow(), list_id="case", now=NOW, actor=ACTOR)
    matcher.refresh(store.uow)
    assert plates(matcher, "3CCC333") == set()
    assert matcher.entry_count() == 6
