"""The ingest stream and its workers' consumer: their configuration, made so on start."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import BadRequestError, ServiceUnavailableError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestStream:
    """Where the ingest API publishes and the workers take from (all from settings).

    The stream is a work queue (a read leaves it once a worker acknowledged it stored),
    replicated `replicas` times, and refuses new reads when full (`discard new`) rather
    than dropping old ones no worker stored yet: a full stream slows the cameras down,
    it never loses an acknowledged read.
    """

    servers: tuple[str, ...]
    name: str = "VEILLE_INGEST"
    subject_prefix: str = "veille.ingest"
    replicas: int = 3
    duplicate_window_s: float = 120.0
    max_bytes: int = -1  # -1: as much as the servers' JetStream storage allows
    durable: str = "veille-workers"

    @property
    def read_subject(self) -> str:
        return f"{self.subject_prefix}.read"

    @property
    def rejected_subject(self) -> str:
        return f"{self.subject_prefix}.rejected"

    def stream_config(self) -> StreamConfig:
        return StreamConfig(
            name=self.name,
            subjects=[f"{self.subject_prefix}.>"],
            retention=RetentionPolicy.WORK_QUEUE,
            storage=StorageType.FILE,
            num_replicas=self.replicas,
            duplicate_window=self.duplicate_window_s,
            discard=DiscardPolicy.NEW,
            max_bytes=self.max_bytes,
        )

    def consumer_config(self, *, ack_wait_s: float, max_ack_pending: int) -> ConsumerConfig:
        return ConsumerConfig(
            durable_name=self.durable,
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=ack_wait_s,
            max_deliver=-1,  # never given up on: a read that cannot be stored is kept
            max_ack_pending=max_ack_pending,
        )


def _log_error(what: str) -> Callable[[Exception], Awaitable[None]]:
    async def report(error: Exception) -> None:
        log.warning("%s: NATS: %s", what, error)

    return report


async def connect(stream: IngestStream, *, name: str) -> Client:
    """A connection to the stream's servers that reconnects for ever (a JetStream node
    may go away and come back; an in-flight publish then times out, never hangs)."""

    client = Client()

    async def disconnected() -> None:
        if not client.is_closed:  # not our own close
            log.warning("%s: disconnected from NATS", name)

    async def reconnected() -> None:
        log.info("%s: reconnected to NATS", name)

    await client.connect(
        servers=list(stream.servers),
        name=name,
        max_reconnect_attempts=-1,
        reconnect_time_wait=1,  # seconds between rounds of the servers
        connect_timeout=5,
        error_cb=_log_error(name),
        disconnected_cb=disconnected,
        reconnected_cb=reconnected,
    )
    return client


# JetStream's answers while a cluster is still forming or a peer is away: try again
_NOT_YET = frozenset({10005, 10008, 10023})  # peer offline, cluster not ready, no resources
_CONFIG_DIFFERS = 10058  # a stream of this name exists with another configuration


async def ensure_stream(js: JetStreamContext, stream: IngestStream) -> None:
    """Create the stream, or bring an existing one to this configuration. While the
    cluster cannot place it yet (a node still joining), try again every half second:
    the caller bounds how long."""
    config = stream.stream_config()
    while True:
        try:
            await js.add_stream(config)
            return
        except BadRequestError as refused:
            if refused.err_code == _CONFIG_DIFFERS:  # e.g. a new duplicate window
                await js.update_stream(config)
                return
            if refused.err_code not in _NOT_YET:
                raise
            log.warning("the ingest stream cannot be placed yet: %s", refused.description)
        except ServiceUnavailableError as refused:
            log.warning("JetStream is not available yet: %s", refused.description)
        await asyncio.sleep(0.5)


async def ensure_consumer(
    js: JetStreamContext, stream: IngestStream, *, ack_wait_s: float, max_ack_pending: int
) -> None:
    """Create the workers' durable pull consumer, or update it to this configuration."""
    config = stream.consumer_config(ack_wait_s=ack_wait_s, max_ack_pending=max_ack_pending)
    await js.add_consumer(stream.name, config)  # the same durable again is an update
