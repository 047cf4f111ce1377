"""Sign-in routes: bearer tokens, browser sessions (cookie + CSRF), TOTP, sign-out."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from veille.domain.access import Permission, Principal
from veille.domain.times import iso_or_none
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
from veille.service.commands import users as commands
from veille.service.commands.users import SignedIn

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


class Credentials(BaseModel):
    username: str = Field(max_length=64)
    password: str = Field(max_length=1024)
    totp: str | None = Field(None, max_length=12, description="One-time code, when enrolled.")
    name: str = Field("api", max_length=64, description="A label for the token.")


class TotpCode(BaseModel):
    code: str = Field(max_length=12)


async def _sign_in(
    request: Request, body: Credentials, issue: Literal["api", "session"]
) -> SignedIn:
    """The one place a refused sign-in becomes its answer: 401 (with `WWW-Authenticate`),
    as the caller is nobody yet; none of the five kinds of refusal has that status."""
    try:
        signed_in: SignedIn = await run_in_threadpool(
            platform_of(request).bus.handle,
            commands.SignIn(
                username=body.username,
                password=body.password,
                totp_code=body.totp,
                ip=client_ip(request),
                user_agent=request.headers.get("user-agent"),
                issue=issue,
                token_name=body.name,
            ),
        )
    except user_service.SignInRefused as exc:
        raise error(401, exc.code, str(exc)) from None
    return signed_in


@router.post(
    "/token",
    summary="Exchange username, password (and TOTP) for a bearer token",
    response_model=TokenCreated,
    responses=errors(401),
)
async def issue_token(body: Credentials, request: Request, _: Any = Depends(public())) -> Response:
    """For API clients. Answers 401 for a wrong name, password or code; locks the account
    after repeated failures. The token is shown once and lasts 90 days."""
    signed_in = await _sign_in(request, body, "api")
    return json_response({"token": signed_in.token, "token_type": "bearer"})


@router.post(
    "/session",
    summary="Sign in a browser: session cookie and CSRF token",
    response_model=SessionCreated,
    responses=errors(401),
)
async def open_session(body: Credentials, request: Request, _: Any = Depends(public())) -> Response:
    """Sets an HttpOnly, SameSite=Strict (and, by default, Secure) session cookie and
    returns the CSRF token the browser must send as `X-CSRF-Token` on every change."""
    settings = platform_of(request).settings
    signed_in = await _sign_in(request, body, "session")
    assert signed_in.token is not None
    lasts_s = settings.session_hours * 3600
    response = json_response({"csrf_token": signed_in.csrf_token, "expires_in_s": lasts_s})
    response.set_cookie(
        SESSION_COOKIE,
        signed_in.token,
        max_age=lasts_s,
        httponly=True,
        secure=settings.session_cookie_secure,
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
    """The token's live alert streams end at once, not at their next check."""
    token = bearer_token(request) or request.cookies.get(SESSION_COOKIE)
    if token:
        platform_of(request).bus.handle(
            commands.RevokeToken(token=token, actor=actor_of(request, principal))
        )
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
    enrolment = platform_of(request).bus.handle(
        commands.EnrolTotp(user_id=principal.user_id, actor=actor_of(request, principal))
    )
    return {"secret": enrolment.secret, "otpauth_uri": enrolment.otpauth_uri}


@router.post(
    "/totp/confirm",
    summary="Confirm the TOTP enrolment with a code",
    response_model=TotpConfirmed,
    responses=errors(400),
)
def totp_confirm(
    body: TotpCode, request: Request, principal: Principal = Depends(requires(Permission.SELF))
) -> dict[str, Any]:
    """A wrong code, or no pending enrolment, is `400 totp_not_confirmed` (as clients
    already read it, rather than the 422 of other bad input)."""
    try:
        platform_of(request).bus.handle(
            commands.ConfirmTotp(
                user_id=principal.user_id, code=body.code, actor=actor_of(request, principal)
            )
        )
    except user_service.TotpNotConfirmed as exc:
        raise error(400, exc.code, str(exc)) from None
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
