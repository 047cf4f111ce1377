"""Commands and queries of the alerts area (handlers: `service/handlers/alerts.py`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from veille.domain.access import Principal, Scope, ScopeKind
from veille.domain.alerts import Alert, Outcome, RejectReason
from veille.domain.audit import Actor
from veille.service.commands import Command, Query

NATIONAL = Scope(ScopeKind.NATIONAL)

# --- the officer's workflow and what an alert shows ---------------------------------------


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
class AlertsPage(Query):
    """The newest alerts the principal may see, below alert id `before` (`AlertPage`)."""

    principal: Principal
    statuses: tuple[str, ...] | None = None  # None: every status
    before: int | None = None
    limit: int = 100


@dataclass(frozen=True)
class AlertDetail(Query):
    """One alert with the reads, images and history its viewer may be shown now
    (`AlertEvidence`); an alert they may not see is not found."""

    alert_id: int
    principal: Principal


@dataclass(frozen=True)
class AlertImage(Query):
    """The bytes of an image of one of the alert's reads that the viewer may be shown
    (`AlertImageFile`); the view is audited before it is answered."""

    alert_id: int
    sha256: str
    principal: Principal
    actor: Actor


@dataclass(frozen=True)
class LiveStreamAccess(Query):
    """Whether a live alert stream opened as `opened_as` with `credential` may go on
    (`StreamAccess`): the credential still valid, the same access, the permission held."""

    credential: str
    opened_as: Principal


@dataclass(frozen=True)
class HitsReport(Query):
    """Hits by list, zone and outcome, and the misreads per camera (`domain.alerts
    .HitsReport`), of the alerts of cameras in `scope`; covert ones only of `viewer_org`'s
    lists (None: none). The period defaults to the 30 days up to now."""

    scope: Scope = NATIONAL
    viewer_org: str | None = None
    since: datetime | None = None
    until: datetime | None = None


# --- outside dispatch systems -------------------------------------------------------------


@dataclass(frozen=True)
class CreateWebhook(Command):
    """Register a receiver of the alerts of a scope; answers the `Webhook`, its signing
    secret included (shown to the caller once). Internal targets are refused."""

    name: str
    url: str
    scope: Scope
    actor: Actor


@dataclass(frozen=True)
class DisableWebhook(Command):
    """Stop delivering to a webhook."""

    webhook_id: int
    actor: Actor


@dataclass(frozen=True)
class Webhooks(Query):
    """Every registered webhook (`list[Webhook]`)."""


@dataclass(frozen=True)
class WebhookTargets(Query):
    """The active webhooks that receive this alert (`list[Webhook]`)."""

    alert: Alert


@dataclass(frozen=True)
class WebhookDeliveries(Query):
    """A page of the delivery log, newest first, below delivery id `before`
    (`DeliveryPage`)."""

    status: str | None = None  # delivered | failed
    before: int | None = None
    limit: int = 200


@dataclass(frozen=True)
class RecordDelivery(Command):
    """Keep the final result of one webhook delivery in the delivery log."""

    webhook_id: int
    alert_id: int
    event: str
    attempts: int
    status: str  # delivered | failed
    http_status: int | None
    error: str | None
    now: datetime  # when the delivery ended
