"""Searches and analyses run a few at a time (`analysis_slots`); the others wait their
turn, then are refused 503 analyses_busy. Ingest never waits behind them."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from tests.conftest import make_read, register_cameras
from tests.e2e.test_analyses_api import CASE, PURPOSE, make_user
from veille.bootstrap import Platform, bootstrap
from veille.domain.users import FEDERAL
from veille.entrypoints.api.app import create_app
from veille.service import users as user_service
from veille.service.commands.investigation import PlateSearch
from veille.settings import Settings

pytestmark = pytest.mark.e2e


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    settings = Settings(
        data_dir=tmp_path / "var",
        image_fsync=False,
        run_jobs=False,
        analysis_slots=1,
        analysis_wait_s=0.3,
    )
    platform = bootstrap(settings)
    platform.store.initialise()
    yield platform
    platform.stop()


def test_a_search_waits_for_a_slot_then_is_refused_busy_and_ingest_goes_on(platform: Platform):
    user_service.ensure_organisation(
        uow=platform.uow(), org=replace(FEDERAL, created_at=platform.clock())
    )
    investigator = make_user(platform, "ines")
    camera = register_cameras(platform, "CAM-A")["CAM-A"]
    inside, release = threading.Event(), threading.Event()
    entered: list[str] = []
    handle = platform.bus.handle

    def held_search(message: Any) -> Any:  # the first search stays in the bus until released
        if isinstance(message, PlateSearch):
            entered.append(message.plate)
            if len(entered) == 1:
                inside.set()
                assert release.wait(30)
        return handle(message)

    platform.bus.handle = held_search  # type: ignore[method-assign]
    now = platform.clock()
    body = {
        "purpose": PURPOSE,
        "case_ref": CASE,
        "start": (now - timedelta(days=1)).isoformat(),
        "end": now.isoformat(),
    }
    with TestClient(create_app(platform)) as client:
        answers: dict[str, Any] = {}

        def search(plate: str) -> None:
            answers[plate] = client.post(
                "/api/v1/search/plate", json={**body, "plate": plate}, headers=investigator
            )

        first = threading.Thread(target=search, args=("1AAA111",))
        first.start()
        assert inside.wait(30)
        search("2BBB222")  # no slot within 0.3 s: refused, never reaches the bus
        posted = client.post(
            "/api/v1/reads", content=orjson.dumps(make_read("CAM-A")), headers=camera.headers
        )
        release.set()
        first.join()
        search("3CCC333")  # the slot is free again
    assert answers["2BBB222"].status_code == 503
    assert answers["2BBB222"].json()["error"]["code"] == "analyses_busy"
    assert answers["2BBB222"].headers["retry-after"] == "5"
    assert posted.status_code == 200 and posted.json()["stored"] == 1  # ingest did not wait
    assert answers["1AAA111"].status_code == 200
    assert answers["3CCC333"].status_code == 200
    assert entered == ["1AAA111", "3CCC333"]
