"""Authentication and deny-by-default authorisation for every API route."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import orjson
from fastapi import FastAPI, HTTPException, Request
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from veille.bootstrap import Platform
from veille.domain.access import Permission, Principal, decide
from veille.domain.audit import Actor
from veille.domain.cameras import Camera
from veille.service.commands.users import Identify, RecordRefusal
from veille.service.users import TokenIdentity

PUBLIC = "public"
CAMERA = "camera"
SESSION_COOKIE = "veille_session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        # a datetime left in a body renders as `domain.times.iso` does: UTC with Z
        content=orjson.dumps(body, option=orjson.OPT_UTC_Z),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


def error(status: int, code: str, message: str, **extra: Any) -> HTTPException:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return HTTPException(
        status, detail={"code": code, "message": message, **extra}, headers=headers
    )


def platform_of(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def actor_of(request: Request, principal: Principal) -> Actor:
    """The audit actor for a request: the user, their role and organisation, where from."""
    return Actor(
        username=principal.username,
        role=principal.role.value,
        user_id=principal.user_id,
        org_id=principal.org_id,
        ip=client_ip(request),
        user_agent=(request.headers.get("user-agent") or "")[:256] or None,
    )


def bearer_token(request: Request) -> str | None:
    return bearer_of(request.headers.get("authorization", ""))


def bearer_of(header: str) -> str | None:
    """The token of an `Authorization: Bearer …` header, or None."""
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def _principal(request: Request) -> Principal:
    """The signed-in caller of every request (bearer token, or session cookie with its
    CSRF token on changes), or 401."""
    platform = platform_of(request)
    token = bearer_token(request)
    via_cookie = False
    if token is None:
        token = request.cookies.get(SESSION_COOKIE)
        via_cookie = token is not None
    if token is None:
        raise error(401, "unauthenticated", "sign in or send a bearer token")
    # Through the bus like every use case: one dictionary look-up beside the token query.
    identity: TokenIdentity | None = platform.bus.handle(Identify(token=token))
    if identity is None:
        raise error(401, "unauthenticated", "token is invalid, expired or revoked")
    # Known from here on, so that a refusal (CSRF included) is audited under this name.
    request.state.principal = identity.principal
    if via_cookie and request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER)
        if not sent or sent != identity.csrf_token:
            raise error(403, "csrf", "missing or wrong CSRF token for a browser session")
    return identity.principal


def requires(permission: Permission) -> Callable[[Request], Principal]:
    """Dependency: the caller must hold `permission` (and, for data, designation + training)."""

    def dependency(request: Request) -> Principal:
        principal = _principal(request)
        refusal = decide(principal, permission, platform_of(request).clock())
        if refusal:
            request.state.refused_permission = permission.value
            raise error(403, "forbidden", refusal)
        return principal

    dependency.veille_access = permission.value  # type: ignore[attr-defined]
    return dependency


# What a refusal record keeps of the request: the fields that say what was asked for,
# never a password, token, secret or free text. Each value is cut short and a list keeps
# its first items, so a flood of refused calls stays a flood of small records.
_RECORDED_FIELDS = (
    "plate",
    "plates",
    "camera_id",
    "camera_ids",
    "list_id",
    "username",
    "role",
    "org_id",
    "designated",
    "start",
    "end",
    "since",
    "until",
    "user",
    "action",
    "status",
    "format",
)
_MAX_TEXT = 64
_MAX_ITEMS = 8


def _small(value: Any) -> Any:
    if isinstance(value, bool | int | float) or value is None:
        return value
    if isinstance(value, list | tuple):
        return [_small(v) for v in value[:_MAX_ITEMS]]
    return str(value)[:_MAX_TEXT]


def _text(value: Any) -> str | None:
    return str(value)[:_MAX_TEXT] if value not in (None, "") else None


def record_refusal(request: Request, detail: dict[str, Any]) -> None:
    """Audit a 403 answered to a signed-in caller: who, which route with which ids and
    filters, and why. Anonymous callers (401) are not recorded here: they are no one yet.

    One short append (`access.refused`), so that a refusal never holds the ingest writer
    for longer.
    """
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None or getattr(request.state, "refusal_audited", False):
        return
    request.state.refusal_audited = True
    route = request.scope.get("route")
    template = getattr(route, "path", None) or request.url.path
    params: dict[str, Any] = {
        "route": f"{request.method} {template}"[: 2 * _MAX_TEXT],
        "code": _text(detail.get("code")),
        "reason": str(detail.get("message", ""))[: 2 * _MAX_TEXT],
    }
    permission = getattr(request.state, "refused_permission", None)
    if permission:
        params["permission"] = permission
    params.update({k: _small(v) for k, v in list(request.path_params.items())[:_MAX_ITEMS]})
    # FastAPI has parsed a JSON body before it ran the dependencies; Starlette keeps it.
    body = getattr(request, "_json", None)
    asked = {**(body if isinstance(body, dict) else {}), **request.query_params}
    params.update({k: _small(asked[k]) for k in _RECORDED_FIELDS if k in asked})
    platform_of(request).bus.handle(
        RecordRefusal(
            actor=actor_of(request, principal),
            params=params,
            purpose=_text(asked.get("purpose")),
            case_ref=_text(asked.get("case_ref") or asked.get("case")),
        )
    )


def public() -> Callable[[], None]:
    """Dependency marking a route as open to anyone (health check, sign-in)."""

    def dependency() -> None:
        return None

    dependency.veille_access = PUBLIC  # type: ignore[attr-defined]
    return dependency


async def authenticated_camera(platform: Platform, token: str | None) -> Camera:
    """The camera presenting `token`, its own ingest token, or 401 (403 if it may not post).

    A token verified since the camera version last moved is answered from memory, on the
    event loop; any other is looked up on a worker thread (decision 0018)."""
    camera: Camera | None = None
    if token is not None:
        known, camera = platform.camera_cache.peek(token)
        if not known:
            camera = await run_in_threadpool(platform.camera_for_token, token)
    if camera is None:  # counted: a camera whose token was replaced is otherwise silent
        platform.writer.counters.auth_failed += 1
        if token is None:
            raise error(401, "unauthenticated", "a camera ingest token is required")
        raise error(401, "unauthenticated", "unknown or revoked camera credential")
    if not camera.may_post:
        platform.writer.counters.not_posting += 1
        raise error(403, "camera_not_posting", f"camera {camera.camera_id} is {camera.phase.value}")
    return camera


def camera_credential() -> Callable[[Request], Awaitable[Camera]]:
    """Dependency: the caller is a camera presenting its own ingest token."""

    async def dependency(request: Request) -> Camera:
        return await authenticated_camera(platform_of(request), bearer_token(request))

    dependency.veille_access = CAMERA  # type: ignore[attr-defined]
    return dependency


def route_access(route: APIRoute) -> str | None:
    """The access a route declared, or None if it declared none."""
    found = [getattr(dep.call, "veille_access", None) for dep in route.dependant.dependencies]
    declared = [f for f in found if f]
    return declared[0] if len(declared) == 1 else None


def iter_api_routes(routes: list[Any], prefix: str = "") -> Iterator[tuple[str, APIRoute]]:
    """Every API route with its full path, through included routers at any depth."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield prefix + route.path, route
        elif hasattr(route, "original_router"):  # a router included with include_router
            context = getattr(route, "include_context", None)
            sub = getattr(context, "prefix", "") or ""
            yield from iter_api_routes(route.original_router.routes, prefix + sub)


def assert_every_route_declared(app: FastAPI) -> None:
    """Refuse to start if any route forgot to declare its access (deny by default)."""
    undeclared = [
        f"{sorted(r.methods or ())} {path}"
        for path, r in iter_api_routes(app.routes)
        if route_access(r) is None
    ]
    if undeclared:
        raise RuntimeError(f"routes without a declared permission: {undeclared}")
