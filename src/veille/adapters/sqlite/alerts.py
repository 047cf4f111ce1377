"""SQLite repository for alerts, their hits and workflow events, and webhooks. Never commits."""

from __future__ import annotations

import sqlite3
import uuid
from datetime import datetime
from typing import Any

import orjson

from veille.adapters.sqlite.times import decode, decode_or_none, encode, encode_or_none
from veille.domain.access import Scope, ScopeKind
from veille.domain.alerts import Alert, AlertCount, AlertHit, AlertStatus, AlertStep, CameraMisreads
from veille.domain.audit import Actor
from veille.domain.webhooks import Webhook, WebhookDelivery

_COLUMNS = (
    "alert_id, opened_at, last_hit_at, status, read_id, camera_id, zone, province, plate,"
    " country, list_id, entry_id, category, priority, match_kind, distance, covert, owner_org,"
    " hit_count, entry, decision, reason, outcome, closed_at, late, age_s"
)


def _visible_where(
    *, zone: str | None, province: str | None, viewer_org: str | None
) -> tuple[list[str], list[Any]]:
    """SQL clauses for the alerts one viewer may see: its zone or province (neither:
    national), and covert alerts only of its own organisation (None: no covert at all)."""
    clauses: list[str] = []
    params: list[Any] = []
    if zone is not None:
        clauses.append("zone = ?")
        params.append(zone)
    if province is not None:
        clauses.append("province = ?")
        params.append(province)
    if viewer_org is None:
        clauses.append("covert = 0")
    else:
        clauses.append("(covert = 0 OR owner_org = ?)")
        params.append(viewer_org)
    return clauses, params


def _alert(row: tuple[Any, ...]) -> Alert:
    return Alert(
        alert_id=row[0],
        opened_at=decode(row[1]),
        last_hit_at=decode(row[2]),
        status=AlertStatus(row[3]),
        read_id=uuid.UUID(bytes=row[4]),
        camera_id=row[5],
        zone=row[6],
        province=row[7],
        plate=row[8],
        country=row[9],
        list_id=row[10],
        entry_id=row[11],
        category=row[12],
        priority=row[13],
        match_kind=row[14],
        distance=row[15],
        covert=bool(row[16]),
        owner_org=row[17],
        hit_count=row[18],
        entry=orjson.loads(row[19]),
        decision=row[20],
        reason=row[21],
        outcome=row[22],
        closed_at=decode_or_none(row[23]),
        late=bool(row[24]),
        age_s=row[25],
    )


def _params(a: Alert) -> tuple[Any, ...]:
    return (
        encode(a.opened_at),
        encode(a.last_hit_at),
        a.status.value,
        a.read_id.bytes,
        a.camera_id,
        a.zone,
        a.province,
        a.plate,
        a.country,
        a.list_id,
        a.entry_id,
        a.category,
        a.priority,
        a.match_kind,
        a.distance,
        int(a.covert),
        a.owner_org,
        a.hit_count,
        orjson.dumps(a.entry).decode(),
        a.decision,
        a.reason,
        a.outcome,
        encode_or_none(a.closed_at),
        int(a.late),
        a.age_s,
    )


class SqliteAlertRepository:
    # The report's order, absent values first (SQLite sorts NULLs first), and the count
    # of alerts decided and of those rejected as misreads: another backend's SQL may differ.
    _absent_first = "list_id, zone, status, outcome, reason"
    _decided_and_misreads = (
        "sum(decision IS NOT NULL), sum(coalesce(decision = 'rejected' AND reason = 'misread', 0))"
    )

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def add(self, alert: Alert) -> int:
        cur = self.conn.execute(
            f"INSERT INTO alerts ({_COLUMNS.split(', ', 1)[1]}) VALUES ({','.join('?' * 25)})",
            _params(alert),
        )
        return int(cur.lastrowid or 0)

    def update(self, alert: Alert) -> None:
        names = [n.strip() for n in _COLUMNS.split(",")[1:]]
        self.conn.execute(
            f"UPDATE alerts SET {', '.join(f'{n} = ?' for n in names)} WHERE alert_id = ?",
            (*_params(alert), alert.alert_id),
        )

    def get(self, alert_id: int) -> Alert | None:
        row = self.conn.execute(
            f"SELECT {_COLUMNS} FROM alerts WHERE alert_id = ?", (alert_id,)
        ).fetchone()
        return _alert(row) if row else None

    def open_for(self, entry_id: str, plate: str, *, zone: str, province: str) -> Alert | None:
        """The alert still open for this entry and plate in this zone, if any."""
        row = self.conn.execute(
            f"SELECT {_COLUMNS} FROM alerts WHERE status IN ('open', 'acknowledged', 'confirmed')"
            " AND entry_id = ? AND plate = ? AND zone = ? AND province = ?"
            " ORDER BY alert_id DESC LIMIT 1",
            (entry_id, plate, zone, province),
        ).fetchone()
        return _alert(row) if row else None

    def add_hit(self, alert_id: int, hit: AlertHit) -> None:
        self.conn.execute(
            "INSERT OR IGNORE INTO alert_hits (alert_id, read_id, camera_id, captured_at,"
            " match_kind, zone, province, late, age_s) VALUES (?,?,?,?,?,?,?,?,?)",
            (
                alert_id,
                hit.read_id.bytes,
                hit.camera_id,
                encode(hit.captured_at),
                hit.match_kind,
                hit.zone,
                hit.province,
                int(hit.late),
                hit.age_s,
            ),
        )

    def hits(self, alert_id: int) -> list[AlertHit]:
        rows = self.conn.execute(
            "SELECT read_id, camera_id, captured_at, match_kind, zone, province, late, age_s"
            " FROM alert_hits WHERE alert_id = ? ORDER BY captured_at",
            (alert_id,),
        )
        return [
            AlertHit(
                read_id=uuid.UUID(bytes=r[0]),
                camera_id=r[1],
                captured_at=decode(r[2]),
                match_kind=r[3],
                zone=r[4] or "unknown",
                province=r[5] or "unknown",
                late=bool(r[6]),
                age_s=r[7],
            )
            for r in rows
        ]

    def find(
        self,
        *,
        statuses: tuple[str, ...] | None = None,
        since: datetime | None = None,
        limit: int = 200,
        zone: str | None = None,
        province: str | None = None,
        viewer_org: str | None = None,
    ) -> list[Alert]:
        """Newest first, only what the viewer may see (see `_visible_where`)."""
        clauses, params = _visible_where(zone=zone, province=province, viewer_org=viewer_org)
        if statuses:
            clauses.append(f"status IN ({','.join('?' * len(statuses))})")
            params.extend(statuses)
        if since:
            clauses.append("opened_at >= ?")
            params.append(encode(since))
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self.conn.execute(
            f"SELECT {_COLUMNS} FROM alerts{where} ORDER BY alert_id DESC LIMIT ?",
            (*params, limit),
        )
        return [_alert(r) for r in rows]

    def page(
        self,
        *,
        statuses: tuple[str, ...] | None = None,
        before: int | None = None,
        limit: int = 200,
        zone: str | None = None,
        province: str | None = None,
        viewer_org: str | None = None,
    ) -> list[Alert]:
        """Newest first from just below alert `before` (keyset paging), at most `limit`;
        only what the viewer may see (see `_visible_where`)."""
        clauses, params = _visible_where(zone=zone, province=province, viewer_org=viewer_org)
        if statuses:
            clauses.append(f"status IN ({','.join('?' * len(statuses))})")
            params.extend(statuses)
        if before is not None:
            clauses.append("alert_id < ?")
            params.append(before)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self.conn.execute(
            f"SELECT {_COLUMNS} FROM alerts{where} ORDER BY alert_id DESC LIMIT ?",
            (*params, limit),
        )
        return [_alert(r) for r in rows]

    def add_event(
        self,
        alert_id: int,
        *,
        at: datetime,
        actor: Actor,
        action: str,
        reason: str | None = None,
        outcome: str | None = None,
        note: str | None = None,
    ) -> None:
        self.conn.execute(
            "INSERT INTO alert_events (alert_id, at, actor_username, actor_role, actor_user_id,"
            " action, reason, outcome, note) VALUES (?,?,?,?,?,?,?,?,?)",
            (
                alert_id,
                encode(at),
                actor.username,
                actor.role,
                actor.user_id,
                action,
                reason,
                outcome,
                note,
            ),
        )

    def events(self, alert_id: int) -> list[AlertStep]:
        rows = self.conn.execute(
            "SELECT at, actor_username, actor_role, action, reason, outcome, note"
            " FROM alert_events WHERE alert_id = ? ORDER BY event_id",
            (alert_id,),
        )
        return [
            AlertStep(
                at=decode(r[0]),
                by=r[1],
                role=r[2],
                action=r[3],
                reason=r[4],
                outcome=r[5],
                note=r[6],
            )
            for r in rows
        ]

    def report(
        self,
        *,
        since: datetime,
        until: datetime,
        zone: str | None = None,
        province: str | None = None,
        viewer_org: str | None = None,
    ) -> list[AlertCount]:
        """The alerts opened in [since, until) that the viewer may see, counted by list,
        zone, status, outcome and reason; ordered by those, absent values first."""
        clauses, params = _visible_where(zone=zone, province=province, viewer_org=viewer_org)
        rows = self.conn.execute(
            "SELECT list_id, zone, status, outcome, reason, count(*)"
            f" FROM alerts WHERE opened_at >= ? AND opened_at < ? AND {' AND '.join(clauses)}"
            " GROUP BY list_id, zone, status, outcome, reason"
            f" ORDER BY {self._absent_first}",
            (encode(since), encode(until), *params),
        )
        return [
            AlertCount(list_id=r[0], zone=r[1], status=r[2], outcome=r[3], reason=r[4], alerts=r[5])
            for r in rows
        ]

    def misreads_by_camera(
        self,
        *,
        since: datetime,
        until: datetime,
        zone: str | None = None,
        province: str | None = None,
        viewer_org: str | None = None,
    ) -> list[CameraMisreads]:
        """Per camera (by id), of the alerts opened in [since, until) that the viewer may
        see: how many were decided, how many rejected as misreads."""
        clauses, params = _visible_where(zone=zone, province=province, viewer_org=viewer_org)
        rows = self.conn.execute(
            f"SELECT camera_id, {self._decided_and_misreads}"
            f" FROM alerts WHERE opened_at >= ? AND opened_at < ? AND {' AND '.join(clauses)}"
            " GROUP BY camera_id ORDER BY camera_id",
            (encode(since), encode(until), *params),
        )
        return [CameraMisreads(camera_id=r[0], decided=r[1], misreads=r[2]) for r in rows]

    # webhooks ---------------------------------------------------------------------------
    def add_webhook(
        self,
        *,
        name: str,
        url: str,
        secret: str,
        scope_kind: str,
        scope_value: str | None,
        now: datetime,
    ) -> int:
        cur = self.conn.execute(
            "INSERT INTO webhooks (name, url, secret, scope_kind, scope_value, active,"
            " created_at) VALUES (?,?,?,?,?,1,?)",
            (name, url, secret, scope_kind, scope_value, encode(now)),
        )
        return int(cur.lastrowid or 0)

    def webhooks(self) -> list[Webhook]:
        rows = self.conn.execute(
            "SELECT webhook_id, name, url, secret, scope_kind, scope_value, active, created_at"
            " FROM webhooks ORDER BY webhook_id"
        )
        return [
            Webhook(
                webhook_id=r[0],
                name=r[1],
                url=r[2],
                secret=r[3],
                scope=Scope(ScopeKind(r[4]), r[5]),
                active=bool(r[6]),
                created_at=decode(r[7]),
            )
            for r in rows
        ]

    def set_webhook_active(self, webhook_id: int, active: bool) -> int:
        return self.conn.execute(
            "UPDATE webhooks SET active = ? WHERE webhook_id = ?", (int(active), webhook_id)
        ).rowcount

    def record_delivery(
        self,
        *,
        webhook_id: int,
        alert_id: int,
        event: str,
        attempts: int,
        status: str,
        http_status: int | None,
        error: str | None,
        now: datetime,
    ) -> None:
        self.conn.execute(
            "INSERT INTO webhook_deliveries (webhook_id, alert_id, event, attempts, status,"
            " http_status, error, created_at, delivered_at) VALUES (?,?,?,?,?,?,?,?,?)",
            (
                webhook_id,
                alert_id,
                event,
                attempts,
                status,
                http_status,
                error,
                encode(now),
                encode(now) if status == "delivered" else None,
            ),
        )

    def deliveries(self, *, status: str | None = None, limit: int = 200) -> list[WebhookDelivery]:
        return self.deliveries_page(status=status, limit=limit)

    def deliveries_page(
        self, *, status: str | None = None, before: int | None = None, limit: int = 200
    ) -> list[WebhookDelivery]:
        """Newest first from just below delivery `before` (keyset paging), at most `limit`."""
        rows = self.conn.execute(
            "SELECT delivery_id, webhook_id, alert_id, event, attempts, status, http_status,"
            " error, created_at FROM webhook_deliveries"
            " WHERE (? IS NULL OR status = ?) AND (? IS NULL OR delivery_id < ?)"
            " ORDER BY delivery_id DESC LIMIT ?",
            (status, status, before, before, limit),
        )
        return [
            WebhookDelivery(
                delivery_id=r[0],
                webhook_id=r[1],
                alert_id=r[2],
                event=r[3],
                attempts=r[4],
                status=r[5],
                http_status=r[6],
                error=r[7],
                at=decode(r[8]),
            )
            for r in rows
        ]
