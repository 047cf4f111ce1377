"""Authorizations recorded before districts were derived, on a store migrated from then."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import orjson
import pytest

from veille.adapters.sqlite.database import load_migrations, split_statements
from veille.adapters.sqlite.store import SqliteStore
from veille.adapters.sqlite.times import encode
from veille.domain.access import Role, Scope, ScopeKind
from veille.domain.audit import system_actor
from veille.domain.authorizations import AuthorizationError
from veille.domain.districts import BRUSSELS, CrossDistrictRule, belgian_district_map
from veille.domain.plates import canonical
from veille.domain.reads import Read
from veille.domain.users import FEDERAL
from veille.service import authorizations as auth_service
from veille.service import users as user_service
from veille.service.queries import QueryContext, run_query

from .test_lawful_queries import NOW, POLICY, PURPOSE, TWO_DISTRICTS, everything, make_store

pytestmark = pytest.mark.integration

ACTOR = system_actor("test")
DISTRICTS = belgian_district_map()
RULE = CrossDistrictRule.EACH_DISTRICT
DISTRICTS_MIGRATION = 9  # its data statement turns rows filed before it into what they became


def legacy_row(conn, *, case_ref, district, camera_ids, status, investigator, requested_at):
    conn.execute(
        "INSERT INTO authorizations (case_ref, purpose, justification, district, requested_by,"
        " requested_by_name, requested_at, investigators, plates, camera_ids, area,"
        " period_start, period_end, hold_requested, status, decided_by, decided_by_name,"
        " decided_at, decision_reasons, conditions, expires_at)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,NULL,?,?,0,?,?,?,?,?,NULL,?)",
        (
            case_ref,
            PURPOSE,
            "x" * 30,
            district,
            investigator,
            "inv",
            encode(requested_at),
            orjson.dumps([investigator]).decode(),
            "[]",
            orjson.dumps(camera_ids).decode(),
            encode(NOW - timedelta(days=300)),
            encode(NOW - timedelta(days=40)),
            status,
            None if status == "pending" else 99,
            None if status == "pending" else "proc",
            None if status == "pending" else encode(requested_at),
            None if status == "pending" else "reasoned",
            None if status == "pending" else encode(NOW + timedelta(days=30)),
        ),
    )


def test_old_authorizations_stay_within_the_district_they_were_decided_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    folder = tmp_path / "store"
    folder.mkdir()
    path = folder / "q.db"
    # Rows as a store before 0009 held them, in today's schema (later migrations changed
    # other columns, so today's code cannot write an old schema): no districts, no
    # approvals; then 0009's own data statement, as shipped, does what it did to them.
    store = make_store(folder, TWO_DISTRICTS)  # cameras of Brussels and Liège
    store.close()
    store = SqliteStore(path)

    def user(name, role, org_id, scope=None):
        if scope is not None:
            user_service.create_organisation(
                uow=store.uow(),
                org_id=org_id,
                name=org_id,
                kind="judicial",
                scope=scope,
                now=NOW,
                actor=ACTOR,
            )
        created = user_service.create_user(
            uow=store.uow(),
            username=name,
            password="a long enough password 2026",
            role=role,
            org_id=org_id,
            now=NOW,
            designated=True,
            training_expires=NOW + timedelta(days=300),
            actor=ACTOR,
        )
        return created

    user_service.ensure_organisation(uow=store.uow(), org=replace(FEDERAL, created_at=NOW))
    inv = user("ines", Role.INVESTIGATOR, "federal")
    liege = user("luc", Role.PROSECUTOR, "parquet-liege", Scope(ScopeKind.DISTRICT, "Liège"))
    bxl = user("paula", Role.PROSECUTOR, "parquet-bxl", Scope(ScopeKind.DISTRICT, "Bruxelles"))
    read = Read(
        read_id=uuid.uuid4(),
        camera_id="C-MIDI-1",
        captured_at=NOW - timedelta(days=100),
        plate_raw="2XYZ999",
        plate="2XYZ999",
        plate_canonical=canonical("2XYZ999"),
        country="BE",
        confidence=0.9,
        received_at=NOW - timedelta(days=100),
    )
    with store.uow() as uow:
        uow.reads.add_many([read])
        # the defect: filed "Liège" for a Brussels camera, approved in Liège
        legacy_row(
            uow.conn,
            case_ref="PV-LIEGE",
            district="Liège",
            camera_ids=["C-MIDI-1"],
            status="approved",
            investigator=inv.user_id,
            requested_at=NOW - timedelta(days=2),
        )
        legacy_row(  # rightly filed and approved in Brussels
            uow.conn,
            case_ref="PV-BXL",
            district="Bruxelles",
            camera_ids=["C-MIDI-1"],
            status="approved",
            investigator=inv.user_id,
            requested_at=NOW - timedelta(days=2),
        )
        legacy_row(  # still pending, declared Liège for a Brussels camera
            uow.conn,
            case_ref="PV-PENDING",
            district="Liège",
            camera_ids=["C-MIDI-1"],
            status="pending",
            investigator=inv.user_id,
            requested_at=NOW - timedelta(days=1),
        )
        uow.commit()

    (districts,) = [m for m in load_migrations() if m.version == DISTRICTS_MIGRATION]
    data_statements = [s for s in split_statements(districts.sql) if not s.startswith("ALTER")]
    assert data_statements
    with store.uow() as uow:
        for statement in data_statements:
            uow.conn.execute(statement)
        uow.commit()
    policy = replace(POLICY, districts=DISTRICTS)

    def principal(u):
        with store.uow(write=False) as uow:
            return u.principal(uow.users.get_org(u.org_id))

    who = principal(inv)

    def old_seen(case_ref):
        seen = run_query(
            uow_factory=store.uow,
            read_uow_factory=lambda: store.uow(write=False),
            ctx=QueryContext(who, PURPOSE, case_ref),
            now=NOW,
            policy=policy,
            action="reads.search.test",
            params={},
            execute=lambda a: (everything(a)[0], 0),
        )
        return {r.read_id for r in seen if r.captured_at < NOW - timedelta(days=30)}

    assert old_seen("PV-LIEGE") == set()
    assert old_seen("PV-BXL") == {read.read_id}

    listed = {
        who_: [
            a.case_ref
            for a in auth_service.list_for_prosecutor(
                uow=store.uow(write=False), principal=principal(u), districts=DISTRICTS, rule=RULE
            )
        ]
        for who_, u in (("liege", liege), ("bxl", bxl))
    }
    assert listed == {"liege": ["PV-LIEGE"], "bxl": ["PV-PENDING", "PV-BXL"]}
    pending_id = 3
    with pytest.raises(AuthorizationError, match="another judicial district"):
        auth_service.decide_authorization(
            uow=store.uow(),
            principal=principal(liege),
            actor=ACTOR,
            auth_id=pending_id,
            approve=True,
            reasons="Serious offence, linked to the file.",
            now=NOW,
            districts=DISTRICTS,
            rule=RULE,
            expires_at=NOW + timedelta(days=10),
        )
    decided = auth_service.decide_authorization(
        uow=store.uow(),
        principal=principal(bxl),
        actor=ACTOR,
        auth_id=pending_id,
        approve=True,
        reasons="Serious offence, linked to the file.",
        now=NOW,
        districts=DISTRICTS,
        rule=RULE,
        expires_at=NOW + timedelta(days=10),
    )
    assert decided.districts == {BRUSSELS} and decided.district == "Liège"  # as declared
    assert old_seen("PV-PENDING") == {read.read_id}
    store.close()
