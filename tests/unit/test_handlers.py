"""The message bus and its handlers, run against the in-memory unit of work."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import typer

from tests.conftest import make_read
from veille.adapters.decoders.native_json import decode_items
from veille.adapters.memory.store import MemoryStore
from veille.domain.reads import ReadRules
from veille.entrypoints.api.errors import status_of, taxonomy_body
from veille.entrypoints.cli_common import (
    EXIT_REFUSED,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    exit_code_of,
    run_refusing,
)
from veille.service import grants, users
from veille.service.alerts import AlertNotFound
from veille.service.commands import Command, IngestReads
from veille.service.errors import Busy, Conflict, Forbidden, Invalid, NotFound, Problem
from veille.service.events import Event, ReadsStored
from veille.service.handlers.ingest import ingest_reads
from veille.service.messagebus import MessageBus, Raised
from veille.service.ports import UnitOfWork
from veille.service.writer import GroupCommitWriter, WriterBusy

pytestmark = pytest.mark.unit


@dataclass(frozen=True)
class Ping(Command):
    text: str


@dataclass(frozen=True)
class Pinged(Event):
    text: str


@dataclass(frozen=True)
class Echoed(Event):
    text: str


# --- the bus ------------------------------------------------------------------------------


def test_a_command_has_exactly_one_handler():
    bus = MessageBus()
    bus.register(Ping, lambda cmd, raised: cmd.text)
    with pytest.raises(ValueError):
        bus.register(Ping, lambda cmd, raised: None)
    assert bus.handle(Ping("hi")) == "hi"
    with pytest.raises(LookupError):
        MessageBus().handle(Ping("nobody handles me"))


def test_events_a_handler_raises_are_handled_after_it_in_order_and_theirs_after_them():
    bus = MessageBus()
    seen: list[str] = []

    def ping(cmd: Ping, raised: Raised) -> str:
        raised.extend([Pinged(cmd.text + "-1"), Pinged(cmd.text + "-2")])
        seen.append("command")
        return "done"

    def on_pinged(event: Pinged, raised: Raised) -> None:
        seen.append(event.text)
        raised.append(Echoed(event.text))

    bus.register(Ping, ping)
    bus.subscribe(Pinged, on_pinged)
    bus.subscribe(Echoed, lambda event, raised: seen.append("echo " + event.text))
    assert bus.handle(Ping("a")) == "done"
    assert seen == ["command", "a-1", "a-2", "echo a-1", "echo a-2"]


def test_a_failing_event_handler_is_logged_and_neither_undoes_the_command_nor_stops_the_rest(
    caplog: pytest.LogCaptureFixture,
):
    bus = MessageBus()
    store = MemoryStore()
    delivered: list[str] = []

    def ping(cmd: Ping, raised: Raised) -> str:
        with store.uow() as uow:
            uow.dead_letters.add(
                received_at=datetime.now(UTC),
                camera_id=None,
                source="test",
                payload=cmd.text,
                errors=[],
            )
            uow.commit()
        raised.append(Pinged(cmd.text))
        return "stored"

    def broken(event: Pinged, raised: Raised) -> None:
        raise RuntimeError("the webhook host is down")

    bus.register(Ping, ping)
    bus.subscribe(Pinged, broken)
    bus.subscribe(Pinged, lambda event, raised: delivered.append(event.text))
    with caplog.at_level(logging.ERROR, logger="veille.service.messagebus"):
        assert bus.handle(Ping("kept")) == "stored"
    assert delivered == ["kept"]
    assert "Pinged failed" in caplog.text
    with store.uow(write=False) as uow:
        assert uow.dead_letters.count() == 1


# --- ingest: IngestReads, then ReadsStored in the writer's transaction ---------------------


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def bus() -> MessageBus:
    return MessageBus()


@pytest.fixture
def writer(store: MemoryStore, bus: MessageBus) -> Any:
    writer = GroupCommitWriter(store.uow, bus=bus)

    def ingest(cmd: IngestReads, raised: Raised) -> Any:
        return ingest_reads(cmd, raised, images=None, encode=None, submit=writer.submit)

    bus.register(IngestReads, ingest)
    writer.start()
    yield writer
    writer.stop()


def ingest(bus: MessageBus, items: list[dict[str, Any]]) -> Any:
    decoded = decode_items(items, camera_id="CAM-A", now=datetime.now(UTC), rules=ReadRules())
    future = bus.handle(
        IngestReads(camera_id="CAM-A", decoded=decoded, received_at=datetime.now(UTC))
    )
    return future.result(timeout=10)


def test_ingest_reads_stores_good_reads_and_keeps_bad_ones_as_dead_letters(
    store: MemoryStore, bus: MessageBus, writer: GroupCommitWriter
):
    good = make_read("CAM-A")
    outcome = ingest(bus, [good, {**good}, {"plate": None}])
    assert (outcome.stored, outcome.duplicate, outcome.rejected) == (1, 1, 1)
    with store.uow(write=False) as uow:
        assert uow.reads.count() == 1 and uow.dead_letters.count() == 1


def test_reads_stored_runs_inside_the_storing_transaction_and_its_events_after_commit(
    store: MemoryStore, bus: MessageBus, writer: GroupCommitWriter
):
    """The in-transaction handler writes in the ingest transaction (it sees the fresh
    reads, duplicates left out, before they are committed); what it raises is published
    only once they are."""
    inside: list[tuple[list[str], int]] = []
    after: list[tuple[str, int]] = []

    def match(event: ReadsStored, uow: UnitOfWork, raised: Raised) -> None:
        with store.uow(write=False) as outside:  # another snapshot: not committed yet
            committed_now = outside.reads.count()
        inside.append(([r.plate for r in event.reads], committed_now))
        uow.dead_letters.add(
            received_at=datetime.now(UTC),
            camera_id="CAM-A",
            source="match",
            payload="{}",
            errors=[],
        )
        raised.append(Pinged(event.reads[0].plate))

    def publish(event: Pinged, raised: Raised) -> None:
        with store.uow(write=False) as uow:
            after.append((event.text, uow.reads.count() + uow.dead_letters.count()))

    bus.subscribe_in_transaction(ReadsStored, match)
    bus.subscribe(Pinged, publish)
    first = make_read("CAM-A", plate="1-ABC-123")
    ingest(bus, [first])
    ingest(bus, [first, make_read("CAM-A", plate="2-XYZ-987")])
    writer.stop()  # publishing runs after the answers: let the writer finish it
    assert inside == [(["1ABC123"], 0), (["2XYZ987"], 1)]
    assert after == [("1ABC123", 2), ("2XYZ987", 4)]  # reads and their alert-side writes


def test_a_failing_in_transaction_handler_never_costs_a_read(
    store: MemoryStore, bus: MessageBus, writer: GroupCommitWriter
):
    published: list[Event] = []

    def broken(event: ReadsStored, uow: UnitOfWork, raised: Raised) -> None:
        uow.dead_letters.add(
            received_at=datetime.now(UTC),
            camera_id="CAM-A",
            source="match",
            payload="{}",
            errors=[],
        )
        raised.append(Pinged("never"))
        raise RuntimeError("the matcher broke")

    bus.subscribe_in_transaction(ReadsStored, broken)
    bus.subscribe(Pinged, lambda event, raised: published.append(event))
    outcome = ingest(bus, [make_read("CAM-A")])
    writer.stop()
    assert outcome.stored == 1
    with store.uow(write=False) as uow:
        assert uow.reads.count() == 1
        assert uow.dead_letters.count() == 0  # its own writes were undone (savepoint)


def test_reads_stored_reaches_after_commit_subscribers_with_only_the_fresh_reads(
    bus: MessageBus, writer: GroupCommitWriter
):
    got: list[list[str]] = []
    bus.subscribe(
        ReadsStored, lambda event, raised: got.append([str(r.read_id) for r in event.reads])
    )
    read = make_read("CAM-A")
    ingest(bus, [read])
    ingest(bus, [read])  # only a duplicate: nothing newly stored, no event
    writer.stop()
    assert got == [[read["read_id"]]]


def test_a_writer_without_room_refuses_with_busy(store: MemoryStore, bus: MessageBus):
    writer = GroupCommitWriter(store.uow, bus=bus, max_queued_rows=1)
    bus.register(
        IngestReads,
        lambda cmd, raised: ingest_reads(
            cmd, raised, images=None, encode=None, submit=writer.submit
        ),
    )
    writer.start()
    try:
        writer._queued_rows = 5  # as if other cameras' reads were waiting
        with pytest.raises(WriterBusy) as refused:
            ingest(bus, [make_read("CAM-A")])
        assert isinstance(refused.value, Busy)
    finally:
        writer._queued_rows = 0
        writer.stop()


# --- the error taxonomy, mapped once to HTTP and once to exit codes ------------------------


@pytest.mark.parametrize(
    ("error", "status", "exit_code"),
    [
        (NotFound("no such thing"), 404, EXIT_REFUSED),
        (Conflict("decided already"), 409, EXIT_REFUSED),
        (Forbidden("not yours"), 403, EXIT_REFUSED),
        (Invalid("bad input"), 422, EXIT_USAGE),
        (Busy("try later"), 503, EXIT_UNREACHABLE),
        # the service's own errors, by their kind
        (AlertNotFound(7), 404, EXIT_REFUSED),
        (users.UserNotFound("no user 3"), 404, EXIT_REFUSED),
        (grants.GrantConflict("decided already"), 409, EXIT_REFUSED),  # a UserError too
        (grants.SeparationOfDuties("your own grant"), 403, EXIT_REFUSED),
        (users.UserError("password too short"), 422, EXIT_USAGE),
        (WriterBusy("64000 reads wait"), 503, EXIT_UNREACHABLE),
    ],
)
def test_each_kind_of_error_has_one_status_and_one_exit_code(
    error: Exception, status: int, exit_code: int
):
    assert status_of(error) == status  # type: ignore[arg-type]
    assert exit_code_of(error) == exit_code  # type: ignore[arg-type]


def test_an_invalid_error_answers_its_field_problems_in_the_documented_body():
    body = taxonomy_body(Invalid("bad plate", problems=[Problem("plate", "too short")]))
    assert body == {
        "error": {
            "code": "invalid_request",
            "message": "bad plate",
            "problems": [{"field": "plate", "reason": "too short"}],
        }
    }
    assert taxonomy_body(AlertNotFound(7)) == {
        "error": {"code": "not_found", "message": "no alert 7"}
    }


def test_a_service_error_reaching_the_cli_is_one_line_and_its_kind_s_exit_code(
    capsys: pytest.CaptureFixture[str],
):
    def command() -> None:
        raise AlertNotFound(7)

    with pytest.raises(SystemExit) as stopped:
        run_refusing(command)
    assert stopped.value.code == EXIT_REFUSED
    assert capsys.readouterr().err == "refused (not_found): no alert 7\n"

    def fine() -> None:
        raise typer.Exit(0)

    with pytest.raises(typer.Exit):  # anything else passes through untouched
        run_refusing(fine)


def test_a_period_of_reads_is_only_stored_once_per_read_id_across_groups(
    store: MemoryStore, bus: MessageBus, writer: GroupCommitWriter
):
    reads = [make_read("CAM-A", captured_at=_ago(s)) for s in (30, 20, 10)]
    assert ingest(bus, reads).stored == 3
    assert ingest(bus, reads).duplicate == 3


def _ago(seconds: int) -> str:
    return (datetime.now(UTC) - timedelta(seconds=seconds)).isoformat()
