"""Shared fixtures: a platform on a temporary embedded store, an API client, credentials."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import hypothesis
import pytest
from fastapi.testclient import TestClient

from tests.postgresql import fresh_database, uri_of
from tests.seaweedfs import s3_bucket, seaweedfs  # noqa: F401  (fixtures, started on first use)
from veille.bootstrap import Platform, bootstrap
from veille.domain.access import Role, Scope, ScopeKind
from veille.domain.audit import system_actor
from veille.domain.users import FEDERAL, User
from veille.entrypoints.api.app import create_app
from veille.service import users as user_service
from veille.service.commands.cameras import ImportCameras
from veille.settings import Settings

ADMIN_PASSWORD = "correct horse battery staple"

# In CI every property test draws the same examples (a red build is reproducible, and a
# rare case found while developing is pinned with @example); no per-example deadline,
# since a shared 2-core machine makes timings meaningless.
hypothesis.settings.register_profile("ci", derandomize=True, deadline=None)
hypothesis.settings.register_profile("dev", deadline=None)
hypothesis.settings.load_profile("ci" if os.environ.get("CI") == "true" else "dev")


@pytest.fixture
def settings(tmp_path: Path) -> Iterator[Settings]:
    """The platform's settings: on the embedded store, or on the store VEILLE_TEST_STORE
    names ("postgresql": the whole suite's platforms on PostgreSQL)."""
    with settings_on(os.environ.get("VEILLE_TEST_STORE", "sqlite"), tmp_path) as chosen:
        yield chosen


@contextmanager
def settings_on(store: str, tmp_path: Path) -> Iterator[Settings]:
    """The test settings on the embedded store ("sqlite") or on PostgreSQL ("postgresql":
    a migrated database holding no row, tests/postgresql.py)."""
    plain = Settings(data_dir=tmp_path / "var", image_fsync=False, run_jobs=False)
    if store == "sqlite":
        yield plain
        return
    with fresh_database() as dsn, pytest.MonkeyPatch.context() as env:
        # the environment too: a CLI command a test runs finds the same store
        env.setenv("VEILLE_STORE", uri_of(dsn))
        yield plain.model_copy(update={"store": uri_of(dsn)})


@pytest.fixture(params=["sqlite", "postgresql"])
def settings_on_each_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    """The test settings on each store: a module runs on both by taking it as its
    `settings` fixture."""
    with settings_on(request.param, tmp_path) as chosen:
        yield chosen


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


USER_PASSWORD = "a long enough test password"


def user_with_token(
    platform: Platform,
    username: str,
    role: Role,
    *,
    org_id: str = "federal",
    designated: bool = True,
    training_days: int | None = 365,
) -> tuple[User, dict[str, str]]:
    """A user set up server-side (the privileged path tests use) and its bearer header.

    `training_days` may be negative (an expired certificate) or None (no certificate).
    """
    now = platform.clock()
    user_service.ensure_organisation(uow=platform.uow(), org=replace(FEDERAL, created_at=now))
    user = user_service.create_user(
        uow=platform.uow(),
        username=username,
        password=USER_PASSWORD,
        role=role,
        org_id=org_id,
        now=now,
        designated=designated,
        training_expires=now + timedelta(days=training_days) if training_days is not None else None,
        actor=system_actor("test"),
    )
    token, _ = user_service.issue_token(uow=platform.uow(), user_id=user.user_id, now=now)
    return user, {"Authorization": f"Bearer {token}"}


def prosecutor_office(
    platform: Platform, org_id: str = "parquet-bxl", district: str = "Bruxelles"
) -> str:
    """A judicial organisation deciding for `district`, for prosecutors to belong to."""
    user_service.create_organisation(
        uow=platform.uow(),
        org_id=org_id,
        name=f"Parquet {district}",
        kind="judicial",
        scope=Scope(ScopeKind.DISTRICT, district),
        now=platform.clock(),
        actor=system_actor("test"),
    )
    return org_id


def create_through_api(
    client: TestClient, platform: Platform, headers: dict[str, str], body: dict[str, Any]
) -> dict[str, Any]:
    """`POST /api/v1/users` as the administrator of `headers`; when the account waits for a
    second administrator (a data-access role or designation), approve it as one. Returns
    the user as `GET /api/v1/users` lists it."""
    resp = client.post("/api/v1/users", headers=headers, json=body)
    assert resp.status_code in (201, 202), resp.text
    if resp.status_code == 201:
        return resp.json()
    grant_id = resp.json()["grant"]["grant_id"]
    _, second = user_with_token(
        platform, f"second-admin-{grant_id}", Role.ADMINISTRATOR, designated=False
    )
    approved = client.post(
        f"/api/v1/user-grants/{grant_id}/approve",
        headers=second,
        json={"reason": "test set-up: the second pair of eyes"},
    )
    assert approved.status_code == 200, approved.text
    users = client.get("/api/v1/users", headers=second).json()["users"]
    return next(u for u in users if u["user_id"] == approved.json()["user_id"])


@dataclass(frozen=True)
class CameraCred:
    camera_id: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def camera_records(
    *ids: str,
    phase: str = "live",
    zone: str = "Bruxelles-Capitale/Ixelles",
    province: str = "Bruxelles-Capitale",
) -> list[tuple[str, dict[str, Any]]]:
    """Import records of test cameras (`where`, record), a few metres apart in Brussels."""
    return [
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


def register_cameras(
    platform: Platform,
    *ids: str,
    phase: str = "live",
    zone: str = "Bruxelles-Capitale/Ixelles",
    province: str = "Bruxelles-Capitale",
) -> dict[str, CameraCred]:
    """Register test cameras through the bus, as an administrator would; their tokens."""
    report = platform.bus.handle(
        ImportCameras(
            records=camera_records(*ids, phase=phase, zone=zone, province=province),
            issue_tokens="all",
            actor=system_actor("test"),
        )
    )
    assert report.applied, report.problems
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


class BlockedUnitOfWork:
    """Wraps a real unit of work whose commit waits until the test lets it go."""

    def __init__(self, inner: Any, gate: threading.Event, entered: threading.Event):
        self._inner, self._gate, self._entered = inner, gate, entered

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def __enter__(self) -> BlockedUnitOfWork:
        self._inner.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._inner.__exit__(*exc)

    def commit(self) -> None:
        self._entered.set()
        assert self._gate.wait(30)
        self._inner.commit()
