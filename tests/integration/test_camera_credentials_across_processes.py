"""A camera token reissued by another process (the CLI, on the same store) stops working
for the serving process at its cache's next look at the camera version, and a verified
token is looked up in the store once, not once per read."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

from veille.bootstrap import bootstrap
from veille.domain.audit import system_actor
from veille.service import cameras as camera_service
from veille.service.commands.cameras import ReissueCameraToken
from veille.settings import Settings

TTL = 0.05


def test_a_token_reissued_elsewhere_stops_working_after_one_version_check(tmp_path: Path):
    settings = Settings(data_dir=tmp_path, image_fsync=False, run_jobs=False, camera_cache_s=TTL)
    serving = bootstrap(settings)
    serving.store.initialise()
    record = {
        "camera_id": "CAM-A",
        "lat": 50.85,
        "lon": 4.35,
        "zone": "Bench",
        "province": "Bruxelles-Capitale",
        "phase": "live",
    }
    old = camera_service.import_cameras(
        uow=serving.uow(),
        records=[("test", record)],
        now=datetime.now(UTC),
        issue_tokens="all",
        actor=system_actor("test"),
    ).tokens["CAM-A"]
    for _ in range(20):  # twenty reads over several version checks
        assert serving.camera_for_token(old) is not None
        time.sleep(TTL / 2)
    assert serving.camera_cache.loads == 1

    cli = bootstrap(settings)  # another process on the same store
    new = cli.bus.handle(ReissueCameraToken(camera_id="CAM-A", actor=system_actor("cli")))
    cli.close_store()
    time.sleep(TTL * 1.5)  # past the next look at the version
    assert serving.camera_for_token(old) is None
    camera = serving.camera_for_token(new)
    assert camera is not None and camera.camera_id == "CAM-A"
    serving.close_store()
