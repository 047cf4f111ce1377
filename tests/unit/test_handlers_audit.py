"""Audit handlers on the in-memory store: search, export, verify, checkpoints, anchoring."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from datetime import timedelta
from typing import Any

import orjson
import pytest

from tests.contract.builders import an_entry, committed, seen
from tests.unit.fakes import FakePlatform, memory_bus
from veille.domain.audit import Actor, AuditRecord
from veille.service.audit_checkpoints import CheckpointRefused
from veille.service.commands.audit import (
    AnchorAuditHead,
    AuditFilters,
    AuditRecordsPage,
    CheckpointAuditHead,
    ExportAuditLog,
    RecordAuditVerification,
    VerifyAuditLog,
)
from veille.service.errors import Conflict
from veille.service.handlers import audit

pytestmark = pytest.mark.unit

DPO = Actor(username="dpo", role="dpo", user_id=9, org_id="dpo-office")


@pytest.fixture
def fake() -> FakePlatform:
    fake = memory_bus(audit.register)
    now = fake.now

    def seed(uow: Any) -> None:
        for i, (action, user) in enumerate(
            [("reads.search", "alice"), ("hotlist.create", "bob"), ("reads.search", "bob")]
        ):
            uow.audit.append(an_entry(action, at=now - timedelta(hours=3 - i), username=user))

    committed(fake.store, seed)
    return fake


def records(fake: FakePlatform) -> list[AuditRecord]:
    return seen(fake.store, lambda uow: list(uow.audit.iter_all()))


def actions(fake: FakePlatform) -> list[str]:
    return [r.entry.action for r in records(fake)]


# --- search and export ------------------------------------------------------------------


def test_a_page_of_records_is_answered_after_its_search_is_audited(fake):
    found, after = fake.bus.handle(AuditRecordsPage(actor=DPO, limit=2))
    assert [r.seq for r in found] == [1, 2] and after == 2
    search = records(fake)[-1]
    assert search.entry.action == "audit.search" and search.entry.actor == DPO
    assert (search.entry.result_count, search.entry.params["limit"]) == (2, 2)

    rest, end = fake.bus.handle(AuditRecordsPage(actor=DPO, limit=2, after_seq=after))
    # the first search's record (4) is there; this search's own is appended after it read
    assert [r.seq for r in rest] == [3, 4] and end is None
    assert records(fake)[-1].entry.params["after_seq"] == 2


def test_filters_narrow_a_search_and_are_audited_with_it(fake):
    found, after = fake.bus.handle(
        AuditRecordsPage(actor=DPO, filters=AuditFilters(username="bob", action="reads.search"))
    )
    assert [(r.seq, r.entry.actor.username) for r in found] == [(3, "bob")] and after is None
    params = records(fake)[-1].entry.params
    assert (params["user"], params["action"]) == ("bob", "reads.search")


def test_an_export_holds_every_matching_record_and_is_audited(fake):
    text = fake.bus.handle(
        ExportAuditLog(actor=DPO, fmt="csv", filters=AuditFilters(action="reads.search"))
    )
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(r["seq"], r["actor_username"]) for r in rows] == [("1", "alice"), ("3", "bob")]
    export = records(fake)[-1].entry
    assert (export.action, export.result_count, export.params["format"]) == (
        "audit.export",
        2,
        "csv",
    )
    as_json = orjson.loads(fake.bus.handle(ExportAuditLog(actor=DPO, fmt="json")))
    assert [r["seq"] for r in as_json] == [1, 2, 3, 4]  # the csv export's record too


# --- verification -----------------------------------------------------------------------


def test_verification_writes_nothing_and_finds_an_unvouched_log_wanting(fake):
    before = records(fake)
    report = fake.bus.handle(VerifyAuditLog())
    assert records(fake) == before  # nothing written before (or after) it answers
    assert not report.ok and report.records == 3
    assert any(p.kind == "anchors" for p in report.problems)  # no anchor store at all


def test_a_checkpointed_log_verifies_and_its_verification_is_recorded_and_vouched_for(fake):
    checkpoint = fake.bus.handle(CheckpointAuditHead())
    assert checkpoint.seq == 3
    assert fake.bus.handle(CheckpointAuditHead()) is None  # the head is covered already
    report = fake.bus.handle(VerifyAuditLog())
    assert report.ok and report.head[0] == 3 and report.anchors_checked == 1
    assert report.key_id == fake.keys.key_id and report.anchor_store == "memory://anchors"

    recorded = fake.bus.handle(RecordAuditVerification(report=report, actor=DPO, vouch=True))
    assert recorded.entry.action == "audit.verify" and recorded.entry.params["intact"] is True
    assert fake.anchors.checkpoints[-1].seq == recorded.seq  # vouched for at once
    assert fake.bus.handle(VerifyAuditLog()).ok


def test_an_edited_record_fails_verification(fake):
    fake.bus.handle(CheckpointAuditHead())

    def edit(uow: Any) -> None:
        table = uow.writable("audit_log")  # below the port, as an insider with SQL would
        table[2] = replace(table[2], entry=replace(table[2].entry, result_count=0))

    committed(fake.store, edit)
    report = fake.bus.handle(VerifyAuditLog())
    assert not report.ok and 2 in {p.seq for p in report.problems}


# --- anchoring --------------------------------------------------------------------------


def test_anchoring_notes_the_checkpoint_in_the_log_and_checkpoints_the_note(fake):
    assert fake.bus.handle(AnchorAuditHead(dry_run=True)) is None
    assert actions(fake)[-1] == "reads.search" and fake.anchors.checkpoints is None

    written = fake.bus.handle(AnchorAuditHead())
    note = records(fake)[-1]
    assert note.entry.action == "audit.anchor" and note.entry.actor.username == "job:audit-anchor"
    assert note.entry.params["checkpoint_seq"] == 3
    assert written.seq == note.seq == 4
    assert [cp.seq for cp in fake.anchors.checkpoints] == [3, 4]
    assert fake.bus.handle(VerifyAuditLog()).ok


def test_a_record_the_writer_cannot_vouch_for_is_a_conflict(fake):
    fake.bus.handle(CheckpointAuditHead())

    def forge(uow: Any) -> None:
        uow.audit.append(an_entry("reads.search", at=fake.now))
        table = uow.writable("audit_log")
        table[4] = replace(table[4], seal="not-the-key")  # written by something else

    committed(fake.store, forge)
    with pytest.raises(Conflict) as refused:
        fake.bus.handle(AnchorAuditHead(actor=DPO))
    assert isinstance(refused.value, CheckpointRefused)
    assert refused.value.code == "checkpoint_refused"
    assert "audit.anchor" not in actions(fake)
