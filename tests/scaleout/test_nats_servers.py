"""The test servers themselves: a 3-node cluster elects a meta leader and replicates."""

from __future__ import annotations

import asyncio

import nats
import pytest
from nats.js.api import StreamConfig

from tests.scaleout.nats_servers import NatsCluster

pytestmark = pytest.mark.integration


def test_a_three_node_cluster_stores_a_replicated_stream(nats_cluster: NatsCluster) -> None:
    async def scenario() -> tuple[int, int]:
        nc = await nats.connect(servers=nats_cluster.urls)
        try:
            js = nc.jetstream()
            await js.add_stream(StreamConfig(name="PROBE", subjects=["probe"], num_replicas=3))
            ack = await js.publish("probe", b"hello")
            info = await js.stream_info("PROBE")
            replicas = 1 + len(info.cluster.replicas or []) if info.cluster else 0
            return ack.seq, replicas
        finally:
            await nc.close()

    seq, replicas = asyncio.run(scenario())
    assert seq == 1
    assert replicas == 3
    assert len(set(nats_cluster.pids)) == 3
