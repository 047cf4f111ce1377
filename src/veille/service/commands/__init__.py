"""Messages a caller hands the bus: commands (do something) and queries (answer something).

A command is named in the imperative (`IngestReads`, `DecideHit`); a query names what it
answers (`HotlistsOfOrg`, `PlateSearch`). Each has exactly one handler
(`service/handlers/`), registered by the composition root (`bootstrap.py`); entrypoints
(API, CLI, jobs, web) build a message and call `bus.handle(message)`, never a unit of
work or a repository. A query changes nothing, except the audit record a data access
writes before it answers.

The messages of each area live in their own module (`commands/hotlists.py`,
`commands/alerts.py` …); those of ingest and authorizations are here, and `DecideHit`
is re-exported from here for its older callers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from veille.domain.access import Principal
from veille.domain.audit import Actor
from veille.domain.reads import FieldError
from veille.service.authorizations import AuthorizationRequest
from veille.service.ports import DecodedBatch


class Command:
    """A request to change something; the base of every command."""

    __slots__ = ()


class Query:
    """A question; the base of every query. Its handler reads (from a snapshot) and
    changes nothing, except the audit record of a data access."""

    __slots__ = ()


Message = Command | Query


@dataclass(frozen=True, slots=True)
class IngestReads(Command):
    """Store a camera's decoded reads durably, and keep the items its decoder refused.

    The entrypoint decodes the delivery with the decoder of the camera's protocol
    (`CameraDecoders.decoder_for(camera.protocol)`) and hands over what it made of it.
    Handled by queueing the batch for the group-commit writer; the handler answers a
    future that resolves, once the batch is committed, to its `StoredBatch`.
    """

    camera_id: str
    decoded: DecodedBatch
    received_at: datetime
    source: str = "api"
    # A replay: if any item is refused, nothing is stored or kept as a dead letter, and
    # the handler refuses with `ReadsRejected` naming each refused item.
    all_or_nothing: bool = False


@dataclass(frozen=True, slots=True)
class KeepRejectedDelivery(Command):
    """Keep a delivery that could not be decoded at all (not JSON, too large, …) as a dead
    letter, with why; answers the dead letter's id."""

    camera_id: str | None
    payload: bytes  # cut to the dead-letter payload limit by the handler
    problem: FieldError
    received_at: datetime
    source: str = "api"


@dataclass(frozen=True)
class RequestAuthorization(Command):
    """An investigator asks for access beyond the open window."""

    request: AuthorizationRequest
    principal: Principal
    actor: Actor


@dataclass(frozen=True)
class DecideAuthorization(Command):
    """A prosecutor approves (`approve`) or refuses a pending request, with reasons."""

    auth_id: int
    approve: bool
    reasons: str
    principal: Principal
    actor: Actor
    expires_at: datetime | None = None
    conditions: str | None = None


@dataclass(frozen=True)
class RevokeAuthorization(Command):
    """A prosecutor withdraws an approved authorization, with reasons."""

    auth_id: int
    reasons: str
    principal: Principal
    actor: Actor


# The alert area's messages import the bases above: imported last, once they exist.
from veille.service.commands.alerts import DecideHit  # noqa: E402

__all__ = [
    "Command",
    "DecideAuthorization",
    "DecideHit",
    "IngestReads",
    "Message",
    "Query",
    "RequestAuthorization",
    "RevokeAuthorization",
]


@dataclass(frozen=True)
class AuthorizationsOfInvestigator(Query):
    """The requests an investigator filed or is named in: newest first, from just below
    authorization `before`, at most `limit` (None: all)."""

    principal: Principal
    before: int | None = None
    limit: int | None = None


@dataclass(frozen=True)
class AuthorizationsToDecide(Query):
    """The requests reaching a prosecutor's district (the federal prosecutor: those
    spanning districts, when the rule gives them a say), paged as above."""

    principal: Principal
    status: str | None = None
    before: int | None = None
    limit: int | None = None
