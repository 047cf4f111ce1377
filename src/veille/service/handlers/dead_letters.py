"""Handlers of the dead letters area's commands and queries (`service/commands/dead_letters.py`).

A replay goes through ingest like any camera's reads: the `IngestReads` command on the
same bus, all or nothing, so the reads it stores are matched by whatever commits them.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from functools import partial

from veille.service import dead_letters as dl_service
from veille.service.commands import IngestReads
from veille.service.commands.dead_letters import (
    DeadLettersPage,
    DiscardDeadLetter,
    ReplayDeadLetter,
)
from veille.service.errors import Busy
from veille.service.handlers.deps import Dependencies
from veille.service.ingest import StoredBatch
from veille.service.messagebus import MessageBus, Raised
from veille.service.ports import DeadLetter, DecodedBatch

Handle = Callable[[IngestReads], "Future[StoredBatch]"]


class IngestTimeout(Busy):
    """The writer did not answer in time; the letter stays open, replaying it is safe."""

    code = "ingest_timeout"


def dead_letters_page(
    cmd: DeadLettersPage, raised: Raised, *, deps: Dependencies
) -> list[DeadLetter]:
    return dl_service.page_dead_letters(
        uow=deps.read_uow(), status=cmd.status, after=cmd.after, limit=cmd.limit
    )


def replay_dead_letter(
    cmd: ReplayDeadLetter, raised: Raised, *, deps: Dependencies, handle: Handle
) -> dl_service.ReplayOutcome:
    now = deps.clock()
    wait_s = deps.settings().writer_wait_s

    def ingest(camera_id: str, decoded: DecodedBatch, source: str) -> StoredBatch:
        future = handle(
            IngestReads(
                camera_id=camera_id,
                decoded=decoded,
                received_at=now,
                source=source,
                all_or_nothing=True,
            )
        )
        try:
            return future.result(timeout=wait_s)
        except TimeoutError:
            future.cancel()  # the writer drops it if it has not taken it yet
            raise IngestTimeout(f"the writer did not answer within {wait_s:g} s") from None

    return dl_service.replay(
        uow_factory=deps.uow,
        read_uow_factory=deps.read_uow,
        dead_letter_id=cmd.dead_letter_id,
        now=now,
        actor=cmd.actor,
        rules=deps.read_rules(),
        decoders=deps.decoders(),
        ingest=ingest,
    )


def discard_dead_letter(cmd: DiscardDeadLetter, raised: Raised, *, deps: Dependencies) -> None:
    dl_service.discard(
        uow=deps.uow(),
        dead_letter_id=cmd.dead_letter_id,
        now=deps.clock(),
        reason=cmd.reason,
        actor=cmd.actor,
    )


def register(bus: MessageBus, deps: Dependencies) -> None:
    """Register every handler of this area on `bus`, with `deps` bound; a replay hands its
    reads to this bus's `IngestReads` handler."""
    bus.register(DeadLettersPage, partial(dead_letters_page, deps=deps))
    bus.register(ReplayDeadLetter, partial(replay_dead_letter, deps=deps, handle=bus.handle))
    bus.register(DiscardDeadLetter, partial(discard_dead_letter, deps=deps))
