"""Legacy login endpoints: JWTs checked against real Django users."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Router, Schema

from apps.access import services
from mcp_platform.concurrency import run_blocking
from mcp_platform.errors import Unauthorized

legacy_router = Router(tags=["auth (legacy)"], auth=None)


class LoginIn(Schema):
    username: str
    password: str


class TokenOut(Schema):
    access_token: str
    token_type: str
    expires_in: int


@legacy_router.post("/auth/login", response=TokenOut)
async def login(request: HttpRequest, payload: LoginIn):
    try:
        return await run_blocking(
            services.login, username=payload.username, password=payload.password
        )
    except services.AuthenticationFailed as exc:
        raise Unauthorized(str(exc)) from None


@legacy_router.post("/auth/refresh", response=TokenOut)
def refresh(request: HttpRequest):
    scheme, _, token = (request.headers.get("Authorization") or "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("Missing bearer token")
    try:
        return services.refresh_jwt(token)
    except services.AuthenticationFailed as exc:
        raise Unauthorized(str(exc)) from None
