"""Dead-letter handlers on the in-memory store: pages, replay through `IngestReads`, discard."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import Future
from datetime import timedelta
from typing import Any

import orjson
import pytest

from tests.conftest import make_read
from tests.unit.fakes import FakePlatform, ingest_writer, memory_bus
from veille.adapters.decoders.native_json import decode_items
from veille.domain.audit import system_actor
from veille.domain.reads import FieldError, ReadRules
from veille.service.commands import IngestReads
from veille.service.commands.dead_letters import (
    DeadLettersPage,
    DiscardDeadLetter,
    ReplayDeadLetter,
)
from veille.service.errors import Busy, Conflict, NotFound
from veille.service.handlers import dead_letters
from veille.service.ingest import record_rejected_request
from veille.service.writer import GroupCommitWriter

pytestmark = pytest.mark.unit

ADMIN = system_actor("test-admin")


@pytest.fixture
def fake() -> FakePlatform:
    return memory_bus(dead_letters.register)


@pytest.fixture
def writer(fake: FakePlatform) -> Iterator[GroupCommitWriter]:
    with ingest_writer(fake) as writer:
        yield writer


def read_at(fake: FakePlatform, offset: timedelta, **fields: Any) -> dict[str, Any]:
    """A read of CAM-A captured `offset` from the fake's now."""
    captured = (fake.now + offset).isoformat().replace("+00:00", "Z")
    return make_read("CAM-A", captured_at=captured, **fields)


def post(fake: FakePlatform, *items: dict[str, Any]) -> Any:
    """Ingest as a camera does: good reads stored, bad ones kept as dead letters."""
    decoded = decode_items(list(items), camera_id="CAM-A", now=fake.now, rules=ReadRules())
    command = IngestReads(camera_id="CAM-A", decoded=decoded, received_at=fake.now)
    return fake.bus.handle(command).result(timeout=10)


def the_open_letter(fake: FakePlatform) -> int:
    (letter,) = fake.bus.handle(DeadLettersPage())
    return int(letter.id)


def replay(fake: FakePlatform, dead_letter_id: int) -> Any:
    return fake.bus.handle(ReplayDeadLetter(dead_letter_id=dead_letter_id, actor=ADMIN))


def test_a_replay_once_the_cause_is_gone_stores_the_read_and_closes_the_letter(
    fake: FakePlatform, writer: GroupCommitWriter
):
    early = read_at(fake, timedelta(hours=1))  # the camera's clock ran an hour ahead
    assert post(fake, early).rejected == 1
    letter = the_open_letter(fake)
    fake.now += timedelta(hours=2)
    outcome = replay(fake, letter)
    assert (outcome.status, outcome.stored, outcome.duplicate) == ("replayed", 1, 0)
    with fake.store.uow(write=False) as uow:
        stored = uow.reads.get(uuid.UUID(early["read_id"]))
        marked = uow.dead_letters.get(letter)
        assert uow.dead_letters.count() == 1
    assert stored is not None and stored.received_at == fake.now
    assert marked is not None and (marked.status, marked.replayed_at) == ("replayed", fake.now)
    assert orjson.loads(marked.replay_result) == [{"stored": "1", "duplicate": "0"}]
    assert fake.audited() == [("dead_letter.replay", str(letter), "ok")]
    assert fake.bus.handle(DeadLettersPage()) == []
    assert replay(fake, letter).status == "not_open"


def test_a_replay_of_a_read_stored_meanwhile_counts_a_duplicate(
    fake: FakePlatform, writer: GroupCommitWriter
):
    early = read_at(fake, timedelta(hours=1))
    post(fake, early)
    fake.now += timedelta(hours=2)
    assert post(fake, early).stored == 1  # the camera sent it again
    outcome = replay(fake, the_open_letter(fake))
    assert (outcome.status, outcome.stored, outcome.duplicate) == ("replayed", 0, 1)
    with fake.store.uow(write=False) as uow:
        assert uow.reads.count() == 1


def test_a_still_bad_letter_stays_open_with_the_new_reasons_and_nothing_is_added(
    fake: FakePlatform, writer: GroupCommitWriter
):
    good, bad = read_at(fake, -timedelta(minutes=1)), read_at(fake, timedelta(0), confidence=1.7)
    dead_id = record_rejected_request(
        fake.store.uow(),
        now=fake.now,
        camera_id="CAM-A",
        source="api",
        payload=orjson.dumps([good, bad]).decode(),
        errors=[FieldError("(body)", "writer unavailable")],
    )
    fake.now += timedelta(minutes=5)
    outcome = replay(fake, dead_id)
    assert outcome.status == "still_rejected"
    assert [(e["index"], e["field"]) for e in outcome.errors] == [("1", "confidence")]
    with fake.store.uow(write=False) as uow:
        assert uow.reads.count() == 0  # all or nothing: the good read waits for the bad one
        assert (uow.dead_letters.count(), uow.dead_letters.count(status="open")) == (1, 1)
        marked = uow.dead_letters.get(dead_id)
    assert marked is not None and marked.replayed_at == fake.now
    assert orjson.loads(marked.replay_result)[0]["field"] == "confidence"
    assert fake.audited() == [("dead_letter.replay", str(dead_id), "failed")]


@pytest.mark.parametrize(
    ("payload", "status", "stored"),
    [("{not json", "still_rejected", 0), ("whole body", "replayed", 2)],
)
def test_a_letter_of_a_whole_request_is_replayed_as_that_request(
    fake: FakePlatform, writer: GroupCommitWriter, payload: str, status: str, stored: int
):
    if payload == "whole body":
        reads = [read_at(fake, -timedelta(seconds=5)), read_at(fake, -timedelta(seconds=4))]
        payload = orjson.dumps({"reads": reads}).decode()
    dead_id = record_rejected_request(
        fake.store.uow(),
        now=fake.now,
        camera_id="CAM-A",
        source="api",
        payload=payload,
        errors=[FieldError("(body)", "not taken")],
    )
    outcome = replay(fake, dead_id)
    assert (outcome.status, outcome.stored) == (status, stored)
    if status == "still_rejected":
        assert outcome.errors[0]["field"] == "(payload)"
    with fake.store.uow(write=False) as uow:
        assert uow.dead_letters.count() == 1


def test_an_unknown_letter_is_not_found(fake: FakePlatform, writer: GroupCommitWriter):
    with pytest.raises(NotFound, match="no dead letter 999"):
        replay(fake, 999)


def test_a_saturated_writer_leaves_the_letter_open_and_unmarked(
    fake: FakePlatform, writer: GroupCommitWriter, monkeypatch: pytest.MonkeyPatch
):
    post(fake, read_at(fake, timedelta(hours=1)))
    letter = the_open_letter(fake)
    fake.now += timedelta(hours=2)
    monkeypatch.setattr(writer, "has_room", lambda rows: False)
    with pytest.raises(Busy) as refused:
        replay(fake, letter)
    assert refused.value.code == "ingest_busy"
    monkeypatch.undo()
    (still,) = fake.bus.handle(DeadLettersPage())
    assert still.replayed_at is None and fake.audited() == []
    assert replay(fake, letter).status == "replayed"  # later, it goes through


def test_a_writer_that_does_not_answer_in_time_is_busy_and_its_work_is_withdrawn(
    fake: FakePlatform,
):
    waiting: list[Future[Any]] = []

    def never_answers(cmd: IngestReads, raised: Any) -> Future[Any]:
        waiting.append(Future())
        return waiting[-1]

    fake.bus.register(IngestReads, never_answers)
    fake.settings = fake.settings.model_copy(update={"writer_wait_s": 0.01})
    dead_id = record_rejected_request(
        fake.store.uow(),
        now=fake.now,
        camera_id="CAM-A",
        source="api",
        payload=orjson.dumps(read_at(fake, -timedelta(seconds=5))).decode(),
        errors=[FieldError("(body)", "not taken")],
    )
    with pytest.raises(Busy) as refused:
        replay(fake, dead_id)
    assert refused.value.code == "ingest_timeout"
    assert waiting[0].cancelled()
    assert [d.id for d in fake.bus.handle(DeadLettersPage())] == [dead_id]


def test_a_discard_keeps_the_reason_on_record_and_only_an_open_letter_is_discarded(
    fake: FakePlatform, writer: GroupCommitWriter
):
    post(fake, read_at(fake, timedelta(0), plate="--"))
    letter = the_open_letter(fake)
    fake.now += timedelta(minutes=10)
    fake.bus.handle(DiscardDeadLetter(dead_letter_id=letter, reason="test camera", actor=ADMIN))
    assert fake.bus.handle(DeadLettersPage()) == []
    (gone,) = fake.bus.handle(DeadLettersPage(status="discarded"))
    assert (gone.id, gone.replayed_at, gone.replay_result) == (letter, fake.now, "test camera")
    assert fake.audited() == [("dead_letter.discard", str(letter), "ok")]
    for dead_id in (letter, 999):
        with pytest.raises(Conflict) as refused:
            fake.bus.handle(DiscardDeadLetter(dead_letter_id=dead_id, reason="again", actor=ADMIN))
        assert refused.value.code == "not_open"
    assert len(fake.audited()) == 1


def test_pages_of_letters_in_id_order(fake: FakePlatform, writer: GroupCommitWriter):
    post(fake, *(read_at(fake, timedelta(0), plate="--") for _ in range(3)))
    first = fake.bus.handle(DeadLettersPage(limit=2))
    rest = fake.bus.handle(DeadLettersPage(after=first[-1].id))
    assert [d.id for d in first + rest] == sorted(d.id for d in first + rest)
    assert len(first + rest) == 3
