"""The audit hash chain, pure: any single tampering is reported where it happened."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from veille.domain.audit import (
    GENESIS_HASH,
    Actor,
    AuditEntry,
    AuditRecord,
    chain_hash,
    next_record,
    verify_chain,
)
from veille.domain.checkpoints import Checkpoint
from veille.service.audit import check

pytestmark = pytest.mark.unit

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
texts = st.text(min_size=0, max_size=12)
optional_texts = st.none() | texts
json_values = st.none() | st.booleans() | st.integers(-(2**40), 2**40) | texts
params_st = st.dictionaries(st.text(max_size=8), json_values, max_size=4)
actors = st.builds(
    Actor,
    username=st.text(min_size=1, max_size=12),
    role=st.sampled_from(["investigator", "auditor", "administrator", "system"]),
    user_id=st.none() | st.integers(1, 10_000),
    org_id=optional_texts,
    ip=st.none() | st.ip_addresses().map(str),
    user_agent=optional_texts,
)
entries = st.builds(
    AuditEntry,
    at=st.integers(0, 10**8).map(lambda s: T0 + timedelta(seconds=s)),
    actor=actors,
    action=st.sampled_from(["auth.sign_in", "reads.search", "audit.export", "camera.retire"]),
    outcome=st.sampled_from(["ok", "refused", "failed"]),
    target=optional_texts,
    params=params_st,
    result_count=st.none() | st.integers(0, 10**6),
    purpose=optional_texts,
    case_ref=optional_texts,
)


def build_chain(items: list[AuditEntry]) -> list[AuditRecord]:
    chain: list[AuditRecord] = []
    for entry in items:
        chain.append(next_record(chain[-1] if chain else None, entry))
    return chain


def entry(i: int) -> AuditEntry:
    return AuditEntry(
        at=T0 + timedelta(minutes=i),
        actor=Actor(username=f"user{i % 3}", role="investigator", user_id=i % 3 + 1),
        action="reads.search",
        params={"plate": f"1ABC{i:03d}"},
        result_count=i,
        purpose="theft",
        case_ref="BR.12.34.5678/26",
    )


chains = st.lists(entries, min_size=1, max_size=25).map(build_chain)

ENTRY_FIELDS = [f.name for f in dataclasses.fields(AuditEntry) if f.name != "actor"]
ACTOR_FIELDS = [f.name for f in dataclasses.fields(Actor)]
RECORD_FIELDS = ["seq", "prev_hash", "hash"]
FIELD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "at": st.integers(-(10**6), 10**6).map(lambda s: T0 + timedelta(seconds=s)),
    "params": params_st,
    "result_count": st.none() | st.integers(-5, 10**6),
    "user_id": st.none() | st.integers(-5, 10**6),
    "seq": st.integers(-3, 40),
    "prev_hash": st.sampled_from([GENESIS_HASH, "f" * 64]) | st.text(max_size=64),
    "hash": st.sampled_from([GENESIS_HASH, "e" * 64]) | st.text(max_size=64),
    "username": st.text(min_size=1, max_size=12),
    "role": st.text(min_size=1, max_size=12),
}


def test_intact_chain_of_fifty_has_no_problem():
    chain = build_chain([entry(i) for i in range(50)])
    assert [r.seq for r in chain] == list(range(1, 51))
    assert chain[0].prev_hash == GENESIS_HASH
    assert all(b.prev_hash == a.hash for a, b in pairwise(chain))
    assert verify_chain(chain) == []
    assert verify_chain([]) == []


def test_removing_the_last_records_is_invisible_to_the_chain_alone_but_not_to_an_anchor():
    chain = build_chain([entry(i) for i in range(50)])
    anchor = Checkpoint(seq=50, hash=chain[-1].hash, at=T0, key_id="k")
    assert verify_chain(chain[:-3]) == []  # why anchors exist
    report = check(chain[:-3], [anchor])
    assert not report.ok
    assert [(p.seq, p.kind) for p in report.problems] == [(50, "truncated")]
    assert report.head == (47, chain[46].hash) and report.records == 47
    assert check(chain, [anchor]).ok


def test_a_rewritten_chain_is_consistent_but_contradicts_its_anchor():
    chain = build_chain([entry(i) for i in range(20)])
    anchor = Checkpoint(seq=15, hash=chain[14].hash, at=T0, key_id="k")
    forged = build_chain(
        [entry(i) for i in range(10)] + [dataclasses.replace(entry(10), result_count=0)]
    )
    forged = build_chain([r.entry for r in forged] + [entry(i) for i in range(11, 20)])
    assert verify_chain(forged) == []
    report = check(forged, [anchor])
    assert [(p.seq, p.kind) for p in report.problems] == [(15, "edited")]


def _edit(data: st.DataObject, record: AuditRecord) -> tuple[AuditRecord, int | None]:
    """One field of one record changed; returns the record and its new seq if seq changed."""
    name = data.draw(st.sampled_from(ENTRY_FIELDS + ACTOR_FIELDS + RECORD_FIELDS), label="field")
    values = FIELD_VALUES.get(name, optional_texts)
    if name in RECORD_FIELDS:
        old = getattr(record, name)
        new = data.draw(values.filter(lambda v: v != old), label="new value")
        return dataclasses.replace(record, **{name: new}), new if name == "seq" else None
    if name in ACTOR_FIELDS:
        old = getattr(record.entry.actor, name)
        new = data.draw(values.filter(lambda v: v != old), label="new value")
        actor = dataclasses.replace(record.entry.actor, **{name: new})
        return dataclasses.replace(
            record, entry=dataclasses.replace(record.entry, actor=actor)
        ), None
    old = getattr(record.entry, name)
    new = data.draw(values.filter(lambda v: v != old), label="new value")
    return dataclasses.replace(record, entry=dataclasses.replace(record.entry, **{name: new})), None


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(chain=chains, data=st.data())
def test_any_single_tampering_is_reported_at_or_right_after_its_position(chain, data):
    n = len(chain)
    kind = data.draw(st.sampled_from(["edit", "delete", "insert", "swap"]), label="tampering")
    tampered = list(chain)
    also: set[int] = set()  # a record whose seq was edited is also named by its new seq
    if kind == "edit":
        i = data.draw(st.integers(0, n - 1), label="index")
        tampered[i], new_seq = _edit(data, chain[i])
        if new_seq is not None:
            also.add(new_seq)
    elif kind == "delete":
        # Removing the last record is tail truncation: only an anchor shows it (tested above).
        assume(n >= 2)
        i = data.draw(st.integers(0, n - 2), label="index")
        del tampered[i]
    elif kind == "insert":
        i = data.draw(st.integers(0, n), label="index")
        linked = chain[i - 1].hash if i else GENESIS_HASH
        prev = data.draw(
            st.text(min_size=64, max_size=64, alphabet="0123456789abcdef").filter(
                lambda h: h != linked
            ),
            label="prev_hash",
        )
        forged_entry = data.draw(entries, label="forged entry")
        seq = i + 1  # takes the place of the record it pushes down
        tampered.insert(
            i, AuditRecord(seq, forged_entry, prev, chain_hash(seq, forged_entry, prev))
        )
    else:
        assume(n >= 2)
        i = data.draw(st.integers(0, n - 2), label="index")
        tampered[i], tampered[i + 1] = tampered[i + 1], tampered[i]
    position = i + 1  # the original seq at the tampered position

    problems = verify_chain(tampered)

    assert problems, f"{kind} at {position} went unnoticed"
    first = min(p.seq for p in problems)
    assert first in {position, position + 1} | also, (kind, position, problems)


def test_each_kind_of_break_is_named():
    chain = build_chain([entry(i) for i in range(10)])
    edited = list(chain)
    edited[3] = dataclasses.replace(
        chain[3], entry=dataclasses.replace(chain[3].entry, result_count=999)
    )
    assert [(p.seq, p.kind) for p in verify_chain(edited)] == [(4, "edited")]
    deleted = chain[:4] + chain[5:]
    assert [str(p) for p in verify_chain(deleted)] == ["record 6: deleted: records 5–5 are missing"]
    swapped = list(chain)
    swapped[2], swapped[3] = swapped[3], swapped[2]
    kinds = [(p.seq, p.kind) for p in verify_chain(swapped)]
    assert kinds == [(4, "deleted"), (3, "reordered")]  # and nothing after the swap


def _exchange(chain: list[AuditRecord], a: int, b: int) -> list[AuditRecord]:
    """Records at indexes a and b trade everything but their sequence numbers."""
    out = list(chain)
    out[a] = dataclasses.replace(chain[b], seq=chain[a].seq)
    out[b] = dataclasses.replace(chain[a], seq=chain[b].seq)
    return out


@pytest.mark.parametrize(("a", "b"), [(3, 4), (2, 7), (0, 9)])
def test_records_that_exchanged_places_are_one_reordering(a, b):
    chain = build_chain([entry(i) for i in range(10)])
    problems = verify_chain(_exchange(chain, a, b))
    assert [(p.seq, p.kind) for p in problems] == [(a + 1, "reordered")], problems


def test_a_moved_record_that_fills_no_hole_is_not_called_a_reordering():
    chain = build_chain([entry(i) for i in range(10)])
    moved = list(chain)
    moved[6] = dataclasses.replace(chain[3], seq=7)  # record 4 copied over record 7
    kinds = {p.kind for p in verify_chain(moved)}
    assert "reordered" not in kinds and "edited" in kinds


def _cp(seq: int, chain: list[AuditRecord], at: datetime) -> Checkpoint:
    return Checkpoint(seq=seq, hash=chain[seq - 1].hash, at=at, key_id="k")


def test_check_requires_a_checkpoint_and_reports_what_none_covers():
    chain = build_chain([entry(i) for i in range(10)])
    assert [(p.seq, p.kind) for p in check(chain).problems] == [(0, "anchors")]
    assert [(p.seq, p.kind) for p in check([]).problems] == [(0, "anchors")]  # an emptied log
    wait = timedelta(minutes=3)
    report = check(chain, [_cp(7, chain, T0)], now=T0 + wait, max_wait=wait)
    assert report.ok and report.uncovered == 3 and report.checkpoint_age_s == 180
    late = check(chain, [_cp(7, chain, T0)], now=T0 + wait + timedelta(seconds=1), max_wait=wait)
    assert [(p.seq, p.kind) for p in late.problems] == [(8, "uncovered")]
    covered = check(chain, [_cp(10, chain, T0)], now=T0 + timedelta(days=9), max_wait=wait)
    assert covered.ok and covered.uncovered == 0  # an idle log needs no fresh checkpoint


def test_check_fails_on_a_noted_checkpoint_the_store_lacks_and_on_refusals():
    items = [entry(i) for i in range(5)]
    chain = build_chain(items)
    noted = chain[4]
    note = AuditEntry(
        at=T0,
        actor=Actor(username="job", role="system"),
        action="audit.anchor",
        params={"checkpoint_seq": 5, "checkpoint_hash": noted.hash},
    )
    chain = build_chain([*items, note])
    assert check(chain, [_cp(5, chain, T0)]).ok
    lost = check(chain, [_cp(6, chain, T0)])
    assert [(p.seq, p.kind) for p in lost.problems] == [(6, "anchors")]
    refusal = Checkpoint(seq=3, hash="x", at=T0, key_id="k", kind="refusal", reason="no seal")
    refused = check(chain, [_cp(5, chain, T0), _cp(6, chain, T0)], refusals=[refusal])
    assert [(p.seq, p.kind) for p in refused.problems] == [(3, "forged")]
