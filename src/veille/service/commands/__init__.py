"""Messages a caller hands the bus: commands (do something) and queries (answer something).

A command is named in the imperative (`IngestReads`, `DecideHit`); a query names what it
answers (`HotlistsOfOrg`, `PlateSearch`). Each has exactly one handler
(`service/handlers/`), registered by the composition root (`bootstrap.py`); entrypoints
(API, CLI, jobs, web) build a message and call `bus.handle(message)`, never a unit of
work or a repository. A query changes nothing, except the audit record a data access
writes before it answers.

The messages of each area live in their own module (`commands/hotlists.py`,
`commands/users.py` …); those of ingest, alerts and authorizations are here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from veille.domain.access import Principal
from veille.domain.alerts import Outcome, RejectReason
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
class DecideHit(Command):
    """Take one workflow step on an alert: acknowledge, confirm, reject or outcome."""

    alert_id: int
    action: str  # acknowledge | confirm | reject | outcome
    principal: Principal
    actor: Actor
    reason: RejectReason | None = None
    outcome: Outcome | None = None
    note: str | None = None


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
