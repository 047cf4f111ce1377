"""Every error answer of the API, in one place: `{"error": {"code", "message", …}}`."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import Response

from veille.entrypoints.api.security import json_response, record_refusal
from veille.service.errors import Busy, Conflict, Forbidden, Invalid, NotFound, VeilleError

log = logging.getLogger(__name__)

# The code of an error raised without one (by the router, or by a plain HTTPException).
_DEFAULT_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "body_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "too_many_requests",
    503: "unavailable",
}


# The one place a kind of service error becomes an HTTP status (the CLI's exit codes are
# mapped in entrypoints/cli_common.py). Routes raise nothing for these: the handler below
# answers every one with the documented body.
TAXONOMY_STATUS: dict[type[VeilleError], int] = {
    NotFound: 404,
    Conflict: 409,
    Invalid: 422,
    Forbidden: 403,
    Busy: 503,
}


def status_of(exc: VeilleError) -> int:
    """The status of the error's kind: the first taxonomy class in its ancestry, so a
    `GrantConflict` (a conflict, and a user error) answers 409, not 422."""
    for kind in type(exc).__mro__:
        if kind in TAXONOMY_STATUS:
            return TAXONOMY_STATUS[kind]
    return 400


def taxonomy_body(exc: VeilleError) -> dict[str, Any]:
    """`{"error": {"code", "message", its extra fields, "problems"?}}` for a service error."""
    detail: dict[str, Any] = {**exc.extra, "code": exc.code, "message": str(exc) or exc.code}
    if isinstance(exc, Invalid) and exc.problems:
        detail["problems"] = [p.as_dict() for p in exc.problems]
    return {"error": detail}


def error_body(status: int, detail: Any) -> dict[str, Any]:
    """The documented body for an error `detail`: a dict with a code, or just a message."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:  # a status Python has no name for
        phrase = "error"
    code = _DEFAULT_CODES.get(status, "error")
    if isinstance(detail, dict):
        return {"error": {"code": code, "message": phrase, **detail}}
    message = str(detail) if detail else phrase
    if code == "not_found" and message == "Not Found":
        message = "no such route"
    elif code == "method_not_allowed" and message == "Method Not Allowed":
        message = "this route does not accept that method"
    return {"error": {"code": code, "message": message}}


def internal_error() -> Response:
    """The answer to a crash: its traceback went to the log, never to the caller."""
    body = {"error": {"code": "internal_error", "message": "internal error; it was logged"}}
    return json_response(body, status=500)


def refused_with_report(status: int, code: str, message: str, report: dict[str, Any]) -> Response:
    """A refusal that also answers a full report (an import, a replay): the documented
    `error` first, the report's own fields beside it, as clients already read them."""
    detail: dict[str, Any] = {"code": code, "message": message}
    if "problems" in report:
        detail["problems"] = report["problems"]
    elif "errors" in report:
        detail["problems"] = report["errors"]
    return json_response({"error": detail, **report}, status=status)


def problems_of(exc: RequestValidationError) -> list[dict[str, str]]:
    """Each field pydantic refused, with its reason."""
    return [
        {"field": ".".join(str(p) for p in e.get("loc", ())), "reason": e.get("msg", "")}
        for e in exc.errors()
    ]


def install_error_handlers(app: FastAPI) -> None:
    """Unknown routes, wrong methods, refused bodies, our own errors and crashes alike."""

    # Starlette's class: the router's own 404 and 405 are not FastAPI HTTPExceptions
    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        body = error_body(exc.status_code, exc.detail)
        if exc.status_code == 403:  # every refusal of a signed-in caller is audited first
            await run_in_threadpool(record_refusal, request, body["error"])
        headers = dict(exc.headers) if exc.headers else None
        return json_response(body, status=exc.status_code, headers=headers)

    @app.exception_handler(VeilleError)
    async def service_error(request: Request, exc: VeilleError) -> Response:
        status = status_of(exc)
        body = taxonomy_body(exc)
        if status == 403 and not exc.audited:  # every refusal of a signed-in caller is
            await run_in_threadpool(record_refusal, request, body["error"])  # audited first
        headers = {"Retry-After": str(exc.retry_after_s)} if isinstance(exc, Busy) else None
        return json_response(body, status=status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> Response:
        body = {
            "error": {
                "code": "invalid_request",
                "message": "request is invalid",
                "problems": problems_of(exc),
            }
        }
        return json_response(body, status=422)

    @app.exception_handler(ClientDisconnect)
    async def hung_up(request: Request, _: ClientDisconnect) -> Response:
        # the caller left while its body was arriving (a camera's timeout): nobody is
        # there to answer and nothing was done; not a fault of the server, so no log
        # traceback (formatting one on the event loop slowed an overloaded server more)
        log.debug("client hung up during %s %s", request.method, request.url.path)
        return Response(status_code=499)  # "client closed request": never delivered

    @app.exception_handler(Exception)
    async def crash(request: Request, exc: Exception) -> Response:
        # the traceback goes to the log, never to the caller
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return internal_error()
