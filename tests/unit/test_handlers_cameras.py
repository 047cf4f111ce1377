"""Camera registry handlers on the in-memory store: import, pages, phases, retire, tokens."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.conftest import camera_records
from tests.unit.fakes import FakePlatform, memory_bus
from veille.domain.audit import system_actor
from veille.domain.cameras import Camera, Phase
from veille.service.cameras import authenticate_camera
from veille.service.commands.cameras import (
    CameraById,
    CamerasPage,
    ChangeCameraPhase,
    ImportCameras,
    ReissueCameraToken,
    RetireCamera,
)
from veille.service.errors import Conflict, Invalid, NotFound
from veille.service.handlers import cameras

pytestmark = pytest.mark.unit

ADMIN = system_actor("test-admin")


@pytest.fixture
def fake() -> FakePlatform:
    return memory_bus(cameras.register)


def register(fake: FakePlatform, *ids: str, phase: str = "live") -> dict[str, str]:
    report = fake.bus.handle(ImportCameras(records=camera_records(*ids, phase=phase), actor=ADMIN))
    assert report.applied, report.problems
    return report.tokens


def camera_of(fake: FakePlatform, token: str) -> Camera | None:
    """Whom the token authenticates now, whatever the camera's phase."""
    return authenticate_camera(uow=fake.store.uow(write=False), token=token, any_phase=True)


# --- import -------------------------------------------------------------------------------


def test_import_registers_cameras_gives_new_ones_a_token_and_is_audited(fake: FakePlatform):
    tokens = register(fake, "CAM-A", "CAM-B")
    assert sorted(tokens) == ["CAM-A", "CAM-B"]
    assert camera_of(fake, tokens["CAM-A"]).camera_id == "CAM-A"
    with fake.store.uow(write=False) as uow:
        (record,) = uow.audit.iter_all()
    assert record.entry.action == "camera.import" and record.entry.actor == ADMIN
    assert record.entry.params["created"] == ["CAM-A", "CAM-B"]
    assert record.entry.params["tokens_issued"] == ["CAM-A", "CAM-B"]


def test_an_import_with_a_bad_line_applies_nothing_and_says_where(fake: FakePlatform):
    records = camera_records("CAM-A", "CAM-B", "CAM-C")
    records[1][1]["lat"] = 48.85  # Paris
    records[2][1]["camera_id"] = "CAM-A"  # twice in one file
    report = fake.bus.handle(ImportCameras(records=records, actor=ADMIN))
    assert not report.applied
    assert [(p.where, p.field) for p in report.problems] == [
        ("test 1", "lat/lon"),
        ("test 2", "camera_id"),
    ]
    assert report.tokens == {} and report.created == []
    assert fake.bus.handle(CamerasPage()) == []
    assert fake.audited() == []


def test_a_retired_camera_imported_as_live_again_applies_nothing(fake: FakePlatform):
    register(fake, "CAM-A")
    fake.bus.handle(RetireCamera(camera_id="CAM-A", actor=ADMIN))
    records = camera_records("CAM-A", "CAM-NEW")
    report = fake.bus.handle(ImportCameras(records=records, actor=ADMIN))
    assert not report.applied and report.problems[0].field == "phase"
    assert [c.camera_id for c in fake.bus.handle(CamerasPage())] == ["CAM-A"]


def test_an_unknown_token_policy_is_bad_input(fake: FakePlatform):
    with pytest.raises(Invalid):
        fake.bus.handle(
            ImportCameras(records=camera_records("CAM-A"), actor=ADMIN, issue_tokens="some")
        )
    assert fake.bus.handle(CamerasPage()) == []


# --- queries --------------------------------------------------------------------------------


def test_pages_and_one_camera_pass_cameras_through_whole(fake: FakePlatform):
    register(fake, "CAM-A", "CAM-B", "CAM-C")
    register(fake, "CAM-P", phase="planned")
    first = fake.bus.handle(CamerasPage(limit=2))
    assert [c.camera_id for c in first] == ["CAM-A", "CAM-B"]
    rest = fake.bus.handle(CamerasPage(after="CAM-B"))
    assert [c.camera_id for c in rest] == ["CAM-C", "CAM-P"]
    planned = fake.bus.handle(CamerasPage(phase=Phase.PLANNED))
    assert [c.camera_id for c in planned] == ["CAM-P"]
    with fake.store.uow(write=False) as uow:
        stored = uow.cameras.get("CAM-B")
    assert fake.bus.handle(CameraById("CAM-B")) == stored == first[1]
    with pytest.raises(NotFound, match="no camera NOPE"):
        fake.bus.handle(CameraById("NOPE"))


# --- phases, retirement, tokens ------------------------------------------------------------


def test_phase_changes_are_audited_and_a_planned_camera_posts_once_testing(fake: FakePlatform):
    token = register(fake, "CAM-P", phase="planned")["CAM-P"]
    assert not camera_of(fake, token).may_post
    fake.now += timedelta(minutes=5)
    moved = fake.bus.handle(ChangeCameraPhase(camera_id="CAM-P", phase=Phase.TESTING, actor=ADMIN))
    assert moved.phase is Phase.TESTING and camera_of(fake, token).may_post
    assert fake.audited()[-1] == ("camera.phase", "CAM-P", "ok")
    with pytest.raises(NotFound):
        fake.bus.handle(ChangeCameraPhase(camera_id="NOPE", phase=Phase.LIVE, actor=ADMIN))


def test_a_retired_camera_stays_retired_and_gets_no_credential(fake: FakePlatform):
    register(fake, "CAM-A")
    fake.bus.handle(ChangeCameraPhase(camera_id="CAM-A", phase=Phase.RETIRED, actor=ADMIN))
    before = fake.audited()
    with pytest.raises(Conflict, match="stays retired"):
        fake.bus.handle(ChangeCameraPhase(camera_id="CAM-A", phase=Phase.LIVE, actor=ADMIN))
    with pytest.raises(Conflict, match="no credential"):
        fake.bus.handle(ReissueCameraToken(camera_id="CAM-A", actor=ADMIN))
    assert fake.bus.handle(CameraById("CAM-A")).phase is Phase.RETIRED
    assert fake.audited() == before  # a refusal changes nothing


def test_retiring_revokes_the_credential_at_once_even_one_the_platform_trusted(
    fake: FakePlatform,
):
    token = register(fake, "CAM-A")["CAM-A"]

    def verified() -> Camera | None:  # as ingest asks: cached for an hour in this fake
        return fake.camera_cache.get(token, lambda t: camera_of(fake, t))

    assert verified() is not None
    fake.now += timedelta(days=1)
    retired = fake.bus.handle(RetireCamera(camera_id="CAM-A", actor=ADMIN))
    assert (retired.phase, retired.retired_at) == (Phase.RETIRED, fake.now)
    assert verified() is None and camera_of(fake, token) is None
    assert fake.audited()[-1] == ("camera.retire", "CAM-A", "ok")
    with pytest.raises(NotFound):
        fake.bus.handle(RetireCamera(camera_id="NOPE", actor=ADMIN))


def test_reissuing_a_token_replaces_that_camera_s_only_and_is_audited(fake: FakePlatform):
    tokens = register(fake, "CAM-A", "CAM-B")
    trusted = fake.camera_cache.get(tokens["CAM-A"], lambda t: camera_of(fake, t))
    assert trusted is not None
    new = fake.bus.handle(ReissueCameraToken(camera_id="CAM-A", actor=ADMIN))
    assert new.startswith("vc_") and new != tokens["CAM-A"]
    assert camera_of(fake, new).camera_id == "CAM-A"
    assert fake.camera_cache.get(tokens["CAM-A"], lambda t: camera_of(fake, t)) is None
    assert camera_of(fake, tokens["CAM-B"]).camera_id == "CAM-B"  # the others keep theirs
    assert fake.audited()[-1] == ("camera.token", "CAM-A", "ok")


def test_a_token_is_reissued_to_a_named_camera_only(fake: FakePlatform):
    tokens = register(fake, "CAM-A")
    with pytest.raises(Invalid):
        fake.bus.handle(ReissueCameraToken(camera_id=" ", actor=ADMIN))
    with pytest.raises(NotFound):
        fake.bus.handle(ReissueCameraToken(camera_id="NOPE", actor=ADMIN))
    assert camera_of(fake, tokens["CAM-A"]) is not None
