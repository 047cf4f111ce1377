"""Who sees an alert: scope of the camera, and covert entries for their owners only."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from veille.domain.access import Principal, Role, Scope, ScopeKind
from veille.domain.alerts import (
    Alert,
    AlertStatus,
    AlertTiming,
    Lateness,
    Outcome,
    RejectReason,
    WorkflowError,
)
from veille.service.alerts import AlertEvent, event_json, visible_to

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)
ORGS = ["federal", "pz-midi", "pz-polbruno", "pz-antwerpen"]
ZONES = [
    ("Midi", "Bruxelles-Capitale"),
    ("Polbruno", "Bruxelles-Capitale"),
    ("Antwerpen", "Antwerpen"),
]


def alert(
    *, covert: bool, owner: str, zone: str, province: str, status: AlertStatus = AlertStatus.OPEN
) -> Alert:
    return Alert(
        alert_id=1,
        opened_at=NOW,
        last_hit_at=NOW,
        status=status,
        read_id=uuid.UUID(bytes=b"x" * 16),
        camera_id="C",
        zone=zone,
        province=province,
        plate="1ABC123",
        country="BE",
        list_id="l",
        entry_id="e",
        category="investigation",
        priority=1,
        match_kind="exact",
        distance=0,
        covert=covert,
        owner_org=owner,
        hit_count=1,
        entry={},
    )


scopes = st.one_of(
    st.just(Scope(ScopeKind.NATIONAL)),
    st.sampled_from([Scope(ScopeKind.ZONE, z) for z, _ in ZONES]),
    st.sampled_from([Scope(ScopeKind.PROVINCE, p) for _, p in ZONES]),
)


@given(
    org=st.sampled_from(ORGS),
    owner=st.sampled_from(ORGS),
    scope=scopes,
    place=st.sampled_from(ZONES),
    covert=st.booleans(),
)
def test_covert_alerts_never_reach_other_organisations_and_scope_always_applies(
    org, owner, scope, place, covert
):
    zone, province = place
    who = Principal(
        user_id=1,
        username="u",
        role=Role.OPERATOR,
        org_id=org,
        scope=scope,
        designated=True,
        training_expires=NOW,
    )
    seen = visible_to(alert(covert=covert, owner=owner, zone=zone, province=province), who)
    if covert and org != owner:
        assert not seen
    in_scope = scope.kind is ScopeKind.NATIONAL or scope.covers(zone=zone, province=province)
    if not in_scope:
        assert not seen
    if in_scope and (not covert or org == owner):
        assert seen


def test_workflow_transitions():
    a = alert(covert=False, owner="federal", zone="Midi", province="Bruxelles-Capitale")
    with pytest.raises(WorkflowError):
        a.record_outcome(Outcome.INTERCEPTED, NOW)
    confirmed = a.acknowledge().confirm()
    assert confirmed.status is AlertStatus.CONFIRMED
    with pytest.raises(WorkflowError):
        confirmed.reject(RejectReason.MISREAD, NOW)
    closed = confirmed.record_outcome(Outcome.NOT_FOUND, NOW)
    assert (closed.status, closed.outcome) == (AlertStatus.CLOSED, "not_found")
    rejected = a.reject(RejectReason.WRONG_COUNTRY, NOW)
    assert (rejected.status, rejected.reason) == (AlertStatus.REJECTED, "wrong_country")
    with pytest.raises(WorkflowError):
        rejected.acknowledge()
    assert a.repeat(NOW).hit_count == 2


TIMING = AlertTiming(open_window=timedelta(days=30), late_after=timedelta(minutes=10))


@given(age_s=st.integers(min_value=-300, max_value=40 * 86400))
def test_only_reads_inside_the_open_window_ring_and_late_ones_say_so(age_s):
    judged = TIMING.judge(captured_at=NOW - timedelta(seconds=age_s), now=NOW)
    if age_s > 30 * 86400:
        assert judged is None
    else:
        assert judged == Lateness(age_s=age_s, late=age_s > 600)
    # the cheap test every read takes before matching agrees with the full judgement
    assert TIMING.may_ring(captured_at=NOW - timedelta(seconds=age_s), now=NOW) == (
        judged is not None
    )


def test_an_event_tells_the_lateness_of_its_own_read():
    on_time = alert(covert=False, owner="federal", zone="Midi", province="Bruxelles-Capitale")
    repeat = AlertEvent("repeat", on_time, None, Lateness(age_s=3600.0, late=True))
    body = event_json(repeat)
    assert (body["late"], body["age_s"]) == (True, 3600.0)
    assert event_json(AlertEvent("update", on_time))["late"] is False
