"""Request body limits for every route, enforced while the body arrives (before parsing)."""

from __future__ import annotations

import re

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from veille.entrypoints.api.errors import error_body
from veille.entrypoints.api.security import json_response
from veille.settings import Settings

INGEST = ("POST", "/api/v1/reads")
# Whole-file imports: a national camera registry or a hotlist of a million entries.
_IMPORTS = (
    ("POST", re.compile(r"/api/v1/cameras/import")),
    ("PUT", re.compile(r"/api/v1/hotlists/[^/]+/entries")),
)


def body_limit_for(method: str, path: str, settings: Settings) -> int:
    """The most bytes a request body to `method path` may carry."""
    if (method, path) == INGEST:
        return settings.max_body_bytes
    for verb, pattern in _IMPORTS:
        if method == verb and pattern.fullmatch(path):
            return settings.max_import_body_bytes
    return settings.max_request_body_bytes


class BodyTooLarge(HTTPException):
    """Raised from `receive` as the body passes its limit. An HTTPException, so that
    FastAPI's body parsing lets it through and the app's handler answers it."""

    def __init__(self, limit: int) -> None:
        # Starlette types `detail` as text; the app's handler renders a dict as the body
        super().__init__(413, detail=too_large(limit))  # type: ignore[arg-type]


def too_large(limit: int) -> dict[str, str]:
    return {"code": "body_too_large", "message": f"request body exceeds {limit} bytes"}


class BodyLimitMiddleware:
    """Refuse a body over its route's limit: at once when Content-Length says so, and by
    counting the bytes of a chunked body as they arrive. Nothing is buffered or copied
    here; a refused body is never read past its limit.

    Ingest is let through untouched: its route enforces the same limit itself, after it
    has authenticated the camera, so that it can keep what arrived as a dead letter.
    """

    def __init__(self, app: ASGIApp, *, settings: Settings) -> None:
        self.app = app
        self.settings = settings  # read per request: a changed limit applies at once

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        if (method, path) == INGEST:
            await self.app(scope, receive, send)
            return
        limit = body_limit_for(method, path, self.settings)
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            response = json_response(error_body(413, too_large(limit)), status=413)
            await response(scope, receive, send)
            return
        received = 0

        async def receive_within_limit() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, receive_within_limit, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None
