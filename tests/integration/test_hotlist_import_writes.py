"""A full hotlist import validates and compares outside the write transaction, then writes
only the difference: the store's writer (the cameras' ingest too) is free meanwhile, and a
change made to the list during the import is never lost or kept by mistake."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, overload

import pytest

from veille.adapters.sqlite.store import SqliteStore
from veille.domain.audit import system_actor
from veille.domain.hotlists import Category, Hotlist
from veille.service import hotlists as hotlist_service
from veille.service.errors import Conflict

pytestmark = pytest.mark.integration
NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)
ACTOR = system_actor("test")
Record = tuple[str, Mapping[str, Any]]


class Watched(Sequence[Record]):
    """Import records that run `during` once while the import goes over them (validation)."""

    def __init__(self, records: list[Record], during: Callable[[], None]) -> None:
        self.records, self.during, self.ran = records, during, 0

    def __len__(self) -> int:
        return len(self.records)

    @overload
    def __getitem__(self, index: int) -> Record: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Record]: ...
    def __getitem__(self, index: int | slice) -> Record | Sequence[Record]:
        return self.records[index]

    def __iter__(self) -> Iterator[Record]:
        for i, record in enumerate(self.records):
            if i == len(self.records) // 2:
                self.ran += 1
                self.during()
            yield record


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    store = SqliteStore(tmp_path / "h.db")
    store.initialise()
    hotlist_service.save_list(
        uow=store.uow(),
        now=NOW,
        actor=ACTOR,
        hotlist=Hotlist("stolen", "Stolen", Category.STOLEN_VEHICLE, "federal"),
    )
    yield store
    store.close()


def records(plates: list[str]) -> list[Record]:
    return [(f"line {i}", {"plate": p, "instructions": "stop"}) for i, p in enumerate(plates)]


def import_(store: SqliteStore, recs: Sequence[Record], at: datetime = NOW) -> Any:
    return hotlist_service.import_list(
        uow=store.uow(),
        snapshot=lambda: store.uow(write=False),
        list_id="stolen",
        records=recs,
        now=at,
        actor=ACTOR,
    )


def plates_of(store: SqliteStore) -> set[str]:
    with store.uow(write=False) as uow:
        return {e.plate for e in uow.hotlists.entries("stolen")}


def test_another_writer_commits_while_the_import_validates(store: SqliteStore, tmp_path: Path):
    other = sqlite3.connect(tmp_path / "h.db", timeout=0, isolation_level=None)

    def ingest_commits() -> None:  # as the ingest writer would, without waiting at all
        other.execute("BEGIN IMMEDIATE")
        other.execute("INSERT INTO hotlist_changes (list_id, changed_at) VALUES ('x', 0)")
        other.execute("COMMIT")

    watched = Watched(records([f"1ABC{n:03d}" for n in range(200)]), ingest_commits)
    report = import_(store, watched)
    assert watched.ran == 1  # it ran, and did not hit "database is locked"
    assert (report.added, report.removed) == (200, 0)
    assert len(plates_of(store)) == 200
    other.close()


def test_a_refresh_writes_the_difference_and_reports_it(store: SqliteStore):
    before = [f"1ABC{n:03d}" for n in range(100)]
    import_(store, records(before))
    after = [*before[5:], "9NEW001", "9NEW002"]
    report = import_(store, records(after), NOW + timedelta(days=1))
    assert (report.added, report.changed, report.removed, report.unchanged) == (2, 0, 5, 95)
    assert plates_of(store) == set(after)
    with store.uow(write=False) as uow:
        audited = [r.entry for r in uow.audit.iter_all() if r.entry.action == "hotlist.import"]
    assert audited[-1].params["added"] == 2 and audited[-1].params["removed"] == 5


def test_an_entry_put_during_the_import_is_compared_again_not_kept(store: SqliteStore):
    import_(store, records(["1AAA111", "1AAA112"]))

    def manager_adds_an_entry() -> None:  # another manager, while the file is validated
        hotlist_service.put_entry(
            uow=store.uow(), list_id="stolen", record={"plate": "7PUT777"}, now=NOW, actor=ACTOR
        )

    watched = Watched(records(["1AAA111", "2BBB222"]), manager_adds_an_entry)
    report = import_(store, watched, NOW + timedelta(hours=1))
    # the import replaces the list: the put entry is removed too, and counted as removed
    assert plates_of(store) == {"1AAA111", "2BBB222"}
    assert (report.added, report.removed, report.unchanged) == (1, 2, 1)


def test_a_list_changing_under_every_attempt_is_refused_not_half_applied(store: SqliteStore):
    import_(store, records(["1AAA111"]))
    n = iter(range(100))

    class Busy(Watched):
        def __iter__(self) -> Iterator[Record]:
            yield from self.records

    busy = Busy(records(["2BBB222"]), lambda: None)
    real_entries = hotlist_service.entry_writes

    def entry_writes_with_a_change_each_time(*args: Any) -> Any:
        hotlist_service.put_entry(
            uow=store.uow(),
            list_id="stolen",
            record={"plate": f"8CHG{next(n):03d}"},
            now=NOW,
            actor=ACTOR,
        )
        return real_entries(*args)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(hotlist_service, "entry_writes", entry_writes_with_a_change_each_time)
        with pytest.raises(Conflict, match="changed 3 times"):
            import_(store, busy)
    assert "2BBB222" not in plates_of(store)
    assert {"1AAA111", "8CHG000", "8CHG001", "8CHG002"} == plates_of(store)
