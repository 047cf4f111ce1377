"""The camera registry, ingest credentials, the change counter, and dead letters."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from tests.contract.builders import NOW, Store, a_camera, committed, seen
from tests.contract.conftest import Backend
from veille.domain.cameras import Phase

pytestmark = pytest.mark.integration


def add_cameras(store: Store, *cameras: Any) -> None:
    def write(uow: Any) -> None:
        for camera in cameras:
            uow.cameras.add(camera)

    committed(store, write)


def test_a_camera_comes_back_as_stored(store: Store):
    camera = a_camera("CAM-A", heading=None)
    add_cameras(store, camera)
    assert seen(store, lambda uow: uow.cameras.get("CAM-A")) == camera
    assert seen(store, lambda uow: uow.cameras.get("CAM-Z")) is None


def test_a_camera_id_is_stored_once(store: Store, backend: Backend):
    add_cameras(store, a_camera("CAM-A"))
    with store.uow() as uow, pytest.raises(backend.conflict):
        uow.cameras.add(a_camera("CAM-A", name="another"))
    assert seen(store, lambda uow: uow.cameras.get("CAM-A")) == a_camera("CAM-A")


def test_update_replaces_a_camera_and_ignores_an_unknown_one(store: Store):
    add_cameras(store, a_camera("CAM-A"))
    retired = a_camera("CAM-A", name="Renamed", zone="Polbruno").retire(NOW + timedelta(days=1))
    committed(store, lambda uow: uow.cameras.update(retired))
    committed(store, lambda uow: uow.cameras.update(a_camera("CAM-GHOST")))
    with store.uow(write=False) as uow:
        assert uow.cameras.get("CAM-A") == retired
        assert uow.cameras.get("CAM-GHOST") is None


def test_list_is_ordered_by_id_and_filters_by_zone_and_phase(store: Store):
    add_cameras(
        store,
        a_camera("CAM-C", zone="Midi", phase="testing"),
        a_camera("CAM-A", zone="Midi", phase="live"),
        a_camera("CAM-B", zone="Polbruno", phase="live"),
    )

    def ids(**filters: Any) -> list[str]:
        return seen(store, lambda uow: [c.camera_id for c in uow.cameras.find(**filters)])

    assert ids() == ["CAM-A", "CAM-B", "CAM-C"]
    assert ids(zone="Midi") == ["CAM-A", "CAM-C"]
    assert ids(phase="live") == ["CAM-A", "CAM-B"]
    assert ids(phase=Phase.TESTING) == ["CAM-C"]
    assert ids(zone="Midi", phase="live") == ["CAM-A"]
    assert ids(zone="Nowhere") == []


def test_a_credential_finds_its_camera_until_revoked(store: Store):
    add_cameras(store, a_camera("CAM-A"), a_camera("CAM-B"))

    def issue(uow: Any) -> None:
        uow.cameras.add_credential("CAM-A", "hash-a1", NOW)
        uow.cameras.add_credential("CAM-A", "hash-a2", NOW)
        uow.cameras.add_credential("CAM-B", "hash-b1", NOW)

    committed(store, issue)
    with store.uow(write=False) as uow:
        assert uow.cameras.camera_for_token("hash-a1") == a_camera("CAM-A")
        assert uow.cameras.camera_for_token("hash-b1") == a_camera("CAM-B")
        assert uow.cameras.camera_for_token("hash-unknown") is None
    assert committed(store, lambda uow: uow.cameras.revoke_credentials("CAM-A", NOW)) == 2
    assert committed(store, lambda uow: uow.cameras.revoke_credentials("CAM-A", NOW)) == 0
    with store.uow(write=False) as uow:
        assert uow.cameras.camera_for_token("hash-a1") is None
        assert uow.cameras.camera_for_token("hash-a2") is None
        assert uow.cameras.camera_for_token("hash-b1") == a_camera("CAM-B")


def test_a_credential_answers_with_the_camera_as_it_is_now(store: Store):
    add_cameras(store, a_camera("CAM-A"))
    committed(store, lambda uow: uow.cameras.add_credential("CAM-A", "hash-a", NOW))
    moved = replace(a_camera("CAM-A"), phase=Phase.TESTING, name="Moved")
    committed(store, lambda uow: uow.cameras.update(moved))
    assert seen(store, lambda uow: uow.cameras.camera_for_token("hash-a")) == moved


def test_a_credential_needs_a_camera_and_a_token_of_its_own(store: Store, backend: Backend):
    add_cameras(store, a_camera("CAM-A"))
    committed(store, lambda uow: uow.cameras.add_credential("CAM-A", "hash-a", NOW))
    with store.uow() as uow, pytest.raises(backend.conflict):
        uow.cameras.add_credential("CAM-GHOST", "hash-ghost", NOW)
    with store.uow() as uow, pytest.raises(backend.conflict):
        uow.cameras.add_credential("CAM-A", "hash-a", NOW)


def test_the_version_counts_every_change_in_the_changing_transaction(store: Store, elsewhere: Any):
    def version() -> int:
        return int(elsewhere(lambda: seen(store, lambda uow: uow.cameras.version())))

    v0 = version()
    add_cameras(store, a_camera("CAM-A"))
    v1 = version()
    assert v1 > v0
    committed(store, lambda uow: uow.cameras.update(a_camera("CAM-A", name="Renamed")))
    v2 = version()
    assert v2 > v1
    committed(store, lambda uow: uow.cameras.update(a_camera("CAM-A", phase="retired")))
    v3 = version()
    assert v3 > v2
    committed(store, lambda uow: uow.cameras.update(a_camera("CAM-GHOST")))
    assert version() == v3  # nothing changed
    with store.uow() as uow:
        uow.cameras.add(a_camera("CAM-B"))
        assert uow.cameras.version() > v3  # its own change it sees at once
        assert version() == v3  # others only once it commits
    assert version() == v3  # rolled back with the change


def test_the_version_counts_every_credential_change(store: Store, elsewhere: Any):
    # the credential cache keeps a camera's verified token until the version moves, so
    # a token issued or revoked in another process must move it
    def version() -> int:
        return int(elsewhere(lambda: seen(store, lambda uow: uow.cameras.version())))

    add_cameras(store, a_camera("CAM-A"))
    v0 = version()
    committed(store, lambda uow: uow.cameras.add_credential("CAM-A", "hash-a", NOW))
    v1 = version()
    assert v1 > v0
    assert committed(store, lambda uow: uow.cameras.revoke_credentials("CAM-A", NOW)) == 1
    v2 = version()
    assert v2 > v1
    assert committed(store, lambda uow: uow.cameras.revoke_credentials("CAM-A", NOW)) == 0
    assert version() == v2  # nothing was left to revoke


# --- dead letters ------------------------------------------------------------------------


def add_dead_letter(store: Store, payload: str, camera_id: str | None = "CAM-A") -> int:
    return int(
        committed(
            store,
            lambda uow: uow.dead_letters.add(
                received_at=NOW,
                camera_id=camera_id,
                source="http",
                payload=payload,
                errors=[{"field": "plate", "reason": "missing"}],
            ),
        )
    )


def test_a_dead_letter_is_kept_open_with_its_errors(store: Store):
    first = add_dead_letter(store, '{"plate": null}')
    second = add_dead_letter(store, "{", camera_id=None)
    assert second > first
    letter = seen(store, lambda uow: uow.dead_letters.get(first))
    assert (letter.id, letter.received_at, letter.camera_id, letter.source) == (
        first,
        NOW,
        "CAM-A",
        "http",
    )
    assert letter.payload == '{"plate": null}'
    assert letter.errors == [{"field": "plate", "reason": "missing"}]
    assert (letter.status, letter.replayed_at, letter.replay_result) == ("open", None, None)
    assert seen(store, lambda uow: uow.dead_letters.get(second)).camera_id is None
    assert seen(store, lambda uow: uow.dead_letters.get(second + 100)) is None


def test_dead_letters_are_listed_by_id_and_status_and_counted(store: Store):
    ids = [add_dead_letter(store, f"payload {i}") for i in range(4)]
    committed(
        store,
        lambda uow: uow.dead_letters.mark(ids[1], status="replayed", at=NOW, result="stored"),
    )
    committed(
        store,
        lambda uow: uow.dead_letters.mark(ids[2], status="discarded", at=NOW, result="junk"),
    )
    with store.uow(write=False) as uow:
        assert [d.id for d in uow.dead_letters.find()] == [ids[0], ids[3]]
        assert [d.id for d in uow.dead_letters.find(status=None)] == ids
        assert [d.id for d in uow.dead_letters.find(status=None, limit=2)] == ids[:2]
        assert [d.id for d in uow.dead_letters.find(status="replayed")] == [ids[1]]
        replayed = uow.dead_letters.get(ids[1])
        assert (replayed.status, replayed.replayed_at, replayed.replay_result) == (
            "replayed",
            NOW,
            "stored",
        )
        assert uow.dead_letters.count() == 4
        assert uow.dead_letters.count(status="open") == 2
        assert uow.dead_letters.count(status="discarded") == 1
