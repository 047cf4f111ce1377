"""`veille serve` keeps the audit log vouched for, and says so when it is not."""

from __future__ import annotations

import queue
import sqlite3
import threading
from pathlib import Path

import httpx
import orjson
import pytest

from veille.bootstrap import bootstrap
from veille.entrypoints.server_process import free_port, start_server, stop_server
from veille.service import users as user_service
from veille.settings import Settings

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse battery staple"


def prepared(data: Path) -> Settings:
    """A data folder with a first administrator, as `make run` leaves it."""
    settings = Settings(data_dir=data, image_fsync=False)
    platform = bootstrap(settings)
    platform.store.initialise()
    user_service.create_first_admin(
        uow=platform.uow(), username="admin", password=PASSWORD, now=platform.clock()
    )
    platform.checkpoints.write()
    platform.store.close()
    return settings


def stderr_lines(proc) -> queue.Queue[str]:  # type: ignore[no-untyped-def]
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        for raw in proc.stderr:
            lines.put(raw.decode("utf-8", "replace"))

    threading.Thread(target=pump, daemon=True).start()
    return lines


def wait_for_line(lines: queue.Queue[str], needle: str, timeout: float = 60.0) -> str:
    seen = []
    while True:
        try:
            line = lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no line with {needle!r} in: {''.join(seen)[-2000:]}") from None
        seen.append(line)
        if needle in line:
            return line


def test_serve_warns_at_start_when_the_audit_log_was_tampered_with(tmp_path):
    data = tmp_path / "var"
    settings = prepared(data)
    conn = sqlite3.connect(settings.database, isolation_level=None)
    conn.execute("DROP TRIGGER audit_log_no_update")
    conn.execute("UPDATE audit_log SET actor_username = 'someone.else' WHERE seq = 1")
    conn.close()
    server = start_server(data, free_port())
    try:
        lines = stderr_lines(server)
        warning = wait_for_line(lines, "WARNING: the audit log FAILS verification")
        assert "1 problems" in warning
        assert "record 1: edited:" in wait_for_line(lines, "record 1:")
    finally:
        stop_server(server)


def test_the_running_server_checkpoints_what_it_records(tmp_path):
    data = tmp_path / "var"
    settings = prepared(data)
    port = free_port()
    server = start_server(data, port, {"VEILLE_AUDIT_CHECKPOINT_EVERY_RECORDS": "1"})
    try:
        signed_in = httpx.post(
            f"http://127.0.0.1:{port}/api/v1/auth/token",
            json={"username": "admin", "password": PASSWORD},
        )
        assert signed_in.status_code == 200
        with sqlite3.connect(settings.database) as conn:
            head = conn.execute("SELECT max(seq) FROM audit_log").fetchone()[0]
        checkpoints = settings.audit_anchors / "checkpoints.jsonl"
        seen: list[int] = []
        for _ in range(600):  # the writer polls every second; wait for it, not for a time
            seen = [orjson.loads(line)["seq"] for line in checkpoints.read_bytes().splitlines()]
            if max(seen) >= head:
                break
            threading.Event().wait(0.1)
        assert max(seen) >= head, seen
    finally:
        stop_server(server)
    # A clean stop leaves nothing uncovered: the last checkpoint is the head.
    with sqlite3.connect(settings.database) as conn:
        head = conn.execute("SELECT seq FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
    last = orjson.loads(checkpoints.read_bytes().splitlines()[-1])
    assert (last["kind"], last["seq"]) == ("checkpoint", head[0])
