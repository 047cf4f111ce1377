"""The cameras' route served straight from ASGI: `POST /api/v1/reads` without the framework.

At the national peak the cameras' one-event requests are nearly all the traffic the
server gets, and on the one event loop that serves them FastAPI's routing (about forty
routes tried in turn), its dependency resolution and its middleware cost more than the
decoding itself (decision 0018). The lane sits in front of the application and answers
exactly one route, `POST /api/v1/reads`, with the same code as FastAPI's route
(`ingest.store_delivery`, `security.authenticated_camera`): the same authentication, the
same limits, dead letters and answers, the same error bodies. Every other request goes on
to FastAPI untouched. `VEILLE_INGEST_LANE=false` sends ingest through FastAPI as well.
"""

from __future__ import annotations

import logging

from fastapi import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from veille.bootstrap import Platform
from veille.entrypoints.api.errors import error_body, internal_error
from veille.entrypoints.api.ingest import store_delivery
from veille.entrypoints.api.security import authenticated_camera, bearer_of, json_response

log = logging.getLogger(__name__)

INGEST_PATH = "/api/v1/reads"


class IngestLane:
    """ASGI middleware: `POST /api/v1/reads` here, everything else to `app`."""

    def __init__(self, app: ASGIApp, *, platform: Platform) -> None:
        self.app = app
        self.platform = platform

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["path"] == INGEST_PATH
            and scope["method"] == "POST"
            and self.platform.settings.ingest_lane
        ):
            response = await self._serve(scope, receive)
            if response is not None:
                await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _serve(self, scope: Scope, receive: Receive) -> Response | None:
        request = Request(scope, receive)  # a view of the scope: headers, body stream
        headers = request.headers
        try:
            token = bearer_of(headers.get("authorization", ""))
            camera = await authenticated_camera(self.platform, token)
            return await store_delivery(
                self.platform,
                camera,
                request.stream(),
                declared_length=headers.get("content-length"),
                content_type=headers.get("content-type", ""),
            )
        except HTTPException as exc:
            extra = dict(exc.headers) if exc.headers else None
            return json_response(
                error_body(exc.status_code, exc.detail), status=exc.status_code, headers=extra
            )
        except ClientDisconnect:
            # the camera left while its body was arriving: nobody to answer, nothing done
            log.debug("camera hung up during POST %s", INGEST_PATH)
            return None
        except Exception as exc:  # the traceback to the log, never to the camera
            log.error("unhandled error on POST %s", INGEST_PATH, exc_info=exc)
            return internal_error()
