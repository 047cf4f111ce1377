"""A minimal HTTP/1.1 client connection for the load generator: one camera, one socket.

Plain asyncio streams: a request is one `write` of a pre-built head and body, the answer
is a status line, headers and a `Content-Length` (or chunked) body. About a tenth of the
CPU of a general-purpose client per request, which matters when 10,000 of them share two
cores with the server they load.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import urlsplit


class ConnectionLost(Exception):
    """The connection closed or failed before a whole answer arrived."""

    def __init__(self, message: str, *, answered_nothing: bool):
        super().__init__(message)
        # True when not one byte of an answer came back: on a reused keep-alive connection
        # this is the server having closed it while idle, and the request is simply re-sent
        self.answered_nothing = answered_nothing


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: bytes
    retry_after: str | None
    keep_alive: bool


@dataclass(frozen=True, slots=True)
class Endpoint:
    host: str
    port: int
    host_header: bytes

    @classmethod
    def from_url(cls, base_url: str) -> Endpoint:
        parts = urlsplit(base_url)
        if parts.scheme != "http":
            raise ValueError(f"the load generator speaks plain http only, not {parts.scheme!r}")
        host = parts.hostname or "127.0.0.1"
        port = parts.port or 80
        return cls(host=host, port=port, host_header=f"{host}:{port}".encode())


def request_head(endpoint: Endpoint, path: str, token: str) -> bytes:
    """The fixed part of a camera's request head; `Content-Length` and the blank line follow."""
    return (
        b"POST " + path.encode() + b" HTTP/1.1\r\nHost: " + endpoint.host_header
        + b"\r\nAuthorization: Bearer " + token.encode()
        + b"\r\nContent-Type: application/json\r\nContent-Length: "
    )  # fmt: skip


class Connection:
    """One keep-alive connection, opened on first use and again after the server closes it."""

    __slots__ = ("endpoint", "opened", "reader", "requests", "writer")

    def __init__(self, endpoint: Endpoint):
        self.endpoint = endpoint
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.requests = 0  # answered on this connection since it was opened
        self.opened = 0  # times a socket was opened

    @property
    def is_open(self) -> bool:
        return self.writer is not None

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def post(self, head: bytes, body: bytes) -> Answer:
        """Send one request and read its answer; raises ConnectionLost or OSError."""
        if self.reader is not None and self.reader.at_eof():
            self.close()  # the server closed it while idle
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(
                self.endpoint.host, self.endpoint.port
            )
            self.requests = 0
            self.opened += 1
        reader, writer = self.reader, self.writer
        assert reader is not None
        writer.write(head + str(len(body)).encode() + b"\r\n\r\n" + body)
        try:
            raw_head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            self.close()
            raise ConnectionLost(
                "closed before an answer", answered_nothing=not exc.partial
            ) from None
        except ConnectionError as exc:  # reset: nothing of an answer was read
            self.close()
            raise ConnectionLost(repr(exc), answered_nothing=True) from exc
        except asyncio.LimitOverrunError as exc:
            self.close()
            raise ConnectionLost(repr(exc), answered_nothing=False) from exc
        answer = await self._answer(reader, raw_head)
        self.requests += 1
        if not answer.keep_alive:
            self.close()
        return answer

    async def _answer(self, reader: asyncio.StreamReader, raw_head: bytes) -> Answer:
        lines = raw_head.split(b"\r\n")
        try:
            status = int(lines[0].split(b" ", 2)[1])
        except (IndexError, ValueError):
            self.close()
            raise ConnectionLost(
                f"bad status line {lines[0][:80]!r}", answered_nothing=False
            ) from None
        length: int | None = None
        chunked = False
        keep_alive = not lines[0].startswith(b"HTTP/1.0")
        retry_after: str | None = None
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"connection":
                keep_alive = value.strip().lower() != b"close"
            elif name == b"retry-after":
                retry_after = value.strip().decode("latin-1")
        try:
            if chunked:
                body = await self._chunked(reader)
            elif length is not None:
                body = await reader.readexactly(length)
            else:
                body = await reader.read()
                keep_alive = False
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            self.close()
            raise ConnectionLost(repr(exc), answered_nothing=False) from exc
        return Answer(status=status, body=body, retry_after=retry_after, keep_alive=keep_alive)

    @staticmethod
    async def _chunked(reader: asyncio.StreamReader) -> bytes:
        parts: list[bytes] = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                return b"".join(parts)
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
