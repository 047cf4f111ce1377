"""Sign-in routes: bearer tokens, browser sessions (cookie + CSRF), TOTP, sign-out."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from veille.domain.access import Permission, Principal
from veille.domain.times import iso_or_none
from veille.domain.users import User
from veille.entrypoints.api.schemas.auth import (
    MeRead,
    SessionCreated,
    SignedOut,
    TokenCreated,
    TotpConfirmed,
    TotpSecretRead,
)
from veille.entrypoints.api.schemas.common import errors
from veille.entrypoints.api.security import (
    SESSION_COOKIE,
    actor_of,
    bearer_token,
    client_ip,
    error,
    json_response,
    platform_of,
    public,
    requires,
)
from veille.service import users as user_service

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


class Credentials(BaseModel):
    username: str = Field(max_length=64)
    password: str = Field(max_length=1024)
    totp: str | None = Field(None, max_length=12, description="One-time code, when enrolled.")
    name: str = Field("api", max_length=64, description="A label for the token.")


class TotpCode(BaseModel):
    code: str = Field(max_length=12)


async def _sign_in(request: Request, body: Credentials) -> User:
    platform = platform_of(request)
    settings = platform.settings

    def run() -> User:
        return user_service.sign_in(
            uow=platform.uow(),
            read_uow=platform.read_uow(),
            username=body.username,
            password=body.password,
            totp_code=body.totp,
            now=platform.clock(),
            policy=user_service.LockoutPolicy(
                max_failures=settings.lockout_failures,
                lock_for=timedelta(minutes=settings.lockout_minutes),
            ),
            totp_required_roles=frozenset(settings.totp_required_roles),
            ip=client_ip(request),
            user_agent=request.headers.get("user-agent"),
        )

    try:
        return await run_in_threadpool(run)
    except user_service.SignInRefused as exc:
        raise error(401, "sign_in_refused", str(exc)) from None


@router.post(
    "/token",
    summary="Exchange username, password (and TOTP) for a bearer token",
    response_model=TokenCreated,
    responses=errors(401),
)
async def issue_token(body: Credentials, request: Request, _: Any = Depends(public())) -> Response:
    """For API clients. Answers 401 for a wrong name, password or code; locks the account
    after repeated failures. The token is shown once and lasts 90 days."""
    platform = platform_of(request)
    user = await _sign_in(request, body)
    token, _csrf = user_service.issue_token(
        uow=platform.uow(), user_id=user.user_id, now=platform.clock(), name=body.name
    )
    return json_response({"token": token, "token_type": "bearer"})


@router.post(
    "/session",
    summary="Sign in a browser: session cookie and CSRF token",
    response_model=SessionCreated,
    responses=errors(401),
)
async def open_session(body: Credentials, request: Request, _: Any = Depends(public())) -> Response:
    """Sets an HttpOnly, SameSite=Strict (and, by default, Secure) session cookie and
    returns the CSRF token the browser must send as `X-CSRF-Token` on every change."""
    platform = platform_of(request)
    user = await _sign_in(request, body)
    hours = platform.settings.session_hours
    token, csrf = user_service.issue_token(
        uow=platform.uow(),
        user_id=user.user_id,
        now=platform.clock(),
        name="browser session",
        kind="session",
        ttl=timedelta(hours=hours),
    )
    response = json_response({"csrf_token": csrf, "expires_in_s": hours * 3600})
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=hours * 3600,
        httponly=True,
        secure=platform.settings.session_cookie_secure,
        samesite="strict",
        path="/",
    )
    return response


@router.post(
    "/sign-out", summary="Revoke the token or session of this request", response_model=SignedOut
)
def sign_out(
    request: Request, principal: Principal = Depends(requires(Permission.SELF))
) -> Response:
    platform = platform_of(request)
    token = bearer_token(request) or request.cookies.get(SESSION_COOKIE)
    if token:
        user_service.revoke_token(
            uow=platform.uow(),
            token=token,
            now=platform.clock(),
            actor=actor_of(request, principal),
        )
        # after the commit: this token's live alert streams end now, not at their next check
        platform.alert_bus.close_credential(user_service.hash_token(token), "signed out")
    response = json_response({"signed_out": True})
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/me", summary="The signed-in user", response_model=MeRead)
def me(principal: Principal = Depends(requires(Permission.SELF))) -> dict[str, Any]:
    return principal_json(principal)


@router.post(
    "/totp/enrol", summary="Start enrolling a TOTP second factor", response_model=TotpSecretRead
)
def totp_enrol(
    request: Request, principal: Principal = Depends(requires(Permission.SELF))
) -> dict[str, Any]:
    """Returns a new secret and its otpauth:// URI (for an authenticator app); it becomes
    active once a code from it is confirmed."""
    platform = platform_of(request)
    secret = user_service.enrol_totp(
        uow=platform.uow(),
        user_id=principal.user_id,
        now=platform.clock(),
        actor=actor_of(request, principal),
    )
    return {"secret": secret, "otpauth_uri": user_service.totp_uri(secret, principal.username)}


@router.post(
    "/totp/confirm",
    summary="Confirm the TOTP enrolment with a code",
    response_model=TotpConfirmed,
    responses=errors(400),
)
def totp_confirm(
    body: TotpCode, request: Request, principal: Principal = Depends(requires(Permission.SELF))
) -> dict[str, Any]:
    platform = platform_of(request)
    try:
        user_service.confirm_totp(
            uow=platform.uow(),
            user_id=principal.user_id,
            code=body.code,
            now=platform.clock(),
            actor=actor_of(request, principal),
        )
    except user_service.UserError as exc:
        raise error(400, "totp_not_confirmed", str(exc)) from None
    return {"totp": "active"}


def principal_json(principal: Principal) -> dict[str, Any]:
    return {
        "user_id": principal.user_id,
        "username": principal.username,
        "role": principal.role.value,
        "org_id": principal.org_id,
        "scope": {"kind": principal.scope.kind.value, "value": principal.scope.value},
        "designated": principal.designated,
        "training_expires": iso_or_none(principal.training_expires),
    }
