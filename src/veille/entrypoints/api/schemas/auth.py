"""Answers of the sign-in routes."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ScopeRead(BaseModel):
    kind: str = Field(description="national, province, zone or district")
    value: str | None


class TokenCreated(BaseModel):
    token: str = Field(description="Shown once; send as `Authorization: Bearer …`.")
    token_type: str = "bearer"


class SessionCreated(BaseModel):
    csrf_token: str = Field(description="Send as `X-CSRF-Token` on every change.")
    expires_in_s: int


class SignedOut(BaseModel):
    signed_out: bool


class MeRead(BaseModel):
    user_id: int
    username: str
    role: str
    org_id: str
    scope: ScopeRead
    designated: bool
    training_expires: str | None


class TotpSecretRead(BaseModel):
    secret: str
    otpauth_uri: str


class TotpConfirmed(BaseModel):
    totp: str
