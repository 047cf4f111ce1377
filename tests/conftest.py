"""Shared fixtures: a platform on a temporary embedded store, an API client, credentials."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import hypothesis
import pytest
from fastapi.testclient import TestClient

from veille.bootstrap import Platform, bootstrap
from veille.domain.audit import system_actor
from veille.entrypoints.api.app import create_app
from veille.service import cameras as camera_service
from veille.service import users as user_service
from veille.settings import Settings

ADMIN_PASSWORD = "correct horse battery staple"

# In CI every property test draws the same examples (a red build is reproducible, and a
# rare case found while developing is pinned with @example); no per-example deadline,
# since a shared 2-core machine makes timings meaningless.
hypothesis.settings.register_profile("ci", derandomize=True, deadline=None)
hypothesis.settings.register_profile("dev", deadline=None)
hypothesis.settings.load_profile("ci" if os.environ.get("CI") == "true" else "dev")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "var", image_fsync=False, run_jobs=False)


@pytest.fixture
def platform(settings: Settings) -> Iterator[Platform]:
    platform = bootstrap(settings)
    platform.store.initialise()
    yield platform
    platform.stop()


@pytest.fixture
def client(platform: Platform) -> Iterator[TestClient]:
    with TestClient(create_app(platform)) as test_client:
        yield test_client


@pytest.fixture
def admin_token(platform: Platform) -> str:
    user = user_service.create_first_admin(
        uow=platform.uow(), username="admin", password=ADMIN_PASSWORD, now=platform.clock()
    )
    token, _ = user_service.issue_token(
        uow=platform.uow(), user_id=user.user_id, now=platform.clock()
    )
    return token


@dataclass(frozen=True)
class CameraCred:
    camera_id: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def register_cameras(
    platform: Platform,
    *ids: str,
    phase: str = "live",
    zone: str = "Bruxelles-Capitale/Ixelles",
    province: str = "Bruxelles-Capitale",
) -> dict[str, CameraCred]:
    records = [
        (
            f"test {i}",
            {
                "camera_id": cid,
                "name": f"Test camera {cid}",
                "lat": 50.847 + i * 0.001,
                "lon": 4.352,
                "heading": 90,
                "zone": zone,
                "province": province,
                "vendor": "Veille",
                "protocol": "veille-json",
                "phase": phase,
            },
        )
        for i, cid in enumerate(ids)
    ]
    report = camera_service.import_cameras(
        uow=platform.uow(),
        records=records,
        now=platform.clock(),
        issue_tokens="all",
        actor=system_actor("test"),
    )
    assert report.applied, report.problems
    platform.camera_cache.clear()
    return {cid: CameraCred(cid, report.tokens[cid]) for cid in ids}


@pytest.fixture
def cams(platform: Platform) -> dict[str, CameraCred]:
    return register_cameras(platform, "CAM-A", "CAM-B")


def make_read(camera_id: str, **overrides: Any) -> dict[str, Any]:
    read = {
        "read_id": str(uuid.uuid4()),
        "camera_id": camera_id,
        "captured_at": (datetime.now(UTC) - timedelta(seconds=5))
        .isoformat()
        .replace("+00:00", "Z"),
        "plate": "1-ABC-123",
        "country": "BE",
        "confidence": 0.93,
        "direction": "approaching",
        "lane": 1,
        "vehicle": {"make": "Volkswagen", "colour": "grey", "type": "car"},
    }
    read.update(overrides)
    return {k: v for k, v in read.items() if v is not ...}
