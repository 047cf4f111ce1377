"""The OpenAPI document: security schemes attached to each route as it authenticates."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from veille.entrypoints.api.schemas.common import ErrorBody, errors
from veille.entrypoints.api.security import (
    CAMERA,
    CSRF_HEADER,
    PUBLIC,
    SAFE_METHODS,
    SESSION_COOKIE,
    iter_api_routes,
    route_access,
)

USER_TOKEN = "userToken"
CAMERA_TOKEN = "cameraToken"
SESSION = "sessionCookie"
CSRF = "csrfToken"

SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    USER_TOKEN: {
        "type": "http",
        "scheme": "bearer",
        "description": "A user's token (`vu_…`) from `POST /api/v1/auth/token`.",
    },
    CAMERA_TOKEN: {
        "type": "http",
        "scheme": "bearer",
        "description": "A camera's ingest token (`vc_…`); only `POST /api/v1/reads` takes it.",
    },
    SESSION: {
        "type": "apiKey",
        "in": "cookie",
        "name": SESSION_COOKIE,
        "description": "A browser session from `POST /api/v1/auth/session`.",
    },
    CSRF: {
        "type": "apiKey",
        "in": "header",
        "name": "X-CSRF-Token",
        "description": "The session's `csrf_token`: required with the cookie on every change.",
    },
}
assert SECURITY_SCHEMES[CSRF]["name"].lower() == CSRF_HEADER


def security_of(access: str, method: str) -> list[dict[str, list[str]]]:
    """The OpenAPI security requirement of a route with this access and method, as
    `security._principal` and `security.camera_credential` enforce it."""
    if access == PUBLIC:
        return []
    if access == CAMERA:
        return [{CAMERA_TOKEN: []}]
    session: dict[str, list[str]] = (
        {SESSION: []} if method in SAFE_METHODS else {SESSION: [], CSRF: []}
    )
    return [{USER_TOKEN: []}, session]


def _shared_errors(access: str, takes_input: bool) -> dict[int | str, dict[str, Any]]:
    """401/403 of every authenticated route, 422 of every route that takes parameters."""
    statuses = () if access == PUBLIC else (401, 403)
    return errors(*statuses, *((422,) if takes_input else ()))


def build_openapi(app: FastAPI) -> dict[str, Any]:
    document = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
    )
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    if "ErrorBody" not in schemas:  # only if no route named it itself
        schema = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas["ErrorBody"] = schema
    components["securitySchemes"] = SECURITY_SCHEMES
    error_ref = {"$ref": "#/components/schemas/ErrorBody"}
    for path, route in iter_api_routes(app.routes):
        access = route_access(route)
        assert access is not None  # create_app refuses undeclared routes
        for method in route.methods or ():
            operation = document["paths"].get(path, {}).get(method.lower())
            if operation is None:
                continue
            operation["security"] = security_of(access, method)
            responses = operation.setdefault("responses", {})
            takes_input = bool(operation.get("parameters") or operation.get("requestBody"))
            for status, spec in _shared_errors(access, takes_input).items():
                # FastAPI documents its own 422 body; ours is the documented error body
                if str(status) not in responses or status == 422:
                    responses[str(status)] = {
                        "description": spec["description"],
                        "content": {"application/json": {"schema": error_ref}},
                    }
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    return document


def install_openapi(app: FastAPI) -> None:
    """Build the document once, on first request (the routes are fixed by then)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_openapi(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
