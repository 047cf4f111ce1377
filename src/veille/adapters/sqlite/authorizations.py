"""SQLite repository for prosecutor authorizations (and the case holds they place)."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any

import orjson

from veille.domain.authorizations import Area, Authorization, AuthorizationStatus

_COLUMNS = (
    "auth_id, case_ref, purpose, justification, district, requested_by, requested_by_name,"
    " requested_at, investigators, plates, camera_ids, area, period_start, period_end,"
    " hold_requested, status, decided_by, decided_by_name, decided_at, decision_reasons,"
    " conditions, expires_at"
)


def _dt(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _json(values: frozenset[Any]) -> str:
    return orjson.dumps(sorted(values)).decode()


def _row_to_auth(row: tuple[Any, ...]) -> Authorization:
    area = orjson.loads(row[11]) if row[11] else None
    return Authorization(
        auth_id=row[0],
        case_ref=row[1],
        purpose=row[2],
        justification=row[3],
        district=row[4],
        requested_by=row[5],
        requested_by_name=row[6],
        requested_at=datetime.fromisoformat(row[7]),
        investigators=frozenset(orjson.loads(row[8])),
        plates=frozenset(orjson.loads(row[9])),
        camera_ids=frozenset(orjson.loads(row[10])),
        area=Area(**area) if area else None,
        period_start=datetime.fromisoformat(row[12]),
        period_end=datetime.fromisoformat(row[13]),
        hold_requested=bool(row[14]),
        status=AuthorizationStatus(row[15]),
        decided_by=row[16],
        decided_by_name=row[17],
        decided_at=_dt(row[18]),
        decision_reasons=row[19],
        conditions=row[20],
        expires_at=_dt(row[21]),
    )


def _params(a: Authorization) -> tuple[Any, ...]:
    return (
        a.case_ref,
        a.purpose,
        a.justification,
        a.district,
        a.requested_by,
        a.requested_by_name,
        a.requested_at.isoformat(),
        _json(a.investigators),
        _json(a.plates),
        _json(a.camera_ids),
        orjson.dumps(a.area.__dict__).decode() if a.area else None,
        a.period_start.isoformat(),
        a.period_end.isoformat(),
        int(a.hold_requested),
        a.status.value,
        a.decided_by,
        a.decided_by_name,
        a.decided_at.isoformat() if a.decided_at else None,
        a.decision_reasons,
        a.conditions,
        a.expires_at.isoformat() if a.expires_at else None,
    )


class SqliteAuthorizationRepository:
    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def add(self, auth: Authorization) -> int:
        cur = self.conn.execute(
            f"INSERT INTO authorizations ({_COLUMNS.split(', ', 1)[1]})"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            _params(auth),
        )
        return int(cur.lastrowid or 0)

    def update(self, auth: Authorization) -> None:
        names = _COLUMNS.split(", ")[1:]
        sets = ", ".join(f"{n.strip()} = ?" for n in names)
        self.conn.execute(
            f"UPDATE authorizations SET {sets} WHERE auth_id = ?", (*_params(auth), auth.auth_id)
        )

    def get(self, auth_id: int) -> Authorization | None:
        row = self.conn.execute(
            f"SELECT {_COLUMNS} FROM authorizations WHERE auth_id = ?", (auth_id,)
        ).fetchone()
        return _row_to_auth(row) if row else None

    def list(
        self,
        *,
        district: str | None = None,
        status: str | None = None,
        involving_user: int | None = None,
        limit: int = 500,
    ) -> list[Authorization]:
        clauses, params = [], []
        if district:
            clauses.append("district = ?")
            params.append(district)
        if status:
            clauses.append("status = ?")
            params.append(status)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self.conn.execute(
            f"SELECT {_COLUMNS} FROM authorizations{where} ORDER BY auth_id DESC LIMIT ?",
            (*params, limit),
        )
        found = [_row_to_auth(r) for r in rows]
        if involving_user is not None:
            found = [
                a
                for a in found
                if a.requested_by == involving_user or involving_user in a.investigators
            ]
        return found

    def approved_for(self, user_id: int) -> list[Authorization]:
        """Approved authorizations naming the user (expiry is checked by the policy)."""
        rows = self.conn.execute(
            f"SELECT {_COLUMNS} FROM authorizations WHERE status = ?",
            (AuthorizationStatus.APPROVED.value,),
        )
        return [a for a in map(_row_to_auth, rows) if user_id in a.investigators]
