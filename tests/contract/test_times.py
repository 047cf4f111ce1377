"""One time encoding: every store keeps moments as instants, gives them back in UTC, compares
them as instants whatever offset they were written with, and refuses a naive datetime.

Before decision 0009 SQLite kept most times as ISO text with the writer's offset, compared as
text: a record written at 13:00+01:00 (12:00 UTC) was found "since 12:30 UTC".
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from tests.contract.builders import (
    NOW,
    Store,
    a_camera,
    a_grant,
    a_read,
    a_user,
    an_entry,
    an_org,
    committed,
    seen,
)
from veille.domain.alerts import Alert, AlertStatus
from veille.domain.analysis import CloneFinding
from veille.domain.times import NaiveDatetime

pytestmark = pytest.mark.integration

BRUSSELS = timezone(timedelta(hours=1))
M = timedelta(minutes=1)


def brussels(moment: datetime) -> datetime:
    """The same instant written with the +01:00 offset a Belgian clock shows in winter."""
    return moment.astimezone(BRUSSELS)


def in_utc(moment: datetime | None) -> bool:
    return moment is not None and moment.tzinfo is UTC


def a_finding(second_at: datetime) -> CloneFinding:
    return CloneFinding(
        plate="1ABC123",
        first_read_id=str(uuid.uuid4()),
        second_read_id=str(uuid.uuid4()),
        first_camera_id="CAM-A",
        second_camera_id="CAM-B",
        first_at=second_at - 3 * M,
        second_at=second_at,
        distance_m=42_000.0,
        implied_kmh=840.0,
        found_at=second_at,
    )


def an_alert(opened_at: datetime) -> Alert:
    return Alert(
        alert_id=0,
        opened_at=opened_at,
        last_hit_at=opened_at,
        status=AlertStatus.OPEN,
        read_id=uuid.uuid4(),
        camera_id="CAM-A",
        zone="Midi",
        province="Bruxelles-Capitale",
        plate="1ABC123",
        country="BE",
        list_id="stolen",
        entry_id="e1",
        category="stolen_vehicle",
        priority=1,
        match_kind="exact",
        distance=0,
        covert=False,
        owner_org="federal",
        hit_count=1,
        entry={},
    )


# --- searches by period -----------------------------------------------------------------


def test_audit_records_written_with_an_offset_are_found_by_their_instant(store: Store):
    # 1 at 12:00 UTC, written 13:00+01:00; 2 at 12:02 UTC
    committed(
        store,
        lambda uow: [
            uow.audit.append(an_entry("a", at=brussels(NOW))),
            uow.audit.append(an_entry("b", at=NOW + 2 * M)),
        ],
    )

    def seqs(**bounds: Any) -> list[int]:
        return seen(store, lambda uow: [r.seq for r in uow.audit.search(**bounds)])

    assert seqs(since=NOW + M) == [2]
    assert seqs(until=brussels(NOW + M)) == [1]
    assert seqs(since=brussels(NOW), until=NOW + M) == [1]


def test_grants_requested_with_an_offset_are_found_by_their_instant(store: Store):
    committed(
        store,
        lambda uow: [
            uow.users.add_grant(a_grant("ines", requested_at=brussels(NOW))),
            uow.users.add_grant(a_grant("paul", requested_at=NOW + 2 * M)),
        ],
    )

    def names(**bounds: Any) -> list[str]:
        return seen(store, lambda uow: [g.username for g in uow.users.list_grants(**bounds)])

    assert names(since=NOW + M) == ["paul"]
    assert names(until=brussels(NOW + M)) == ["ines"]


def test_alerts_opened_are_found_by_their_instant_whatever_the_offset(store: Store):
    with store.uow(write=False) as uow:
        if not hasattr(uow, "alerts"):
            pytest.skip("this store has no alerts repository yet")
    committed(
        store,
        lambda uow: [
            uow.alerts.add(an_alert(NOW)),  # 1: 12:00 UTC
            uow.alerts.add(an_alert(brussels(NOW + 2 * M))),  # 2: 12:02 UTC, as 13:02+01:00
        ],
    )

    def opened(since: datetime) -> list[datetime]:
        return seen(store, lambda uow: [a.opened_at for a in uow.alerts.find(since=since)])

    assert opened(brussels(NOW - M)) == [NOW + 2 * M, NOW]  # since 11:59 UTC, as 12:59+01:00
    assert opened(NOW + M) == [NOW + 2 * M]
    counted = seen(store, lambda uow: uow.alerts.report(since=brussels(NOW + M), until=NOW + 3 * M))
    assert sum(count.alerts for count in counted) == 1


# --- what comes back --------------------------------------------------------------------


def test_moments_written_with_an_offset_come_back_as_the_same_instant_in_utc(store: Store):
    at = brussels(NOW)

    def write(uow: Any) -> dict[str, int]:
        uow.users.add_org(an_org("zone-midi"))
        user = uow.users.add(
            a_user("alice", created_at=at, training_expires=at + 300 * 24 * 60 * M)
        )
        uow.users.add_token(
            token_hash="t", user_id=user, kind="api", name="cli", created_at=at, expires_at=at
        )
        uow.users.revoke_token("t", at)
        uow.cameras.add(replace(a_camera("CAM-A"), created_at=at))
        return {
            "user": user,
            "grant": uow.users.add_grant(a_grant("ines", requested_at=at)),
            "hold": uow.holds.add(
                case_ref="PV-1",
                plates=["1ABC123"],
                camera_ids=[],
                period_start=at - 30 * 24 * 60 * M,
                period_end=at,
                created_by="alice",
                created_at=at,
            ),
            "dead": uow.dead_letters.add(
                received_at=at, camera_id=None, source="http", payload="{}", errors=[]
            ),
            "findings": uow.clone_findings.add_many([a_finding(at)]),
            "audit": uow.audit.append(an_entry(at=at)).seq,
            "read": uow.reads.add_many([a_read(at=at)]),
        }

    ids = committed(store, write)
    with store.uow(write=False) as uow:
        user = uow.users.get(ids["user"])
        token = uow.users.token("t")
        camera = uow.cameras.get("CAM-A")
        hold = uow.holds.get(ids["hold"])
        (finding,) = uow.clone_findings.find()
        record = uow.audit.get(ids["audit"])
        (read,) = uow.reads.find(start=NOW - M, end=NOW + M)
        moments = {
            "user.created_at": user.created_at,
            "user.training_expires": user.training_expires,
            "token.expires_at": token[2],
            "token.revoked_at": token[3],
            "camera.created_at": camera.created_at,
            "grant.requested_at": uow.users.get_grant(ids["grant"]).requested_at,
            "hold.period_end": hold.period_end,
            "hold.created_at": hold.created_at,
            "dead_letter.received_at": uow.dead_letters.get(ids["dead"]).received_at,
            "finding.second_at": finding.second_at,
            "finding.found_at": finding.found_at,
            "audit.at": record.entry.at,
            "read.captured_at": read.captured_at,
        }
    assert moments["user.training_expires"] == NOW + 300 * 24 * 60 * M
    assert {name: m for name, m in moments.items() if not in_utc(m)} == {}
    assert moments["audit.at"] == moments["camera.created_at"] == NOW


# --- naive datetimes --------------------------------------------------------------------


def test_a_naive_datetime_is_refused_in_writes_and_in_bounds(store: Store):
    naive = NOW.replace(tzinfo=None)
    with store.uow() as uow:
        with pytest.raises(NaiveDatetime):
            uow.audit.append(an_entry(at=naive))
        with pytest.raises(NaiveDatetime):
            uow.holds.add(
                case_ref="PV-1",
                plates=["1ABC123"],
                camera_ids=[],
                period_start=naive - M,
                period_end=naive,
                created_by="alice",
                created_at=NOW,
            )
        with pytest.raises(NaiveDatetime):
            uow.clone_findings.add_many([a_finding(naive)])
    committed(store, lambda uow: uow.audit.append(an_entry(at=NOW)))
    with store.uow(write=False) as uow:
        with pytest.raises(NaiveDatetime):
            uow.audit.search(since=naive)
        with pytest.raises(NaiveDatetime):
            uow.users.list_grants(until=naive)
        with pytest.raises(NaiveDatetime):
            uow.reads.find(start=naive, end=NOW)
        with pytest.raises(NaiveDatetime):
            uow.clone_findings.find(since=naive)
