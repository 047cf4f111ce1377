"""A server started in a session of its own still ends when the process that started it dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.e2e

PARENT = """
import sys, time
from pathlib import Path
from veille.entrypoints.server_process import free_port, start_server
proc = start_server(Path(sys.argv[1]), free_port(), own_session=True)
print(proc.pid, flush=True)
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (exited, not yet reaped by init) counts as gone
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(") ", 1)[1][0] != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal is Linux")
def test_a_main_job_killed_outright_takes_its_server_with_it(tmp_path):
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, str(tmp_path / "var")],
        stdout=subprocess.PIPE,
        env={**os.environ, "VEILLE_RUN_JOBS": "false"},
    )
    assert parent.stdout is not None
    server_pid = int(parent.stdout.readline())
    assert _alive(server_pid)
    parent.send_signal(signal.SIGKILL)
    parent.wait(10)
    gone = False
    for _ in range(300):  # an event, not a time bound: wait (generously) for the exit
        if not _alive(server_pid):
            gone = True
            break
        time.sleep(0.1)
    if not gone:
        os.kill(server_pid, signal.SIGKILL)
    assert gone, "the server outlived the main job that started it"
