"""Sign-in routes: exchange a password for a bearer token, sign out, who am I."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from veille.domain.access import Permission, Principal
from veille.entrypoints.api.security import (
    SESSION_COOKIE,
    bearer_token,
    error,
    json_response,
    platform_of,
    public,
    requires,
)
from veille.service import users as user_service

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


class TokenRequest(BaseModel):
    username: str = Field(max_length=64)
    password: str = Field(max_length=1024)
    name: str = Field("api", max_length=64, description="A label for the token.")


@router.post("/token", summary="Exchange username and password for a bearer token")
async def issue_token(body: TokenRequest, request: Request, _: Any = Depends(public())) -> Response:
    """Answers 401 for a wrong name or password, and locks the account after repeated failures."""
    platform = platform_of(request)

    def run() -> str:
        user = user_service.sign_in(
            uow=platform.uow(),
            username=body.username,
            password=body.password,
            now=platform.clock(),
        )
        token, _csrf = user_service.issue_token(
            uow=platform.uow(), user_id=user.user_id, now=platform.clock(), name=body.name
        )
        return token

    try:
        token = await run_in_threadpool(run)
    except user_service.SignInRefused as exc:
        raise error(401, "sign_in_refused", str(exc)) from None
    return json_response({"token": token, "token_type": "bearer"})


@router.post("/sign-out", summary="Revoke the token of this request")
def sign_out(request: Request, _: Principal = Depends(requires(Permission.SELF))) -> Response:
    platform = platform_of(request)
    token = bearer_token(request) or request.cookies.get(SESSION_COOKIE)
    if token:
        user_service.revoke_token(uow=platform.uow(), token=token, now=platform.clock())
    response = json_response({"signed_out": True})
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/me", summary="The signed-in user")
def me(principal: Principal = Depends(requires(Permission.SELF))) -> Response:
    return json_response(
        {
            "user_id": principal.user_id,
            "username": principal.username,
            "role": principal.role.value,
            "org_id": principal.org_id,
            "scope": {"kind": principal.scope.kind.value, "value": principal.scope.value},
            "designated": principal.designated,
            "training_expires": principal.training_expires.isoformat()
            if principal.training_expires
            else None,
        }
    )
