"""A zone or province scope's cameras are worked out once per camera directory version,
not on every query, and a camera change is seen by the very next query (decision 0014)."""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from veille.adapters.sqlite.store import SqliteStore
from veille.domain.access import Scope, ScopeKind
from veille.service.queries import CameraDirectory, QueryContext, ReadAccess, run_query

from .test_lawful_queries import CAMERAS, NOW, POLICY, PURPOSE, add_reads, make_store, principal

pytestmark = pytest.mark.integration

ZONE = Scope(ScopeKind.ZONE, "Midi")


def _zone_cameras_seen(store: SqliteStore, directory: CameraDirectory, scope: Scope) -> set[str]:
    """The cameras of every read a scoped investigator sees over the whole open window."""

    def execute(access: ReadAccess) -> tuple[set[str], int]:
        reads = access.find(start=NOW - POLICY.window.open_window, end=NOW, limit=100_000)
        return {r.camera_id for r in reads}, len(reads)

    seen: set[str] = run_query(
        uow_factory=store.uow,
        read_uow_factory=lambda: store.uow(write=False),
        ctx=QueryContext(principal=principal(scope=scope), purpose=PURPOSE, case_ref="PV/1/2026"),
        now=NOW,
        policy=POLICY,
        action="test.scope",
        params={},
        execute=execute,
        cameras=directory,
    )
    return seen


def _count_covers(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count calls of Scope.covers (the per-camera scope test) while leaving it real."""
    calls = [0]
    real = Scope.covers

    def counted(self: Scope, **kw: Any) -> bool:
        calls[0] += 1
        return real(self, **kw)

    monkeypatch.setattr(Scope, "covers", counted)
    return calls


def test_the_scope_is_worked_out_once_per_directory_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = make_store(tmp_path)
    add_reads(store, random.Random(1), 200)
    directory = CameraDirectory()
    calls = _count_covers(monkeypatch)
    for _ in range(5):
        assert _zone_cameras_seen(store, directory, ZONE) == {"C-MIDI-1", "C-MIDI-2"}
    # one pass over the cameras for the first query; the next four reuse its answer
    assert calls[0] == len(CAMERAS)
    store.close()


def test_a_camera_change_is_seen_by_the_next_query(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    add_reads(store, random.Random(2), 200)
    directory = CameraDirectory()
    assert _zone_cameras_seen(store, directory, ZONE) == {"C-MIDI-1", "C-MIDI-2"}
    # a Polbruno camera is moved into Midi: the directory's version changes with it
    with store.uow() as uow:
        moved = uow.cameras.get("C-POLB-1")
        assert moved is not None
        uow.cameras.update(replace(moved, zone="Midi"))
        uow.commit()
    assert _zone_cameras_seen(store, directory, ZONE) == {"C-MIDI-1", "C-MIDI-2", "C-POLB-1"}
    # and each scope keeps its own answer
    province = Scope(ScopeKind.PROVINCE, "Bruxelles-Capitale")
    assert _zone_cameras_seen(store, directory, province) == {c[0] for c in CAMERAS}
    store.close()
