"""Start and stop a `veille serve` process (used by the main job, benchmarks and e2e tests)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _end_with_parent() -> None:
    """In the child, before exec: SIGTERM when the parent dies (Linux).

    A server in a session of its own no longer gets the terminal's Ctrl-C, so without
    this a main job killed outright (SIGKILL, OOM) would leave its server running.
    """
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(
    data_dir: Path,
    port: int,
    env_extra: dict[str, str] | None = None,
    *,
    timeout: float = 30.0,
    stderr: int | None = subprocess.PIPE,
    own_session: bool = False,
) -> subprocess.Popen[bytes]:
    """Start the API on `port` over the store in `data_dir`; return once /health answers.

    `stderr` a file descriptor: the server's output (stdout too) goes there. `own_session`:
    the server leaves the caller's process group, so a Ctrl-C at the terminal reaches the
    caller only, which then stops the server when it is ready to (`stop_server`); the
    server is still sent SIGTERM if the caller dies without stopping it (Linux ties that
    to the thread that started it: start an own-session server from the main thread).
    """
    env = {**os.environ, "VEILLE_DATA_DIR": str(data_dir), **(env_extra or {})}
    proc = subprocess.Popen(
        [sys.executable, "-m", "veille", "serve", "--port", str(port)],
        env=env,
        stdout=stderr if isinstance(stderr, int) and stderr >= 0 else subprocess.DEVNULL,
        stderr=stderr,
        start_new_session=own_session,
        preexec_fn=_end_with_parent if own_session else None,
    )
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                detail = proc.stderr.read().decode() if proc.stderr else ""
                raise RuntimeError(f"server exited with {proc.returncode}: {detail[-2000:]}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    return proc
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError(f"server did not answer /health within {timeout} s")
    except BaseException:  # a Ctrl-C while waiting too: never leave the server behind
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        raise


def stop_server(proc: subprocess.Popen[bytes], timeout: float = 30.0) -> int:
    """SIGTERM, then wait: the server finishes in-flight commits before it exits."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    return proc.returncode
