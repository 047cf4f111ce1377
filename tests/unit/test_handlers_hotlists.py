"""Hotlist handlers on the in-memory store: what they store, audit and refuse."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from tests.unit.fakes import FakePlatform, memory_bus
from veille.domain.audit import Actor
from veille.domain.hotlists import HotlistEntry
from veille.entrypoints.api.errors import status_of, taxonomy_body
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
from veille.service.errors import Forbidden, Invalid, NotFound
from veille.service.handlers import hotlists

pytestmark = pytest.mark.unit

MIDI = "zone-midi"
HANA = Actor(username="hana", role="hotlist_manager", user_id=7, org_id=MIDI)
HUGO = Actor(username="hugo", role="hotlist_manager", user_id=8, org_id="zone-nord")


@pytest.fixture
def fake() -> FakePlatform:
    return memory_bus(hotlists.register)


def save(fake: FakePlatform, list_id: str = "case", **fields: Any) -> Any:
    values: dict[str, Any] = dict(
        name="Case 4711",
        category="investigation",
        owner_org=MIDI,
        actor=HANA,
        org_id=MIDI,
    )
    values.update(fields)
    return fake.bus.handle(SaveHotlist(list_id=list_id, **values))


def put(fake: FakePlatform, record: dict[str, Any], *, org_id: str | None = MIDI) -> Any:
    return fake.bus.handle(
        PutHotlistEntry(list_id="case", record=record, actor=HANA, org_id=org_id)
    )


def import_json(fake: FakePlatform, entries: Any, *, org_id: str | None = MIDI) -> Any:
    return fake.bus.handle(
        ImportHotlist(
            list_id="case",
            text=orjson.dumps(entries).decode(),
            fmt="json",
            actor=HANA,
            org_id=org_id,
        )
    )


def audit_actions(fake: FakePlatform) -> list[tuple[str, str | None, dict[str, Any]]]:
    with fake.store.uow(write=False) as uow:
        return [(r.entry.action, r.entry.target, r.entry.params) for r in uow.audit.iter_all()]


def stored_entries(fake: FakePlatform, list_id: str = "case") -> list[HotlistEntry]:
    with fake.store.uow(write=False) as uow:
        return uow.hotlists.entries(list_id)


def changes(fake: FakePlatform) -> int:
    with fake.store.uow(write=False) as uow:
        return uow.hotlists.latest_change()


# --- saving -------------------------------------------------------------------------------


def test_saving_creates_then_changes_a_list_each_time_audited_and_noticed(fake):
    created = save(fake, max_edits=1)
    assert created.created and created.hotlist.max_edits == 1
    changed = save(fake, name="Case 4711 (renamed)", lookalike=False)
    assert not changed.created
    with fake.store.uow(write=False) as uow:
        stored = uow.hotlists.get_list("case")
    assert stored is not None and stored.name == "Case 4711 (renamed)" and not stored.lookalike
    assert stored.owner_org == MIDI and stored.max_edits == 0
    assert [(a, t, p["created"]) for a, t, p in audit_actions(fake)] == [
        ("hotlist.save", "case", True),
        ("hotlist.save", "case", False),
    ]
    assert changes(fake) == 2  # every process's matcher rebuilds the list


def test_lists_of_an_organisation_are_its_own_with_their_entry_counts(fake):
    save(fake)
    save(fake, "nord", owner_org="zone-nord", actor=HUGO, org_id="zone-nord")
    put(fake, {"plate": "1ABC123"})
    mine = fake.bus.handle(HotlistsOfOrg(org_id=MIDI))
    assert [(s.hotlist.list_id, s.entries) for s in mine] == [("case", 1)]
    every = fake.bus.handle(HotlistsOfOrg(org_id=None))  # the command line
    assert [s.hotlist.list_id for s in every] == ["case", "nord"]


@pytest.mark.parametrize(
    "fields", [{"max_edits": 3}, {"default_priority": 9}, {"category": "parking"}]
)
def test_a_list_definition_the_rules_refuse_is_an_invalid_change(fake, fields):
    with pytest.raises(Invalid) as refused:
        save(fake, **fields)
    assert refused.value.code == "invalid_change" and status_of(refused.value) == 422
    assert audit_actions(fake) == [] and changes(fake) == 0


def test_a_list_keeps_its_owner_and_is_saved_for_the_saving_organisation(fake):
    save(fake)
    with pytest.raises(Invalid) as moved:  # the command line may name any owner, not move one
        save(fake, owner_org="zone-nord", org_id=None)
    assert moved.value.code == "invalid_change"
    with pytest.raises(Forbidden):
        save(fake, "other", owner_org="zone-nord")
    assert len(audit_actions(fake)) == 1


# --- ownership ----------------------------------------------------------------------------


def test_another_organisations_list_does_not_exist_for_the_caller(fake):
    save(fake)
    put(fake, {"plate": "1ABC123"})
    entry_id = stored_entries(fake)[0].entry_id
    before = audit_actions(fake), stored_entries(fake), changes(fake)
    nord = dict(actor=HUGO, org_id="zone-nord")
    attempts = [
        SaveHotlist(
            list_id="case", name="Taken", category="investigation", owner_org="zone-nord", **nord
        ),
        DeleteHotlist(list_id="case", **nord),
        PutHotlistEntry(list_id="case", record={"plate": "2XYZ999"}, **nord),
        ExpireHotlistEntry(list_id="case", entry_id=entry_id, **nord),
        DeleteHotlistEntry(list_id="case", entry_id=entry_id, **nord),
        ImportHotlist(list_id="case", text="[]", fmt="json", **nord),
        HotlistEntriesPage(list_id="case", org_id="zone-nord"),
    ]
    for attempt in attempts:
        with pytest.raises(NotFound) as refused:
            fake.bus.handle(attempt)
        assert str(refused.value) == "no hotlist case of your organisation", attempt
        assert refused.value.code == "not_found" and status_of(refused.value) == 404
    assert (audit_actions(fake), stored_entries(fake), changes(fake)) == before
    # a missing list answers the same, so nobody learns which lists others keep
    with pytest.raises(NotFound, match=r"^no hotlist nowhere of your organisation$"):
        fake.bus.handle(HotlistEntriesPage(list_id="nowhere", org_id="zone-nord"))
    with pytest.raises(NotFound, match=r"^no hotlist nowhere$"):  # the command line
        fake.bus.handle(DeleteHotlist(list_id="nowhere", actor=HANA, org_id=None))


# --- entries ------------------------------------------------------------------------------


def test_an_entry_is_put_expired_and_deleted_each_step_audited(fake):
    save(fake)
    fake.now = fake.now.replace(hour=13)
    entry = put(fake, {"plate": "1-abc-123", "country": "BE", "priority": 1})
    assert (entry.plate, entry.country, entry.priority) == ("1ABC123", "BE", 1)
    assert stored_entries(fake) == [entry]
    expired = fake.bus.handle(
        ExpireHotlistEntry(list_id="case", entry_id=entry.entry_id, actor=HANA, org_id=MIDI)
    )
    assert expired.valid_until == fake.now and stored_entries(fake) == [expired]
    fake.bus.handle(
        DeleteHotlistEntry(list_id="case", entry_id=entry.entry_id, actor=HANA, org_id=MIDI)
    )
    assert stored_entries(fake) == []
    assert [(a, p.get("entry_id")) for a, _, p in audit_actions(fake)[1:]] == [
        ("hotlist.entry_put", entry.entry_id),
        ("hotlist.entry_expire", entry.entry_id),
        ("hotlist.entry_delete", entry.entry_id),
    ]
    with pytest.raises(NotFound, match=f"^no entry {entry.entry_id} in case$"):
        fake.bus.handle(
            DeleteHotlistEntry(list_id="case", entry_id=entry.entry_id, actor=HANA, org_id=MIDI)
        )


def test_a_refused_entry_field_is_an_invalid_entry_naming_the_field(fake):
    save(fake)
    with pytest.raises(Invalid) as refused:
        put(fake, {"plate": "1ABC123", "priority": 9})
    error = refused.value
    assert error.code == "invalid_entry" and status_of(error) == 422
    assert [p.field for p in error.problems] == ["priority"]
    body = taxonomy_body(error)["error"]
    assert body["code"] == "invalid_entry" and body["field"] == "priority"
    assert body["problems"][0]["field"] == "priority"
    assert stored_entries(fake) == [] and len(audit_actions(fake)) == 1


def test_a_wildcard_too_many_is_an_invalid_change(fake):
    save(fake, max_wildcards=1)
    put(fake, {"plate": "1AB?12*"})
    with pytest.raises(Invalid) as refused:
        put(fake, {"plate": "2XY*"})
    assert refused.value.code == "invalid_change" and "allows 1 wildcard" in str(refused.value)
    assert len(stored_entries(fake)) == 1


def test_entries_page_in_id_order(fake):
    save(fake)
    import_json(fake, [{"plate": f"1PAG{n:03d}"} for n in range(5)])
    ids = [e.entry_id for e in stored_entries(fake)]
    first = fake.bus.handle(HotlistEntriesPage(list_id="case", org_id=MIDI, limit=2))
    rest = fake.bus.handle(HotlistEntriesPage(list_id="case", org_id=MIDI, after=ids[1]))
    assert [e.entry_id for e in first + rest] == ids


# --- imports ------------------------------------------------------------------------------


def test_an_import_replaces_the_list_and_says_what_changed(fake):
    save(fake)
    put(fake, {"plate": "9OLD999"})
    put(fake, {"plate": "1ABC123", "priority": 3})
    report = fake.bus.handle(
        ImportHotlist(
            list_id="case",
            text="plate,priority\n1ABC123,1\n2XYZ999,\n",
            fmt="csv",
            actor=HANA,
            org_id=MIDI,
        )
    )
    assert report.applied
    assert (report.added, report.changed, report.removed, report.unchanged) == (1, 1, 1, 0)
    assert sorted((e.plate, e.priority) for e in stored_entries(fake)) == [
        ("1ABC123", 1),
        ("2XYZ999", 3),
    ]
    action, target, params = audit_actions(fake)[-1]
    assert (action, target) == ("hotlist.import", "case")
    assert (params["added"], params["changed"], params["removed"]) == (1, 1, 1)


def test_an_import_with_bad_lines_changes_nothing_and_reports_each(fake):
    save(fake)
    put(fake, {"plate": "9OLD999"})
    before = audit_actions(fake), stored_entries(fake), changes(fake)
    report = import_json(fake, [{"plate": "1ABC123"}, {"plate": "1ABC123", "priority": 0}])
    assert not report.applied
    assert [(p["where"], p["field"]) for p in report.problems] == [("entry 2", "priority")]
    assert (audit_actions(fake), stored_entries(fake), changes(fake)) == before


@pytest.mark.parametrize(
    ("text", "fmt"),
    [("country\nBE\n", "csv"), ("plate,colour\n1ABC123,red\n", "csv"), ("{", "json")],
)
def test_an_unreadable_import_file_is_a_bad_import_file(fake, text, fmt):
    save(fake)
    with pytest.raises(Invalid) as refused:
        fake.bus.handle(ImportHotlist(list_id="case", text=text, fmt=fmt, actor=HANA, org_id=MIDI))
    assert refused.value.code == "bad_import_file" and status_of(refused.value) == 422
    assert len(audit_actions(fake)) == 1
