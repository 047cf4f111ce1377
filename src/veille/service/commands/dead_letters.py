"""Commands and queries of the dead letters area (handlers: `service/handlers/dead_letters.py`)."""

from __future__ import annotations

from dataclasses import dataclass

from veille.domain.audit import Actor
from veille.service.commands import Command, Query


@dataclass(frozen=True)
class DeadLettersPage(Query):
    """Dead letters in id order after the id `after`, at most `limit`; `status` None: all."""

    status: str | None = "open"
    after: int | None = None
    limit: int = 100


@dataclass(frozen=True)
class ReplayDeadLetter(Command):
    """Run an open dead letter's payload through ingest again (`IngestReads`), as its camera.

    Answers a `ReplayOutcome`: `replayed` when every read passed and is stored (or was
    already), else `still_rejected` (the letter stays open with the new reasons, nothing
    new is kept) or `not_open`. Refused `NotFound` for an unknown id, `Busy` when the
    writer has no room or does not answer in time (the letter stays open).
    """

    dead_letter_id: int
    actor: Actor


@dataclass(frozen=True)
class DiscardDeadLetter(Command):
    """Mark an open dead letter discarded, with the reason (refused `Conflict` otherwise)."""

    dead_letter_id: int
    reason: str
    actor: Actor
