"""Events: facts, named in the past tense, that handlers raise and the message bus hands on.

An event may have any number of handlers, or none. `ReadsStored` is the one event also
handled inside the transaction that raised it (hotlist matching writes its alerts there,
see docs/decisions/0003); every other handler runs after the commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from veille.domain.alerts import Alert, Lateness
from veille.domain.authorizations import Authorization
from veille.domain.reads import Read


class Event:
    """Something that happened; the base of every event."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class ReadsStored(Event):
    """Reads were newly stored (duplicates left out), by one group commit of the writer.

    `reads` is the writer's own list, not a copy: the writer thread does nothing per read
    that it can avoid.
    """

    reads: Sequence[Read]


@dataclass(frozen=True)
class HotlistHit(Event):
    """A stored read matched a hotlist entry: an alert was opened (`new`) or grew (`repeat`).

    Raised inside the ingest transaction, handed to the live channel, webhooks and MQTT
    only once that transaction has committed.
    """

    kind: str  # new | repeat | update
    alert: Alert
    read: Read | None = None
    lateness: Lateness | None = None  # of this event's read


@dataclass(frozen=True)
class HitDecided(Event):
    """An officer took a workflow step on an alert (acknowledge, confirm, reject, outcome)."""

    action: str
    alert: Alert


@dataclass(frozen=True)
class AuthorizationRequested(Event):
    authorization: Authorization


@dataclass(frozen=True)
class AuthorizationDecided(Event):
    """A prosecutor approved or refused a request."""

    authorization: Authorization
    approved: bool


@dataclass(frozen=True)
class AuthorizationRevoked(Event):
    authorization: Authorization


@dataclass(frozen=True)
class UserAccessChanged(Event):
    """An account's role, designation, training or organisation may have changed (an
    update, an approved grant): its live streams check their access again."""

    user_id: int


@dataclass(frozen=True)
class UserDeleted(Event):
    """An account was closed and its tokens revoked: its live streams end."""

    user_id: int


@dataclass(frozen=True)
class TokenRevoked(Event):
    """A token or session was revoked (a sign-out): the streams opened with it end."""

    token_hash: str
    reason: str = "signed out"
