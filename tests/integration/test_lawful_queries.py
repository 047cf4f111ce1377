"""The query service on a real store: window, authorizations, scope, purpose, audit."""

from __future__ import annotations

import random
import re
import tempfile
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from veille.adapters.sqlite.store import SqliteStore
from veille.domain.access import Principal, Role, Scope, ScopeKind
from veille.domain.authorizations import Area, Authorization, AuthorizationStatus, WindowPolicy
from veille.domain.cameras import Camera, Phase
from veille.domain.districts import BRUSSELS, belgian_district_map
from veille.domain.plates import canonical
from veille.domain.reads import Read
from veille.service.queries import (
    LegalPolicy,
    QueryContext,
    QueryRefused,
    camera_history,
    plate_history,
    run_query,
)

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
ADMIN_PURPOSE = "administrative: public order and safety"
POLICY = LegalPolicy(
    purposes=frozenset({"judicial: investigation of an offence", ADMIN_PURPOSE}),
    case_ref_pattern=re.compile(r"[A-Za-z0-9][A-Za-z0-9./_-]{3,63}"),
    window=WindowPolicy(open_window=timedelta(days=30), max_retention=timedelta(days=365)),
    authorization_purposes=frozenset({"judicial: investigation of an offence"}),
)
PURPOSE = "judicial: investigation of an offence"
PLATES = ["1ABC123", "1ABD123", "2XYZ999", "1O8C123", "AB123CD"]
CAMERAS = [
    ("C-MIDI-1", "Midi", 50.836, 4.308),
    ("C-MIDI-2", "Midi", 50.827, 4.345),
    ("C-POLB-1", "Polbruno", 50.867, 4.378),
    ("C-POLB-2", "Polbruno", 50.870, 4.402),
]


def principal(user_id: int = 7, scope: Scope = Scope(ScopeKind.NATIONAL)) -> Principal:
    return Principal(
        user_id=user_id,
        username=f"inv{user_id}",
        role=Role.INVESTIGATOR,
        org_id="federal",
        scope=scope,
        designated=True,
        training_expires=NOW + timedelta(days=300),
    )


def make_store(folder: Path, cameras=None) -> SqliteStore:
    store = SqliteStore(folder / "q.db")
    store.initialise()
    with store.uow() as uow:
        for cid, zone, lat, lon, *province in cameras or CAMERAS:
            uow.cameras.add(
                Camera(
                    cid,
                    cid,
                    lat,
                    lon,
                    None,
                    zone,
                    province[0] if province else "Bruxelles-Capitale",
                    "v",
                    "veille-json",
                    Phase.LIVE,
                    NOW - timedelta(days=400),
                )
            )
        uow.commit()
    return store


def add_reads(store: SqliteStore, rng: random.Random, n: int, cameras=None) -> list[Read]:
    reads = []
    for _ in range(n):
        plate = rng.choice(PLATES)
        age = timedelta(days=rng.uniform(0, 360))
        reads.append(
            Read(
                read_id=uuid.UUID(int=rng.getrandbits(128), version=4),
                camera_id=rng.choice(cameras or CAMERAS)[0],
                captured_at=NOW - age,
                plate_raw=plate,
                plate=plate,
                plate_canonical=canonical(plate),
                country="BE",
                confidence=0.9,
                received_at=NOW - age,
            )
        )
    with store.uow() as uow:
        uow.reads.add_many(reads)
        uow.commit()
    return reads


def approve(store: SqliteStore, auth: Authorization) -> Authorization:
    with store.uow() as uow:
        auth_id = uow.authorizations.add(auth)
        uow.commit()
    return replace(auth, auth_id=auth_id)


def authorization(**kw) -> Authorization:
    base = dict(
        auth_id=0,
        case_ref="PV-2026-001",
        purpose=PURPOSE,
        justification="x" * 30,
        district="Bruxelles",
        requested_by=7,
        requested_by_name="inv7",
        requested_at=NOW,
        investigators=frozenset({7}),
        plates=frozenset(),
        camera_ids=frozenset(),
        area=None,
        period_start=NOW - timedelta(days=200),
        period_end=NOW - timedelta(days=100),
        hold_requested=False,
        status=AuthorizationStatus.APPROVED,
        decided_by=99,
        decided_by_name="proc",
        decided_at=NOW,
        decision_reasons="reasoned",
        expires_at=NOW + timedelta(days=30),
    )
    base.update(kw)
    # decided in the district it names, as a migrated record is (unless given otherwise)
    base.setdefault("districts", frozenset({base["district"]}))
    return Authorization(**base)


def lawful(store, who, *, execute, purpose=PURPOSE, case_ref="PV-2026-001", now=NOW):
    return run_query(
        uow_factory=store.uow,
        read_uow_factory=lambda: store.uow(write=False),
        ctx=QueryContext(who, purpose, case_ref),
        now=now,
        policy=POLICY,
        action="reads.search.test",
        params={},
        execute=execute,
    )


def everything(access, start=NOW - timedelta(days=400), end=NOW + timedelta(days=1)):
    reads = access.find(start=start, end=end)
    return reads, len(reads)


def audit_records(store):
    with store.uow(write=False) as uow:
        return list(uow.audit.iter_all())


auth_strategy = st.builds(
    lambda user, plates, cams, area, start_days, length_days, expires_days, status: authorization(
        investigators=frozenset({user}),
        plates=frozenset(plates),
        camera_ids=frozenset(cams),
        area=Area(50.836, 4.308, 3000) if area else None,
        period_start=NOW - timedelta(days=start_days),
        period_end=NOW - timedelta(days=start_days - length_days),
        expires_at=NOW + timedelta(days=expires_days),
        status=status,
    ),
    st.sampled_from([7, 8]),
    st.lists(st.sampled_from(PLATES), max_size=2),
    st.lists(st.sampled_from([c[0] for c in CAMERAS]), max_size=2),
    st.booleans(),
    st.integers(min_value=31, max_value=400),
    st.integers(min_value=1, max_value=120),
    st.sampled_from([-3, 0, 15]),  # expired, expiring now, valid
    st.sampled_from([AuthorizationStatus.APPROVED] * 3 + list(AuthorizationStatus)),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000), auths=st.lists(auth_strategy, max_size=3), zone_scope=st.booleans()
)
def test_no_query_returns_a_read_older_than_the_window_unless_an_authorization_covers_it(
    seed, auths, zone_scope
):
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as tmp:
        store = make_store(Path(tmp))
        add_reads(store, rng, 150)
        stored = [approve(store, a) for a in auths]
        who = principal(
            7, Scope(ScopeKind.ZONE, "Midi") if zone_scope else Scope(ScopeKind.NATIONAL)
        )
        positions = {c[0]: (c[2], c[3]) for c in CAMERAS}
        zones = {c[0]: c[1] for c in CAMERAS}
        queries = [
            lambda a: everything(a),
            lambda a: plate_history(
                access=a,
                plate="1ABC123",
                start=NOW - timedelta(days=400),
                end=NOW,
                lookalike=False,
                canonical=canonical("1ABC123"),
            ),
            lambda a: plate_history(
                access=a,
                plate="1ABC123",
                start=NOW - timedelta(days=400),
                end=NOW,
                lookalike=True,
                canonical=canonical("1ABC123"),
            ),
            lambda a: camera_history(
                access=a, camera_id="C-MIDI-1", start=NOW - timedelta(days=400), end=NOW
            ),
        ]
        for query in queries:
            result = lawful(store, who, execute=query)
            for item in result if isinstance(result, list) else result["passages"]:
                plate = item.plate if isinstance(item, Read) else item["plate"]
                camera_id = item.camera_id if isinstance(item, Read) else item["camera_id"]
                captured = (
                    item.captured_at
                    if isinstance(item, Read)
                    else datetime.fromisoformat(item["captured_at"].replace("Z", "+00:00"))
                )
                if zone_scope:
                    assert zones[camera_id] == "Midi"
                if captured >= NOW - POLICY.window.open_window:
                    continue
                lat, lon = positions[camera_id]
                assert any(
                    a.usable_by(7, NOW)
                    and a.covers(
                        plate=plate, camera_id=camera_id, lat=lat, lon=lon, captured_at=captured
                    )
                    for a in stored
                ), f"{plate} at {camera_id} {captured} returned without cover"
        store.close()


def test_window_hides_old_reads_and_an_authorization_opens_exactly_its_cover(tmp_path):
    store = make_store(tmp_path)
    reads = add_reads(store, random.Random(1), 400)
    who = principal(7)
    seen = lawful(store, who, execute=lambda a: (everything(a)[0], 0))
    cutoff = NOW - timedelta(days=30)
    assert {r.read_id for r in seen} == {r.read_id for r in reads if r.captured_at >= cutoff}

    auth = approve(store, authorization(plates=frozenset({"2XYZ999"})))
    seen = lawful(store, who, execute=lambda a: (everything(a)[0], 0))
    opened = {
        r.read_id
        for r in reads
        if r.plate == "2XYZ999" and auth.period_start <= r.captured_at < auth.period_end
    }
    assert opened, "the fixture should hold old reads of that plate"
    assert {r.read_id for r in seen} == {
        r.read_id for r in reads if r.captured_at >= cutoff
    } | opened
    # another investigator, not named, still sees only the window
    other = lawful(store, principal(8), execute=lambda a: (everything(a)[0], 0))
    assert all(r.captured_at >= cutoff for r in other)
    # once expired, the authorization opens nothing
    later = NOW + timedelta(days=31)
    expired = lawful(store, who, now=later, execute=lambda a: (everything(a)[0], 0))
    assert all(r.captured_at >= later - timedelta(days=30) for r in expired)


def test_scope_limits_results_to_the_users_zone(tmp_path):
    store = make_store(tmp_path)
    add_reads(store, random.Random(2), 300)
    who = principal(7, Scope(ScopeKind.ZONE, "Polbruno"))
    seen = lawful(store, who, execute=lambda a: (everything(a)[0], 0))
    assert seen and {r.camera_id for r in seen} <= {"C-POLB-1", "C-POLB-2"}


@pytest.mark.parametrize(
    ("purpose", "case_ref"),
    [(None, "PV-2026-001"), ("curiosity", "PV-2026-001"), (PURPOSE, None), (PURPOSE, "x")],
)
def test_refused_without_purpose_and_case_and_the_refusal_is_audited(tmp_path, purpose, case_ref):
    store = make_store(tmp_path)
    add_reads(store, random.Random(3), 20)
    with pytest.raises(QueryRefused) as refused:
        lawful(store, principal(), purpose=purpose, case_ref=case_ref, execute=everything)
    assert refused.value.code == "purpose_and_case_required"
    records = audit_records(store)
    assert len(records) == 1 and records[0].entry.outcome == "refused"


def test_untrained_user_is_refused(tmp_path):
    store = make_store(tmp_path)
    who = replace(principal(), training_expires=NOW - timedelta(days=1))
    with pytest.raises(QueryRefused) as refused:
        lawful(store, who, execute=everything)
    assert refused.value.code == "forbidden"
    assert "training" in str(refused.value)


def test_each_search_leaves_exactly_one_audit_record_with_who_why_and_count(tmp_path):
    store = make_store(tmp_path)
    add_reads(store, random.Random(4), 200)
    auth = approve(store, authorization(plates=frozenset({"1ABC123"})))
    found = lawful(
        store,
        principal(),
        execute=lambda a: plate_history(
            access=a,
            plate="1ABC123",
            start=NOW - timedelta(days=400),
            end=NOW,
            lookalike=False,
            canonical=canonical("1ABC123"),
        ),
    )
    records = audit_records(store)
    assert len(records) == 1
    entry = records[0].entry
    assert (entry.actor.username, entry.actor.role) == ("inv7", "investigator")
    assert (entry.purpose, entry.case_ref) == (PURPOSE, "PV-2026-001")
    assert entry.result_count == len(found["passages"])
    assert entry.params["authorizations"] == [auth.auth_id]
    assert entry.action == "reads.search.test" and entry.outcome == "ok"


def test_audit_record_and_data_read_share_one_transaction(tmp_path):
    """If the analysis fails, no audit record claims it ran (and nothing is half-written)."""
    store = make_store(tmp_path)

    def broken(_access):
        raise RuntimeError("analysis failed")

    with pytest.raises(RuntimeError):
        lawful(store, principal(), execute=broken)
    assert audit_records(store) == []


def _old_reads_seen(store, who, **kw):
    seen = lawful(store, who, execute=lambda a: (everything(a)[0], 0), **kw)
    return {r.read_id for r in seen if r.captured_at < NOW - timedelta(days=30)}


def test_an_authorization_opens_old_reads_only_to_searches_citing_its_case(tmp_path):
    store = make_store(tmp_path)
    add_reads(store, random.Random(5), 300)
    approve(store, authorization(case_ref="PV-2026-001", plates=frozenset({"2XYZ999"})))
    assert _old_reads_seen(store, principal(), case_ref="PV-2026-001")
    assert _old_reads_seen(store, principal(), case_ref="PV-2026-777") == set()
    records = audit_records(store)
    assert records[-1].entry.params["authorizations"] == []  # nothing opened, nothing named


def test_an_authorization_never_opens_old_reads_to_an_administrative_purpose(tmp_path):
    store = make_store(tmp_path)
    add_reads(store, random.Random(6), 300)
    approve(store, authorization(plates=frozenset({"2XYZ999"})))
    assert _old_reads_seen(store, principal(), purpose=ADMIN_PURPOSE) == set()
    assert _old_reads_seen(store, principal(), purpose=PURPOSE)


def test_an_approval_of_one_district_never_opens_cameras_of_another(tmp_path):
    """A request filed (before districts were derived) with district Liège for Brussels
    cameras, approved by the Liège prosecutor, opens no Brussels read."""
    store = make_store(tmp_path)
    add_reads(store, random.Random(7), 300)
    approve(store, authorization(district="Liège", camera_ids=frozenset({"C-MIDI-1"})))
    assert _old_reads_seen(store, principal()) == set()
    approve(store, authorization(district="Bruxelles", camera_ids=frozenset({"C-MIDI-1"})))
    assert _old_reads_seen(store, principal())


# Two judicial districts: Brussels (Midi, Polbruno) and Liège (a zone of its own).
TWO_DISTRICTS = [
    *CAMERAS,
    ("C-LIEGE-1", "Liège", 50.633, 5.580, "Liège"),
    ("C-LIEGE-2", "Liège", 50.640, 5.570, "Liège"),
]
CAMERA_DISTRICT = {
    c[0]: ("Liège" if c[0].startswith("C-LIEGE") else BRUSSELS) for c in TWO_DISTRICTS
}
OTHER_JUDICIAL = "judicial: search for a wanted person"
TWO_DISTRICT_POLICY = replace(
    POLICY,
    purposes=frozenset({PURPOSE, OTHER_JUDICIAL, ADMIN_PURPOSE}),
    authorization_purposes=frozenset({PURPOSE, OTHER_JUDICIAL}),
    districts=belgian_district_map(),
)
CASES = ["PV-2026-001", "PV-2026-002"]

bound_auth_strategy = st.builds(
    lambda user, plates, cams, area, start_days, length_days, expires_days, status, case_ref, purpose, districts: (
        authorization(
            investigators=frozenset({user}),
            plates=frozenset(plates),
            camera_ids=frozenset(cams),
            area=Area(50.836, 4.308, 3000) if area else None,
            period_start=NOW - timedelta(days=start_days),
            period_end=NOW - timedelta(days=start_days - length_days),
            expires_at=NOW + timedelta(days=expires_days),
            status=status,
            case_ref=case_ref,
            purpose=purpose,
            districts=frozenset(districts),
        )
    ),
    st.sampled_from([7, 7, 8]),
    st.lists(st.sampled_from(PLATES), max_size=2),
    st.lists(st.sampled_from([c[0] for c in TWO_DISTRICTS]), max_size=2),
    st.booleans(),
    st.integers(min_value=31, max_value=400),
    st.integers(min_value=30, max_value=300),
    st.sampled_from([-3, 0, 15, 15, 15]),  # expired, expiring now, valid
    st.sampled_from([AuthorizationStatus.APPROVED] * 4 + list(AuthorizationStatus)),
    st.sampled_from(CASES),
    st.sampled_from([PURPOSE, PURPOSE, OTHER_JUDICIAL, ADMIN_PURPOSE]),  # old records: any
    # as derived, as recorded before the mapping (an alias), a name nobody knows, or none
    st.sampled_from([[BRUSSELS], ["Liège"], [BRUSSELS, "Liège"], ["Bruxelles"], ["Liege"], []]),
)


def _expected(read, who, auths, *, case_ref, purpose, scope_zone):
    """The oracle: may this search see this read?"""
    if scope_zone is not None and dict((c[0], c[1]) for c in TWO_DISTRICTS)[read.camera_id] != (
        scope_zone
    ):
        return False
    if NOW - POLICY.window.open_window <= read.captured_at:
        return True
    lat, lon = {c[0]: (c[2], c[3]) for c in TWO_DISTRICTS}[read.camera_id]
    districts = belgian_district_map()
    return any(
        a.usable_by(who.user_id, NOW)
        and a.case_ref == case_ref
        and a.purpose == purpose
        and purpose in TWO_DISTRICT_POLICY.authorization_purposes
        and a.status is AuthorizationStatus.APPROVED
        and CAMERA_DISTRICT[read.camera_id] in {districts.resolve(d) for d in a.districts}
        and a.covers(
            plate=read.plate,
            camera_id=read.camera_id,
            lat=lat,
            lon=lon,
            captured_at=read.captured_at,
        )
        for a in auths
    )


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    auths=st.lists(bound_auth_strategy, max_size=3),
    zone=st.sampled_from([None, "Midi", "Liège"]),
)
def test_a_search_sees_an_old_read_only_through_an_authorization_of_its_case_purpose_and_district(
    seed, auths, zone
):
    """No search sees a read older than the open window unless an approved, unexpired
    authorization naming the searcher, of the case and the (judicial) purpose the search
    cites, approved in the district of the read's camera, covers it — and every read
    such an authorization covers within the searcher's scope is seen. Each store is
    searched citing every case and every purpose."""
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as tmp:
        store = make_store(Path(tmp), TWO_DISTRICTS)
        reads = add_reads(store, rng, 150, TWO_DISTRICTS)
        stored = [approve(store, a) for a in auths]
        who = principal(7, Scope(ScopeKind.ZONE, zone) if zone else Scope(ScopeKind.NATIONAL))
        for case_ref in CASES:
            for purpose in (PURPOSE, OTHER_JUDICIAL, ADMIN_PURPOSE):
                seen = run_query(
                    uow_factory=store.uow,
                    read_uow_factory=lambda: store.uow(write=False),
                    ctx=QueryContext(who, purpose, case_ref),
                    now=NOW,
                    policy=TWO_DISTRICT_POLICY,
                    action="reads.search.test",
                    params={},
                    execute=lambda a: (everything(a)[0], 0),
                )
                expected = {
                    r.read_id
                    for r in reads
                    if _expected(
                        r, who, stored, case_ref=case_ref, purpose=purpose, scope_zone=zone
                    )
                }
                assert {r.read_id for r in seen} == expected, (case_ref, purpose)
        store.close()


def a_read(camera_id: str, plate: str, at: datetime) -> Read:
    return Read(
        read_id=uuid.uuid4(),
        camera_id=camera_id,
        captured_at=at,
        plate_raw=plate,
        plate=plate,
        plate_canonical=canonical(plate),
        country="BE",
        confidence=0.9,
        received_at=at,
    )


def store_reads(store: SqliteStore, reads: list[Read]) -> list[Read]:
    with store.uow() as uow:
        uow.reads.add_many(reads)
        uow.commit()
    return reads


def _crowded_area(store: SqliteStore) -> list[Read]:
    """An area holding one camera (C-MIDI-1) of the four its district opens; the others
    saw 30 older reads first, more than any limit the test asks for."""
    old = NOW - timedelta(days=150)
    store_reads(
        store, [a_read("C-POLB-1", "2XYZ999", old + timedelta(minutes=i)) for i in range(30)]
    )
    inside = [a_read("C-MIDI-1", "2XYZ999", old + timedelta(hours=2, minutes=i)) for i in range(5)]
    approve(store, authorization(area=Area(50.836, 4.308, 500)))
    return store_reads(store, inside)


@pytest.mark.parametrize("limit", [10, 3])
def test_an_area_bound_authorization_fills_the_limit_with_reads_inside_its_area(tmp_path, limit):
    """The area is turned into its cameras inside the query, so the reads of the slice's
    other cameras never use up the SQL limit before the reads inside the area are seen."""
    store = make_store(tmp_path)
    inside = _crowded_area(store)
    period = {"start": NOW - timedelta(days=400), "end": NOW - timedelta(days=31)}
    found = lawful(store, principal(), execute=lambda a: (a.find(**period, limit=limit), 0))
    prefixed = lawful(
        store,
        principal(),
        execute=lambda a: (a.find_prefix(**period, prefix="2XY", limit=limit), 0),
    )
    expected = [r.read_id for r in inside][:limit]
    assert [r.read_id for r in found] == expected
    assert [r.read_id for r in prefixed] == expected


def test_plate_and_camera_searches_say_when_they_were_capped(tmp_path):
    store = make_store(tmp_path)
    inside = _crowded_area(store)
    since = NOW - timedelta(days=400)

    def plate(limit):
        return lambda a: plate_history(
            access=a,
            plate="2XYZ999",
            start=since,
            end=NOW,
            lookalike=False,
            canonical=canonical("2XYZ999"),
            limit=limit,
        )

    def camera(limit):
        return lambda a: camera_history(
            access=a, camera_id="C-MIDI-1", start=since, end=NOW, limit=limit
        )

    for search in (plate, camera):
        capped = lawful(store, principal(), execute=search(len(inside) - 1))
        assert capped["truncated"] is True and len(capped["passages"]) == len(inside) - 1
        whole = lawful(store, principal(), execute=search(len(inside)))
        assert whole["truncated"] is False and len(whole["passages"]) == len(inside)


def test_a_period_reaching_before_the_window_says_it_was_clipped(tmp_path):
    store = make_store(tmp_path)
    window_from = NOW - timedelta(days=30)

    def search(start, end=NOW):
        return lambda a: camera_history(access=a, camera_id="C-MIDI-1", start=start, end=end)

    inside = lawful(store, principal(), execute=search(NOW - timedelta(days=2)))
    assert inside["period_clipped"] is None
    before = lawful(store, principal(), execute=search(NOW - timedelta(days=400)))
    assert before["period_clipped"] == {
        "requested_start": (NOW - timedelta(days=400)).isoformat().replace("+00:00", "Z"),
        "requested_end": NOW.isoformat().replace("+00:00", "Z"),
        "visible_from": window_from.isoformat().replace("+00:00", "Z"),
        "not_open": [
            {
                "start": (NOW - timedelta(days=400)).isoformat().replace("+00:00", "Z"),
                "end": window_from.isoformat().replace("+00:00", "Z"),
            }
        ],
    }
    # an authorization opens its own period, and the clip says what stays closed
    approve(store, authorization(camera_ids=frozenset({"C-MIDI-1"})))
    opened = lawful(store, principal(), execute=search(NOW - timedelta(days=400)))
    clip = opened["period_clipped"]
    assert clip["visible_from"] == (NOW - timedelta(days=200)).isoformat().replace("+00:00", "Z")
    assert [(p["start"][:10], p["end"][:10]) for p in clip["not_open"]] == [
        ("2025-10-22", "2026-05-10"),
        ("2026-08-18", "2026-10-27"),
    ]
    # a period wholly inside what the authorization opens is not clipped
    within = lawful(
        store,
        principal(),
        execute=search(NOW - timedelta(days=150), NOW - timedelta(days=120)),
    )
    assert within["period_clipped"] is None
