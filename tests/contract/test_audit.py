"""The audit log: a hash chain the domain verifier accepts, and its searches."""

from __future__ import annotations

from datetime import timedelta, timezone
from typing import Any

import pytest

from tests.contract.builders import NOW, Store, an_entry, committed, seen
from tests.contract.conftest import Backend
from veille.adapters.memory.store import MemoryStore
from veille.adapters.sqlite.store import SqliteStore
from veille.domain.audit import AuditEntry, next_record, verify_chain

pytestmark = pytest.mark.integration

M = timedelta(minutes=1)


def append(store: Store, *entries: AuditEntry) -> list[Any]:
    return committed(store, lambda uow: [uow.audit.append(e) for e in entries])


def test_records_chain_as_the_domain_defines_and_verify(store: Store):
    assert seen(store, lambda uow: uow.audit.last()) is None
    entries = [
        an_entry("auth.sign_in", at=NOW, outcome="refused", target="alice"),
        an_entry(
            "reads.search",
            at=NOW + M,
            params={"plate": "1ABC123", "nested": {"b": 2, "a": [1, 2]}},
            result_count=3,
            purpose="judicial: investigation of an offence",
            case_ref="PV-2026-001",
        ),
        an_entry("camera.retire", at=NOW + 2 * M),
    ]
    returned = append(store, *entries[:2]) + append(store, entries[2])
    expected, previous = [], None
    for entry in entries:
        previous = next_record(previous, entry)
        expected.append(previous)
    assert [(r.seq, r.prev_hash, r.hash) for r in returned] == [
        (r.seq, r.prev_hash, r.hash) for r in expected
    ]
    with store.uow(write=False) as uow:
        stored = list(uow.audit.iter_all())
        assert stored == expected
        assert uow.audit.last() == expected[-1]
        assert uow.audit.count() == 3
    assert verify_chain(stored) == []


def test_iter_all_yields_every_record_in_order_whatever_the_batch(store: Store):
    append(store, *(an_entry(f"a{i}", at=NOW + i * M) for i in range(7)))
    with store.uow(write=False) as uow:
        assert [r.seq for r in uow.audit.iter_all(batch=3)] == list(range(1, 8))


def test_a_stored_record_does_not_change_with_the_callers_params(store: Store):
    params: dict[str, Any] = {"plate": "1ABC123"}
    append(store, an_entry(params=params))
    params["plate"] = "changed afterwards"
    assert verify_chain(seen(store, lambda uow: list(uow.audit.iter_all()))) == []


def test_append_needs_an_open_transaction(store: Store):
    uow = store.uow()
    with pytest.raises(RuntimeError):
        uow.audit.append(an_entry())
    assert seen(store, lambda u: u.audit.count()) == 0


@pytest.fixture
def log(store: Store) -> None:
    append(
        store,
        an_entry("reads.search", at=NOW, username="alice", case_ref="PV-1"),  # 1
        an_entry("reads.export", at=NOW + M, username="alice", case_ref="PV-2"),  # 2
        an_entry("reads.search", at=NOW + 2 * M, username="bob", case_ref="PV-1"),  # 3
        an_entry("auth.sign_in", at=NOW + 3 * M, username="bob"),  # 4
        an_entry("reads.search", at=NOW + 4 * M, username="alice", case_ref="PV-1"),  # 5
    )


def seqs(store: Store, **filters: Any) -> list[int]:
    return seen(store, lambda uow: [r.seq for r in uow.audit.search(**filters)])


def test_search_filters_by_time_actor_action_and_case(store: Store, log):
    assert seqs(store) == [1, 2, 3, 4, 5]
    assert seqs(store, since=NOW + M) == [2, 3, 4, 5]  # since: inclusive
    assert seqs(store, until=NOW + 3 * M) == [1, 2, 3]  # until: exclusive
    assert seqs(store, since=NOW + M, until=NOW + 3 * M) == [2, 3]
    assert seqs(store, username="alice") == [1, 2, 5]
    assert seqs(store, action="reads.search") == [1, 3, 5]
    assert seqs(store, case_ref="PV-1") == [1, 3, 5]
    assert seqs(store, username="alice", action="reads.search", case_ref="PV-1") == [1, 5]
    assert seqs(store, username="nobody") == []
    assert seqs(store, limit=2) == [1, 2]


def test_search_bounds_are_instants_whatever_their_offset(store: Store, log):
    brussels = timezone(timedelta(hours=1))
    since = (NOW + 30 * timedelta(seconds=1)).astimezone(brussels)
    until = (NOW + 3 * M).astimezone(brussels)
    assert seqs(store, since=since, until=until) == [2, 3]


def test_records_are_found_by_number_by_latest_action_and_after_a_number(store: Store):
    append(store, *(an_entry("a" if i % 2 else "b", at=NOW + i * M) for i in range(6)))
    with store.uow(write=False) as uow:
        third = uow.audit.get(3)
        assert third is not None and third.seq == 3 and third.entry.action == "b"
        assert uow.audit.get(99) is None
        latest_a = uow.audit.last_of("a")
        assert latest_a is not None and latest_a.seq == 6
        assert uow.audit.last_of("never") is None
        assert [r.seq for r in uow.audit.iter_all(batch=2, after=3)] == [4, 5, 6]


def test_a_store_given_a_seal_seals_every_record_it_appends(backend: Backend, tmp_path):
    def seal(digest: str) -> str:
        return "sealed:" + digest[:16]

    if backend.name == "sqlite":
        sealed: Any = SqliteStore(tmp_path / "sealed.sqlite3", synchronous="OFF", seal=seal)
        sealed.initialise()
    else:
        sealed = MemoryStore(seal=seal)
    append(sealed, an_entry("a", at=NOW), an_entry("b", at=NOW + M))
    records = seen(sealed, lambda uow: list(uow.audit.iter_all()))
    assert [r.seal for r in records] == [seal(r.hash) for r in records]
    sealed.close()
