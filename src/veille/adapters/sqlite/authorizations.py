"""SQLite repository for prosecutor authorizations (and the case holds they place)."""

from __future__ import annotations

import sqlite3
from typing import Any

import orjson

from veille.adapters.sqlite.times import decode, decode_or_none, encode, encode_or_none
from veille.domain.authorizations import (
    Area,
    Authorization,
    AuthorizationStatus,
    DistrictApproval,
)

_COLUMNS = (
    "auth_id, case_ref, purpose, justification, district, requested_by, requested_by_name,"
    " requested_at, investigators, plates, camera_ids, area, period_start, period_end,"
    " hold_requested, status, decided_by, decided_by_name, decided_at, decision_reasons,"
    " conditions, expires_at, districts, approvals"
)


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
        requested_at=decode(row[7]),
        investigators=frozenset(orjson.loads(row[8])),
        plates=frozenset(orjson.loads(row[9])),
        camera_ids=frozenset(orjson.loads(row[10])),
        area=Area(**area) if area else None,
        period_start=decode(row[12]),
        period_end=decode(row[13]),
        hold_requested=bool(row[14]),
        status=AuthorizationStatus(row[15]),
        decided_by=row[16],
        decided_by_name=row[17],
        decided_at=decode_or_none(row[18]),
        decision_reasons=row[19],
        conditions=row[20],
        expires_at=decode_or_none(row[21]),
        districts=frozenset(orjson.loads(row[22])) if row[22] else frozenset(),
        approvals=tuple(_approval(a) for a in orjson.loads(row[23])),
    )


def _approval(data: dict[str, Any]) -> DistrictApproval:
    return DistrictApproval(
        district=data["district"],
        by=data["by"],
        by_name=data["by_name"],
        at=decode(data["at"]),
        reasons=data["reasons"],
        conditions=data["conditions"],
        expires_at=decode(data["expires_at"]),
    )


def _approvals_json(approvals: tuple[DistrictApproval, ...]) -> str:
    return orjson.dumps(
        [
            {
                "district": a.district,
                "by": a.by,
                "by_name": a.by_name,
                "at": encode(a.at),
                "reasons": a.reasons,
                "conditions": a.conditions,
                "expires_at": encode(a.expires_at),
            }
            for a in approvals
        ]
    ).decode()


def _params(a: Authorization) -> tuple[Any, ...]:
    return (
        a.case_ref,
        a.purpose,
        a.justification,
        a.district,
        a.requested_by,
        a.requested_by_name,
        encode(a.requested_at),
        _json(a.investigators),
        _json(a.plates),
        _json(a.camera_ids),
        orjson.dumps(a.area.__dict__).decode() if a.area else None,
        encode(a.period_start),
        encode(a.period_end),
        int(a.hold_requested),
        a.status.value,
        a.decided_by,
        a.decided_by_name,
        encode_or_none(a.decided_at),
        a.decision_reasons,
        a.conditions,
        encode_or_none(a.expires_at),
        _json(a.districts) if a.districts else None,  # NULL: not derived yet (old request)
        _approvals_json(a.approvals),
    )


class SqliteAuthorizationRepository:
    # What reads the JSON lists in SQL (another backend says it in its own words): a
    # request spanning districts, naming a user (`?`) among its investigators, the
    # LIMIT that is none.
    _spans_districts = "json_array_length(districts) > 1"
    _names_investigator = (
        "EXISTS (SELECT 1 FROM json_each(authorizations.investigators) WHERE value = ?)"
    )
    _no_limit = -1

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def _names_a_district(self, districts: list[str]) -> tuple[str, list[Any]]:
        """The clause of a request whose districts hold any of these, and its values."""
        marks = ",".join("?" * len(districts)) or "NULL"
        clause = (
            f"EXISTS (SELECT 1 FROM json_each(authorizations.districts) WHERE value IN ({marks}))"
        )
        return clause, list(districts)

    def add(self, auth: Authorization) -> int:
        cur = self.conn.execute(
            f"INSERT INTO authorizations ({_COLUMNS.split(', ', 1)[1]})"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
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

    def find(
        self,
        *,
        districts: frozenset[str] | None = None,
        spanning: bool = False,
        underived: bool = False,
        status: str | None = None,
        involving_user: int | None = None,
        limit: int = 500,
    ) -> list[Authorization]:
        """Newest first. `districts`: names any of which the request's districts hold;
        `spanning`: only requests over more than one district; `underived`: only requests
        filed before districts were derived (their districts are NULL); `involving_user`:
        requested by that user or naming them."""
        return self.page(
            districts=districts,
            spanning=spanning,
            underived=underived,
            status=status,
            involving_user=involving_user,
            limit=limit,
        )

    def page(
        self,
        *,
        districts: frozenset[str] | None = None,
        spanning: bool = False,
        underived: bool = False,
        status: str | None = None,
        involving_user: int | None = None,
        before: int | None = None,
        limit: int | None = None,
    ) -> list[Authorization]:
        """As `find`, from just below `before` (keyset paging on `auth_id`); every
        criterion is in the SQL, so `limit` counts only requests that match."""
        clauses: list[str] = []
        params: list[Any] = []
        if districts is not None:
            clause, values = self._names_a_district(sorted(districts))
            clauses.append(clause)
            params.extend(values)
        if underived:
            clauses.append("districts IS NULL")
        if spanning:
            clauses.append(self._spans_districts)
        if status:
            clauses.append("status = ?")
            params.append(status)
        if involving_user is not None:
            clauses.append(f"(requested_by = ? OR {self._names_investigator})")
            params.extend((involving_user, involving_user))
        if before is not None:
            clauses.append("auth_id < ?")
            params.append(before)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self.conn.execute(
            f"SELECT {_COLUMNS} FROM authorizations{where} ORDER BY auth_id DESC LIMIT ?",
            (*params, self._no_limit if limit is None else limit),
        )
        return [_row_to_auth(r) for r in rows]

    def approved_for(self, user_id: int) -> list[Authorization]:
        """Approved authorizations naming the user (expiry is checked by the policy)."""
        rows = self.conn.execute(
            f"SELECT {_COLUMNS} FROM authorizations WHERE status = ?",
            (AuthorizationStatus.APPROVED.value,),
        )
        return [a for a in map(_row_to_auth, rows) if user_id in a.investigators]
