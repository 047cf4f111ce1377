"""Alert handlers: `DecideHit` takes a workflow step; `HotlistHit` goes to publishers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from veille.domain.alerts import Alert
from veille.service import alerts as alert_service
from veille.service.commands import DecideHit
from veille.service.events import HitDecided, HotlistHit
from veille.service.messagebus import EventHandler, Raised
from veille.service.ports import UnitOfWork


def decide_hit(
    cmd: DecideHit,
    raised: Raised,
    *,
    uow: Callable[[], UnitOfWork],
    clock: Callable[[], datetime],
) -> Alert:
    """One workflow step on an alert the caller may see, audited in its transaction."""
    alert = alert_service.decide(
        uow=uow(),
        alert_id=cmd.alert_id,
        principal=cmd.principal,
        actor=cmd.actor,
        action=cmd.action,
        now=clock(),
        reason=cmd.reason,
        outcome=cmd.outcome,
        note=cmd.note,
    )
    raised.append(HitDecided(cmd.action, alert))
    return alert


def publisher(publish: Callable[[list[Any]], None]) -> EventHandler:
    """A `HotlistHit` handler that hands the hit to a channel taking lists of events (the
    live channel, webhooks, MQTT)."""

    def handle(event: HotlistHit, raised: Raised) -> None:
        publish([event])

    return handle
