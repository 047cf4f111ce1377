"""A scoped partial-plate search walks the plate index, not every read of the scope's
cameras: at 10 M reads the camera index made a zone's `1AB?12?` take ~6 s (decision 0014)."""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path

import pytest

from veille.adapters.sqlite.store import SqliteStore
from veille.domain.access import Scope, ScopeKind
from veille.service import analyses
from veille.service.queries import CameraDirectory, QueryContext, ReadAccess, run_query

from .test_lawful_queries import CAMERAS, NOW, POLICY, PURPOSE, add_reads, make_store, principal

pytestmark = pytest.mark.integration


def _plans(store: SqliteStore, scope: Scope) -> list[str]:
    """The query plan of every SELECT on reads a scoped partial-plate search ran."""
    conn = store.connection()
    ran: list[str] = []
    conn.set_trace_callback(ran.append)  # statements as run, parameters bound

    def execute(access: ReadAccess) -> tuple[object, int]:
        return analyses.plate_search(
            access, plate="1AB?12?", mode="wildcard", start=NOW - timedelta(days=30), end=NOW
        )

    try:
        run_query(
            uow_factory=store.uow,
            read_uow_factory=lambda: store.uow(write=False),
            ctx=QueryContext(principal=principal(scope=scope), purpose=PURPOSE, case_ref="PV/1/26"),
            now=NOW,
            policy=POLICY,
            action="test.partial",
            params={},
            execute=execute,
            cameras=CameraDirectory(),
        )
    finally:
        conn.set_trace_callback(None)
    selects = [sql for sql in ran if sql.lstrip().upper().startswith("SELECT PLATE FROM READS")]
    assert selects, ran
    return [
        " / ".join(row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}")) for sql in selects
    ]


@pytest.mark.parametrize("analysed", [False, True], ids=["no statistics", "after ANALYZE"])
def test_a_zone_partial_plate_search_uses_the_plate_index(tmp_path: Path, analysed: bool) -> None:
    store = make_store(tmp_path)
    add_reads(store, random.Random(3), 2000)
    if analysed:  # statistics make the camera index look cheap: it must still not be used
        store.connection().execute("ANALYZE")
    for plan in _plans(store, Scope(ScopeKind.ZONE, "Midi")):
        assert "reads_plate_time" in plan, plan
        assert "reads_camera_time" not in plan, plan
    store.close()


def test_the_zone_still_sees_only_its_cameras(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    add_reads(store, random.Random(4), 2000)
    midi = {c[0] for c in CAMERAS if c[1] == "Midi"}

    def execute(access: ReadAccess) -> tuple[dict[str, object], int]:
        return analyses.plate_search(
            access, plate="1AB?12?", mode="wildcard", start=NOW - timedelta(days=30), end=NOW
        )

    result = run_query(
        uow_factory=store.uow,
        read_uow_factory=lambda: store.uow(write=False),
        ctx=QueryContext(
            principal=principal(scope=Scope(ScopeKind.ZONE, "Midi")),
            purpose=PURPOSE,
            case_ref="PV/1/26",
        ),
        now=NOW,
        policy=POLICY,
        action="test.partial",
        params={},
        execute=execute,
        cameras=CameraDirectory(),
    )
    passages = result["passages"]
    assert isinstance(passages, list) and passages
    assert {p["camera_id"] for p in passages} <= midi
    assert {p["plate"] for p in passages} <= {"1ABC123", "1ABD123"}
    store.close()
